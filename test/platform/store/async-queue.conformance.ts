// The conformance suite of the AsyncQueue interface (src/platform/store/async-queue.ts): the one
// set of tests every async queue passes — SQLite on one node, JetStream in cluster mode — so the
// two have the same semantics. An implementation's test file calls
//
//   describeAsyncQueue('my queue', async ({ policy, now }) => ({ queue, close }));
//
// `open` gets the policy and the clock (epoch ms, advanced by the suite) the queue must use, and
// must make functions `f` and `g` (version 1) known to whatever the queue checks names against.

import assert from 'node:assert/strict';
import { afterEach, describe, it } from 'node:test';
import { ThawError } from '../../../src/core/errors.ts';
import { retryDelayMs, type AsyncPolicy, type AsyncQueue } from '../../../src/platform/store/async-queue.ts';

export interface AsyncQueueUnderTest {
  queue: AsyncQueue;
  close(): Promise<void>;
}

export type OpenAsyncQueue = (context: { policy: AsyncPolicy; now: () => number }) => Promise<AsyncQueueUnderTest>;

const POLICY: AsyncPolicy = { maxAttempts: 3, retryBaseMs: 1000, retryMaxMs: 3000, maxEventAgeMs: 60_000, idempotencyWindowMs: 10_000 };

const code = (expected: string) => (e: unknown) => e instanceof ThawError && e.code === expected;

export function describeAsyncQueue(name: string, open: OpenAsyncQueue): void {
  describe(`AsyncQueue conformance: ${name}`, () => {
    let t = Date.UTC(2025, 0, 1);
    const now = () => t;
    const advance = (ms: number) => void (t += ms);
    let opened: AsyncQueueUnderTest | undefined;
    const setup = async (policy: Partial<AsyncPolicy> = {}) => {
      opened = await open({ policy: { ...POLICY, ...policy }, now });
      return opened.queue;
    };
    afterEach(async () => {
      await opened?.close();
      opened = undefined;
    });

    it('keeps a job until one worker claims it, first in first out, and completes it', async () => {
      const queue = await setup();
      const a = (await queue.enqueue({ functionName: 'f', version: 1, payload: { n: 1 } })).job;
      advance(1);
      const b = (await queue.enqueue({ functionName: 'g', version: 1, payload: { n: 2 }, mode: 'timer' })).job;
      assert.equal(a.status, 'pending');
      assert.equal(a.attempts, 0);
      assert.equal(a.maxAttempts, 3);
      assert.equal(a.expiresAt, a.enqueuedAt + POLICY.maxEventAgeMs);
      assert.deepEqual((await queue.get(a.id))?.payload, { n: 1 });
      const first = (await queue.claim())!;
      assert.equal(first.id, a.id);
      assert.equal(first.status, 'running');
      assert.equal(first.attempts, 1);
      assert.deepEqual(first.payload, { n: 1 });
      const second = (await queue.claim())!;
      assert.equal(second.id, b.id);
      assert.equal(second.mode, 'timer');
      assert.equal(await queue.claim(), undefined);
      await queue.complete(a.id, { result: { ok: true } });
      assert.equal((await queue.get(a.id))?.status, 'succeeded');
      await assert.rejects(queue.complete(a.id), code('ERR_INVALID_STATE'));
      await assert.rejects(queue.complete('nope'), code('ERR_NOT_FOUND'));
      assert.deepEqual(await queue.counts(), { pending: 0, running: 1, succeeded: 1, failed: 0 });
    });

    it('hands each job to exactly one of many concurrent claims', async () => {
      const queue = await setup();
      const ids = [];
      for (let i = 0; i < 8; i++) ids.push((await queue.enqueue({ functionName: 'f', version: 1, payload: i })).job.id);
      const claimed = await Promise.all(Array.from({ length: 12 }, () => queue.claim()));
      const got = claimed.filter((j) => j !== undefined).map((j) => j!.id);
      assert.deepEqual([...got].sort(), [...ids].sort());
    });

    it('retries a retryable failure after a back-off that doubles up to its maximum, then dead-letters it', async () => {
      const queue = await setup({ maxAttempts: 4 });
      const { job } = await queue.enqueue({ functionName: 'f', version: 1, payload: 'p' });
      const delays: number[] = [];
      for (let attempt = 1; attempt <= 4; attempt++) {
        const claimed = (await queue.claim())!;
        assert.equal(claimed.id, job.id);
        assert.equal(claimed.attempts, attempt);
        const after = await queue.fail(job.id, { kind: 'exit', message: `crash ${attempt}` }, { retryable: true });
        if (attempt === 4) {
          assert.equal(after.status, 'failed');
          assert.equal(after.deadReason, 'retries-exhausted');
          assert.deepEqual(after.lastError, { kind: 'exit', message: 'crash 4' });
          break;
        }
        assert.equal(after.status, 'pending');
        assert.equal(after.deadReason, null);
        const delay = after.availableAt - now();
        delays.push(delay);
        assert.equal(await queue.claim(), undefined, 'not before its back-off');
        assert.equal(await queue.nextAvailableAt(), after.availableAt);
        advance(delay - 1);
        assert.equal(await queue.claim(), undefined, 'not a millisecond early');
        advance(1);
      }
      assert.deepEqual(delays, [1000, 2000, 3000]);
      assert.deepEqual(delays, [1, 2, 3].map((a) => retryDelayMs({ ...POLICY, maxAttempts: 4 }, a)));
      const dead = await queue.deadLetters();
      assert.deepEqual(dead.map((d) => d.id), [job.id]);
      assert.deepEqual(dead[0]!.payload, 'p', 'a dead letter keeps its payload');
      assert.equal(dead[0]!.attempts, 4);
    });

    it('dead-letters a failure that is not retryable at once', async () => {
      const queue = await setup();
      const { job } = await queue.enqueue({ functionName: 'f', version: 1, payload: 1 });
      await queue.claim();
      const after = await queue.fail(job.id, { kind: 'error', message: 'TypeError: x is undefined' }, { retryable: false });
      assert.equal(after.status, 'failed');
      assert.equal(after.attempts, 1);
      assert.equal(after.deadReason, 'not-retryable');
      assert.equal(await queue.claim(), undefined);
    });

    it('never runs an event older than the maximum age: it becomes a dead letter, and so does a retry that would come too late', async () => {
      const queue = await setup({ maxEventAgeMs: 5000, retryBaseMs: 4000, retryMaxMs: 4000 });
      const stale = (await queue.enqueue({ functionName: 'f', version: 1, payload: 'old' })).job;
      advance(5000);
      const fresh = (await queue.enqueue({ functionName: 'f', version: 1, payload: 'new' })).job;
      const claimed = (await queue.claim())!;
      assert.equal(claimed.id, fresh.id, 'the stale job is skipped');
      const expired = (await queue.get(stale.id))!;
      assert.equal(expired.status, 'failed');
      assert.equal(expired.deadReason, 'expired');
      assert.equal(expired.attempts, 0);
      assert.equal(expired.lastError?.kind, 'expired');
      advance(2000);
      // fresh is 2 s old: a retry after 4 s would run it at 6 s, past its 5 s.
      const late = await queue.fail(fresh.id, { kind: 'timeout', message: 'slow' }, { retryable: true });
      assert.equal(late.status, 'failed');
      assert.equal(late.deadReason, 'expired');
      assert.deepEqual((await queue.deadLetters()).map((d) => d.id).sort(), [stale.id, fresh.id].sort());
    });

    it('redrives one dead letter or all of them (of a function) as fresh jobs with the same id and payload', async () => {
      const queue = await setup({ maxAttempts: 1 });
      const ids: Record<string, string> = {};
      for (const [key, fn] of [['f1', 'f'], ['f2', 'f'], ['g1', 'g']] as const) {
        ids[key] = (await queue.enqueue({ functionName: fn, version: 1, payload: key })).job.id;
        await queue.claim();
        await queue.fail(ids[key]!, { kind: 'oom', message: 'too big' }, { retryable: true });
        advance(10);
      }
      assert.deepEqual((await queue.deadLetters()).map((d) => d.payload), ['g1', 'f2', 'f1'], 'newest first');
      assert.deepEqual((await queue.deadLetters({ functionName: 'f', limit: 1 })).map((d) => d.payload), ['f2']);

      advance(100_000); // older than the maximum event age: a redrive starts the age again
      const [one] = await queue.redrive({ id: ids.f1! });
      assert.equal(one!.id, ids.f1);
      assert.equal(one!.status, 'pending');
      assert.equal(one!.attempts, 0);
      assert.equal(one!.deadReason, null);
      assert.equal(one!.redrives, 1);
      assert.equal(one!.expiresAt, now() + POLICY.maxEventAgeMs);
      const claimed = (await queue.claim())!;
      assert.equal(claimed.id, ids.f1);
      assert.equal(claimed.attempts, 1);
      assert.equal(claimed.payload, 'f1');
      await queue.complete(claimed.id);

      const rest = await queue.redrive({ all: true, functionName: 'f' });
      assert.deepEqual(rest.map((j) => j.id), [ids.f2]);
      assert.deepEqual((await queue.deadLetters()).map((d) => d.id), [ids.g1]);
      assert.deepEqual((await queue.redrive({ all: true })).map((j) => j.id), [ids.g1]);
      assert.deepEqual(await queue.deadLetters(), []);
      assert.deepEqual(await queue.redrive({ all: true }), []);

      await assert.rejects(queue.redrive({ id: ids.f1! }), code('ERR_INVALID_STATE'), 'a succeeded job is not a dead letter');
      await assert.rejects(queue.redrive({ id: 'nope' }), code('ERR_NOT_FOUND'));
    });

    it('accepts an Idempotency-Key once per function within its window', async () => {
      const queue = await setup();
      const first = await queue.enqueue({ functionName: 'f', version: 1, payload: { order: 7 }, idempotencyKey: 'order-7' });
      assert.equal(first.duplicate, false);
      assert.equal(first.job.idempotencyKey, 'order-7');
      advance(1000);
      const again = await queue.enqueue({ functionName: 'f', version: 1, payload: { order: 7 }, idempotencyKey: 'order-7' });
      assert.equal(again.duplicate, true);
      assert.equal(again.job.id, first.job.id);
      const otherFunction = await queue.enqueue({ functionName: 'g', version: 1, payload: { order: 7 }, idempotencyKey: 'order-7' });
      assert.equal(otherFunction.duplicate, false, 'keys are per function');
      await assert.rejects(queue.enqueue({ functionName: 'f', version: 1, payload: { order: 8 }, idempotencyKey: 'order-7' }), code('ERR_CONFLICT'));

      // Still a duplicate once the first has run.
      const claimed = (await queue.claim())!;
      await queue.complete(claimed.id);
      const afterRun = await queue.enqueue({ functionName: 'f', version: 1, payload: { order: 7 }, idempotencyKey: 'order-7' });
      assert.equal(afterRun.duplicate, true);
      assert.equal(afterRun.job.status, 'succeeded');

      advance(POLICY.idempotencyWindowMs);
      const later = await queue.enqueue({ functionName: 'f', version: 1, payload: { order: 8 }, idempotencyKey: 'order-7' });
      assert.equal(later.duplicate, false, 'the window has passed');
      assert.notEqual(later.job.id, first.job.id);
      assert.deepEqual(await queue.counts('f'), { pending: 1, running: 0, succeeded: 1, failed: 0 });

      for (const bad of ['', 'has space', 'x'.repeat(256), 'naïve']) {
        await assert.rejects(queue.enqueue({ functionName: 'f', version: 1, payload: 1, idempotencyKey: bad }), code('ERR_INVALID_OPTION'), JSON.stringify(bad));
      }
    });

    it('carries the trace context of the request that enqueued the job', async () => {
      const queue = await setup();
      const traceparent = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';
      const { job } = await queue.enqueue({ functionName: 'f', version: 1, payload: null, traceparent });
      assert.equal(job.traceparent, traceparent);
      assert.equal((await queue.claim())?.traceparent, traceparent);
    });
  });
}
