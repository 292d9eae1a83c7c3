// One conformance suite, run against every keep-alive policy: the properties any policy must keep
// whatever it decides to evict (resource-conserving, never evicting busy instances, exact accounting).

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { VirtualClock } from '../../../src/core/clock.ts';
import { Pool } from '../../../src/core/pool.ts';
import { createKeepAlive, KEEP_ALIVE_POLICIES } from '../../../src/policies/keepalive/index.ts';
import { LeastLoadedPlacement } from '../../../src/policies/placement/index.ts';
import { randomTrace, run, trace } from '../../helpers/sim.ts';

const fns = [
  { id: 'A', memoryMb: 100, warmMs: 10, coldStartMs: 100 },
  { id: 'B', memoryMb: 100, warmMs: 10, coldStartMs: 500 },
  { id: 'C', memoryMb: 200, warmMs: 10, coldStartMs: 100 },
];

for (const name of KEEP_ALIVE_POLICIES) {
  describe(`keep-alive policy conformance: ${name}`, () => {
    const policy = () => createKeepAlive(name);

    it('starts cold the first time and warm when an idle instance exists', () => {
      const { outcomes } = run(policy(), trace(fns, [['A', 0], ['A', 1000]]), 1000);
      assert.deepEqual(outcomes, ['A:cold', 'A:warm']);
    });

    it('runs one invocation per instance: overlapping invocations get their own instances', () => {
      const { outcomes, result } = run(policy(), trace(fns, [['A', 0], ['A', 50], ['A', 5000], ['A', 5001]]), 1000);
      assert.deepEqual(outcomes, ['A:cold', 'A:cold', 'A:warm', 'A:warm']);
      assert.equal(result.summary.peakMemoryMb, 200);
    });

    it('evicts nothing while memory is free', () => {
      const { removals } = run(policy(), trace(fns, [['A', 0], ['B', 1000], ['C', 2000], ['A', 3000]]), 400);
      assert.deepEqual(removals.filter((r) => r.includes('evicted')), []);
    });

    it('never evicts a busy instance; drops what cannot be placed, evicting nothing', () => {
      // A and B are both busy at t=50 (cold starts of 110 and 510 ms): C cannot fit in 200 MB.
      const { outcomes, removals, result } = run(policy(), trace(fns, [['A', 0], ['B', 1], ['C', 50]]), 200);
      assert.deepEqual(outcomes, ['A:cold', 'B:cold', 'C:dropped']);
      assert.deepEqual(removals, []);
      assert.equal(result.summary.dropped, 1);
    });

    it('queues what cannot be placed when asked, and serves it when memory frees', () => {
      const { outcomes, result } = run(policy(), trace(fns, [['A', 0], ['B', 1], ['C', 50]]), 200, { unplaceable: 'queue' });
      assert.deepEqual(outcomes, ['A:cold', 'B:cold', 'C:queued', 'C:cold']);
      assert.equal(result.summary.dropped, 0);
      assert.equal(result.summary.queued, 1);
      assert.equal(result.summary.meanQueueWaitMs, 511 - 50); // B's cold run ends at 511 and frees room
    });

    it('serves queued requests in arrival order, one that cannot start holding back none that can (as the platform does)', () => {
      // 300 MB: A runs until 110, C until 111. C's second request (200 MB) cannot start when A
      // finishes (A's idle 100 MB is not enough); A's second, queued behind it, takes A's idle one.
      const { outcomes, result } = run(policy(), trace(fns, [['A', 0], ['C', 1], ['C', 50], ['A', 60]]), 300, { unplaceable: 'queue' });
      assert.deepEqual(outcomes, ['A:cold', 'C:cold', 'C:queued', 'A:queued', 'A:warm', 'C:warm']);
      assert.equal(result.summary.queued, 2);
      assert.equal(result.summary.meanQueueWaitMs, (110 - 60 + (111 - 50)) / 2);
    });

    it('drops a queued request that waited longer than the queue timeout', () => {
      const { outcomes, result } = run(policy(), trace(fns, [['A', 0], ['B', 1], ['C', 50]]), 200, { unplaceable: 'queue', queueTimeoutMs: 20 });
      assert.deepEqual(outcomes, ['A:cold', 'B:cold', 'C:queued', 'C:dropped']);
      assert.equal(result.summary.dropped, 1);
      assert.equal(result.summary.queued, 0);
    });

    it('evicts only what a new instance needs', () => {
      // 300 MB: A, B idle; C (200 MB) needs one of them evicted, not both.
      const { removals } = run(policy(), trace(fns, [['A', 0], ['B', 1000], ['C', 2000]]), 300);
      assert.equal(removals.filter((r) => r.includes('evicted')).length, 1);
    });

    it('an evicted function starts cold again', () => {
      const { outcomes, removals } = run(policy(), trace(fns, [['A', 0], ['C', 1000], ['A', 2000]]), 200);
      assert.deepEqual(outcomes, ['A:cold', 'C:cold', 'A:cold']);
      assert.deepEqual(removals.slice(0, 2), ['A:evicted@1000', 'C:evicted@2000']);
    });

    it('keeps exact accounting on a random workload, and is deterministic', () => {
      const t = randomTrace(7);
      const a = run(policy(), t, 1500);
      const b = run(policy(), t, 1500);
      const s = a.result.summary;
      assert.equal(s.served + s.dropped, s.invocations);
      assert.equal(s.warm + s.cold, s.served);
      assert.ok(s.peakMemoryMb <= 1500);
      assert.ok(s.evictions > 0, 'the workload is sized to need evictions');
      assert.deepEqual(a.outcomes, b.outcomes);
      assert.deepEqual(a.result.summary, { ...b.result.summary });
      const perFunctionWasted = a.result.perFunction.reduce((x, f) => x + f.wastedMemoryGBs, 0);
      assert.ok(Math.abs(perFunctionWasted - s.wastedMemoryGBs) < 1e-9);
    });

    it('the Pool never lets held memory exceed capacity, and frees exactly what it held', () => {
      const clock = new VirtualClock();
      const pool = new Pool({ servers: [{ memoryMb: 300 }], keepAlive: policy(), placement: new LeastLoadedPlacement(), clock });
      const specs = fns.map((f, index) => ({ ...f, index, app: f.id }));
      const held = () => pool.servers[0]!.usedMb;
      const a = pool.acquire(specs[0]!)!;
      const b = pool.acquire(specs[1]!)!;
      assert.equal(held(), 200);
      assert.equal(pool.acquire(specs[2]!), undefined, 'C does not fit beside two busy instances');
      clock.set(100);
      pool.release(a);
      assert.equal(pool.servers[0]!.idleMb, 100);
      const c = pool.acquire(specs[2]!)!;
      assert.equal(c.startKind, 'cold');
      assert.equal(a.state, 'dead');
      assert.equal(held(), 300);
      pool.kill(b);
      pool.kill(c);
      assert.equal(held(), 0);
      assert.equal(pool.servers[0]!.idleMb, 0);
    });
  });
}
