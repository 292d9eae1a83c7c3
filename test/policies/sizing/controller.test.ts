import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { ThawError } from '../../../src/core/errors.ts';
import type { FunctionSpec } from '../../../src/core/trace.ts';
import { ArrivalWindow } from '../../../src/policies/sizing/arrival-window.ts';
import { DynamicSizingController, type DynamicSizingOptions } from '../../../src/policies/sizing/controller.ts';
import { sizeForHitRatio } from '../../../src/policies/sizing/hit-ratio-curve.ts';
import type { HitRatioCurve } from '../../../src/sim/result.ts';

function functions(count: number, memoryMb = 100): FunctionSpec[] {
  return Array.from({ length: count }, (_, index) => ({ index, id: `f${index}`, app: 'a', memoryMb, warmMs: 10, coldStartMs: 100 }));
}

/** HR(c) = c / 20,000 on a 100 MB grid: size for hit ratio h is 20,000·h. */
const linearCurve: HitRatioCurve = {
  sizesMb: Array.from({ length: 201 }, (_, i) => i * 100),
  hitRatio: Array.from({ length: 201 }, (_, i) => i / 200),
};

/** Keeps a hand-made curve for the whole run, so each test controls what the curve says. */
const fixedCurve = (curve: HitRatioCurve): DynamicSizingOptions => ({ initialCurve: curve, curveRebuildEvery: Infinity });

interface Drive {
  invocations: number;
  /** Whether invocation i (0-based) is cold, given the controller's capacity at the time. */
  cold: (i: number, capacityMb: number) => boolean;
  /** Function of invocation i. Default round-robin over all. */
  fn?: (i: number) => number;
  /** Time between arrivals, ms. Default 10 (λ = 100/s). */
  intervalMs?: number;
  startMs?: number;
}

function drive(controller: DynamicSizingController, d: Drive): Array<{ i: number; mb: number }> {
  const resizes: Array<{ i: number; mb: number }> = [];
  const interval = d.intervalMs ?? 10;
  const start = d.startMs ?? 0;
  for (let i = 0; i < d.invocations; i++) {
    const fn = d.fn ? d.fn(i) : i % 10;
    const mb = controller.observe(fn, start + i * interval, d.cold(i, controller.capacityMb));
    if (mb !== undefined) resizes.push({ i: i + 1, mb });
  }
  return resizes;
}

/** Cold for `percent` of every 100 invocations: a window of 10,000 sees exactly that miss ratio. */
const coldPercent = (percent: number) => (i: number) => i % 100 < percent;

describe('DynamicSizingController', () => {
  it('starts at 5,000 MB and does nothing before 10,000 invocations', () => {
    const controller = new DynamicSizingController(fixedCurve(linearCurve), functions(10));
    assert.equal(controller.capacityMb, 5_000);
    assert.deepEqual(drive(controller, { invocations: 9_999, cold: () => true }), []);
  });

  it('grows when misses are above target', () => {
    // HR(5,000) = 0.25 on the curve; measured miss ratio 0.5 instead of 0.75 (δ = −0.25), so the curve
    // is asked for 0.9 − 0.25 = 0.65 → 13,000 MB.
    const controller = new DynamicSizingController(fixedCurve(linearCurve), functions(10));
    const resizes = drive(controller, { invocations: 10_000, cold: coldPercent(50) });
    assert.deepEqual(resizes, [{ i: 10_000, mb: 13_000 }]);
    const [event] = controller.history();
    assert.equal(event.fromMb, 5_000);
    assert.equal(event.toMb, 13_000);
    // 9,999 intervals so far, of which 4,999 end in a cold start: ≈ 50 misses/s against 0.1 × 100/s.
    assert.ok(Math.abs(event.missSpeed - 50) < 0.01, `miss speed ${event.missSpeed}/s`);
    assert.ok(Math.abs(event.targetMissSpeed - 10) < 1e-6, `target ${event.targetMissSpeed}/s`);
    assert.equal(event.curveHitRatio, 0.25);
    assert.ok(Math.abs(event.measuredHitRatio - 0.5) < 1e-3);
  });

  it("in 'curve' mode follows the notebook: miss speed λ·(1 − HR(c)), HR(c') = 1 − h·λ̄/λ", () => {
    const controller = new DynamicSizingController({ ...fixedCurve(linearCurve), missSpeed: 'curve' }, functions(10));
    // Measured cold starts are ignored: the curve alone says 75 % misses at 5,000 MB.
    assert.deepEqual(drive(controller, { invocations: 10_000, cold: () => false }), [{ i: 10_000, mb: 18_000 }]);
  });

  it('sizes for 1 − h·λ̄/λ: a load above the mean asks for a higher hit ratio', () => {
    // λ = 100/s; λ̄ given as 50/s: target miss ratio 0.1 · 50/100 = 0.05 → HR 0.95 → 19,000 MB.
    const controller = new DynamicSizingController({ ...fixedCurve(linearCurve), missSpeed: 'curve', meanArrivalRatePerSec: 50 }, functions(10));
    assert.deepEqual(drive(controller, { invocations: 10_000, cold: () => false }), [{ i: 10_000, mb: 19_000 }]);
    assert.equal(controller.history()[0].targetMissSpeed, 5);
  });

  it('shrinks when misses are below target', () => {
    // No cold start at all: δ = 0 − 0.75, the curve is asked for 0.9 − 0.75 = 0.15 → 3,000 MB.
    const controller = new DynamicSizingController(fixedCurve(linearCurve), functions(10));
    assert.deepEqual(drive(controller, { invocations: 10_000, cold: () => false }), [{ i: 10_000, mb: 3_000 }]);
  });

  it('respects the 30 % dead band', () => {
    // Target miss ratio 0.1 at mean load: 12 % misses is a 20 % error (no action), 14 % a 40 % one.
    const inside = new DynamicSizingController(fixedCurve(linearCurve), functions(10));
    assert.deepEqual(drive(inside, { invocations: 50_000, cold: coldPercent(12) }), []);
    const outside = new DynamicSizingController(fixedCurve(linearCurve), functions(10));
    assert.equal(drive(outside, { invocations: 10_000, cold: coldPercent(14) }).length, 1);
    const wider = new DynamicSizingController({ ...fixedCurve(linearCurve), deadBand: 0.5 }, functions(10));
    assert.deepEqual(drive(wider, { invocations: 50_000, cold: coldPercent(14) }), []);
  });

  it('acts at least 10,000 invocations apart and clamps at 20,000 MB', () => {
    // Misses stay at 50 % whatever the size: 5,000 → 13,000 → (asked > 100 %) 20,000, then no change.
    const controller = new DynamicSizingController(fixedCurve(linearCurve), functions(10));
    const resizes = drive(controller, { invocations: 60_000, cold: coldPercent(50) });
    assert.deepEqual(resizes, [
      { i: 10_000, mb: 13_000 },
      { i: 20_000, mb: 20_000 },
    ]);
    const spaced = new DynamicSizingController({ ...fixedCurve(linearCurve), minSpacing: 25_000 }, functions(10));
    assert.deepEqual(
      drive(spaced, { invocations: 60_000, cold: coldPercent(50) }).map((r) => r.i),
      [25_000, 50_000],
    );
  });

  it('clamps at minMb', () => {
    const controller = new DynamicSizingController({ ...fixedCurve(linearCurve), minMb: 4_000 }, functions(10));
    assert.deepEqual(drive(controller, { invocations: 10_000, cold: () => false }), [{ i: 10_000, mb: 4_000 }]);
  });

  it('ignores changes under 100 MB', () => {
    // A curve that reaches 0.9 at 5,050 MB: the 50 MB step is dropped unless minStepMb allows it.
    const steep: HitRatioCurve = { sizesMb: [0, 5_000, 5_050, 20_000], hitRatio: [0, 0.5, 0.9, 1] };
    const options = { ...fixedCurve(steep), missSpeed: 'curve' as const };
    assert.deepEqual(drive(new DynamicSizingController(options, functions(10)), { invocations: 30_000, cold: () => false }), []);
    assert.deepEqual(drive(new DynamicSizingController({ ...options, minStepMb: 50 }, functions(10)), { invocations: 10_000, cold: () => false }), [
      { i: 10_000, mb: 5_050 },
    ]);
  });

  it('builds its own curve from the sliding window and settles where the curve says (closed loop)', () => {
    // Round-robin over 10 functions of 100 MB: every reuse distance is 900 MB. A toy cache misses
    // everything below 900 MB and nothing from there on, so the measured curve equals the theory.
    const controller = new DynamicSizingController({}, functions(10));
    const resizes = drive(controller, { invocations: 40_000, cold: (i, capacity) => i < 10 || capacity < 900 });
    assert.deepEqual(resizes, [{ i: 10_000, mb: 900 }]);
    const curve = controller.theoreticalCurve()!;
    assert.equal(sizeForHitRatio(curve, 0.9), 900);
    assert.equal(sizeForHitRatio(curve, 1e-9), 900);
    const measured = controller.measuredCurve();
    assert.deepEqual(measured.sizesMb, [900, 5_000]);
    assert.deepEqual(measured.hitRatio, [1, 9_990 / 10_000]);
    assert.deepEqual(measured.invocations, [30_000, 10_000]);
  });

  it('reports its state, the time-weighted mean capacity and a summary', () => {
    const controller = new DynamicSizingController(fixedCurve(linearCurve), functions(10));
    drive(controller, { invocations: 15_000, cold: () => false });
    const state = controller.state();
    assert.equal(state.invocations, 15_000);
    assert.equal(state.capacityMb, 3_000);
    assert.ok(Math.abs(state.arrivalRatePerSec! - 100) < 1e-9);
    assert.ok(Math.abs(state.meanArrivalRatePerSec! - 100) < 1e-9);
    assert.equal(state.measuredMissSpeed, 0);
    assert.ok(Math.abs(state.curveMissSpeed! - 100 * (1 - 0.15)) < 1e-9);
    assert.ok(Math.abs(state.targetMissSpeed! - 10) < 1e-9);
    // 5,000 MB for the first 99,990 ms, then 3,000 MB up to 150,000 ms.
    const mean = (5_000 * 99_990 + 3_000 * 50_010) / 150_000;
    assert.ok(Math.abs(controller.meanCapacityMb(150_000) - mean) < 1e-9);
    const summary = controller.summary(150_000);
    assert.equal(summary.targetMissRatio, 0.1);
    assert.equal(summary.resizes.length, 1);
  });

  it('uses the running mean arrival rate for λ̄ by default, so a burst grows the cache', () => {
    // 10,000 arrivals at 10/s, then 10,000 at 100/s: λ = 100, λ̄ ≈ 18/s. In 'curve' mode the target hit
    // ratio is 1 − 0.1·λ̄/λ ≈ 0.98.
    const controller = new DynamicSizingController({ ...fixedCurve(linearCurve), missSpeed: 'curve' }, functions(10));
    let t = 0;
    for (let i = 0; i < 20_000; i++) {
      t += i < 10_000 ? 100 : 10;
      controller.observe(i % 10, t, false);
    }
    const last = controller.history().at(-1)!;
    assert.equal(last.invocation, 20_000);
    assert.ok(last.arrivalRatePerSec > 99 && last.meanArrivalRatePerSec < 20, JSON.stringify(last));
    assert.ok(last.toMb > 19_000, `grew to ${last.toMb}`);
  });

  it('rejects unknown functions and time going backwards', () => {
    const controller = new DynamicSizingController({}, functions(2));
    assert.throws(() => controller.observe(2, 0, true), (e: unknown) => e instanceof ThawError && e.code === 'ERR_UNKNOWN_FUNCTION');
    controller.observe(0, 100, true);
    assert.throws(() => controller.observe(1, 50, true), (e: unknown) => e instanceof ThawError && e.code === 'ERR_INVALID_STATE');
  });

  it('validates every option with a message naming it', () => {
    const cases: Array<[DynamicSizingOptions, string]> = [
      [{ targetMissRatio: 0 }, 'targetMissRatio'],
      [{ targetMissRatio: 1 }, 'targetMissRatio'],
      [{ rateWindow: 0 }, 'rateWindow'],
      [{ rateWindow: 1.5 }, 'rateWindow'],
      [{ deadBand: -0.1 }, 'deadBand'],
      [{ minSpacing: -1 }, 'minSpacing'],
      [{ minStepMb: Number.NaN }, 'minStepMb'],
      [{ maxMb: 0 }, 'maxMb'],
      [{ minMb: 30_000 }, 'minMb'],
      [{ initialMb: 25_000 }, 'initialMb'],
      [{ initialMb: 50, minMb: 100 }, 'initialMb'],
      [{ curveWindow: 0 }, 'curveWindow'],
      [{ curveRebuildEvery: 0 }, 'curveRebuildEvery'],
      [{ curveResolutionMb: 0 }, 'curveResolutionMb'],
      [{ meanArrivalRatePerSec: 0 }, 'meanArrivalRatePerSec'],
      [{ missSpeed: 'guessed' as never }, 'missSpeed'],
      [{ initialCurve: { sizesMb: [0, 0], hitRatio: [0, 1] } }, 'initialCurve'],
      [{ initialCurve: { sizesMb: [0, 1], hitRatio: [0, 2] } }, 'initialCurve'],
      [{ initialCurve: { sizesMb: [0], hitRatio: [] } }, 'initialCurve'],
    ];
    for (const [options, name] of cases) {
      assert.throws(
        () => new DynamicSizingController(options, functions(3)),
        (e: unknown) => e instanceof ThawError && e.code === 'ERR_INVALID_OPTION' && e.message.startsWith(`option ${name}:`),
        `${JSON.stringify(options)} should be rejected naming ${name}`,
      );
    }
  });

  it('defaults minMb to the largest function and clamps the default start into range', () => {
    const big = functions(3, 6_000);
    const controller = new DynamicSizingController({}, big);
    assert.equal(controller.options.minMb, 6_000);
    assert.equal(controller.capacityMb, 6_000);
  });
});

describe('ArrivalWindow', () => {
  it('averages the last W inter-arrival times and counts the cold starts over the same span', () => {
    const window = new ArrivalWindow(3);
    assert.equal(window.arrivalRatePerSec(), undefined);
    window.add(0, true);
    assert.equal(window.missRatio(), undefined);
    window.add(100, true);
    window.add(200, false);
    assert.equal(window.arrivalRatePerSec(), 10);
    assert.equal(window.missRatio(), 0.5, 'the first arrival only opens the span');
    window.add(300, false);
    window.add(1_300, true);
    // Window: 100, 200, 300, 1300 → 3 intervals over 1,200 ms; cold among the last three: 1.
    assert.equal(window.count, 3);
    assert.equal(window.arrivalRatePerSec(), 2.5);
    assert.equal(window.missRatio(), 1 / 3);
    assert.equal(window.missSpeedPerSec(), 1000 / 1200);
  });
});
