// The simulator with instances that serve several invocations at once (FunctionSpec.concurrency):
// the same Pool code the platform's invoker drives.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { LruKeepAlive } from '../../src/policies/keepalive/index.ts';
import { runSimulation, withInstanceConcurrency } from '../../src/sim/run.ts';
import { run, trace } from '../helpers/sim.ts';

const S = { id: 'S', memoryMb: 100, warmMs: 1000, coldStartMs: 100, concurrency: 2 };

describe('simulator: instance concurrency', () => {
  it('joins started instances with a free slot; a starting one takes no second invocation', () => {
    const t = trace([S], [['S', 0], ['S', 50], ['S', 150], ['S', 160], ['S', 170]], 5000);
    const r = run(new LruKeepAlive(), t, 1000);
    // 0: cold (starts until 100). 50: the first still starts: cold. 150: the second's start ends
    // first; the arrival joins the first (open since 100). 160: joins the second. 170: both full.
    assert.deepEqual(r.outcomes, ['S:cold', 'S:cold', 'S:warm', 'S:warm', 'S:cold']);
    assert.equal(r.result.summary.cold, 3);
    assert.equal(r.result.summary.warm, 2);
  });

  it('one invocation per instance without it', () => {
    const t = trace([{ ...S, concurrency: 1 }], [['S', 0], ['S', 50], ['S', 150], ['S', 160], ['S', 170]], 5000);
    assert.deepEqual(run(new LruKeepAlive(), t, 1000).outcomes, Array(5).fill('S:cold'));
  });

  it('drops what finds every shared instance full and no memory for another', () => {
    const t = trace([S], [['S', 0], ['S', 200], ['S', 300]], 5000);
    assert.deepEqual(run(new LruKeepAlive(), t, 100).outcomes, ['S:cold', 'S:warm', 'S:dropped']);
  });

  it('queued requests join when the start ends and when a slot frees', () => {
    const t = trace([S], [['S', 0], ['S', 10], ['S', 20]], 5000);
    const r = run(new LruKeepAlive(), t, 100, { unplaceable: 'queue' });
    // 10 joins when the start ends (100); 20 when the first invocation ends (1100).
    assert.deepEqual(r.outcomes, ['S:cold', 'S:queued', 'S:queued', 'S:warm', 'S:warm']);
    assert.equal(r.result.summary.dropped, 0);
    assert.equal(r.result.summary.meanQueueWaitMs, (90 + 1080) / 2);
  });

  it('runSimulation applies --instance-concurrency to every function', () => {
    const single = { ...S, concurrency: undefined };
    const t = trace([single], [['S', 0], ['S', 200], ['S', 300]], 5000);
    assert.equal(withInstanceConcurrency(t, 4).functions[0]!.concurrency, 4);
    const one = runSimulation(t, { policy: 'lru', memoryMb: 1000 });
    const four = runSimulation(t, { policy: 'lru', memoryMb: 1000, instanceConcurrency: 4 });
    assert.equal(one.summary.cold, 3);
    assert.equal(four.summary.cold, 1);
    assert.equal(four.options.instanceConcurrency, 4);
    assert.throws(() => withInstanceConcurrency(t, 0), /--instance-concurrency.*integer ≥ 1/);
  });
});
