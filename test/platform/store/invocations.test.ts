import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { pathToFileURL } from 'node:url';
import Database from 'better-sqlite3';
import { ThawError } from '../../../src/core/errors.ts';
import { billedGbSeconds, billedMs, percentile, Store, summarize } from '../../../src/platform/store/index.ts';
import { RECORD_BATCH_ROWS, resultJsonOf } from '../../../src/platform/store/invocations.ts';
import type { StartKind } from '../../../src/platform/store/types.ts';
import { openStore, tempDir, TestClock, versionSpec } from './helpers.ts';

const code = (code: string) => (e: unknown) => e instanceof ThawError && e.code === code;

function setup(options: Parameters<typeof openStore>[2] = {}) {
  const clock = new TestClock();
  const store = openStore(tempDir(), clock, options);
  store.functions.publish('f', versionSpec({ memoryMb: 512 }));
  return { clock, store };
}

describe('billing', () => {
  it('rounds durations up to the millisecond, ignoring float noise', () => {
    assert.equal(billedMs(0), 0);
    assert.equal(billedMs(-3), 0);
    assert.equal(billedMs(0.0004), 0); // below a microsecond: noise
    assert.equal(billedMs(0.001), 1);
    assert.equal(billedMs(1), 1);
    assert.equal(billedMs(1.001), 2);
    assert.equal(billedMs(0.1 + 0.2 + 2.7), 3); // 3.0000000000000004
    assert.equal(billedMs(99.5), 100);
  });

  it('computes GB-s as memory × billed duration with 1 GB = 1024 MB', () => {
    assert.equal(billedGbSeconds(1024, 1000), 1);
    assert.equal(billedGbSeconds(128, 0.2), 128 / 1024 / 1000); // 1 ms minimum when it ran at all
    assert.equal(billedGbSeconds(512, 1500.01), (512 / 1024) * 1.501);
  });

  it('bills import + init + exec of a record, at its memory', () => {
    const { store } = setup();
    const r = store.invocations.record(
      { functionName: 'f', mode: 'sync' },
      { status: 'succeeded', startKind: 'cold', timings: { sandboxMs: 40, runtimeBootMs: 30, importMs: 10.2, initMs: 5, execMs: 3.3, platformMs: 1 } },
    );
    assert.equal(r.billedMs, 19); // 18.5 → 19; sandbox, boot, platform not billed
    assert.equal(r.billedGbSeconds, (512 / 1024) * 0.019);
    assert.equal(r.totalMs, 40 + 30 + 10.2 + 5 + 3.3 + 1);
  });
});

describe('InvocationRepository', () => {
  it('records an invocation from creation to outcome', () => {
    const { store, clock } = setup();
    const created = store.invocations.create({ functionName: 'f', mode: 'sync' });
    assert.equal(created.status, 'running');
    assert.equal(created.version, 1);
    assert.equal(created.memoryMb, 512);
    assert.equal(created.attempts, 1);
    assert.equal(created.startedAt, clock.t);
    clock.advance(25);
    const done = store.invocations.finish(created.id, {
      status: 'failed', startKind: 'warm', instanceId: 'i-1', timings: { execMs: 20, platformMs: 2 }, totalMs: 25,
      error: { kind: 'error', message: 'boom' }, stdout: 'hello\n', stderr: 'oops\n', result: { partial: true },
    });
    assert.equal(done.status, 'failed');
    assert.equal(done.startKind, 'warm');
    assert.equal(done.instanceId, 'i-1');
    assert.equal(done.totalMs, 25);
    assert.equal(done.finishedAt, clock.t);
    assert.deepEqual(done.error, { kind: 'error', message: 'boom' });
    assert.deepEqual(done.result, { partial: true });
    assert.equal(done.stdout, 'hello\n');
    assert.equal(done.stderr, 'oops\n');
    assert.deepEqual(store.invocations.get(created.id), done);
    assert.throws(() => store.invocations.finish(created.id, { status: 'succeeded' }), code('ERR_INVALID_STATE'));
    assert.throws(() => store.invocations.finish('nope', { status: 'succeeded' }), code('ERR_NOT_FOUND'));
    assert.throws(() => store.invocations.require('nope'), code('ERR_NOT_FOUND'));
  });

  it('refuses unknown functions and versions, modes, start kinds and negative timings', () => {
    const { store } = setup();
    assert.throws(() => store.invocations.create({ functionName: 'nope', mode: 'sync' }), code('ERR_NOT_FOUND'));
    assert.throws(() => store.invocations.create({ functionName: 'f', version: 7, mode: 'sync' }), code('ERR_NOT_FOUND'));
    assert.throws(() => store.invocations.create({ functionName: 'f', mode: 'bulk' as 'sync' }), code('ERR_INVALID_OPTION'));
    const id = store.invocations.create({ functionName: 'f', mode: 'sync' }).id;
    assert.throws(() => store.invocations.finish(id, { status: 'succeeded', startKind: 'tepid' as StartKind }), code('ERR_INVALID_OPTION'));
    assert.throws(() => store.invocations.finish(id, { status: 'succeeded', timings: { execMs: -1 } }), code('ERR_INVALID_OPTION'));
  });

  it('limits results and logs: big results are dropped and flagged, logs keep their head and tail', () => {
    const { store } = setup({ limits: { resultBytes: 20, logBytes: 64 } });
    const small = store.invocations.record({ functionName: 'f', mode: 'sync' }, { status: 'succeeded', result: 'ok' });
    assert.equal(small.result, 'ok');
    assert.equal(small.resultTruncated, false);
    const big = store.invocations.record(
      { functionName: 'f', mode: 'sync' },
      { status: 'succeeded', result: { text: 'x'.repeat(100) }, stdout: 'é'.repeat(100) + 'THE END', stderr: 'short' },
    );
    assert.equal(big.result, undefined);
    assert.equal(big.resultTruncated, true);
    assert.equal(big.logsTruncated, true);
    assert.equal(big.stdout, `${'é'.repeat(16)}\n[… 144 bytes omitted …]\n${'é'.repeat(12)}THE END`, 'its first and last 32 bytes, cut between characters');
    assert.equal(big.stderr, 'short');
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    const odd = store.invocations.record({ functionName: 'f', mode: 'sync' }, { status: 'succeeded', result: cyclic });
    assert.equal(odd.resultTruncated, true);
    const none = store.invocations.record({ functionName: 'f', mode: 'sync' }, { status: 'succeeded', result: null });
    assert.equal(none.result, null);
  });

  it('lists the latest N and the logs of a function, newest first, with paging', () => {
    const { store, clock } = setup();
    store.functions.publish('g', versionSpec());
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) {
      ids.push(store.invocations.record({ functionName: 'f', mode: 'sync' }, { status: 'succeeded', stdout: `run ${i}\n` }).id);
      store.invocations.record({ functionName: 'g', mode: 'sync' }, { status: 'succeeded' });
      clock.advance(i % 2); // some in the same millisecond
    }
    assert.deepEqual(store.invocations.latest('f', 3).map((r) => r.id), ids.slice(2).reverse());
    const page1 = store.invocations.logs('f', { limit: 2 });
    assert.deepEqual(page1.map((l) => l.stdout), ['run 4\n', 'run 3\n']);
    const page2 = store.invocations.logs('f', { limit: 2, before: page1[1]!.id });
    assert.deepEqual(page2.map((l) => l.stdout), ['run 2\n', 'run 1\n']);
    assert.equal(store.invocations.latest('nope').length, 0);
  });

  it('aggregates counts and p50/p95/p99 of total and per-phase latency, per start kind', () => {
    const { store } = setup();
    // 100 warm starts with exec 1..100 ms, 10 cold ones with 100 ms of sandbox on top, 2 failures among the colds.
    for (let i = 1; i <= 100; i++) {
      store.invocations.record({ functionName: 'f', mode: 'sync' }, { status: 'succeeded', startKind: 'warm', timings: { execMs: i } });
    }
    for (let i = 1; i <= 10; i++) {
      store.invocations.record(
        { functionName: 'f', mode: 'async' },
        { status: i <= 2 ? 'failed' : 'succeeded', startKind: 'cold', timings: { sandboxMs: 100, importMs: i, execMs: 10 }, error: i <= 2 ? { kind: 'error', message: 'x' } : undefined },
      );
    }
    store.invocations.create({ functionName: 'f', mode: 'sync' }); // still running: not in the statistics
    const stats = store.invocations.stats('f');
    assert.equal(stats.sampled, 110);
    assert.equal(stats.all.count, 110);
    assert.equal(stats.all.failed, 2);
    assert.deepEqual(stats.byStartKind.map((s) => s.startKind), ['cold', 'warm']);
    const warm = stats.byStartKind[1]!;
    assert.deepEqual({ ...warm.totalMs }, { count: 100, mean: 50.5, p50: 50, p95: 95, p99: 99, max: 100 });
    assert.equal(warm.phases.execMs.p95, 95);
    assert.equal(warm.phases.sandboxMs.p99, 0);
    const cold = stats.byStartKind[0]!;
    assert.equal(cold.count, 10);
    assert.equal(cold.succeeded, 8);
    assert.equal(cold.phases.importMs.p50, 5);
    assert.equal(cold.phases.importMs.p99, 10);
    assert.equal(cold.totalMs.p50, 115);
    assert.equal(cold.phases.sandboxMs.mean, 100);
    assert.ok(Math.abs(stats.all.billedGbSeconds - (warm.billedGbSeconds + cold.billedGbSeconds)) < 1e-12);
    // The window keeps the newest: the last 10 are the colds.
    assert.deepEqual(store.invocations.stats('f', { window: 10 }).byStartKind.map((s) => s.startKind), ['cold']);
    assert.equal(store.invocations.stats('nope').all.count, 0);
    assert.ok(Number.isNaN(store.invocations.stats('nope').all.totalMs.p50));
  });

  it('percentile() is nearest-rank', () => {
    assert.equal(percentile([1, 2, 3, 4], 50), 2);
    assert.equal(percentile([1, 2, 3, 4], 51), 3);
    assert.equal(percentile([7], 99), 7);
    assert.equal(percentile([1, 2], 0), 1);
    assert.deepEqual(summarize([3, 1, 2]), { count: 3, mean: 2, p50: 2, p95: 3, p99: 3, max: 3 });
  });

  it('lists the newest invocations of every function, and counts start kinds per time bucket', () => {
    const { store, clock } = setup();
    store.functions.publish('g', versionSpec());
    clock.t = 1_000_000;
    const kinds: Array<[string, StartKind]> = [['f', 'cold'], ['g', 'cold'], ['f', 'warm'], ['f', 'warm']];
    for (const [fn, startKind] of kinds) {
      store.invocations.record({ functionName: fn, mode: 'sync' }, { status: 'succeeded', startKind });
      clock.advance(4_000);
    }
    store.invocations.create({ functionName: 'f', mode: 'async', status: 'queued' }); // unfinished: not counted
    assert.deepEqual(store.invocations.recent(3).map((r) => [r.functionName, r.startKind]), [['f', null], ['f', 'warm'], ['f', 'warm']]);
    assert.deepEqual(store.invocations.startKindSeries({ since: 0, bucketMs: 10_000 }), [
      { bucket: 1_000_000, startKind: 'cold', count: 2 },
      { bucket: 1_000_000, startKind: 'warm', count: 1 },
      { bucket: 1_010_000, startKind: 'warm', count: 1 },
    ]);
    assert.deepEqual(store.invocations.startKindSeries({ since: 1_009_000, bucketMs: 10_000 }), [{ bucket: 1_010_000, startKind: 'warm', count: 1 }]);
  });

  it('sums billed GB-s per function', () => {
    const { store } = setup();
    store.invocations.record({ functionName: 'f', mode: 'sync' }, { status: 'succeeded', timings: { execMs: 1000 } });
    store.invocations.record({ functionName: 'f', mode: 'sync' }, { status: 'succeeded', timings: { execMs: 1000 } });
    assert.deepEqual([...store.invocations.billedGbSeconds()], [['f', 1]]);
  });
});

describe('InvocationRepository: records written behind', () => {
  /** What another connection sees: the rows actually committed to thaw.db. */
  const committed = (store: Store) => {
    const other = new Database(store.dbPath, { readonly: true });
    try {
      return (other.prepare('SELECT id FROM invocations ORDER BY id').all() as Array<{ id: string }>).map((r) => r.id);
    } finally {
      other.close();
    }
  };

  it('writes records kept together soon after, without a read asking', async () => {
    const { store } = setup();
    const ids = [0, 1, 2].map(() => store.invocations.record({ functionName: 'f', mode: 'sync' }, { status: 'succeeded' }).id);
    assert.deepEqual(committed(store), [], 'kept, to be written with others');
    await store.invocations.whenWritten();
    assert.deepEqual(committed(store), [...ids].sort());
  });

  it("keeps the JSON text of a record's result for the caller's answer, whole even when too big to store", () => {
    const { store } = setup({ limits: { resultBytes: 20 } });
    const small = store.invocations.record({ functionName: 'f', mode: 'sync' }, { status: 'succeeded', result: { a: 'é' } });
    assert.equal(resultJsonOf(small), '{"a":"é"}');
    const big = store.invocations.record({ functionName: 'f', mode: 'sync' }, { status: 'succeeded', result: { text: 'x'.repeat(100) } });
    assert.equal(big.resultTruncated, true);
    assert.equal(resultJsonOf(big), JSON.stringify({ text: 'x'.repeat(100) }), 'the answer is whole');
    assert.equal(store.invocations.get(big.id)?.result, undefined, 'the record keeps none of it');
    assert.equal(resultJsonOf(store.invocations.get(small.id)!), undefined, 'only records record() returned');
    assert.equal(resultJsonOf(store.invocations.record({ functionName: 'f', mode: 'sync' }, { status: 'succeeded' })), undefined, 'no result');
  });

  it('the record read back is the one record() returned, field for field, whatever the caller did to it since', () => {
    const { store, clock } = setup({ limits: { logBytes: 64 } });
    store.functions.publish('f', versionSpec({ memoryMb: 1024 }));
    const full = store.invocations.record(
      { id: 'inv-1', functionName: 'f', version: 2, mode: 'timer', startKind: 'cold', instanceId: 'i-0', createdAt: clock.t - 9, startedAt: clock.t - 8, attempts: 3 },
      {
        status: 'failed', startKind: 'warm', instanceId: 'i-1', totalMs: 30, startedAt: clock.t - 7, finishedAt: clock.t - 1,
        timings: { queueMs: 1, sandboxMs: 2, runtimeBootMs: 3, importMs: 4, initMs: 5, execMs: 6.5, platformMs: 0.25 },
        error: { kind: 'timeout', message: 'too slow' }, result: [1, 'two'], stdout: 'x'.repeat(100), stderr: 'err\n',
      },
    );
    assert.deepEqual(
      { version: full.version, memoryMb: full.memoryMb, billedMs: full.billedMs, logsTruncated: full.logsTruncated, error: full.error },
      { version: 2, memoryMb: 1024, billedMs: 16, logsTruncated: true, error: { kind: 'timeout', message: 'too slow' } },
    );
    const bare = store.invocations.record({ functionName: 'f', version: 1, mode: 'sync' }, { status: 'succeeded' });
    assert.equal(bare.memoryMb, 512, "the version's memory");
    assert.equal(bare.totalMs, 0);
    const resized = store.invocations.record({ functionName: 'f', version: 1, mode: 'sync' }, { status: 'succeeded', memoryMb: 2048, timings: { execMs: 1 } });
    assert.equal(resized.billedGbSeconds, 2 / 1000, "billed at the instance's memory");
    const kept = [full, bare, resized].map((r) => structuredClone(r));
    full.stdout = 'changed';
    (full.result as unknown[]).push(3);
    assert.deepEqual([full, bare, resized].map((r) => store.invocations.get(r.id)), kept);
  });

  it('a full batch is written at once', () => {
    const { store } = setup();
    for (let i = 0; i < RECORD_BATCH_ROWS; i++) store.invocations.record({ functionName: 'f', mode: 'sync' }, { status: 'succeeded' });
    assert.equal(committed(store).length, RECORD_BATCH_ROWS);
  });

  it('every read sees a record made in the same turn: get, latest, logs, stats, billing', () => {
    const { store } = setup();
    const r = store.invocations.record(
      { functionName: 'f', mode: 'sync' },
      { status: 'succeeded', startKind: 'warm', timings: { execMs: 1000 }, stdout: 'hi\n', result: { n: 1 } },
    );
    assert.deepEqual(store.invocations.get(r.id), r, 'the record read back is the one record() returned');
    assert.deepEqual(store.invocations.latest('f').map((x) => x.id), [r.id]);
    assert.deepEqual(store.invocations.recent().map((x) => x.id), [r.id]);
    assert.equal(store.invocations.logs('f')[0]!.stdout, 'hi\n');
    assert.equal(store.invocations.stats('f').all.count, 1);
    assert.deepEqual([...store.invocations.billedGbSeconds()], [['f', 0.5]]);
  });

  it('close() writes the records kept: a reopened store has them', () => {
    const dir = tempDir();
    const clock = new TestClock();
    const store = Store.open(dir, { now: clock.now, synchronous: 'normal' });
    store.functions.publish('f', versionSpec());
    const id = store.invocations.record({ functionName: 'f', mode: 'sync' }, { status: 'succeeded', result: 'kept' }).id;
    store.close();
    const again = openStore(dir, clock);
    assert.equal(again.invocations.get(id)?.result, 'kept');
  });

  it('a process that exits (process.exit or a thrown error) in the turn it recorded still writes the record', () => {
    for (const ending of ['process.exit(3)', "throw new Error('crash')"]) {
      const dir = tempDir();
      const storeUrl = pathToFileURL(join(import.meta.dirname, '../../../src/platform/store/index.ts')).href;
      const script = join(dir, 'exit.ts');
      writeFileSync(
        script,
        `import { Store } from ${JSON.stringify(storeUrl)};
const store = Store.open(${JSON.stringify(dir)}, { synchronous: 'normal' });
store.functions.publish('f', ${JSON.stringify(versionSpec())});
console.log(store.invocations.record({ functionName: 'f', mode: 'sync' }, { status: 'succeeded', result: 'survived' }).id);
${ending};
`,
      );
      const child = spawnSync(process.execPath, ['--import', 'tsx', script], { encoding: 'utf8' });
      assert.notEqual(child.status, 0, `${ending}: the child failed on purpose (${child.stderr})`);
      const id = child.stdout.trim();
      assert.match(id, /\S/, `${ending}: the child printed the record's id (${child.stderr})`);
      assert.equal(openStore(dir, new TestClock()).invocations.get(id)?.result, 'survived', ending);
    }
  });

  it('a row the database refuses is reported and the others of its batch are written', () => {
    const { store } = setup();
    const first = store.invocations.record({ functionName: 'f', mode: 'sync' }, { status: 'succeeded' });
    store.invocations.flush();
    store.invocations.record({ id: first.id, functionName: 'f', mode: 'sync' }, { status: 'succeeded' }); // the same id again
    const other = store.invocations.record({ functionName: 'f', mode: 'sync' }, { status: 'succeeded' });
    assert.throws(() => store.invocations.flush(), (e: unknown) => e instanceof ThawError && e.code === 'ERR_INTERNAL' && e.message.includes(first.id));
    assert.deepEqual(committed(store), [first.id, other.id].sort());
  });
});

describe('PlatformCostRepository', () => {
  it('accumulates idle GB-s per function and reason, separately from billed GB-s', () => {
    const { store, clock } = setup();
    store.costs.addIdle({ functionName: 'f', memoryMb: 1024, idleMs: 60_000 });
    store.costs.addIdle({ functionName: 'f', memoryMb: 512, idleMs: 2_000, reason: 'provisioned' });
    clock.advance(3_600_000);
    store.costs.addIdle({ functionName: 'f', memoryMb: 1024, idleMs: 1_000 });
    store.costs.addIdle({ functionName: 'g', memoryMb: 128, idleMs: 0 });
    const [f, ...rest] = store.costs.totals();
    assert.equal(rest.length, 0);
    assert.equal(f!.functionName, 'f');
    assert.equal(f!.idleGbSeconds, 60 + 1 + 1);
    assert.deepEqual(f!.byReason, { keepalive: { idleMs: 61_000, idleGbSeconds: 61 }, provisioned: { idleMs: 2000, idleGbSeconds: 1 } });
    assert.deepEqual(store.costs.hourly('f').map((h) => h.idleGbSeconds), [61, 1]);
    assert.equal(store.costs.totals({ since: clock.t })[0]!.idleGbSeconds, 1);
    assert.throws(() => store.costs.addIdle({ functionName: 'f', memoryMb: 1, idleMs: -1 }), code('ERR_INVALID_OPTION'));
    assert.throws(() => store.costs.addIdle({ functionName: 'f', memoryMb: 1, idleMs: 1, reason: 'bored' as 'keepalive' }), code('ERR_INVALID_OPTION'));
  });
});
