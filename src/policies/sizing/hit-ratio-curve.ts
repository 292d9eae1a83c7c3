// Hit-ratio curves: HR(c) = P(reuse distance ≤ c) over all the references a histogram holds, with
// infinite distances (compulsory misses) never hitting; their evaluation on a size grid, and the
// static sizing read off them: the smallest size reaching a target hit ratio, the knee, and the
// distance between two curves.
//
// Normalisation: over every invocation, first invocations included as misses, so HR(∞) = 1 −
// (distinct functions / invocations). The FaaSCache reference's exact ECDF (reuse_dist.py,
// compute_cdf) counts reuses only, i.e. it divides by invocations − distinct functions; on traces
// with many invocations per function the two differ little.

import { invalidOption } from '../../core/errors.ts';
import type { DistanceHistogram } from './histogram.ts';
import { requireInteger, requireNonNegative, requireNumberIn, requirePositive } from './options.ts';

/** A hit-ratio curve: hit ratio as a function of cache size. */
export interface HitRatioCurve {
  sizesMb: number[];
  hitRatio: number[];
}

export const DEFAULT_GRID_POINTS = 200;

export interface GridOptions {
  /** Explicit sizes, MB (sorted ascending for you). Overrides the other fields. */
  sizesMb?: readonly number[];
  /**
   * Largest size of the grid, MB. Default: the largest finite reuse distance seen, the smallest size
   * at which the curve reaches its maximum, so the grid spans exactly the part that rises.
   */
  maxMb?: number;
  /** Spacing, MB. Default: the smallest multiple of the bin width giving at most `points` points. */
  stepMb?: number;
  /** Target number of points when stepMb is not given. Default 200. */
  points?: number;
}

/**
 * The sizes to evaluate a histogram's curve at: 0, step, 2·step, … up to the first multiple ≥ maxMb.
 * The default step is a multiple of the histogram's bin width so every point is evaluated exactly.
 */
export function sizeGrid(histogram: DistanceHistogram, options: GridOptions = {}): number[] {
  if (options.sizesMb !== undefined) {
    if (options.sizesMb.length === 0) throw invalidOption('grid.sizesMb', 'must hold at least one size');
    options.sizesMb.forEach((size, i) => requireNonNegative(`grid.sizesMb[${i}]`, size, ' MB'));
    return [...options.sizesMb].sort((a, b) => a - b);
  }
  const width = histogram.binWidthMb;
  const maxMb = options.maxMb === undefined ? Math.max(histogram.maxFiniteMb, width) : requirePositive('grid.maxMb', options.maxMb, ' MB');
  const points = requireInteger('grid.points', options.points ?? DEFAULT_GRID_POINTS, 2);
  const step = options.stepMb === undefined ? width * Math.ceil(maxMb / (points - 1) / width) : requirePositive('grid.stepMb', options.stepMb, ' MB');
  const count = Math.ceil(maxMb / step - 1e-9) + 1;
  // toPrecision strips the binary noise of i × 0.1-style steps (985.6000000000001 → 985.6); no grid
  // point moves by more than 1e-12 relative, far inside the bin-edge tolerance.
  return Array.from({ length: count }, (_, i) => Number((i * step).toPrecision(12)));
}

/** Evaluates HR(c) = weight(distance ≤ c) / total weight at each size of the grid. */
export function hitRatioCurve(histogram: DistanceHistogram, grid: GridOptions = {}): HitRatioCurve {
  const sizesMb = sizeGrid(histogram, grid);
  const cumulative = histogram.cumulative();
  const total = histogram.total;
  const hitRatio = sizesMb.map((size) => {
    if (total <= 0) return 0;
    const bin = histogram.lastBinAtMost(size);
    // SHARDS_adj can make the first bins' running sum negative; a ratio stays within [0, 1].
    return bin < 0 ? 0 : clamp01(cumulative[bin] / total);
  });
  return { sizesMb, hitRatio };
}

/** Hit ratio at any size: linear between grid points, flat beyond the ends. */
export function hitRatioAt(curve: HitRatioCurve, sizeMb: number): number {
  const { sizesMb, hitRatio } = curve;
  const n = sizesMb.length;
  if (n === 0) return 0;
  if (sizeMb <= sizesMb[0]) return hitRatio[0];
  if (sizeMb >= sizesMb[n - 1]) return hitRatio[n - 1];
  let lo = 0;
  let hi = n - 1;
  while (hi - lo > 1) {
    const mid = (lo + hi) >>> 1;
    if (sizesMb[mid] <= sizeMb) lo = mid;
    else hi = mid;
  }
  const span = sizesMb[hi] - sizesMb[lo];
  const t = span === 0 ? 0 : (sizeMb - sizesMb[lo]) / span;
  return hitRatio[lo] + t * (hitRatio[hi] - hitRatio[lo]);
}

/** The smallest grid size whose hit ratio reaches `target`, or null if the curve never does. */
export function sizeForHitRatio(curve: HitRatioCurve, target: number): number | null {
  requireNumberIn('target', target, 0, 1);
  // Tolerates the last-bit rounding of count/total (e.g. 9/10 computed as 0.8999999999999999).
  const reached = curve.hitRatio.findIndex((hr) => hr >= target - 1e-12);
  return reached < 0 ? null : curve.sizesMb[reached];
}

/**
 * The knee by Kneedle (Satopää et al., 2011): normalise both axes to [0, 1] over the grid, so the
 * chord from the first to the last point becomes the diagonal, and take the point furthest above it
 * (max of y' − x'): past it, more memory buys less hit ratio than on average. Needs 3 points and a
 * curve that rises; returns null when no point lies above the chord (a flat or convex curve has no
 * point of diminishing returns). The knee depends on the grid's extent: with the default grid, which
 * ends where the curve stops rising, it is the knee of the rising part.
 */
export function kneeOf(curve: HitRatioCurve): number | null {
  const { sizesMb, hitRatio } = curve;
  const n = sizesMb.length;
  if (n < 3) return null;
  const x0 = sizesMb[0];
  const y0 = hitRatio[0];
  const dx = sizesMb[n - 1] - x0;
  const dy = hitRatio[n - 1] - y0;
  if (dx <= 0 || dy <= 0) return null;
  let best = -1;
  let bestGap = 1e-12;
  for (let i = 1; i < n - 1; i++) {
    const gap = (hitRatio[i] - y0) / dy - (sizesMb[i] - x0) / dx;
    if (gap > bestGap) {
      bestGap = gap;
      best = i;
    }
  }
  return best < 0 ? null : sizesMb[best];
}

export interface CurveError {
  meanAbs: number;
  maxAbs: number;
}

/** Mean and max |HR_reference(c) − HR_approx(c)| over the reference's grid, interpolating the approximation. */
export function curveError(reference: HitRatioCurve, approx: HitRatioCurve): CurveError {
  const n = reference.sizesMb.length;
  if (n === 0) return { meanAbs: 0, maxAbs: 0 };
  let sum = 0;
  let max = 0;
  for (let i = 0; i < n; i++) {
    const diff = Math.abs(reference.hitRatio[i] - hitRatioAt(approx, reference.sizesMb[i]));
    sum += diff;
    if (diff > max) max = diff;
  }
  return { meanAbs: sum / n, maxAbs: max };
}

function clamp01(x: number): number {
  return x < 0 ? 0 : x > 1 ? 1 : x;
}
