// The simulator's side of thaw replay: what it simulates (the deployed memory, the platform's
// queueing) and how it turns the platform's measurements into a trace.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { deployedMemoryMb, sliceTrace } from '../../src/cli/commands/replay-run.ts';
import { bandVerdict, eventDiff, measuredTrace, nearestInTime, noiseBand, platformByFunction, simulateSlice, sliceTraceOf, withMeasuredStartCosts, type PlatformInvocation } from '../../src/cli/commands/replay-sim.ts';
import { openTrace } from '../../src/sim/traces/index.ts';

const sample = fileURLToPath(new URL('../../data/traces/azure2019/invitro_sample_500fn_8h', import.meta.url));

const fns = [
  { index: 0, id: 'r0', app: 'r0', memoryMb: 128, warmMs: 100, coldStartMs: 10_000 },
  { index: 1, id: 'r1', app: 'r1', memoryMb: 128, warmMs: 100, coldStartMs: 20_000 },
];
const arrivals = [
  { fn: 0, time: 0, durationMs: 100 },
  { fn: 0, time: 60_000, durationMs: 100 },
  { fn: 1, time: 61_000, durationMs: 100 },
];
const ran = (outcome: PlatformInvocation['outcome'], sentMs: number, startMs: number, execMs: number, platformMs: number): PlatformInvocation => ({ outcome, startKind: outcome === 'warm' ? 'warm' : 'cold', sentMs, startMs, execMs, queueMs: 0, platformMs, overheadMs: 2 });

describe('thaw replay: the simulated side', () => {
  it('simulates each function with the memory it is deployed with (64 MB at least, whole MB)', () => {
    assert.equal(deployedMemoryMb(5.52), 64);
    assert.equal(deployedMemoryMb(147.4), 147);
    assert.equal(deployedMemoryMb(50_000), 10_240);
    const { trace } = sliceTrace(openTrace(sample), { functions: 20, minutes: 10 });
    assert.ok(trace.functions.every((f) => f.memoryMb >= 64 && Number.isInteger(f.memoryMb)));
  });

  it('queues what finds no memory, as the platform does, instead of dropping it', () => {
    // 128 MB: one instance at a time. r1 waits for r0's to finish, then evicts it.
    const trace = sliceTraceOf('t', fns, [{ fn: 0, time: 0, durationMs: 100 }, { fn: 1, time: 1_000, durationMs: 100 }], 120_000);
    const { side, byFunction } = simulateSlice(trace, { policy: 'ttl', memoryMb: 128 });
    assert.deepEqual([side.cold, side.warm, side.dropped], [2, 0, 0]);
    assert.deepEqual(byFunction, [{ cold: 1, warm: 0, dropped: 0, failed: 0 }, { cold: 1, warm: 0, dropped: 0, failed: 0 }]);
  });

  it('rebuilds the slice from what the platform measured, in trace time', () => {
    const trace = sliceTraceOf('t', fns, arrivals, 120_000);
    // Speed-up 10: sent 1 ms and 6,001 ms after the start (wall), a cold start of 300 ms.
    const invocations = [ran('cold', 1, 300, 12, 3), ran('warm', 6_001, 0, 11, 1), { ...ran('dropped', 6_101, 0, 0, 0), startKind: undefined }];
    const m = measuredTrace(trace, arrivals, invocations, 10);
    assert.deepEqual(m.arrivals, [
      { fn: 0, time: 10, durationMs: 150 },
      { fn: 0, time: 60_010, durationMs: 120 },
      { fn: 1, time: 61_010, durationMs: 100 }, // did not run: its trace duration
    ]);
    // r0's median start; r1 never started: the median of all starts.
    assert.deepEqual(m.trace.functions.map((f) => f.coldStartMs), [3_000, 3_000]);
    assert.deepEqual(platformByFunction(trace, arrivals, invocations), [{ cold: 1, warm: 1, dropped: 0, failed: 0 }, { cold: 0, warm: 0, dropped: 1, failed: 0 }]);
  });

  it('calibrates with the start costs measured per function and start kind, scaled to trace time', () => {
    const trace = sliceTraceOf('t', fns, arrivals, 120_000);
    const costs = { version: 1 as const, functions: { r0: { cold: 250, isolate: 40 } } };
    const t = withMeasuredStartCosts(trace, arrivals, costs, { r0: 'isolate' }, 10);
    assert.deepEqual(t.functions.map((f) => f.coldStartMs), [400, 20_000]);
    assert.equal(withMeasuredStartCosts(trace, arrivals, costs, { r0: 'cold' }, 10).functions[0]!.coldStartMs, 2_500);
  });

  it('draws a start near in time: the k measured starts nearest the simulated one', () => {
    const starts = [0, 100, 200, 300, 400].map((time) => ({ time, ms: time + 1 }));
    assert.deepEqual(nearestInTime(starts, 210, 2).map((s) => s.time), [200, 300]);
    assert.deepEqual(nearestInTime(starts, 190, 2).map((s) => s.time), [100, 200]);
    assert.deepEqual(nearestInTime(starts, -50, 3).map((s) => s.time), [0, 100, 200]);
    assert.deepEqual(nearestInTime(starts, 999, 3).map((s) => s.time), [200, 300, 400]);
    assert.deepEqual(nearestInTime(starts.slice(0, 1), 999, 3).map((s) => s.time), [0]);
  });

  it('places the platform\'s count in a band: z from the mean, inside when within 2 sd', () => {
    const band = { min: 90, max: 110, mean: 100, sd: 5 };
    assert.deepEqual(bandVerdict(110, band), { z: 2, within2Sd: true });
    assert.deepEqual(bandVerdict(89, band), { z: -2.2, within2Sd: false });
    const flat = { min: 7, max: 7, mean: 7, sd: 0 };
    assert.deepEqual(bandVerdict(7, flat), { z: 0, within2Sd: true });
    assert.deepEqual(bandVerdict(8, flat), { z: Infinity, within2Sd: false });
  });

  it('gives a seeded band of the measured simulation under the platform\'s own jitter', () => {
    const trace = sliceTraceOf('t', fns, arrivals, 120_000);
    const invocations = [ran('cold', 1, 300, 12, 3), ran('warm', 6_001, 0, 11, 1), ran('cold', 6_101, 500, 10, 1)];
    for (const model of ['independent', 'nearest'] as const) {
      const band = noiseBand(trace, arrivals, invocations, 10, { policy: 'ttl', memoryMb: 4096 }, model, 5, 7);
      assert.equal(band.model, model);
      assert.equal(band.replicates, 5);
      // Plenty of memory and a 10-minute window: whatever the jitter, r0 is warm the second time.
      assert.deepEqual([band.cold.mean, band.cold.sd, band.warm.mean], [2, 0, 1]);
      assert.deepEqual(noiseBand(trace, arrivals, invocations, 10, { policy: 'ttl', memoryMb: 4096 }, model, 5, 7), band);
    }
  });

  it('diffs the event logs: per function, which requests were cold (or served) on one side only', () => {
    const trace = sliceTraceOf('t', fns, arrivals, 120_000);
    // The simulation: r0 cold then warm (a 10-minute window), r1 cold. The platform: r0 cold twice, r1 dropped.
    const invocations = [ran('cold', 1, 300, 12, 3), ran('cold', 6_001, 300, 11, 1), { ...ran('dropped', 6_101, 0, 0, 0), startKind: undefined }];
    assert.deepEqual(eventDiff(trace, arrivals, invocations, { policy: 'ttl', memoryMb: 4096 }), [
      { fn: 0, coldOnPlatform: 1, coldInSim: 0, notServedOnPlatform: 0, notServedOnPlatformColdInSim: 0, notServedInSim: 0 },
      { fn: 1, coldOnPlatform: 0, coldInSim: 0, notServedOnPlatform: 1, notServedOnPlatformColdInSim: 1, notServedInSim: 0 },
    ]);
    const agreed = [ran('cold', 1, 300, 12, 3), ran('warm', 6_001, 0, 11, 1), ran('cold', 6_101, 300, 10, 1)];
    assert.deepEqual(eventDiff(trace, arrivals, agreed, { policy: 'ttl', memoryMb: 4096 }), []);
  });
});
