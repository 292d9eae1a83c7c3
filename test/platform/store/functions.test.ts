import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { ThawError } from '../../../src/core/errors.ts';
import { openStore, tempDir, TestClock, versionSpec } from './helpers.ts';

/** Resolves in a later task of the event loop: where a repository looks again for other connections' commits. */
const nextTask = () => new Promise<void>((resolve) => setImmediate(resolve));
const code = (code: string) => (e: unknown) => e instanceof ThawError && e.code === code;

describe('FunctionRepository', () => {
  it('numbers versions 1, 2, 3 and moves latest to the newest', () => {
    const clock = new TestClock();
    const store = openStore(tempDir(), clock);
    const v1 = store.functions.publish('hello', versionSpec({ memoryMb: 128 }));
    clock.advance(1000);
    const v2 = store.functions.publish('hello', (v) => versionSpec({ memoryMb: 512, codeDir: `functions/hello/${v}`, bundlePath: `functions/hello/${v}/bundle.cjs` }));
    assert.equal(v1.version, 1);
    assert.equal(v2.version, 2);
    assert.equal(v2.codeDir, join(store.dataDir, 'functions/hello/2'));
    assert.equal(v2.bundlePath, join(store.dataDir, 'functions/hello/2/bundle.cjs'));
    assert.equal(store.functions.latest('hello')?.version, 2);
    assert.equal(store.functions.getVersion('hello', 1)?.memoryMb, 128);
    assert.equal(store.functions.getVersion('hello', 'latest')?.memoryMb, 512);
    const info = store.functions.require('hello');
    assert.equal(info.latestVersion, 2);
    assert.equal(info.versionCount, 2);
    assert.equal(info.updatedAt, clock.t);
    assert.deepEqual(store.functions.versions('hello').map((v) => v.version), [1, 2]);
  });

  it('keeps every field of a version', () => {
    const store = openStore(tempDir(), new TestClock());
    const spec = versionSpec({
      env: { GREETING: 'hi' }, network: true, provisioned: 2, instanceConcurrency: 8, start: 'snapshot', language: 'ts', entry: 'src/main.ts',
      dependencies: { lodash: '4.17.21' }, codeDir: '/elsewhere/fn', bundlePath: '/elsewhere/fn/bundle.cjs',
      layout: 'installed', layoutReason: 'a native addon',
    });
    const v = store.functions.publish('f', spec);
    assert.deepEqual({ ...v }, { ...spec, functionName: 'f', version: 1, createdAt: new TestClock().t, snapshotStatus: null, snapshotUpdatedAt: null, isolateStatus: null });
  });

  it('refuses to change or delete a version, except its snapshot status', () => {
    const clock = new TestClock();
    const store = openStore(tempDir(), clock);
    store.functions.publish('f', versionSpec());
    assert.throws(() => store.db.prepare("UPDATE function_versions SET memory_mb = 1024 WHERE function_name = 'f'").run(), /immutable/);
    assert.throws(() => store.db.prepare("UPDATE function_versions SET bundle_sha256 = 'x'").run(), /immutable/);
    assert.throws(() => store.db.prepare("UPDATE function_versions SET layout = 'installed'").run(), /immutable/);
    assert.throws(() => store.db.prepare('UPDATE function_versions SET instance_concurrency = 4').run(), /immutable/);
    assert.throws(() => store.db.prepare('DELETE FROM function_versions').run(), /immutable/);
    clock.advance(5);
    store.functions.setSnapshotStatus('f', 1, 'fallback: bundle uses a native module');
    const v = store.functions.getVersion('f', 1)!;
    assert.equal(v.snapshotStatus, 'fallback: bundle uses a native module');
    assert.equal(v.snapshotUpdatedAt, clock.t);
    assert.equal(v.memoryMb, 256);
    assert.throws(() => store.functions.setSnapshotStatus('f', 9, 'x'), code('ERR_NOT_FOUND'));
  });

  it('rolls back a publish whose spec callback throws', () => {
    const store = openStore(tempDir(), new TestClock());
    store.functions.publish('f', versionSpec());
    assert.throws(() => store.functions.publish('f', () => { throw new Error('rename failed'); }), /rename failed/);
    assert.throws(() => store.functions.publish('f', versionSpec({ memoryMb: -1 })), code('ERR_INVALID_OPTION'));
    assert.equal(store.functions.latest('f')?.version, 1);
    assert.equal(store.functions.publish('f', versionSpec()).version, 2);
  });

  it('validates names', () => {
    const store = openStore(tempDir(), new TestClock());
    for (const bad of ['', 'Hello', '-x', '_x', 'a/b', 'a.b', 'a'.repeat(64), 'é']) {
      assert.throws(() => store.functions.publish(bad, versionSpec()), code('ERR_INVALID_OPTION'), bad);
    }
    for (const good of ['a', '0', 'hello-world_2', 'a'.repeat(63)]) store.functions.publish(good, versionSpec());
    assert.equal(store.functions.list().length, 4);
  });

  it('lists functions by name; remove() hides a function, keeps its versions and continues numbering on redeploy', () => {
    const store = openStore(tempDir(), new TestClock());
    store.functions.publish('b', versionSpec());
    store.functions.publish('a', versionSpec());
    store.functions.publish('a', versionSpec());
    assert.deepEqual(store.functions.list().map((f) => [f.name, f.latestVersion, f.latest?.version]), [['a', 2, 2], ['b', 1, 1]]);
    assert.equal(store.functions.remove('a'), true);
    assert.equal(store.functions.remove('a'), false);
    assert.equal(store.functions.remove('nope'), false);
    assert.deepEqual(store.functions.list().map((f) => f.name), ['b']);
    assert.equal(store.functions.get('a'), undefined);
    assert.equal(store.functions.latest('a'), undefined);
    assert.equal(store.functions.getVersion('a', 2)?.version, 2, 'old versions stay readable for the records that name them');
    assert.throws(() => store.functions.require('a'), code('ERR_NOT_FOUND'));
    assert.throws(() => store.functions.requireVersion('a', 'latest'), code('ERR_NOT_FOUND'));
    assert.equal(store.functions.publish('a', versionSpec()).version, 3);
    assert.equal(store.functions.require('a').latestVersion, 3);
  });

  it('remove() cancels the pending async jobs of the function', () => {
    const store = openStore(tempDir(), new TestClock());
    store.functions.publish('f', versionSpec());
    const job = store.queue.enqueue({ functionName: 'f', payload: { x: 1 } });
    store.functions.remove('f');
    assert.equal(store.queue.get(job.id)?.status, 'failed');
    assert.equal(store.queue.get(job.id)?.lastError?.kind, 'cancelled');
    assert.equal(store.invocations.get(job.id)?.status, 'failed');
    assert.equal(store.queue.claim(), undefined);
  });

  it('reads are served from memory yet never stale: writes here, writes by another connection, a rolled-back publish', async () => {
    const dir = tempDir();
    const clock = new TestClock();
    const store = openStore(dir, clock);
    store.functions.publish('f', versionSpec({ memoryMb: 128 }));
    assert.equal(store.functions.require('f').latest?.memoryMb, 128);
    store.functions.publish('f', versionSpec({ memoryMb: 256 }));
    assert.equal(store.functions.latest('f')?.version, 2, 'a publish here is seen');
    store.functions.setSnapshotStatus('f', 2, 'ready');
    assert.equal(store.functions.getVersion('f', 2)?.snapshotStatus, 'ready');

    const other = openStore(dir, clock); // a second thaw on the same data dir
    other.functions.publish('f', versionSpec({ memoryMb: 512 }));
    await nextTask();
    assert.equal(store.functions.latest('f')?.memoryMb, 512, "another connection's publish is seen");
    assert.equal(store.functions.require('f').versionCount, 3);
    other.functions.remove('f');
    await nextTask();
    assert.equal(store.functions.get('f'), undefined, "another connection's remove is seen");

    store.functions.publish('g', versionSpec());
    assert.throws(() =>
      store.transaction(() => {
        store.functions.publish('g', versionSpec({ memoryMb: 1024 }));
        assert.equal(store.functions.latest('g')?.version, 2, 'seen inside its transaction');
        throw new Error('roll back');
      }),
    );
    assert.equal(store.functions.latest('g')?.version, 1, 'the rolled-back version is not kept');
    assert.throws(() => ((store.functions.latest('g')!.env as Record<string, string>).X = '1'), TypeError, 'what callers share cannot be changed');
  });

  it("looks for other connections' commits once per task: the next task sees them, as does a read after a transaction", async () => {
    const dir = tempDir();
    const clock = new TestClock();
    const store = openStore(dir, clock);
    const other = openStore(dir, clock);
    store.functions.publish('f', versionSpec({ memoryMb: 128 }));
    assert.equal(store.functions.latest('f')?.memoryMb, 128);
    other.functions.publish('f', versionSpec({ memoryMb: 256 }));
    assert.equal(store.functions.latest('f')?.memoryMb, 128, 'not looked for again within the task');
    await nextTask();
    assert.equal(store.functions.latest('f')?.memoryMb, 256, 'seen by the next task');

    other.functions.publish('f', versionSpec({ memoryMb: 512 }));
    store.transaction(() => assert.equal(store.functions.latest('f')?.memoryMb, 512, 'a transaction reads the database'));
    assert.equal(store.functions.latest('f')?.memoryMb, 512, 'never older than what a transaction just read');

    store.functions.publish('f', versionSpec({ memoryMb: 1024 }));
    assert.equal(store.functions.latest('f')?.memoryMb, 1024, 'a write here is seen at once');
    assert.equal(other.functions.latest('f')?.memoryMb, 1024, 'by the other connection too, in a task where it had not looked yet');
  });
});
