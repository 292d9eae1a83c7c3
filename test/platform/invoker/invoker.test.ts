// The invoker's decisions with a scripted sandbox and a manual clock: warm and cold starts, scale
// out, pause and resume, scale to zero, crash replacement, provisioned concurrency, waiting for room.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { LruKeepAlive, TtlKeepAlive } from '../../../src/policies/keepalive/index.ts';
import type { DeployedFunction } from '../../../src/platform/function.ts';
import { Invoker } from '../../../src/platform/invoker/invoker.ts';
import { ManualScheduler } from '../../../src/platform/invoker/scheduler.ts';
import { IDLE_CPU_SHARES, cpuSharesFor } from '../../../src/platform/invoker/vertical-scaling.ts';
import type { PrewarmPolicy } from '../../../src/core/prewarm.ts';
import { FakeBackend } from './fake-sandbox.ts';

const hello: DeployedFunction = { name: 'hello', version: 1, codeDir: '/code', memoryMb: 128, timeoutMs: 1000, maxConcurrency: 10, env: {}, network: false, provisioned: 0 };

function setup(options: { budgetMb?: number; ttlMs?: number; pauseAfterMs?: number; prewarm?: PrewarmPolicy[]; concurrencyLimit?: 'fixed' | 'adaptive' } = {}) {
  const backend = new FakeBackend();
  const scheduler = new ManualScheduler();
  const idle: number[] = [];
  const invoker = new Invoker({
    backend,
    scheduler,
    keepAlive: options.ttlMs ? new TtlKeepAlive({ ttlMs: options.ttlMs }) : new LruKeepAlive(),
    memoryBudgetMb: options.budgetMb ?? 1024,
    pauseAfterMs: options.pauseAfterMs ?? Infinity,
    prewarm: options.prewarm,
    concurrencyLimit: options.concurrencyLimit,
    leastConcurrencyLimit: 1,
    onIdle: (fn, idleMs) => idle.push((fn.memoryMb / 1024) * (idleMs / 1000)),
  });
  return { backend, scheduler, invoker, idle };
}

/** A promise settled from outside, to hold an invocation open. */
function gate<T>() {
  let open!: (value: T) => void;
  const promise = new Promise<T>((resolve) => (open = resolve));
  return { promise, open };
}

describe('Invoker', () => {
  it('starts cold with every phase, then warm on the same sandbox', async () => {
    const { invoker, backend } = setup();
    const first = await invoker.invoke(hello, { n: 1 }, 'i1');
    assert.equal(first.ok, true);
    assert.deepEqual(first.value, { n: 1 });
    assert.equal(first.startKind, 'cold');
    assert.deepEqual({ ...first.phases, platformMs: 0, queueMs: 0 }, { queueMs: 0, sandboxMs: 3, runtimeBootMs: 30, importMs: 20, initMs: 10, execMs: 5, platformMs: 0 });
    const second = await invoker.invoke(hello, { n: 2 }, 'i2');
    assert.equal(second.startKind, 'warm');
    assert.equal(second.instanceId, first.instanceId);
    assert.equal(backend.created.length, 1);
  });

  it('scales out: concurrent invocations get their own sandboxes', async () => {
    const { invoker, backend } = setup();
    const hold = gate<void>();
    backend.behaviour = async (p) => {
      await hold.promise;
      return { ok: true, value: p, durationMs: 1, stdout: '', stderr: '' };
    };
    const running = [1, 2, 3].map((n) => invoker.invoke(hello, n, `i${n}`));
    await Promise.resolve();
    hold.open();
    const reports = await Promise.all(running);
    assert.deepEqual(reports.map((r) => r.startKind), ['cold', 'cold', 'cold']);
    assert.equal(new Set(reports.map((r) => r.instanceId)).size, 3);
    assert.equal(invoker.snapshot().instances.idle, 3);
  });

  it('pauses an idle instance after the grace period and resumes it on use, with CPU given back', async () => {
    const { invoker, backend, scheduler } = setup({ pauseAfterMs: 500 });
    await invoker.invoke(hello, 1, 'i1');
    const sandbox = backend.created[0]!;
    scheduler.advance(499);
    assert.equal(sandbox.state, 'running');
    scheduler.advance(1);
    await new Promise((r) => setImmediate(r));
    assert.equal(sandbox.state, 'paused');
    assert.equal(sandbox.cpuShares, IDLE_CPU_SHARES);
    const again = await invoker.invoke(hello, 2, 'i2');
    assert.equal(again.startKind, 'resumed');
    assert.equal(sandbox.state, 'running');
    assert.equal(sandbox.cpuShares, cpuSharesFor(128));
  });

  it('scales to zero when the keep-alive window ends, and records idle GB-s', async () => {
    const { invoker, backend, scheduler, idle } = setup({ ttlMs: 60_000 });
    await invoker.invoke(hello, 1, 'i1');
    scheduler.advance(59_999);
    assert.equal(backend.live().length, 1);
    scheduler.advance(1);
    assert.equal(backend.live().length, 0);
    assert.equal(invoker.snapshot().usedMb, 0);
    assert.equal(idle.reduce((a, b) => a + b, 0), (128 / 1024) * 60);
    assert.equal((await invoker.invoke(hello, 2, 'i2')).startKind, 'cold');
  });

  it('replaces an instance after a timeout, crash or OOM, and keeps serving', async () => {
    const { invoker, backend } = setup();
    backend.behaviour = () => ({ ok: false, error: { kind: 'timeout', message: '' }, durationMs: 1000, stdout: '', stderr: '' });
    const timedOut = await invoker.invoke(hello, 1, 'i1');
    assert.equal(timedOut.ok, false);
    assert.match(timedOut.error!.message, /timed out after 1000 ms/);
    assert.equal(backend.created[0]!.state, 'destroyed');
    backend.behaviour = () => ({ ok: false, error: { kind: 'error', name: 'TypeError', message: 'boom' }, durationMs: 1, stdout: '', stderr: '' });
    const threw = await invoker.invoke(hello, 2, 'i2');
    assert.equal(threw.error!.message, 'boom');
    assert.equal(backend.live().length, 1, 'a function that throws keeps its instance');
    backend.live()[0]!.crash();
    await new Promise((r) => setImmediate(r));
    assert.equal(backend.live().length, 0, 'an idle sandbox that dies is dropped');
    backend.behaviour = (p) => ({ ok: true, value: p, durationMs: 1, stdout: '', stderr: '' });
    assert.equal((await invoker.invoke(hello, 3, 'i3')).startKind, 'cold');
  });

  it('keeps provisioned instances ready and starts them before any request', async () => {
    const { invoker, backend, scheduler } = setup({ ttlMs: 1000 });
    invoker.provision({ ...hello, provisioned: 2 });
    await new Promise((r) => setImmediate(r));
    assert.equal(backend.created.length, 2);
    assert.equal(invoker.snapshot().instances.idle, 2);
    scheduler.advance(10_000);
    assert.equal(backend.live().length, 2, 'provisioned instances do not expire');
    assert.equal((await invoker.invoke({ ...hello, provisioned: 2 }, 1, 'i1')).startKind, 'warm');
  });

  it('waits for memory when the budget is full of busy instances, then fails after the queue timeout', async () => {
    const { invoker, backend, scheduler } = setup({ budgetMb: 128 });
    const hold = gate<void>();
    backend.behaviour = async (p) => {
      await hold.promise;
      return { ok: true, value: p, durationMs: 1, stdout: '', stderr: '' };
    };
    const first = invoker.invoke(hello, 1, 'i1');
    const second = invoker.invoke(hello, 2, 'i2');
    await Promise.resolve();
    hold.open();
    assert.equal((await first).startKind, 'cold');
    assert.equal((await second).startKind, 'warm', 'the waiting request takes the instance the first one released');
    const slow = gate<void>();
    backend.behaviour = async (p) => {
      await slow.promise;
      return { ok: true, value: p, durationMs: 1, stdout: '', stderr: '' };
    };
    const busy = invoker.invoke(hello, 3, 'i3');
    const other = invoker.invoke({ ...hello, name: 'other' }, 4, 'i4');
    await Promise.resolve();
    scheduler.advance(1000);
    const failed = await other;
    assert.equal(failed.ok, false);
    assert.equal(failed.error!.kind, 'capacity');
    assert.match(failed.error!.message, /no instance within 1000 ms/);
    slow.open();
    assert.equal((await busy).ok, true);
  });

  it('holds invocations beyond the function’s concurrency limit until one finishes', async () => {
    const { invoker, backend } = setup();
    const hold = gate<void>();
    backend.behaviour = async (p) => {
      await hold.promise;
      return { ok: true, value: p, durationMs: 1, stdout: '', stderr: '' };
    };
    const limited = { ...hello, maxConcurrency: 1 };
    const a = invoker.invoke(limited, 1, 'i1');
    const b = invoker.invoke(limited, 2, 'i2');
    await Promise.resolve();
    assert.equal(invoker.snapshot().waiting, 1);
    hold.open();
    const [ra, rb] = await Promise.all([a, b]);
    assert.equal(ra.startKind, 'cold');
    assert.equal(rb.startKind, 'warm');
    assert.equal(backend.created.length, 1);
  });

  it('with an adaptive limit, holds invocations beyond the limit their delays taught it, under maxConcurrency', async () => {
    const { invoker, backend } = setup({ concurrencyLimit: 'adaptive' });
    // The delay the limit learns from is the time in the sandbox minus the execution time the
    // sandbox reports: a reported execution of −X ms makes a delay of X ms (plus the real µs).
    const delayed = (delayMs: number) => (backend.behaviour = (p) => ({ ok: true, value: p, durationMs: -delayMs, stdout: '', stderr: '' }));
    const sequentially = async (n: number) => {
      for (let i = 0; i < n; i++) await invoker.invoke(hello, i, `s${i}`);
    };
    delayed(100);
    await sequentially(20); // the first window: then the no-load delay is probed
    await sequentially(20); // the probe, one running at a time: 100 ms
    assert.equal(invoker.instancesByFunction()[0]!.concurrencyLimit, 10, 'back at maxConcurrency after the probe');
    delayed(1000);
    await sequentially(20); // ten times the no-load delay: Vegas takes 9 of 10 to be waiting
    assert.equal(invoker.instancesByFunction()[0]!.concurrencyLimit, 5, 'halved (at most) by the delay\'s growth');

    const hold = gate<void>();
    backend.behaviour = async (p) => {
      await hold.promise;
      return { ok: true, value: p, durationMs: 1, stdout: '', stderr: '' };
    };
    const running = [1, 2, 3, 4, 5, 6].map((n) => invoker.invoke(hello, n, `c${n}`));
    await Promise.resolve();
    assert.equal(invoker.snapshot().waiting, 1, 'the sixth waits for one of the five');
    hold.open();
    const reports = await Promise.all(running);
    assert.ok(reports.every((r) => r.ok));
    assert.ok(new Set(reports.map((r) => r.instanceId)).size <= 5);
  });

  it('with the fixed limit (the default), reports no learnt limit', async () => {
    const { invoker } = setup();
    await invoker.invoke(hello, 1, 'i1');
    assert.equal(invoker.instancesByFunction()[0]!.concurrencyLimit, undefined);
  });

  describe('instances that serve several invocations at once (instanceConcurrency)', () => {
    const shared: DeployedFunction = { ...hello, name: 'shared', instanceConcurrency: 3 };
    const held = (backend: FakeBackend) => {
      const hold = gate<void>();
      backend.behaviour = async (p) => {
        await hold.promise;
        return { ok: true, value: p, durationMs: 1, stdout: '', stderr: '' };
      };
      return hold;
    };
    const turn = () => new Promise((r) => setImmediate(r));

    it('joins a busy instance up to its concurrency, then scales out', async () => {
      const { invoker, backend } = setup();
      const hold = held(backend);
      const first = invoker.invoke(shared, 1, 'i1');
      await turn(); // its cold start ends: from now on it takes more
      const rest = [2, 3, 4].map((n) => invoker.invoke(shared, n, `i${n}`));
      await turn();
      assert.equal(backend.created.length, 2);
      assert.equal(backend.created[0]!.inFlight, 3);
      assert.equal(backend.created[0]!.spec.concurrency, 3);
      hold.open();
      const reports = await Promise.all([first, ...rest]);
      assert.deepEqual(reports.map((r) => r.startKind), ['cold', 'warm', 'warm', 'cold']);
      assert.equal(reports[1]!.instanceId, reports[0]!.instanceId);
      assert.equal(reports[2]!.instanceId, reports[0]!.instanceId);
      assert.notEqual(reports[3]!.instanceId, reports[0]!.instanceId);
      assert.equal(invoker.snapshot().instances.idle, 2);
    });

    it('a burst on a function with no instance starts one instance, which serves it all', async () => {
      const { invoker, backend } = setup();
      const reports = await Promise.all([1, 2, 3].map((n) => invoker.invoke(shared, n, `i${n}`)));
      assert.equal(backend.created.length, 1);
      assert.deepEqual(reports.map((r) => [r.ok, r.startKind, r.instanceId]), [1, 2, 3].map(() => [true, 'cold', reports[0]!.instanceId]));
      assert.equal(reports[0]!.phases.runtimeBootMs, 30, 'the first has the start phases');
      assert.equal(reports[1]!.phases.runtimeBootMs, 0, 'those that joined waited for it (queueMs)');
    });

    it('scales out instead where the sandbox says it serves one at a time', async () => {
      const { invoker, backend } = setup();
      const hold = held(backend);
      backend.concurrent = false;
      const first = invoker.invoke(shared, 1, 'i1');
      await turn();
      const second = invoker.invoke(shared, 2, 'i2');
      await turn();
      hold.open();
      const reports = await Promise.all([first, second]);
      assert.deepEqual(reports.map((r) => r.startKind), ['cold', 'cold']);
      assert.equal(backend.created.length, 2);
    });

    it('an instance stopped while shared takes no more and goes after its last invocation', async () => {
      const { invoker, backend } = setup();
      const hold = held(backend);
      const running = [invoker.invoke(shared, 1, 'i1')];
      await turn();
      running.push(invoker.invoke(shared, 2, 'i2'));
      await turn();
      const evicted = invoker.evict('shared', { waitForBusy: true });
      const after = invoker.invoke(shared, 3, 'i3');
      await turn();
      assert.equal(backend.created.length, 2, 'the draining instance took no third invocation');
      assert.equal(backend.created[0]!.state, 'running');
      hold.open();
      await Promise.all([...running, after]);
      assert.deepEqual(await evicted, { stopped: 0, waitedFor: 1 });
      assert.equal(backend.created[0]!.state, 'destroyed');
      assert.equal(backend.created[1]!.state, 'running');
    });
  });

  it('carries out pre-warm decisions on its clock: instances started ahead of requests', async () => {
    const seen: string[] = [];
    const policy: PrewarmPolicy = {
      name: 'scripted',
      tickMs: 0,
      invoked: (fn) => void seen.push(`invoked ${fn.app}`),
      completed: (fn, now) => {
        seen.push(`completed ${fn.app}`);
        return [{ kind: 'warm', fn, at: now + 5000, count: 2, keepAliveMs: 60_000 }];
      },
      executed: (o) => void seen.push(`executed kept=${o.kept} started=${o.started}`),
    };
    const { invoker, backend, scheduler } = setup({ prewarm: [policy] });
    await invoker.invoke(hello, 1, 'i1');
    assert.equal(backend.created.length, 1);
    scheduler.advance(4999);
    assert.equal(backend.created.length, 1);
    scheduler.advance(1);
    await new Promise((r) => setImmediate(r));
    assert.equal(backend.created.length, 2, 'one idle instance is kept, one more started');
    assert.deepEqual(seen, ['invoked hello', 'completed hello', 'executed kept=1 started=1']);
    assert.equal(invoker.snapshot().instances.idle, 2);
  });
});
