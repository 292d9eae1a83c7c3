// Reading values off a hit-ratio curve, shared by the tables (which sample it at round sizes) and
// the HTML report.

import type { HitRatioCurve } from '../result.ts';

/**
 * The hit ratio at `sizeMb`: the value at the largest curve size not above it. A hit-ratio curve
 * is a cumulative distribution of reuse distances, so it is a step function between its points.
 * Null below the curve's first size, where it says nothing.
 */
export function hitRatioAt(curve: HitRatioCurve, sizeMb: number): number | null {
  const sizes = curve.sizesMb;
  let low = 0;
  let high = sizes.length - 1;
  let found = -1;
  while (low <= high) {
    const mid = (low + high) >> 1;
    if (sizes[mid]! <= sizeMb) {
      found = mid;
      low = mid + 1;
    } else {
      high = mid - 1;
    }
  }
  return found < 0 ? null : (curve.hitRatio[found] ?? null);
}

/**
 * Memory sizes from about `minMb` to the first at or above `maxMb`, in the steps memory comes in:
 * powers of two and one and a half times them (…, 512 MB, 768 MB, 1 GB, 1.5 GB, 2 GB, 3 GB, …).
 * Geometric, because hit-ratio curves rise steeply at small sizes and flatten at large ones: even
 * steps would spend every row on the flat tail. Over a very wide range only powers of two are
 * kept, so there are at most `maxCount` sizes.
 */
export function memorySteps(minMb: number, maxMb: number, maxCount: number): number[] {
  if (!(maxMb > 0) || !(minMb > 0)) return [];
  const all: number[] = [];
  // Start at the largest power of two not above minMb, so the first row already shows a value.
  for (let power = 2 ** Math.floor(Math.log2(minMb)); all.at(-1) === undefined || all.at(-1)! < maxMb; power *= 2) {
    all.push(power);
    if (power < maxMb) all.push(power * 1.5);
  }
  if (all.length <= maxCount) return all;
  const powersOfTwo = all.filter((size) => Number.isInteger(Math.log2(size)));
  return powersOfTwo.length <= maxCount ? powersOfTwo : powersOfTwo.filter((_, i) => i % Math.ceil(powersOfTwo.length / maxCount) === 0);
}
