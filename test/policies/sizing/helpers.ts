// Small hand-built traces and reference implementations for the sizing tests.

import type { ArrivalBatch, FunctionSpec, Trace } from '../../../src/core/trace.ts';
import { seededRandom } from '../../../src/core/random.ts';

export interface ArrayTraceInit {
  /** Memory of each function, MB; function i is named `f${i}` unless ids are given. */
  sizesMb: readonly number[];
  /** Function index of each arrival. */
  fn: readonly number[];
  /** Arrival times, ms; default one arrival per ms. */
  time?: readonly number[];
  ids?: readonly string[];
  /**
   * Arrivals per batch. Batches reuse the same arrays, as real readers may, so a consumer that keeps
   * references to them would see the wrong data. Default 7 (deliberately not a divisor of anything).
   */
  batchSize?: number;
}

export function traceFromArrays(init: ArrayTraceInit): Trace {
  const functions: FunctionSpec[] = init.sizesMb.map((memoryMb, index) => ({
    index,
    id: init.ids?.[index] ?? `f${index}`,
    app: 'app',
    memoryMb,
    warmMs: 100,
    coldStartMs: 500,
  }));
  const n = init.fn.length;
  const time = init.time ?? init.fn.map((_, i) => i);
  const batchSize = init.batchSize ?? 7;
  return {
    name: 'hand-made',
    functions,
    invocationCount: n,
    spanMs: n > 0 ? time[n - 1] : 0,
    *batches(): Iterable<ArrivalBatch> {
      const fnBuffer = new Int32Array(batchSize);
      const timeBuffer = new Float64Array(batchSize);
      for (let start = 0; start < n; start += batchSize) {
        const length = Math.min(batchSize, n - start);
        fnBuffer.fill(-1);
        for (let i = 0; i < length; i++) {
          fnBuffer[i] = init.fn[start + i];
          timeBuffer[i] = time[start + i];
        }
        yield { length, fn: fnBuffer, time: timeBuffer };
      }
    },
  };
}

/** The definition, O(N·M): the sizes of the distinct other functions since the previous access. */
export function bruteForceDistances(sizesMb: readonly number[], fn: readonly number[]): number[] {
  return fn.map((f, i) => {
    const seen = new Set<number>();
    for (let j = i - 1; j >= 0; j--) {
      if (fn[j] === f) {
        let sum = 0;
        for (const g of seen) sum += sizesMb[g];
        return sum;
      }
      seen.add(fn[j]);
    }
    return Infinity;
  });
}

/** A seeded stream of n accesses over m functions with Zipf(s) popularity (some hot, many rare). */
export function zipfStream(seed: number, m: number, n: number, s = 1): number[] {
  const random = seededRandom(seed);
  const weights = Array.from({ length: m }, (_, i) => 1 / (i + 1) ** s);
  const cumulative: number[] = [];
  let total = 0;
  for (const w of weights) cumulative.push((total += w));
  // Shuffle ranks so popularity is not tied to function index (nor to its hash).
  const rankToFunction = Array.from({ length: m }, (_, i) => i);
  for (let i = m - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [rankToFunction[i], rankToFunction[j]] = [rankToFunction[j], rankToFunction[i]];
  }
  return Array.from({ length: n }, () => {
    const u = random() * total;
    let lo = 0;
    let hi = m - 1;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (cumulative[mid] < u) lo = mid + 1;
      else hi = mid;
    }
    return rankToFunction[lo];
  });
}

export function randomSizes(seed: number, m: number, min = 64, max = 1024): number[] {
  const random = seededRandom(seed);
  return Array.from({ length: m }, () => min + Math.floor(random() * (max - min + 1)));
}
