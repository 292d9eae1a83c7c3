// Function snapshots end to end, on every backend this machine offers: real `node --build-snapshot`
// builds, real restores in real sandboxes (processes with cgroups, lean bubblewrap containers).

import assert from 'node:assert/strict';
import { chmodSync, closeSync, openSync, readFileSync, truncateSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';

import type { DeployedFunction } from '../../../../src/platform/function.ts';
import { createSandboxBackend, detectIsolation } from '../../../../src/platform/sandbox/index.ts';
import type { Sandbox, SandboxBackend, StartTimings } from '../../../../src/platform/sandbox/types.ts';
import { DirectoryBlobStore } from '../../../../src/platform/accelerators/v8-snapshot/blob-store.ts';
import { SnapshotSandbox, SnapshotStartPath, SnapshotUnavailableError } from '../../../../src/platform/accelerators/v8-snapshot/start-path.ts';
import { ctx, fixture, spec, tempDir, testDataDir } from '../../sandbox/support.ts';

const detected = await detectIsolation();
const containerMissing = !detected.container.ok
  ? `lean containers unavailable: ${detected.container.reason}`
  : detected.cgroups.driver
    ? undefined
    : 'no usable cgroups';
const asRoot = process.getuid?.() === 0;

function fnOf(name: string, version = 1, overrides: Partial<DeployedFunction> = {}): DeployedFunction {
  return { name, version, codeDir: fixture(name), memoryMb: 128, timeoutMs: 10_000, maxConcurrency: 10, env: {}, network: false, provisioned: 0, ...overrides };
}

class StatusLog {
  readonly entries: Array<{ name: string; version: number; status: string | null }> = [];
  setSnapshotStatus(name: string, version: number, status: string | null): void {
    this.entries.push({ name, version, status });
  }
  last(name: string, version = 1): string | null | undefined {
    return this.entries.filter((e) => e.name === name && e.version === version).at(-1)?.status;
  }
  all(name: string, version = 1): Array<string | null> {
    return this.entries.filter((e) => e.name === name && e.version === version).map((e) => e.status);
  }
}

function flipByteInPlace(path: string, offset: number): void {
  chmodSync(path, 0o644);
  const data = readFileSync(path);
  const fd = openSync(path, 'r+');
  writeSync(fd, Buffer.from([data[offset]! ^ 0xff]), 0, 1, offset);
  closeSync(fd);
}

const variants = [
  { title: 'process sandboxes', isolation: 'process' as const, skip: undefined as string | undefined, full: true },
  { title: 'lean containers', isolation: 'container' as const, skip: containerMissing, full: false },
];

for (const variant of variants) {
  describe(`snapshots in ${variant.title}`, { skip: variant.skip }, () => {
    let backend: SandboxBackend;
    let path: SnapshotStartPath;
    let dataDir: string;
    const status = new StatusLog();
    const live: Sandbox[] = [];

    before(async () => {
      backend = await createSandboxBackend({ isolation: variant.isolation, dataDir: testDataDir() });
      dataDir = tempDir('thaw-snapshot-test-');
      path = new SnapshotStartPath({ backend, dataDir, status, settleMs: 300, buildTimeoutMs: 60_000 });
    });

    after(async () => {
      await Promise.all(live.map((s) => s.destroy()));
      await path.close();
    });

    function create(fn: DeployedFunction): SnapshotSandbox {
      const sb = path.create(fn, spec(fn.name, { version: fn.version, memoryMb: fn.memoryMb, codeDir: fn.codeDir, env: fn.env })) as SnapshotSandbox;
      live.push(sb);
      return sb;
    }

    it('builds hello at deploy in the background, restores it, and serves the cold protocol', async () => {
      const fn = fnOf('hello');
      assert.equal(path.available(fn), false);
      path.onDeploy(fn);
      assert.equal(path.state(fn).state, 'building');
      assert.throws(() => create(fn), SnapshotUnavailableError);
      const state = await path.requestBuild(fn);
      assert.equal(state.state, 'ready', JSON.stringify(state));
      assert.equal(path.buildsStarted, 1, 'deploy, available() and requestBuild() shared one build');
      assert.deepEqual(status.all('hello').slice(0, 1), ['building']);
      assert.match(status.last('hello') ?? '', /^ready [0-9a-f]{12} \d+(\.\d)? (MiB|KiB)$/);
      assert.equal(path.available(fn), true);

      const sb = create(fn);
      const timings = await sb.start();
      assert.equal(sb.startKind, 'snapshot');
      assert.equal(timings.importMs, 0);
      assert.ok(timings.runtimeBootMs > 0);
      const out = await sb.invoke({ name: 'snap' }, ctx('hello'), 10_000);
      assert.equal(out.ok, true, JSON.stringify(out.error));
      assert.deepEqual(out.value, { message: 'hello snap', initialised: true, invocations: 1, functionName: 'hello', remainingPositive: true });
      assert.equal(out.stdout, 'hello: invocation 1\n');
      assert.equal(out.stderr, 'hello: to stderr 1\n');
      assert.equal(sb.startLogs.stdout, '', "init() ran at build time, not in the instance");
      const second = await sb.invoke({}, ctx('hello'), 10_000);
      assert.equal((second.value as { invocations: number }).invocations, 2);
    });

    it('a restore skips import and init: importMs is 0 and init ran once, at build, where a cold start pays for both', async (t) => {
      const fn = fnOf('snap-init-cpu');
      assert.equal((await path.requestBuild(fn)).state, 'ready');
      const cold = backend.create(spec('snap-init-cpu'));
      live.push(cold);
      const coldT: StartTimings = await cold.start();
      const sb = create(fn);
      const snapT = await sb.start();
      assert.equal(sb.startKind, 'snapshot');
      assert.equal(snapT.importMs, 0);
      // Reported, not asserted (timings): the cold start's own import + init, and the restore's
      // (what it measures is the afterRestore hook, not init). That init did not run again in the
      // restored instance is asserted below through the function's own count (initRuns: 1).
      t.diagnostic(`snap-init-cpu: cold import+init ${(coldT.importMs + coldT.initMs).toFixed(1)} ms, restore ${(snapT.importMs + snapT.initMs).toFixed(2)} ms`);
      const a = await sb.invoke({ n: 1000 }, ctx('snap-init-cpu'), 10_000);
      const b = await cold.invoke({ n: 1000 }, ctx('snap-init-cpu'), 10_000);
      assert.deepEqual(a.value, b.value);
      assert.deepEqual(a.value, { n: 1000, primesUpToN: 168, initRuns: 1 });
    });

    it('instances restored from one blob draw different random values; init/beforeSnapshot ran once, afterRestore in each', async () => {
      const fn = fnOf('snap-hooks', 1, { env: { SNAP_ENV: 'instance-env' } });
      assert.equal((await path.requestBuild(fn)).state, 'ready');
      const [one, two] = [create(fn), create(fn)];
      await Promise.all([one.start(), two.start()]);
      assert.equal(one.address, two.address, 'one blob');
      assert.match(one.startLogs.stdout, /snap-hooks: afterRestore/);
      const [r1, r2] = await Promise.all([one.invoke({}, ctx('snap-hooks'), 10_000), two.invoke({}, ctx('snap-hooks'), 10_000)]);
      assert.equal(r1.ok && r2.ok, true, JSON.stringify([r1.error, r2.error]));
      const a = r1.value as Record<string, unknown>;
      const b = r2.value as Record<string, unknown>;
      for (const v of [a, b]) {
        assert.equal(v.init, 1);
        assert.equal(v.beforeSnapshot, 1);
        assert.equal(v.afterRestore, 1);
        assert.equal(v.invocations, 1);
        assert.equal(v.restoredAtPid, v.pid);
        assert.equal(v.env, 'instance-env', 'the instance environment, not the build one');
        assert.deepEqual((v.argv as string[]).slice(1), [variant.isolation === 'container' ? '/code/bundle.cjs' : join(fixture('snap-hooks'), 'bundle.cjs')]);
        if (asRoot) assert.equal(v.uid, 65534, 'runs as nobody');
      }
      assert.equal(a.builtUuid, b.builtUuid, 'state made at build time is shared');
      for (const key of ['random', 'uuid', 'uuidByReference', 'webUuid', 'randomInt', 'randomBytes', 'getRandomValues']) {
        assert.notEqual(a[key], b[key], `${key} must differ between instances`);
      }
      assert.notEqual(a.uuid, a.builtUuid);
    });

    it('an error thrown outside an invocation ends a restored instance, as it ends a cold one', async () => {
      const fn = fnOf('snap-hooks');
      const sb = create(fn);
      await sb.start();
      assert.equal((await sb.invoke({ throwLater: true }, ctx('snap-hooks'), 10_000)).ok, true);
      const exit = await sb.exited;
      assert.equal(exit.code, 1);
    });

    it('a restore that does not come up (afterRestore throws) starts cold instead and still serves', async () => {
      const fn = fnOf('snap-after-restore-fails');
      assert.equal((await path.requestBuild(fn)).state, 'ready');
      const sb = create(fn);
      const t = await sb.start();
      assert.equal(sb.startKind, 'cold');
      assert.match(sb.restoreError?.message ?? '', /cannot reconnect after restore/);
      assert.ok(t.importMs >= 0);
      const out = await sb.invoke({}, ctx('snap-after-restore-fails'), 10_000);
      assert.deepEqual(out.value, { initRuns: 1 });
    });

    it('an unsupported built-in at build time falls back to cold with the reason recorded', async () => {
      const fn = fnOf('snap-http');
      const state = await path.requestBuild(fn);
      assert.equal(state.state, 'fallback');
      assert.equal(state.state === 'fallback' && state.kind, 'unsupported-builtin');
      assert.match(status.last('snap-http') ?? '', /^fallback: loads node:http at build time, which Node\.js v20\.\d+\.\d+ cannot put in a user-land snapshot/);
      assert.equal(path.available(fn), false);
      assert.throws(() => create(fn), SnapshotUnavailableError);
      // Still one build: a fallback is final for the version.
      const before = path.buildsStarted;
      await path.requestBuild(fn);
      assert.equal(path.buildsStarted, before);
    });

    it('a version in the installed layout falls back without a build, with the deploy\'s reason', { skip: variant.full ? undefined : 'covered by the process variant' }, async () => {
      const fn = fnOf('hello', 7, { layout: 'installed', layoutReason: 'the bundle would not be faithful: native addon in better-sqlite3 (node_modules/better-sqlite3 holds binding.gyp)' });
      const before = path.buildsStarted;
      const state = await path.requestBuild(fn);
      assert.equal(state.state === 'fallback' && state.kind, 'native-addon');
      assert.match(status.last('hello', 7) ?? '', /^fallback: it runs from its installed node_modules \(the bundle would not be faithful: native addon in better-sqlite3 .*\); a V8 snapshot holds one bundled script$/);
      assert.equal(path.buildsStarted, before, 'nothing was built');
      assert.equal(path.available(fn), false);
    });

    it('a native addon and open handles (a listening server, a timer) fall back with their reasons', { skip: variant.full ? undefined : 'covered by the process variant' }, async () => {
      const results = await Promise.all(['snap-native', 'snap-open-server', 'snap-open-timer'].map((n) => path.requestBuild(fnOf(n))));
      const [native, server, timer] = results;
      assert.equal(native!.state === 'fallback' && native!.kind, 'native-addon');
      assert.match(status.last('snap-native') ?? '', /^fallback: loads the native addon ".*addon\.node" at build time/);
      assert.equal(server!.state === 'fallback' && server!.kind, 'open-handle');
      assert.match(status.last('snap-open-server') ?? '', /^fallback: still open after init\(\) and beforeSnapshot\(\): TCPServerWrap \(a listening TCP server\)/);
      assert.equal(timer!.state === 'fallback' && timer!.kind, 'open-handle');
      assert.match(status.last('snap-open-timer') ?? '', /^fallback: still open after init\(\) and beforeSnapshot\(\): Timeout \(a timer/);
      // Each of them still starts cold.
      for (const name of ['snap-native', 'snap-open-timer']) {
        const cold = backend.create(spec(name));
        live.push(cold);
        await cold.start();
        assert.equal((await cold.invoke({}, ctx(name), 10_000)).ok, true);
      }
    });

    it('a burst of concurrent first requests: one build, N instances restored from one blob', async () => {
      const fn = fnOf('snap-hooks', 2);
      const n = 4;
      const builds = path.buildsStarted;
      // The burst arrives: every request asks, none is available, each would trigger the build.
      const asked = Array.from({ length: n }, () => path.available(fn));
      assert.deepEqual(asked, Array(n).fill(false));
      const states = await Promise.all(Array.from({ length: n }, () => path.requestBuild(fn)));
      assert.equal(path.buildsStarted - builds, 1, 'one build for the whole burst');
      assert.ok(states.every((s) => s.state === 'ready'));
      const sandboxes = Array.from({ length: n }, () => create(fn));
      await Promise.all(sandboxes.map((s) => s.start()));
      assert.equal(new Set(sandboxes.map((s) => s.address)).size, 1, 'one blob');
      assert.ok(sandboxes.every((s) => s.startKind === 'snapshot'));
      assert.equal(new Set(sandboxes.map((s) => s.pid)).size, n, 'N instances');
      const outs = await Promise.all(sandboxes.map((s) => s.invoke({}, ctx('snap-hooks'), 10_000)));
      assert.equal(new Set(outs.map((o) => (o.value as { uuid: string }).uuid)).size, n);
      assert.equal(path.cache.stats.entries >= 1, true);
    });

    it('a corrupted local copy is detected before use: not restored, re-fetched and verified', { skip: variant.full ? undefined : 'covered by the process variant' }, async () => {
      const fn = fnOf('hello');
      assert.equal(path.available(fn), true);
      const state = path.state(fn);
      assert.equal(state.state, 'ready');
      const address = state.state === 'ready' ? state.manifest.address : '';
      const local = path.cache.lookup(address)!;
      chmodSync(local, 0o644);
      truncateSync(local, 1024);
      assert.equal(path.available(fn), false, 'truncated: detected by the per-start check');
      assert.throws(() => create(fn), SnapshotUnavailableError);
      await path.whenIdle(); // the background re-fetch (the shared copy is intact: no rebuild)
      assert.equal(path.available(fn), true);
      flipByteInPlace(path.cache.lookup(address)!, 4096);
      assert.equal(path.available(fn), false, 'bytes flipped in place: detected');
      await path.whenIdle();
      assert.equal(path.available(fn), true);
      const sb = create(fn);
      await sb.start();
      assert.equal(sb.startKind, 'snapshot');
      assert.equal((await sb.invoke({}, ctx('hello'), 10_000)).ok, true);
    });

    it('a corrupted shared blob is detected on fetch, never restored; a rebuild is scheduled and succeeds', async () => {
      const fn = fnOf('hello', 3);
      assert.equal((await path.requestBuild(fn)).state, 'ready');
      const state = path.state(fn);
      const address = state.state === 'ready' ? state.manifest.address : '';
      const store = path.blobStore as DirectoryBlobStore;
      // Corrupt the shared copy, and make this invoker fetch it again (as a second invoker would).
      flipByteInPlace(store.pathOf(address), 12_345);
      path.cache.remove(address);
      const builds = path.buildsStarted;
      assert.equal(path.available(fn), false);
      assert.throws(() => create(fn), SnapshotUnavailableError);
      await path.whenIdle();
      assert.equal(path.buildsStarted - builds, 1, 'rebuilt once');
      assert.equal(path.cache.stats.corruptFetches >= 1, true);
      assert.deepEqual(status.all('hello', 3).slice(-2).map((s) => s?.split(' ')[0]), ['building', 'ready']);
      assert.equal(path.available(fn), true);
      const sb = create(fn);
      await sb.start();
      assert.equal(sb.startKind, 'snapshot');
      assert.equal((await sb.invoke({}, ctx('hello'), 10_000)).ok, true);
    });

    it('after the first cold start (option): deploy builds nothing; concurrent cold starts build once', { skip: variant.full ? undefined : 'covered by the process variant' }, async () => {
      const lazy = new SnapshotStartPath({ backend, dataDir: tempDir('thaw-snapshot-lazy-'), when: 'first-cold-start', settleMs: 300 });
      try {
        const fn = fnOf('hello', 7);
        lazy.onDeploy(fn);
        assert.equal(lazy.available(fn), false);
        assert.equal(lazy.buildsStarted, 0);
        for (let i = 0; i < 3; i++) lazy.onColdStart(fn, 'cold');
        await lazy.whenIdle();
        assert.equal(lazy.buildsStarted, 1);
        assert.equal(lazy.available(fn), true);
      } finally {
        await lazy.close();
      }
    });

    it('retiring a version drops its snapshot', { skip: variant.full ? undefined : 'covered by the process variant' }, async () => {
      const fn = fnOf('hello', 3);
      const state = path.state(fn);
      const address = state.state === 'ready' ? state.manifest.address : '';
      assert.equal(path.available(fn), true);
      path.onRetire(fn);
      assert.equal(path.cache.lookup(address), undefined);
      // Another version (hello v1) has the same bundle: content addressing may share the blob.
      assert.equal(path.available(fnOf('hello', 1)), true);
    });
  });
}
