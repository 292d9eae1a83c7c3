// The shapes of what the simulator produces. The CLI prints them as tables, writes them as JSON, and
// renders them into the HTML report; keep them plain data (JSON-serialisable). What the sizing
// policies produce (curves, dynamic sizing) is defined beside them and named here.

import type { TraceSummary } from '../core/trace.ts';
import type { DynamicSizingResult } from '../policies/sizing/controller.ts';
import type { CurveResult } from '../policies/sizing/curve.ts';
import type { HitRatioCurve } from '../policies/sizing/hit-ratio-curve.ts';

export type { CurveResult, DynamicSizingResult, HitRatioCurve, TraceSummary };

export interface SimSummary {
  /** Arrivals in the trace. */
  invocations: number;
  /** Invocations that ran (warm + cold). */
  served: number;
  warm: number;
  cold: number;
  /** Invocations that could not be placed (memory full of busy instances) and were dropped. */
  dropped: number;
  /** Invocations that waited in the queue before running (queue mode only). */
  queued: number;
  /** Mean wait of queued invocations, ms. */
  meanQueueWaitMs: number;
  /** cold / served. */
  coldStartRatio: number;
  /**
   * FaaSCache's cold-start overhead: the % increase in total execution time over an all-warm run,
   * 100 × Σ(cold-start time of cold invocations) / Σ(warm execution time of served invocations).
   */
  coldStartOverheadPct: number;
  /** Idle instances removed to make room for others. */
  evictions: number;
  /** Idle instances removed because their keep-alive window ran out. */
  expirations: number;
  /** GB-s held by idle instances (memory × idle time). */
  wastedMemoryGBs: number;
  /** GB-s held by busy or starting instances. */
  busyMemoryGBs: number;
  /** Highest memory held at once, MB (sampled at events). */
  peakMemoryMb: number;
  /** Mean service time of served invocations: start (cold only) + execution, ms, at server speed. */
  meanServiceTimeMs?: number;
  /** Cold-start % of the applications at these percentiles (Serverless in the Wild's view). */
  appColdStartPct?: { p50: number; p75: number; p90: number; apps: number; cdf?: number[] };
  /**
   * Pre-warming: instances started ahead of demand, those removed without serving anything, those
   * still idle and unused at the end, and the GB-s they held unused (idle, and while starting; both
   * are included in wastedMemoryGBs).
   */
  prewarm?: { started: number; unused: number; idleAtEnd: number; idleGBs: number; startGBs: number };
  /**
   * Several servers: the busiest server's invocations and busy GB-s against the mean server's (1 =
   * perfectly even), and the most invocations one server ran at once.
   */
  loadSpread?: { maxOverMeanInvocations: number; maxOverMeanBusyGBs: number; peakServerLoad: number };
  /** Money (when servers have a price per GB-s): idle memory (keep-alive), busy memory, both. */
  keepAliveCost?: number;
  busyCost?: number;
  totalCost?: number;
}

/** One server tier of a heterogeneous cluster. */
export interface TierResult {
  tier: string;
  servers: number;
  memoryMb: number;
  speed: number;
  pricePerGBs: number;
  warm: number;
  cold: number;
  wastedMemoryGBs: number;
  keepAliveCost: number;
  busyCost: number;
}

export interface FunctionResult {
  id: string;
  app: string;
  memoryMb: number;
  invocations: number;
  warm: number;
  cold: number;
  dropped: number;
  evictions: number;
  expirations: number;
  wastedMemoryGBs: number;
  coldStartOverheadPct: number;
  /** GB-s held by pre-warmed instances before their first use (pre-warm runs only). */
  prewarmWastedGBs?: number;
  /** Money spent keeping its instances idle (priced servers only). */
  keepAliveCost?: number;
}

/** Memory and starts over time, one point per interval (ends of intervals). */
export interface Timeline {
  intervalMs: number;
  /** Interval end times, ms since the trace start. */
  t: number[];
  /** Memory held by all instances at the end of each interval, MB. */
  usedMb: number[];
  /** Memory held by idle instances at the end of each interval, MB. */
  idleMb: number[];
  /** Total capacity at the end of each interval, MB (changes under dynamic sizing). */
  capacityMb: number[];
  warm: number[];
  cold: number[];
  dropped: number[];
}

export interface SimResult {
  policy: string;
  /** Memory of each server, MB. */
  serverMemoryMb: number[];
  trace: TraceSummary;
  options: Record<string, unknown>;
  summary: SimSummary;
  timeline: Timeline;
  perFunction: FunctionResult[];
  dynamicSizing?: DynamicSizingResult;
  /** Heterogeneous clusters: figures per server tier. */
  tiers?: TierResult[];
  /** Pre-warm policies that ran, and what each reported (e.g. the predictor's accuracy). */
  prewarm?: string[];
  prewarmReports?: Record<string, unknown>;
  /** Wall time the run took, ms, and simulated invocations per second of wall time. */
  elapsedMs: number;
  invocationsPerSecond: number;
}

/** One point of a sweep: a policy at a memory size. Per-function rows and timelines are left out. */
export interface SweepPoint {
  policy: string;
  /** The setting's name when the sweep runs settings rather than sizes (the wild view). */
  label?: string;
  memoryMb: number;
  summary: SimSummary;
  elapsedMs: number;
  /** --compat faascache: the reference's own analysis (analyze_timings' global entry). */
  reference?: { server_cold: number; wted_eat: number; wted_increase: number } | null;
}

export interface SweepResult {
  trace: TraceSummary;
  policies: string[];
  memoriesMb: number[];
  servers: number;
  points: SweepPoint[];
  /** `wild`: Serverless in the Wild's view, one point per policy setting (src/sim/wild.ts). */
  view?: 'wild';
  wild?: Array<{ label: string; appColdStartP75Pct: number; wastedMemoryGBs: number; normalisedWastedMemory: number; coldStartRatio: number; keepAliveCost?: number }>;
}
