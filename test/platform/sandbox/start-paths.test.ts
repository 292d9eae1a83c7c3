// The Sandbox contract, held against every backend and every start path this machine offers: a
// plain process, a lean (bubblewrap) container, a zygote specialised in each, a V8 snapshot restored
// in each, and a microVM booted under QEMU. The same behaviours for all of them: start and invoke,
// logs per invocation, a handler error that keeps the instance serving, an uncaught error and a
// timeout that retire it, pause and resume, destroy. A path this machine cannot run is skipped with
// the reason. (sandbox.test.ts goes deeper into the process and container backends: limits, OOM,
// the environment; microvm/microvm.test.ts into VM snapshots and restores.)

import assert from 'node:assert/strict';
import { chmodSync, copyFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';

import type { DeployedFunction } from '../../../src/platform/function.ts';
import { SnapshotStartPath } from '../../../src/platform/accelerators/v8-snapshot/start-path.ts';
import { createSandboxBackend, detectIsolation } from '../../../src/platform/sandbox/index.ts';
import { MicroVmBackend, microVmUnavailable } from '../../../src/platform/sandbox/microvm/backend.ts';
import type { LeanContainerBackend } from '../../../src/platform/sandbox/lean-container.ts';
import type { StemLauncher } from '../../../src/platform/sandbox/stem-pool.ts';
import type { Sandbox, SandboxBackend, SandboxSpec, ZygoteCapableBackend } from '../../../src/platform/sandbox/types.ts';
import { alive, ctx, fixture, spec, tempDir, testDataDir } from './support.ts';

const detected = await detectIsolation();
const containerMissing = !detected.container.ok ? `lean containers unavailable: ${detected.container.reason}` : detected.cgroups.driver ? undefined : 'no usable cgroups';
const vmMissing = microVmUnavailable();

/** One way to get a started sandbox running a fixture function. */
interface StartPathUnderTest {
  title: string;
  skip: string | undefined;
  /** Each call a new, started instance of `name`. */
  start(name: string): Promise<Sandbox>;
  /** The start kind the instance reports (Sandbox.startKind), when it says one. */
  kind?: string;
  /** Generous limits for slow paths (a VM under software emulation). */
  slow?: boolean;
  close(): Promise<void>;
}

const live: Sandbox[] = [];
after(async () => {
  await Promise.all(live.map((sb) => sb.destroy().catch(() => undefined)));
});

function once<T>(make: () => Promise<T>): () => Promise<T> {
  let made: Promise<T> | undefined;
  return () => (made ??= make());
}

function cold(title: string, isolation: 'process' | 'container', skip: string | undefined): StartPathUnderTest {
  const backend = once(() => createSandboxBackend({ isolation, dataDir: testDataDir() }));
  return {
    title,
    skip,
    async start(name) {
      const sb = (await backend()).create(spec(name));
      live.push(sb);
      await sb.start();
      return sb;
    },
    close: async () => undefined,
  };
}

/**
 * A lean container started in a stem (stem-pool.ts): the pool is full before each start, so every
 * instance takes a stem that waited (and says so).
 */
function pooled(title: string, skip: string | undefined): StartPathUnderTest {
  const backend = once(() => createSandboxBackend({ isolation: 'container', dataDir: testDataDir(), stemPoolSize: 1 }) as Promise<LeanContainerBackend>);
  return {
    title,
    skip,
    async start(name) {
      const b = await backend();
      await b.stems!.filled();
      const sb = b.create(spec(name));
      live.push(sb);
      await sb.start();
      assert.equal((sb.launcher as StemLauncher).pooled, true, 'started in a stem');
      return sb;
    },
    close: async () => (await backend()).close(),
  };
}

/**
 * A bare zygote (no packages) started in the backend, then specialised for the fixture: its bundle
 * copied into the zygote's own code folder, readable by the user functions run as.
 */
function zygote(title: string, isolation: 'process' | 'container', skip: string | undefined): StartPathUnderTest {
  const backend = once(() => createSandboxBackend({ isolation, dataDir: testDataDir() }) as Promise<SandboxBackend & ZygoteCapableBackend>);
  const root = once(async () => {
    // Outside the per-user temporary folders: the zygote's user (nobody, as root) must reach it.
    const dir = join(tmpdir(), `thaw-zygote-conformance-${process.pid}`);
    mkdirSync(join(dir, 'packages', 'node_modules'), { recursive: true });
    chmodSync(dir, 0o755);
    return dir;
  });
  return {
    title,
    skip,
    kind: 'zygote',
    async start(name) {
      const dir = await root();
      const base = spec(name);
      const codeDir = join(dir, base.instanceId);
      mkdirSync(codeDir, { mode: 0o755 });
      chmodSync(codeDir, 0o755);
      const sb = (await backend()).createZygote({ ...base, functionName: 'zygote', codeDir }, { packageDir: join(dir, 'packages'), packages: [] });
      live.push(sb);
      await sb.start();
      assert.equal(sb.status, 'zygote');
      copyFileSync(join(fixture(name), 'bundle.cjs'), join(codeDir, 'bundle.cjs'));
      chmodSync(join(codeDir, 'bundle.cjs'), 0o644);
      await sb.specialise({ functionName: name, version: 1, env: {} });
      return sb;
    },
    close: async () => undefined,
  };
}

/** A V8 startup snapshot of the fixture, built once in the backend's isolation, restored for each instance. */
function snapshot(title: string, isolation: 'process' | 'container', skip: string | undefined): StartPathUnderTest {
  const path = once(async () => {
    const backend = await createSandboxBackend({ isolation, dataDir: testDataDir() });
    return new SnapshotStartPath({ backend, dataDir: tempDir('thaw-snapshot-conformance-'), status: { setSnapshotStatus: () => undefined }, settleMs: 300, buildTimeoutMs: 60_000 });
  });
  return {
    title,
    skip,
    kind: 'snapshot',
    async start(name) {
      const p = await path();
      const fn: DeployedFunction = { name, version: 1, codeDir: fixture(name), memoryMb: 128, timeoutMs: 10_000, maxConcurrency: 1, env: {}, network: false, provisioned: 0 };
      const built = await p.requestBuild(fn);
      assert.equal(built.state, 'ready', JSON.stringify(built));
      const sb = p.create(fn, spec(name));
      live.push(sb);
      await sb.start();
      return sb;
    },
    close: async () => (await path()).close(),
  };
}

/** A microVM booted cold (no VM snapshots: microvm.test.ts covers restores). */
function microvm(skip: string | undefined): StartPathUnderTest {
  const backend = once(() =>
    MicroVmBackend.create({
      dataDir: tempDir('thaw-vm-conformance-'),
      cacheDir: (process.env.THAW_VM_CACHE || undefined) ?? join(tmpdir(), 'thaw-vm-test-cache'),
      snapshots: false,
    }),
  );
  return {
    title: 'microVM (boot)',
    skip,
    kind: 'cold',
    slow: true,
    async start(name) {
      const sb = (await backend()).create(spec(name) satisfies SandboxSpec);
      live.push(sb);
      await sb.start();
      return sb;
    },
    close: async () => undefined,
  };
}

const paths: StartPathUnderTest[] = [
  cold('process', 'process', undefined),
  cold('lean container', 'container', containerMissing),
  pooled('lean container in a stem', containerMissing),
  zygote('zygote in a process', 'process', undefined),
  zygote('zygote in a lean container', 'container', containerMissing),
  snapshot('V8 snapshot in a process', 'process', undefined),
  snapshot('V8 snapshot in a lean container', 'container', containerMissing),
  microvm(vmMissing ?? undefined),
];

for (const path of paths) {
  describe(`start path: ${path.title}`, { skip: path.skip ?? false, timeout: path.slow ? 15 * 60_000 : 5 * 60_000 }, () => {
    const limit = path.slow ? 120_000 : 10_000;
    after(() => path.close());

    it('starts, invokes, and cuts the logs per invocation', async () => {
      const sb = await path.start('hello');
      if (path.kind) assert.equal(sb.startKind ?? 'cold', path.kind);
      assert.ok(sb.pid !== undefined && alive(sb.pid), 'its runtime runs');
      const first = await sb.invoke({ name: 'thaw' }, ctx('hello', limit), limit);
      assert.equal(first.ok, true, JSON.stringify(first.error));
      assert.equal((first.value as { message: string }).message, 'hello thaw');
      assert.equal(first.stdout, 'hello: invocation 1\n');
      const second = await sb.invoke({}, ctx('hello', limit), limit);
      assert.equal((second.value as { invocations: number }).invocations, 2);
      assert.equal(second.stdout, 'hello: invocation 2\n');
      await sb.destroy();
    });

    it('reports a handler error and keeps serving; an uncaught error retires the instance', async () => {
      const sb = await path.start('throws');
      const thrown = await sb.invoke({ mode: 'sync' }, ctx('throws', limit), limit);
      assert.deepEqual([thrown.ok, thrown.error?.kind, thrown.error?.name, thrown.fatal], [false, 'error', 'PaymentError', undefined]);
      const uncaught = await sb.invoke({ mode: 'uncaught' }, ctx('throws', limit), limit);
      assert.deepEqual([uncaught.error?.kind, uncaught.error?.message, uncaught.fatal], ['error', 'escaped from a timer', true]);
      const exit = await sb.exited;
      assert.equal(exit.code, 1);
      const after = await sb.invoke({}, ctx('throws', limit), limit);
      assert.deepEqual([after.error?.kind, after.fatal], ['exit', true]);
    });

    it('kills an invocation past its time limit and says so', async () => {
      const sb = await path.start('hangs');
      const timeoutMs = path.slow ? 5_000 : 400;
      const out = await sb.invoke({ mode: 'promise' }, ctx('hangs', timeoutMs), timeoutMs);
      assert.deepEqual([out.ok, out.error?.kind, out.fatal], [false, 'timeout', true]);
      assert.match(out.error?.message ?? '', new RegExp(`${timeoutMs} ms`));
      await sb.exited;
    });

    it('pauses, refuses invocations while paused, and serves again after resume', async () => {
      const sb = await path.start('hello');
      await sb.pause();
      await assert.rejects(sb.invoke({}, ctx('hello', limit), limit), { code: 'ERR_SANDBOX_STATE' });
      await sb.resume();
      const out = await sb.invoke({ name: 'again' }, ctx('hello', limit), limit);
      assert.equal((out.value as { message: string }).message, 'hello again');
    });

    it('destroy() ends the runtime, is idempotent, and refuses invocations after', async () => {
      const sb = await path.start('hello');
      const pid = sb.pid!;
      await sb.destroy();
      await sb.destroy();
      assert.equal(alive(pid), false);
      await sb.exited;
      await assert.rejects(sb.invoke({}, ctx('hello', limit), limit), { code: 'ERR_SANDBOX_STATE' });
    });
  });
}
