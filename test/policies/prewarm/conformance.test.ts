// One conformance suite for every Prewarm policy: pre-warming never evicts and never exceeds memory,
// accounting stays exact, pre-warmed instances that are never used are counted as wasted memory,
// runs are deterministic.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { PrewarmPolicy } from '../../../src/core/prewarm.ts';
import { createKeepAlive } from '../../../src/policies/keepalive/index.ts';
import { HybridHistogramPolicy } from '../../../src/policies/keepalive/hybrid-histogram.ts';
import { IceBreakerPrewarm, ProvisionedConcurrency } from '../../../src/policies/prewarm/index.ts';
import { LeastLoadedPlacement } from '../../../src/policies/placement/index.ts';
import { simulate } from '../../../src/sim/engine.ts';
import { randomTrace, trace } from '../../helpers/sim.ts';

const MIN = 60_000;

const policies: Record<string, { keepAlive: () => ReturnType<typeof createKeepAlive>; prewarm: (k: ReturnType<typeof createKeepAlive>) => PrewarmPolicy }> = {
  hybrid: { keepAlive: () => new HybridHistogramPolicy({ minSamples: 3 }), prewarm: (k) => k as HybridHistogramPolicy },
  fft: { keepAlive: () => createKeepAlive('ttl', { ttlMs: MIN }), prewarm: () => new IceBreakerPrewarm({ window: 8 }) },
  provisioned: { keepAlive: () => createKeepAlive('ttl', { ttlMs: MIN }), prewarm: () => new ProvisionedConcurrency([{ fn: '*', count: 1 }, { fn: '#0', count: 3, atMs: 5 * MIN }, { fn: '*', count: 0, atMs: 20 * MIN }]) },
};

for (const [name, make] of Object.entries(policies)) {
  describe(`prewarm policy conformance: ${name}`, () => {
    const go = (memoryMb: number, seed = 3) => {
      const keepAlive = make.keepAlive();
      const removals: string[] = [];
      let evictedWhilePrewarming = 0;
      let prewarmStarts = 0;
      const result = simulate(randomTrace(seed, 12, 40), {
        servers: [{ memoryMb }],
        keepAlive,
        placement: new LeastLoadedPlacement(),
        prewarm: [make.prewarm(keepAlive)],
        observer: {
          removed: (fn, t, reason) => removals.push(`${fn.id}:${reason}@${t}`),
          prewarmed: (_fn, t, _server, kind) => {
            if (kind === 'started') {
              prewarmStarts++;
              if (removals.some((r) => r.endsWith(`@${t}`) && r.includes('evicted'))) evictedWhilePrewarming++;
            }
          },
        },
      });
      return { result, removals, prewarmStarts, evictedWhilePrewarming };
    };

    it('pre-warms something, within memory, with exact accounting', () => {
      const { result, prewarmStarts } = go(100_000);
      const s = result.summary;
      assert.ok(prewarmStarts > 0, 'the workload gives the policy something to pre-warm');
      assert.equal(s.prewarm?.started, prewarmStarts);
      assert.equal(s.served + s.dropped, s.invocations);
      assert.ok(s.prewarm!.unused + s.prewarm!.idleAtEnd <= s.prewarm!.started);
      const perFunction = result.perFunction.reduce((x, f) => x + f.wastedMemoryGBs, 0);
      assert.ok(Math.abs(perFunction - s.wastedMemoryGBs) < 1e-6);
      const prewarmWasted = result.perFunction.reduce((x, f) => x + (f.prewarmWastedGBs ?? 0), 0);
      assert.ok(Math.abs(prewarmWasted - s.prewarm!.idleGBs - s.prewarm!.startGBs) < 1e-6);
      assert.ok(prewarmWasted <= s.wastedMemoryGBs + 1e-9, 'pre-warmed idle memory is part of wasted memory');
    });

    it('never evicts to pre-warm and never exceeds memory', () => {
      const { result, evictedWhilePrewarming } = go(1200);
      assert.equal(evictedWhilePrewarming, 0);
      assert.ok(result.summary.peakMemoryMb <= 1200);
    });

    it('is deterministic', () => {
      const a = go(3000, 9);
      const b = go(3000, 9);
      assert.deepEqual(a.removals, b.removals);
      assert.deepEqual(a.result.summary, b.result.summary);
    });
  });
}

describe('pre-warmed instances that are never used', () => {
  it('count as wasted memory, told apart as pre-warmed', () => {
    // Provision 2 instances of A (100 MB, 1 s to start) for a 10-minute trace with one invocation:
    // one serves it (its idle time until then is pre-warmed idle), the other idles to the end.
    const t = trace([{ id: 'A', memoryMb: 100, warmMs: 1000, coldStartMs: 1000 }], [['A', 5 * MIN]], 10 * MIN);
    const result = simulate(t, {
      servers: [{ memoryMb: 1000 }],
      keepAlive: createKeepAlive('ttl'),
      placement: new LeastLoadedPlacement(),
      prewarm: [new ProvisionedConcurrency([{ fn: 'A', count: 2 }])],
    });
    const s = result.summary;
    assert.equal(s.cold, 0);
    assert.deepEqual({ started: s.prewarm!.started, unused: s.prewarm!.unused, idleAtEnd: s.prewarm!.idleAtEnd }, { started: 2, unused: 0, idleAtEnd: 1 });
    // Starts: 2 × 100 MB × 1 s. Idle pre-warmed: used one 1 s → 300 s, unused one 1 s → 600 s.
    const gbs = (mbS: number) => mbS / 1024;
    assert.ok(Math.abs(s.prewarm!.startGBs - gbs(200)) < 1e-9);
    assert.ok(Math.abs(s.prewarm!.idleGBs - gbs(100 * 299 + 100 * 599)) < 1e-9);
    // Wasted = those + the used instance's idle time after its invocation (301 s .. 600 s).
    assert.ok(Math.abs(s.wastedMemoryGBs - gbs(200 + 100 * 299 + 100 * 599 + 100 * (600 - 301))) < 1e-9);
  });
});
