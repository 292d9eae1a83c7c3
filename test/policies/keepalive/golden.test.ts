// Hand-worked golden traces: a few invocations per policy whose warm/cold/evicted sequence is worked
// out in the comments. Times in ms; a cold run lasts coldStartMs + warmMs, a warm one warmMs.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { VirtualClock } from '../../../src/core/clock.ts';
import { Pool } from '../../../src/core/pool.ts';
import { createKeepAlive } from '../../../src/policies/keepalive/index.ts';
import { LeastLoadedPlacement } from '../../../src/policies/placement/index.ts';
import { TtlKeepAlive } from '../../../src/policies/keepalive/ttl.ts';
import { run, trace } from '../../helpers/sim.ts';

// A, B, C: 100 MB each. cost/size: A 1, B 5, C 1.
const abc = [
  { id: 'A', memoryMb: 100, warmMs: 10, coldStartMs: 100 },
  { id: 'B', memoryMb: 100, warmMs: 10, coldStartMs: 500 },
  { id: 'C', memoryMb: 100, warmMs: 10, coldStartMs: 100 },
];
const abcArrivals: [string, number][] = [['A', 0], ['B', 1000], ['A', 2000], ['C', 3000], ['B', 4000], ['A', 5000]];

describe('golden traces', () => {
  it('LRU evicts the instance idle the longest', () => {
    // 200 MB. t=3000 C: idle A (since 2010), B (since 1510) → evict B.
    // t=4000 B: idle A (2010), C (3110) → evict A. t=5000 A: idle C (3110), B (4510) → evict C.
    const r = run(createKeepAlive('lru'), trace(abc, abcArrivals), 200);
    assert.deepEqual(r.outcomes, ['A:cold', 'B:cold', 'A:warm', 'C:cold', 'B:cold', 'A:cold']);
    assert.deepEqual(r.removals, ['B:evicted@3000', 'A:evicted@4000', 'C:evicted@5000']);
  });

  it('GD keeps the function that is costly to restart and often used', () => {
    // t=0 A: clock 0, freq 1 → 1. t=1000 B: 0 + 1×5 = 5. t=2000 A warm: freq 2 → 2.
    // t=3000 C: evict A (2 < 5), clock := 2; C = 2 + 1×1 = 3.
    // t=4000 B warm: freq 2 → 2 + 2×5 = 12. t=5000 A: evict C (3 < 12), clock := 3; A = 3 + 1 = 4.
    const r = run(createKeepAlive('gd'), trace(abc, abcArrivals), 200);
    assert.deepEqual(r.outcomes, ['A:cold', 'B:cold', 'A:warm', 'C:cold', 'B:warm', 'A:cold']);
    assert.deepEqual(r.removals, ['A:evicted@3000', 'C:evicted@5000']);
  });

  it('GD resets a function’s frequency once it has no instance left', () => {
    // A used 3× (freq 3), then evicted for C. Once back, its frequency starts again from 1.
    const clock = new VirtualClock();
    const pool = new Pool({ servers: [{ memoryMb: 100 }], keepAlive: createKeepAlive('gd'), placement: new LeastLoadedPlacement(), clock });
    const [a, c] = [abc[0]!, abc[2]!].map((f, index) => ({ ...f, index, app: f.id }));
    for (let i = 0; i < 3; i++) {
      const instance = pool.acquire(a!)!;
      clock.advance(200);
      pool.release(instance);
    }
    const group = pool.groupsOf(a!)[0]!;
    assert.equal(group.freq, 3);
    assert.equal(group.queuedPriority, 0 + 3 * (100 / 100));
    pool.release(pool.acquire(c!)!); // evicts A: clock := 3
    assert.equal(group.freq, 0);
    assert.equal(pool.servers[0]!.clock, 3);
    pool.acquire(a!); // evicts C (priority 3 + 1 = 4)
    assert.equal(group.freq, 1);
  });

  // X: 200 MB, cost 400 (cost/size 2); Y: 50 MB, cost 150 (3); Z: 100 MB, cost 100. 250 MB.
  const xyz = [
    { id: 'X', memoryMb: 200, warmMs: 10, coldStartMs: 400 },
    { id: 'Y', memoryMb: 50, warmMs: 10, coldStartMs: 150 },
    { id: 'Z', memoryMb: 100, warmMs: 10, coldStartMs: 100 },
  ];
  const xyzArrivals: [string, number][] = [['X', 0], ['Y', 1000], ['Z', 2000], ['Y', 3000]];

  it('FREQ ignores size: evicts the cheap small Y first, then still needs X', () => {
    // t=2000 Z needs 100 MB: X = 0 + 1×400, Y = 0 + 1×150 → evict Y (50 MB, not enough), then X.
    const r = run(createKeepAlive('freq'), trace(xyz, xyzArrivals), 250);
    assert.deepEqual(r.outcomes, ['X:cold', 'Y:cold', 'Z:cold', 'Y:cold']);
    assert.deepEqual(r.removals, ['Y:evicted@2000', 'X:evicted@2000']);
  });

  it('SIZE evicts the large function: freq / size is smallest for X', () => {
    // X = 1/200, Y = 1/50 → evict X, which frees enough; Y stays warm.
    const r = run(createKeepAlive('size'), trace(xyz, xyzArrivals), 250);
    assert.deepEqual(r.outcomes, ['X:cold', 'Y:cold', 'Z:cold', 'Y:warm']);
    assert.deepEqual(r.removals, ['X:evicted@2000']);
  });

  it('GD on the same trace weighs cost per MB: X (2) goes before Y (3)', () => {
    const r = run(createKeepAlive('gd'), trace(xyz, xyzArrivals), 250);
    assert.deepEqual(r.outcomes, ['X:cold', 'Y:cold', 'Z:cold', 'Y:warm']);
    assert.deepEqual(r.removals, ['X:evicted@2000']);
  });

  it('Landlord resets credit on use instead of accumulating frequency', () => {
    // P: 100 MB cost 100 (1/MB); Q: 100 MB cost 200 (2/MB); R: 100 MB. 200 MB.
    // P used 3 times, Q once. At t=4000 R needs room:
    //   GD:       P = 0 + 3×1 = 3, Q = 0 + 1×2 = 2 → evict Q.
    //   Landlord: P = 0 + 1 = 1,   Q = 0 + 2 = 2   → evict P.
    const pqr = [
      { id: 'P', memoryMb: 100, warmMs: 10, coldStartMs: 100 },
      { id: 'Q', memoryMb: 100, warmMs: 10, coldStartMs: 200 },
      { id: 'R', memoryMb: 100, warmMs: 10, coldStartMs: 100 },
    ];
    const arrivals: [string, number][] = [['P', 0], ['P', 1000], ['P', 2000], ['Q', 3000], ['R', 4000]];
    assert.deepEqual(run(createKeepAlive('landlord'), trace(pqr, arrivals), 200).removals, ['P:evicted@4000']);
    assert.deepEqual(run(createKeepAlive('gd'), trace(pqr, arrivals), 200).removals, ['Q:evicted@4000']);
  });

  it('GD shares the function’s priority among its instances; gd-instance gives each its own', () => {
    // H: 100 MB, cost 1000 (10/MB), two concurrent requests leave two instances H1, H2.
    // L: 100 MB, cost 600 (6/MB), used twice. K: 100 MB, cost 100. 300 MB.
    // t=4000 H reuses H2 (most recent). t=6000 K needs room:
    //   gd:          H = 0 + 3×10 = 30 (all of H's instances), L = 0 + 2×6 = 12 → evict L.
    //   gd-instance: H1 = 0 + 1×10 = 10 (its own single use), L = 12 → evict H1, L stays warm.
    const hlk = [
      { id: 'H', memoryMb: 100, warmMs: 10, coldStartMs: 1000 },
      { id: 'L', memoryMb: 100, warmMs: 10, coldStartMs: 600 },
      { id: 'K', memoryMb: 100, warmMs: 10, coldStartMs: 100 },
    ];
    const arrivals: [string, number][] = [['H', 0], ['H', 1], ['L', 2000], ['L', 3000], ['H', 4000], ['K', 6000], ['L', 7000]];
    const shared = run(createKeepAlive('gd'), trace(hlk, arrivals), 300);
    assert.deepEqual(shared.outcomes.slice(4), ['H:warm', 'K:cold', 'L:cold']);
    assert.deepEqual(shared.removals, ['L:evicted@6000', 'K:evicted@7000']); // clock 12; K = 12 + 1
    const own = run(createKeepAlive('gd-instance'), trace(hlk, arrivals), 300);
    assert.deepEqual(own.outcomes.slice(4), ['H:warm', 'K:cold', 'L:warm']);
    assert.deepEqual(own.removals, ['H:evicted@6000']);
  });

  it('TTL expires an idle instance exactly when its window ends', () => {
    // A warm at 300000 ends at 300010; the 10-minute window ends at 900010. An arrival at 900009 is
    // warm; one at exactly 900010 finds the instance already gone (expiries come first).
    const just = run(new TtlKeepAlive(), trace(abc, [['A', 0], ['A', 300_000], ['A', 900_009]]), 1000);
    assert.deepEqual(just.outcomes, ['A:cold', 'A:warm', 'A:warm']);
    const late = run(new TtlKeepAlive(), trace(abc, [['A', 0], ['A', 300_000], ['A', 900_010]]), 1000);
    assert.deepEqual(late.outcomes, ['A:cold', 'A:warm', 'A:cold']);
    assert.deepEqual(late.removals, ['A:expired@900010']);
    assert.equal(late.result.summary.expirations, 1);
    assert.equal(late.result.summary.evictions, 0);
  });

  it('TTL falls back to LRU order under memory pressure', () => {
    const r = run(createKeepAlive('ttl'), trace(abc, abcArrivals), 200);
    assert.deepEqual(r.outcomes, ['A:cold', 'B:cold', 'A:warm', 'C:cold', 'B:cold', 'A:cold']);
    assert.deepEqual(r.removals, ['B:evicted@3000', 'A:evicted@4000', 'C:evicted@5000']);
  });

  it('wasted memory is memory × idle time, up to the end of the trace window', () => {
    // A idle from 110 to 2000 and from 2010 to the 10 000 ms window end: 100 MB × 9 880 ms.
    const r = run(createKeepAlive('lru'), trace(abc, [['A', 0], ['A', 2000]], 10_000), 1000);
    assert.equal(r.result.summary.wastedMemoryGBs, (100 * (2000 - 110 + 10_000 - 2010)) / 1024 / 1000);
    // cold-start overhead: 100 ms of cold start over 20 ms of execution.
    assert.equal(r.result.summary.coldStartOverheadPct, 500);
  });
});
