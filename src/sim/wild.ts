// The Serverless-in-the-Wild view of a sweep (Shahrad et al., ATC'20, Figure 15/16): one point per
// policy setting — fixed keep-alive from 5 to 120 minutes, the hybrid histogram, IceBreaker, GD — with
// the cold-start percentage of the 75th-percentile application against wasted memory normalised to
// the 10-minute fixed keep-alive's.

import type { RunSpec } from './run.ts';
import type { SweepResult } from './result.ts';

export const WILD_TTL_MINUTES = [5, 10, 20, 30, 45, 60, 90, 120];
/** The point wasted memory is normalised to. */
export const WILD_BASELINE = 'ttl-10m';

/** The runs of the view: each a labelled RunSpec sharing `base` (memory, servers, tiers, trace ...). */
export function wildJobs(base: Omit<RunSpec, 'policy' | 'memoryMb'>, memoryMb: number): RunSpec[] {
  const common = { ...base, memoryMb, prewarm: undefined };
  return [
    ...WILD_TTL_MINUTES.map((m) => ({ ...common, policy: 'ttl', ttlMs: m * 60_000, label: `ttl-${m}m` })),
    { ...common, policy: 'hybrid', label: 'hybrid' },
    // IceBreaker: instances kept one prediction step after use; the predictor keeps them warm.
    { ...common, policy: 'ttl', ttlMs: 60_000, prewarm: 'fft', label: 'icebreaker' },
    { ...common, policy: 'gd', label: 'gd' },
  ];
}

export interface WildPoint {
  label: string;
  /** Cold-start % of the application at the 75th percentile. */
  appColdStartP75Pct: number;
  wastedMemoryGBs: number;
  /** wastedMemoryGBs / the 10-minute fixed keep-alive's. */
  normalisedWastedMemory: number;
  coldStartRatio: number;
  keepAliveCost?: number;
}

export function wildPoints(sweep: SweepResult): WildPoint[] {
  const baseline = sweep.points.find((p) => (p.label ?? p.policy) === WILD_BASELINE)?.summary.wastedMemoryGBs;
  return sweep.points.map((p) => ({
    label: p.label ?? p.policy,
    appColdStartP75Pct: p.summary.appColdStartPct?.p75 ?? NaN,
    wastedMemoryGBs: p.summary.wastedMemoryGBs,
    normalisedWastedMemory: baseline ? p.summary.wastedMemoryGBs / baseline : NaN,
    coldStartRatio: p.summary.coldStartRatio,
    ...(p.summary.keepAliveCost !== undefined ? { keepAliveCost: p.summary.keepAliveCost } : {}),
  }));
}
