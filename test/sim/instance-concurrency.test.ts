// The simulator with instances that serve several invocations at once (FunctionSpec.concurrency):
// the same Pool code the platform's invoker drives.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { LruKeepAlive } from '../../src/policies/keepalive/index.ts';
import { runSimulation, withInstanceConcurrency } from '../../src/sim/run.ts';
import { run, trace } from '../helpers/sim.ts';

const S = { id: 'S', memoryMb: 100, warmMs: 1000, coldStartMs: 100, concurrency: 2 };

describe('simulator: instance concurrency', () => {
  it('joins instances with a free slot: a starting one (cold, waiting for its start), a running one (warm)', () => {
    const t = trace([S], [['S', 0], ['S', 50], ['S', 1200], ['S', 1250], ['S', 1260]], 5000);
    const r = run(new LruKeepAlive(), t, 1000);
    // 0: cold (starts until 100). 50: joins it while it starts: cold, 50 ms of start left; both end
    // at 1100. 1200: the idle instance, warm. 1250: joins it, warm. 1260: it is full: a second one.
    assert.deepEqual(r.outcomes, ['S:cold', 'S:cold', 'S:warm', 'S:warm', 'S:cold']);
    assert.equal(r.result.summary.cold, 3);
    // The start time the cold invocations paid: 100 + 50 (the rest of the first start) + 100.
    assert.equal(r.result.summary.coldStartOverheadPct, (100 * 250) / 5000);
  });

  it('one invocation per instance without it', () => {
    const t = trace([{ ...S, concurrency: 1 }], [['S', 0], ['S', 50], ['S', 150], ['S', 160], ['S', 170]], 5000);
    assert.deepEqual(run(new LruKeepAlive(), t, 1000).outcomes, Array(5).fill('S:cold'));
  });

  it('drops what finds every shared instance full and no memory for another', () => {
    const t = trace([S], [['S', 0], ['S', 200], ['S', 300]], 5000);
    assert.deepEqual(run(new LruKeepAlive(), t, 100).outcomes, ['S:cold', 'S:warm', 'S:dropped']);
  });

  it('a queued request joins when a slot frees', () => {
    const t = trace([S], [['S', 0], ['S', 10], ['S', 20]], 5000);
    const r = run(new LruKeepAlive(), t, 100, { unplaceable: 'queue' });
    // 10 joins the starting instance; 20 finds it full and waits until both end (1100).
    assert.deepEqual(r.outcomes, ['S:cold', 'S:cold', 'S:queued', 'S:warm']);
    assert.equal(r.result.summary.dropped, 0);
    assert.equal(r.result.summary.meanQueueWaitMs, 1080);
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
