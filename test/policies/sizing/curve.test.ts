import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { ThawError } from '../../../src/core/errors.ts';
import { computeCurves, curveError, hitRatioAt, hitRatioCurve, kneeOf, sizeForHitRatio, sizeGrid } from '../../../src/policies/sizing/curve.ts';
import { DistanceHistogram } from '../../../src/policies/sizing/histogram.ts';
import { exactDistanceHistogram } from '../../../src/policies/sizing/reuse-distance.ts';
import type { HitRatioCurve } from '../../../src/sim/result.ts';
import { randomSizes, traceFromArrays, zipfStream } from './helpers.ts';

const isInvalidOption = (name: string) => (e: unknown) => e instanceof ThawError && e.code === 'ERR_INVALID_OPTION' && e.message.includes(name);

// A B C B C A with sizes 100, 200, 300: distances ∞ ∞ ∞ 300 200 500.
const abcbca = traceFromArrays({ sizesMb: [100, 200, 300], fn: [0, 1, 2, 1, 2, 0] });

describe('hitRatioCurve', () => {
  it('is P(distance ≤ c) over all invocations, infinite distances never hitting', () => {
    const curve = hitRatioCurve(exactDistanceHistogram(abcbca), { sizesMb: [0, 199, 200, 300, 499, 500, 10_000] });
    assert.deepEqual(curve.hitRatio, [0, 0, 1 / 6, 2 / 6, 2 / 6, 3 / 6, 3 / 6]);
  });

  it('by default spans 0 to the largest finite distance in about 200 whole-bin steps', () => {
    const curve = hitRatioCurve(exactDistanceHistogram(abcbca));
    assert.equal(curve.sizesMb[0], 0);
    assert.equal(curve.sizesMb.at(-1)! >= 500, true);
    assert.ok(curve.sizesMb.length <= 201 && curve.sizesMb.length >= 150, `${curve.sizesMb.length} points`);
    assert.ok(curve.sizesMb.every((s) => Number.isInteger(s)));
    assert.equal(curve.hitRatio.at(-1), 0.5);
  });

  it('is monotone and within [0, 1] on a random stream', () => {
    const m = 200;
    const trace = traceFromArrays({ sizesMb: randomSizes(1, m), fn: zipfStream(2, m, 20_000) });
    const { hitRatio } = hitRatioCurve(exactDistanceHistogram(trace), { points: 500 });
    hitRatio.forEach((hr, i) => {
      assert.ok(hr >= 0 && hr <= 1);
      if (i > 0) assert.ok(hr >= hitRatio[i - 1], `drops at ${i}`);
    });
    // Everything but the 200 compulsory misses hits once the cache holds every distance.
    assert.equal(hitRatio.at(-1), (20_000 - m) / 20_000);
  });

  it('honours maxMb, stepMb and points, and validates them', () => {
    const histogram = exactDistanceHistogram(abcbca);
    assert.deepEqual(sizeGrid(histogram, { maxMb: 1000, stepMb: 250 }), [0, 250, 500, 750, 1000]);
    assert.equal(sizeGrid(histogram, { points: 11 }).length, 11);
    assert.throws(() => sizeGrid(histogram, { stepMb: 0 }), isInvalidOption('grid.stepMb'));
    assert.throws(() => sizeGrid(histogram, { points: 1 }), isInvalidOption('grid.points'));
    assert.throws(() => sizeGrid(histogram, { sizesMb: [] }), isInvalidOption('grid.sizesMb'));
    assert.throws(() => sizeGrid(histogram, { sizesMb: [0, -5] }), isInvalidOption('grid.sizesMb[1]'));
  });

  it('is all zeros for an empty histogram', () => {
    const curve = hitRatioCurve(new DistanceHistogram(1, 10), { sizesMb: [0, 5] });
    assert.deepEqual(curve.hitRatio, [0, 0]);
  });
});

const ramp: HitRatioCurve = { sizesMb: [0, 100, 200, 300, 400, 500], hitRatio: [0, 0.45, 0.9, 0.92, 0.94, 0.95] };

describe('sizeForHitRatio', () => {
  it('returns the smallest grid size reaching the target', () => {
    assert.equal(sizeForHitRatio(ramp, 0.9), 200);
    assert.equal(sizeForHitRatio(ramp, 0.91), 300);
    assert.equal(sizeForHitRatio(ramp, 0), 0);
    assert.equal(sizeForHitRatio(ramp, 0.95), 500);
  });

  it('returns null when the curve never reaches the target', () => {
    assert.equal(sizeForHitRatio(ramp, 0.96), null);
  });

  it('is not fooled by the rounding of count / total', () => {
    assert.equal(sizeForHitRatio({ sizesMb: [0, 10], hitRatio: [0, 0.8999999999999999] }, 0.9), 10);
  });

  it('rejects targets outside [0, 1]', () => {
    assert.throws(() => sizeForHitRatio(ramp, 1.2), isInvalidOption('target'));
  });
});

describe('kneeOf', () => {
  it('finds the point furthest above the normalised chord', () => {
    assert.equal(kneeOf(ramp), 200);
    const sizesMb = Array.from({ length: 11 }, (_, i) => i * 1000);
    assert.equal(kneeOf({ sizesMb, hitRatio: sizesMb.map((s) => 0.9 * Math.min(1, s / 3000)) }), 3000);
  });

  it('is null for flat, straight, convex or too short curves', () => {
    assert.equal(kneeOf({ sizesMb: [0, 1, 2], hitRatio: [0.5, 0.5, 0.5] }), null);
    assert.equal(kneeOf({ sizesMb: [0, 1, 2, 3], hitRatio: [0, 0.1, 0.2, 0.3] }), null);
    assert.equal(kneeOf({ sizesMb: [0, 1, 2, 3], hitRatio: [0, 0.05, 0.1, 0.9] }), null);
    assert.equal(kneeOf({ sizesMb: [0, 1], hitRatio: [0, 1] }), null);
  });
});

describe('hitRatioAt and curveError', () => {
  it('interpolates between grid points and holds the ends', () => {
    assert.equal(hitRatioAt(ramp, 50), 0.225);
    assert.equal(hitRatioAt(ramp, -10), 0);
    assert.equal(hitRatioAt(ramp, 9999), 0.95);
  });

  it('measures mean and max absolute difference over the reference grid', () => {
    assert.deepEqual(curveError(ramp, ramp), { meanAbs: 0, maxAbs: 0 });
    const coarse: HitRatioCurve = { sizesMb: [0, 200, 500], hitRatio: [0, 0.9, 0.95] };
    const error = curveError(ramp, coarse);
    // Only 300 and 400 differ: 0.92 vs 0.9167 and 0.94 vs 0.9333.
    assert.ok(Math.abs(error.maxAbs - (0.94 - (0.9 + (0.05 * 2) / 3))) < 1e-12);
    assert.ok(Math.abs(error.meanAbs - (0.92 - (0.9 + 0.05 / 3) + 0.94 - (0.9 + (0.05 * 2) / 3)) / 6) < 1e-12);
  });
});

describe('computeCurves', () => {
  it('returns exact and sampled curves with their static sizes and the sampled error', () => {
    const m = 100;
    const trace = traceFromArrays({ sizesMb: randomSizes(5, m), fn: zipfStream(6, m, 5_000), batchSize: 512 });
    const result = computeCurves(trace, { sampleRate: 0.5, target: 0.8 });
    assert.deepEqual(result.trace, { name: 'hand-made', functions: m, invocations: 5_000, spanMs: 4_999 });
    assert.equal(result.target, 0.8);
    assert.ok(result.exact && result.sampled && result.sampledError);
    assert.equal(result.sampled.rate, 0.5);
    assert.ok(result.sampled.sampledInvocations > 0 && result.sampled.sampledInvocations < 5_000);
    assert.equal(result.sizeForTargetMb.exact, sizeForHitRatio(result.exact, 0.8));
    assert.equal(result.kneeMb.exact, kneeOf(result.exact));
    assert.equal(typeof result.kneeMb.sampled, 'number');
    assert.deepEqual(result, JSON.parse(JSON.stringify(result)), 'plain JSON data');
  });

  it('computes only what is asked for', () => {
    const exactOnly = computeCurves(abcbca, { sampleRate: null });
    assert.ok(exactOnly.exact && !exactOnly.sampled && !exactOnly.sampledError);
    assert.equal(exactOnly.sizeForTargetMb.exact, null, 'half the invocations are compulsory misses');
    const sampledOnly = computeCurves(abcbca, { exact: false, sampleRate: 1 });
    assert.ok(!sampledOnly.exact && sampledOnly.sampled);
  });

  it('rejects asking for no curve, a bad target, and empty traces', () => {
    assert.throws(() => computeCurves(abcbca, { exact: false, sampleRate: null }), isInvalidOption('sampleRate'));
    assert.throws(() => computeCurves(abcbca, { target: 2 }), isInvalidOption('target'));
    assert.throws(
      () => computeCurves(traceFromArrays({ sizesMb: [100], fn: [] })),
      (e: unknown) => e instanceof ThawError && e.code === 'ERR_TRACE_EMPTY',
    );
  });
});
