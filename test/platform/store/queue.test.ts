import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ThawError } from '../../../src/core/errors.ts';
import { Store } from '../../../src/platform/store/index.ts';
import { openStore, tempDir, TestClock, versionSpec } from './helpers.ts';

const code = (code: string) => (e: unknown) => e instanceof ThawError && e.code === code;

function setup(dir = tempDir(), clock = new TestClock()) {
  const store = openStore(dir, clock);
  if (!store.functions.get('f')) store.functions.publish('f', versionSpec());
  return { store, clock, dir };
}

describe('QueueRepository', () => {
  it('persists a job with its payload and a queued invocation record', () => {
    const { store } = setup();
    const job = store.queue.enqueue({ functionName: 'f', payload: { name: 'Ada' } });
    assert.equal(job.status, 'pending');
    assert.equal(job.attempts, 0);
    assert.equal(job.maxAttempts, 3);
    assert.equal(job.version, 1);
    assert.deepEqual(job.payload, { name: 'Ada' });
    const record = store.invocations.require(job.id);
    assert.equal(record.status, 'queued');
    assert.equal(record.mode, 'async');
    assert.equal(record.startedAt, null);
    assert.deepEqual(store.queue.counts(), { pending: 1, running: 0, succeeded: 0, failed: 0 });
  });

  it('claims the oldest job atomically, once, and completes it', () => {
    const { store, clock } = setup();
    const a = store.queue.enqueue({ functionName: 'f', payload: 1 });
    const b = store.queue.enqueue({ functionName: 'f', payload: 2 });
    clock.advance(7);
    const first = store.queue.claim()!;
    assert.equal(first.id, a.id);
    assert.equal(first.status, 'running');
    assert.equal(first.attempts, 1);
    assert.equal(first.claimedAt, clock.t);
    assert.equal(store.invocations.get(a.id)?.status, 'running');
    assert.equal(store.queue.claim()?.id, b.id);
    assert.equal(store.queue.claim(), undefined);
    store.queue.complete(a.id, { startKind: 'cold', timings: { queueMs: 7, execMs: 3 }, result: { ok: 1 }, stdout: 'done' });
    const rec = store.invocations.get(a.id)!;
    assert.equal(rec.status, 'succeeded');
    assert.equal(rec.startKind, 'cold');
    assert.equal(rec.attempts, 1);
    assert.deepEqual(rec.result, { ok: 1 });
    assert.equal(store.queue.get(a.id)?.status, 'succeeded');
    assert.throws(() => store.queue.complete(a.id), code('ERR_INVALID_STATE'));
    assert.throws(() => store.queue.complete('nope'), code('ERR_NOT_FOUND'));
  });

  it('claims per function when asked, and respects availableAt', () => {
    const { store, clock } = setup();
    store.functions.publish('g', versionSpec());
    store.queue.enqueue({ functionName: 'f', payload: null });
    const g = store.queue.enqueue({ functionName: 'g', payload: null });
    const later = store.queue.enqueue({ functionName: 'g', payload: null, availableAt: clock.t + 100 });
    assert.equal(store.queue.claim({ functionName: 'g' })?.id, g.id);
    assert.equal(store.queue.claim({ functionName: 'g' }), undefined);
    clock.advance(100);
    assert.equal(store.queue.claim({ functionName: 'g' })?.id, later.id);
  });

  it('retries a failed job until maxAttempts, then fails it with the last error', () => {
    const { store, clock } = setup();
    const job = store.queue.enqueue({ functionName: 'f', payload: 'p', maxAttempts: 3 });
    for (let attempt = 1; attempt <= 3; attempt++) {
      const claimed = store.queue.claim()!;
      assert.equal(claimed.id, job.id);
      assert.equal(claimed.attempts, attempt);
      assert.equal(store.invocations.get(job.id)?.attempts, attempt);
      const after = store.queue.fail(job.id, { kind: 'error', message: `failure ${attempt}` }, { retryDelayMs: 1000, outcome: { stderr: `attempt ${attempt}` } });
      if (attempt < 3) {
        assert.equal(after.status, 'pending');
        assert.equal(after.availableAt, clock.t + 1000);
        assert.equal(store.invocations.get(job.id)?.status, 'queued');
        assert.equal(store.queue.claim(), undefined, 'not before the retry delay');
        clock.advance(1000);
      } else {
        assert.equal(after.status, 'failed');
        assert.deepEqual(after.lastError, { kind: 'error', message: 'failure 3' });
        assert.deepEqual(after.payload, 'p', 'a failed job keeps its payload');
      }
    }
    const rec = store.invocations.get(job.id)!;
    assert.equal(rec.status, 'failed');
    assert.equal(rec.attempts, 3);
    assert.deepEqual(rec.error, { kind: 'error', message: 'failure 3' });
    assert.equal(rec.stderr, 'attempt 3');
    assert.equal(store.queue.claim(), undefined);
    assert.throws(() => store.queue.fail(job.id, { kind: 'error', message: 'again' }), code('ERR_INVALID_STATE'));
  });

  it('keeps jobs across close and reopen, and recovers those that were running', () => {
    const dir = tempDir();
    const clock = new TestClock();
    const first = Store.open(dir, { now: clock.now });
    first.functions.publish('f', versionSpec());
    const pending = first.queue.enqueue({ functionName: 'f', payload: { n: 1 } });
    const running = first.queue.enqueue({ functionName: 'f', payload: { n: 2 } });
    const lastTry = first.queue.enqueue({ functionName: 'f', payload: { n: 3 }, maxAttempts: 1 });
    assert.equal(first.queue.claim()?.id, pending.id);
    first.queue.fail(pending.id, { kind: 'timeout', message: 'slow' }, { retryDelayMs: 10 }); // back to pending, 1 attempt used
    assert.equal(first.queue.claim()?.id, running.id);
    assert.equal(first.queue.claim()?.id, lastTry.id);
    // thaw dies here: no complete(), no clean close (the WAL holds the commits).
    first.db.close();

    clock.advance(10);
    const { store } = setup(dir, clock);
    assert.deepEqual(store.queue.counts(), { pending: 1, running: 2, succeeded: 0, failed: 0 });
    assert.deepEqual(store.queue.recoverRunning(), { requeued: 1, failed: 1 });
    assert.deepEqual(store.queue.counts(), { pending: 2, running: 0, succeeded: 0, failed: 1 });
    assert.equal(store.invocations.get(running.id)?.status, 'queued');
    const dead = store.queue.get(lastTry.id)!;
    assert.equal(dead.status, 'failed');
    assert.equal(dead.lastError?.kind, 'platform');
    assert.equal(store.invocations.get(lastTry.id)?.status, 'failed');

    const a = store.queue.claim()!;
    const b = store.queue.claim()!;
    assert.deepEqual([a.id, b.id].sort(), [pending.id, running.id].sort());
    assert.deepEqual(store.queue.get(pending.id)?.payload, { n: 1 });
    assert.equal(store.queue.get(pending.id)?.attempts, 2);
    assert.equal(store.queue.get(running.id)?.attempts, 2);
    store.queue.complete(running.id);
    assert.equal(store.invocations.get(running.id)?.error, null, 'success clears the interruption note');
    assert.equal(store.queue.get(running.id)?.payload, null, 'a succeeded job drops its payload');
    assert.deepEqual(store.queue.recoverRunning(), { requeued: 1, failed: 0 });
  });

  it('refuses payloads over the limit, unknown functions and bad options, recording nothing', () => {
    const clock = new TestClock();
    const store = openStore(tempDir(), clock, { limits: { payloadBytes: 16 } });
    store.functions.publish('f', versionSpec());
    assert.throws(() => store.queue.enqueue({ functionName: 'f', payload: 'x'.repeat(20) }), code('ERR_PAYLOAD_TOO_LARGE'));
    assert.throws(() => store.queue.enqueue({ functionName: 'nope', payload: 1 }), code('ERR_NOT_FOUND'));
    assert.throws(() => store.queue.enqueue({ functionName: 'f', payload: 1, maxAttempts: 0 }), code('ERR_INVALID_OPTION'));
    assert.equal(store.invocations.latest('f').length, 0);
    assert.deepEqual(store.queue.counts(), { pending: 0, running: 0, succeeded: 0, failed: 0 });
    const timer = store.queue.enqueue({ functionName: 'f', payload: 1, mode: 'timer' });
    assert.equal(store.invocations.get(timer.id)?.mode, 'timer');
  });
});
