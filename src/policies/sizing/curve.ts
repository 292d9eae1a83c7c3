// `thaw curve`: the hit-ratio curves of a trace, exact and/or SHARDS-sampled, computed in one pass
// over its arrivals, with the static sizes read off them (target hit ratio, knee) and the sampled
// curve's error against the exact one. The curve primitives live in hit-ratio-curve.ts and are
// re-exported here.

import { ThawError } from '../../core/errors.ts';
import type { Trace, TraceSummary } from '../../core/trace.ts';
import type { HistogramSizing } from './histogram.ts';
import { curveError, type GridOptions, type HitRatioCurve, hitRatioCurve, kneeOf, sizeForHitRatio } from './hit-ratio-curve.ts';
import { requireNumberIn } from './options.ts';
import { ExactDistanceCollector } from './reuse-distance.ts';
import { SHARDS_DEFAULTS, ShardsDistanceCollector } from './shards.ts';
import { type BatchConsumer, feedTrace } from './stream.ts';

/** What `thaw curve` reports: the curves, their error, and the sizes read off them. */
export interface CurveResult {
  trace: TraceSummary;
  exact?: HitRatioCurve;
  sampled?: HitRatioCurve & { rate: number; sampledInvocations: number };
  /** Sampled curve against the exact one: mean and max absolute difference in hit ratio. */
  sampledError?: { meanAbs: number; maxAbs: number };
  target: number;
  /** Smallest size reaching the target hit ratio, per curve (null if never reached). */
  sizeForTargetMb: { exact?: number | null; sampled?: number | null };
  /** Knee of each curve, MB. */
  kneeMb: { exact?: number; sampled?: number };
}

export * from './hit-ratio-curve.ts';

export interface CurveOptions extends HistogramSizing {
  /** Compute the exact curve. Default true. */
  exact?: boolean;
  /** SHARDS rate R of the sampled curve; null for no sampled curve. Default 0.1. */
  sampleRate?: number | null;
  /** SHARDS modulus P. Default 10000. */
  sampleModulus?: number;
  /** Seed of the SHARDS hash. Default 0. */
  seed?: number;
  /** SHARDS_adj normalisation of the sampled curve (see shards.ts). Default false. */
  adjust?: boolean;
  /** Target hit ratio for static sizing. Default 0.9. */
  target?: number;
  /** Size grid; each curve gets its own default grid ending where it stops rising. */
  grid?: GridOptions;
}

export const CURVE_DEFAULTS = { exact: true, sampleRate: SHARDS_DEFAULTS.rate, target: 0.9 } as const;

export function computeCurves(trace: Trace, options: CurveOptions = {}): CurveResult {
  const wantExact = options.exact ?? CURVE_DEFAULTS.exact;
  const sampleRate = options.sampleRate === undefined ? CURVE_DEFAULTS.sampleRate : options.sampleRate;
  const target = requireNumberIn('target', options.target ?? CURVE_DEFAULTS.target, 0, 1);
  if (!wantExact && sampleRate === null) {
    throw new ThawError('ERR_INVALID_OPTION', 'options exact and sampleRate: at least one curve is needed (exact: true or a sampleRate)');
  }
  const sizing: HistogramSizing = { binWidthMb: options.binWidthMb, maxBins: options.maxBins };
  const exact = wantExact ? new ExactDistanceCollector(trace.functions, sizing) : undefined;
  const sampled =
    sampleRate === null
      ? undefined
      : new ShardsDistanceCollector(trace.functions, { ...sizing, rate: sampleRate, modulus: options.sampleModulus, seed: options.seed, adjust: options.adjust });
  const consumers: BatchConsumer[] = [exact, sampled].filter((c): c is NonNullable<typeof c> => c !== undefined);
  const invocations = feedTrace(trace, consumers);
  if (invocations === 0) throw new ThawError('ERR_TRACE_EMPTY', `trace ${trace.name}: no invocations to build a hit-ratio curve from`);

  const result: CurveResult = {
    trace: { name: trace.name, functions: trace.functions.length, invocations, spanMs: trace.spanMs },
    target,
    sizeForTargetMb: {},
    kneeMb: {},
  };
  if (exact) {
    const curve = hitRatioCurve(exact.histogram, options.grid);
    result.exact = curve;
    result.sizeForTargetMb.exact = sizeForHitRatio(curve, target);
    const knee = kneeOf(curve);
    if (knee !== null) result.kneeMb.exact = knee;
  }
  if (sampled) {
    const shards = sampled.finish();
    const curve = hitRatioCurve(shards.histogram, options.grid);
    result.sampled = { ...curve, rate: shards.rate, sampledInvocations: shards.sampledInvocations };
    result.sizeForTargetMb.sampled = sizeForHitRatio(curve, target);
    const knee = kneeOf(curve);
    if (knee !== null) result.kneeMb.sampled = knee;
  }
  if (result.exact && result.sampled) result.sampledError = curveError(result.exact, result.sampled);
  return result;
}
