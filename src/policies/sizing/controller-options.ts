// The dynamic sizing controller's options: defaults (FaaSCache's constants, docs/techniques.md §1.1) and
// their validation, which throws ThawError('ERR_INVALID_OPTION') naming the option.

import { invalidOption } from '../../core/errors.ts';
import type { FunctionSpec } from '../../core/trace.ts';
import type { HitRatioCurve } from './hit-ratio-curve.ts';
import { requireFraction, requireInteger, requireNonNegative, requirePositive } from './options.ts';

export type MissSpeedSource = 'measured' | 'curve';

export interface DynamicSizingOptions {
  /** h, the target miss ratio at mean load. Default 0.1. */
  targetMissRatio?: number;
  /** Inter-arrival times averaged for λ and the measured miss speed. Default 10,000. */
  rateWindow?: number;
  /** Relative miss-speed error tolerated without acting. Default 0.3. */
  deadBand?: number;
  /** Invocations between two actions. Default 10,000. */
  minSpacing?: number;
  /** Smallest size change worth making, MB. Default 100. */
  minStepMb?: number;
  /** Capacity at the start, MB. Default 5,000 (clamped into [minMb, maxMb] when not given). */
  initialMb?: number;
  /** Smallest capacity, MB. Default: the largest function's memory (a smaller cache could not hold it), at most maxMb. */
  minMb?: number;
  /** Largest capacity, MB. Default 20,000. */
  maxMb?: number;
  /** Invocations the curve is built from. Default 100,000. */
  curveWindow?: number;
  /** Invocations between curve rebuilds; Infinity keeps the initial curve forever. Default 10,000. */
  curveRebuildEvery?: number;
  /** Bin width and grid spacing of the controller's curve over [0, maxMb], MB. Default 10. */
  curveResolutionMb?: number;
  /** A curve to use until the first rebuild (e.g. the whole trace's, as the notebook did). Default none. */
  initialCurve?: HitRatioCurve;
  /** λ̄, arrivals per second. Default: the running mean since the first arrival. */
  meanArrivalRatePerSec?: number;
  /** What the target is compared with. Default 'measured'. */
  missSpeed?: MissSpeedSource;
}

export const DYNAMIC_SIZING_DEFAULTS = {
  targetMissRatio: 0.1,
  rateWindow: 10_000,
  deadBand: 0.3,
  minSpacing: 10_000,
  minStepMb: 100,
  initialMb: 5_000,
  maxMb: 20_000,
  curveWindow: 100_000,
  curveRebuildEvery: 10_000,
  curveResolutionMb: 10,
  missSpeed: 'measured',
} as const;

export type ResolvedControllerOptions = Required<Omit<DynamicSizingOptions, 'initialCurve' | 'meanArrivalRatePerSec'>> &
  Pick<DynamicSizingOptions, 'initialCurve' | 'meanArrivalRatePerSec'>;

export function resolveControllerOptions(options: DynamicSizingOptions, functions: readonly FunctionSpec[]): ResolvedControllerOptions {
  const d = DYNAMIC_SIZING_DEFAULTS;
  const maxMb = requirePositive('maxMb', options.maxMb ?? d.maxMb, ' MB');
  const largestFunction = functions.reduce((max, f) => Math.max(max, f.memoryMb), 0);
  const minMb = requireNonNegative('minMb', options.minMb ?? Math.min(largestFunction, maxMb), ' MB');
  if (minMb > maxMb) throw invalidOption('minMb', `${minMb} MB exceeds maxMb ${maxMb} MB`);
  const initialMb =
    options.initialMb === undefined ? clamp(d.initialMb, minMb, maxMb) : requireNonNegative('initialMb', options.initialMb, ' MB');
  if (initialMb < minMb || initialMb > maxMb) throw invalidOption('initialMb', `${initialMb} MB is outside [minMb ${minMb}, maxMb ${maxMb}] MB`);
  const missSpeed = options.missSpeed ?? d.missSpeed;
  if (missSpeed !== 'measured' && missSpeed !== 'curve') throw invalidOption('missSpeed', `must be 'measured' or 'curve', got ${String(missSpeed)}`);
  const curveRebuildEvery = options.curveRebuildEvery ?? d.curveRebuildEvery;
  if (curveRebuildEvery !== Infinity) requireInteger('curveRebuildEvery', curveRebuildEvery, 1);
  const resolved: ResolvedControllerOptions = {
    targetMissRatio: requireFraction('targetMissRatio', options.targetMissRatio ?? d.targetMissRatio, { includeOne: false }),
    rateWindow: requireInteger('rateWindow', options.rateWindow ?? d.rateWindow, 1),
    deadBand: requireNonNegative('deadBand', options.deadBand ?? d.deadBand),
    minSpacing: requireInteger('minSpacing', options.minSpacing ?? d.minSpacing, 0),
    minStepMb: requireNonNegative('minStepMb', options.minStepMb ?? d.minStepMb, ' MB'),
    initialMb,
    minMb,
    maxMb,
    curveWindow: requireInteger('curveWindow', options.curveWindow ?? d.curveWindow, 1),
    curveRebuildEvery,
    curveResolutionMb: requirePositive('curveResolutionMb', options.curveResolutionMb ?? d.curveResolutionMb, ' MB'),
    missSpeed,
    initialCurve: options.initialCurve,
    meanArrivalRatePerSec:
      options.meanArrivalRatePerSec === undefined ? undefined : requirePositive('meanArrivalRatePerSec', options.meanArrivalRatePerSec, ' per second'),
  };
  if (resolved.initialCurve) validateCurve(resolved.initialCurve);
  return resolved;
}

function validateCurve(curve: HitRatioCurve): void {
  const { sizesMb, hitRatio } = curve;
  if (sizesMb.length === 0 || sizesMb.length !== hitRatio.length) {
    throw invalidOption('initialCurve', `needs as many hit ratios as sizes, at least one (got ${sizesMb.length} sizes, ${hitRatio.length} hit ratios)`);
  }
  for (let i = 0; i < sizesMb.length; i++) {
    if (i > 0 && !(sizesMb[i] > sizesMb[i - 1])) throw invalidOption('initialCurve', `sizesMb must increase strictly (index ${i})`);
    if (!(hitRatio[i] >= 0 && hitRatio[i] <= 1)) throw invalidOption('initialCurve', `hitRatio[${i}] = ${hitRatio[i]} is outside [0, 1]`);
  }
}

function clamp(x: number, min: number, max: number): number {
  return x < min ? min : x > max ? max : x;
}
