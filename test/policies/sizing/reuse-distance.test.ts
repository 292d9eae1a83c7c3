import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { ThawError } from '../../../src/core/errors.ts';
import { seededRandom } from '../../../src/core/random.ts';
import { FenwickTree } from '../../../src/policies/sizing/fenwick.ts';
import { exactDistanceHistogram, ReuseDistanceTracker } from '../../../src/policies/sizing/reuse-distance.ts';
import { bruteForceDistances, randomSizes, traceFromArrays, zipfStream } from './helpers.ts';

const A = 0;
const B = 1;
const C = 2;
const SIZES = [100, 200, 300];

function distancesOf(sizes: readonly number[], fn: readonly number[], capacity?: number): number[] {
  const tracker = new ReuseDistanceTracker(sizes, { positionCapacity: capacity });
  return fn.map((f) => tracker.access(f));
}

describe('ReuseDistanceTracker', () => {
  it('A B C B C A: d(A) = size(B) + size(C), first accesses infinite', () => {
    assert.deepEqual(distancesOf(SIZES, [A, B, C, B, C, A]), [Infinity, Infinity, Infinity, 300, 200, 500]);
  });

  it('the same function again and again has distance 0', () => {
    assert.deepEqual(distancesOf(SIZES, [B, B, B, B]), [Infinity, 0, 0, 0]);
  });

  it('counts a function once however often it appears in between', () => {
    // A (B C B C B) A: the distinct functions in between are B and C only.
    assert.deepEqual(distancesOf(SIZES, [A, B, C, B, C, B, A]).at(-1), 500);
  });

  it('matches the O(N·M) definition on a long random stream, with and without forced renumbering', () => {
    const m = 40;
    const sizes = randomSizes(11, m);
    const fn = zipfStream(12, m, 20_000, 0.8);
    const expected = bruteForceDistances(sizes, fn);
    for (const capacity of [m + 1, m + 7, undefined]) {
      const tracker = new ReuseDistanceTracker(sizes, { positionCapacity: capacity });
      const got = fn.map((f) => tracker.access(f));
      assert.deepEqual(got, expected, `capacity ${capacity}`);
      if (capacity === m + 1) assert.ok(tracker.renumberings > 1000, `expected many renumberings, got ${tracker.renumberings}`);
    }
  });

  it('stays within rounding of the definition with fractional sizes', () => {
    const random = seededRandom(5);
    const m = 25;
    const sizes = Array.from({ length: m }, () => 10 + random() * 500);
    const fn = zipfStream(6, m, 5_000);
    const expected = bruteForceDistances(sizes, fn);
    const got = distancesOf(sizes, fn, m + 3);
    got.forEach((d, i) => {
      if (expected[i] === Infinity) assert.equal(d, Infinity);
      else assert.ok(Math.abs(d - expected[i]) < 1e-6, `access ${i}: ${d} vs ${expected[i]}`);
    });
  });

  it('counts accesses and distinct functions', () => {
    const tracker = new ReuseDistanceTracker(SIZES);
    for (const f of [A, B, A, A]) tracker.access(f);
    assert.equal(tracker.accesses, 4);
    assert.equal(tracker.distinctFunctions, 2);
  });

  it('rejects unknown functions, bad sizes and too small a position capacity', () => {
    const tracker = new ReuseDistanceTracker(SIZES);
    assert.throws(() => tracker.access(3), (e: unknown) => e instanceof ThawError && e.code === 'ERR_UNKNOWN_FUNCTION');
    assert.throws(() => tracker.access(-1), (e: unknown) => e instanceof ThawError && e.code === 'ERR_UNKNOWN_FUNCTION');
    assert.throws(() => new ReuseDistanceTracker([100, -1]), (e: unknown) => e instanceof ThawError && e.code === 'ERR_INVALID_OPTION');
    assert.throws(
      () => new ReuseDistanceTracker(SIZES, { positionCapacity: 3 }),
      (e: unknown) => e instanceof ThawError && e.code === 'ERR_INVALID_OPTION' && /positionCapacity/.test(e.message),
    );
  });
});

describe('exactDistanceHistogram', () => {
  it('streams every batch (arrays reused between batches) into the histogram', () => {
    const trace = traceFromArrays({ sizesMb: SIZES, fn: [A, B, C, B, C, A, A], batchSize: 2 });
    const histogram = exactDistanceHistogram(trace);
    assert.equal(histogram.binWidthMb, 1);
    assert.equal(histogram.total, 7);
    assert.equal(histogram.infinite, 3);
    assert.equal(histogram.countInBin(0), 1);
    assert.equal(histogram.countInBin(200), 1);
    assert.equal(histogram.countInBin(300), 1);
    assert.equal(histogram.countInBin(500), 1);
    assert.equal(histogram.maxFiniteMb, 500);
  });

  it('widens the bins to a round width to stay within maxBins', () => {
    const trace = traceFromArrays({ sizesMb: SIZES, fn: [A, B, C, A] });
    // 600 MB of functions in at most 11 bins: 60 MB would do, the next round width is 100 MB.
    const histogram = exactDistanceHistogram(trace, { maxBins: 11 });
    assert.equal(histogram.binWidthMb, 100);
    assert.equal(histogram.countInBin(5), 1);
    const fractional = exactDistanceHistogram(traceFromArrays({ sizesMb: [0.3, 0.25], fn: [0, 1, 0] }), { maxBins: 100 });
    assert.equal(fractional.binWidthMb, 0.01);
    assert.equal(fractional.countInBin(25), 1);
  });
});

describe('FenwickTree', () => {
  it('prefix sums after adds equal those after a rebuild', () => {
    const tree = new FenwickTree(10);
    const weights = [3, 0, 5, 1, 0, 0, 2, 8, 1, 4];
    weights.forEach((w, p) => tree.add(p, w));
    const rebuilt = new FenwickTree(10);
    rebuilt.rebuild(weights);
    let sum = 0;
    for (let p = 0; p < 10; p++) {
      sum += weights[p];
      assert.equal(tree.prefixSum(p), sum);
      assert.equal(rebuilt.prefixSum(p), sum);
    }
    assert.equal(tree.prefixSum(-1), 0);
  });
});
