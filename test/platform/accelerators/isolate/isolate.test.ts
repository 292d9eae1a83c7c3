// The isolate start path, for real: a Platform whose functions prefer `isolate` runs them as V8
// isolates in one isolate host (isolated-vm, under bubblewrap where it works). Tenants share no
// globals, prototypes or modules; the CPU-time and memory limits stop a function without touching the
// host's other isolates; a bundle that needs the file system runs in a container and says why.

import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';

import { findIsolatedVm, type IsolateStartPath } from '../../../../src/platform/accelerators/isolate/index.ts';
import { toDeployed } from '../../../../src/platform/function.ts';
import { Platform } from '../../../../src/platform/platform.ts';
import { detectLeanContainers } from '../../../../src/platform/sandbox/bubblewrap.ts';

const FIXTURES = fileURLToPath(new URL('../../../fixtures/isolate', import.meta.url));
const EXAMPLES = fileURLToPath(new URL('../../../../examples', import.meta.url));
const ivm = findIsolatedVm();
const skip = 'reason' in ivm ? ivm.reason : false;

describe('isolate start path', { skip, timeout: 240_000 }, () => {
  let dataDir: string;
  let platform: Platform;
  let path: IsolateStartPath;

  before(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'thaw-isolate-'));
    platform = await Platform.open({ dataDir, pauseAfterMs: Infinity });
    path = platform.invoker.planner.paths.find((p) => p.kind === 'isolate') as IsolateStartPath;
    assert.ok(path, 'the platform registers the isolate start path');
    await platform.deploy({ dir: join(EXAMPLES, 'hello') }, { start: 'isolate' });
    await platform.deploy({ dir: join(FIXTURES, 'tenant') }, { name: 'tenant-a', env: { SECRET: 'a' } });
    await platform.deploy({ dir: join(FIXTURES, 'tenant') }, { name: 'tenant-b', env: { SECRET: 'b' } });
    for (const name of ['uses-fs', 'spin', 'hog', 'needs-buffer']) await platform.deploy({ dir: join(FIXTURES, name) });
    await platform.deploy({ dir: join(EXAMPLES, 'hello') }, { name: 'hello-auto', start: 'auto' });
    await platform.deploy({ dir: join(FIXTURES, 'uses-fs') }, { name: 'fs-auto', start: 'auto' });
  });

  after(async () => {
    await platform?.close();
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
  });

  it('starts hello in an isolate, records the start kind, then serves it warm', async () => {
    const cold = await platform.invokeSync('hello', { name: 'Ada' });
    assert.equal(cold.status, 'succeeded', JSON.stringify(cold));
    assert.equal(cold.startKind, 'isolate');
    assert.equal((cold.result as { message: string }).message, 'Hello, Ada!');
    assert.equal(platform.store.invocations.get(cold.id)?.startKind, 'isolate', 'the stored record says isolate');
    const warm = await platform.invokeSync('hello', { name: 'Bob' });
    assert.equal(warm.startKind, 'warm');
    assert.equal((warm.result as { invocationsInThisInstance: number }).invocationsInThisInstance, 2);
    assert.equal(cold.runtimeBootMs, 0, 'no runtime to boot: the host is running');
    const containers = await detectLeanContainers();
    assert.equal(path.host.isolation, containers.ok ? 'bubblewrap' : 'process', 'the host runs in a container where bubblewrap works');
  });

  it('gives tenants no globals, prototypes or modules in common, and no Node modules of the host', async () => {
    const first = await platform.invokeSync('tenant-a', { n: 1 });
    assert.equal(first.startKind, 'isolate', 'the tenants run in isolates (else this tests a container)');
    const a1 = first.result as Record<string, unknown>;
    const b1 = (await platform.invokeSync('tenant-b', { n: 1 })).result as Record<string, unknown>;
    const a2 = (await platform.invokeSync('tenant-a', { n: 2 })).result as Record<string, unknown>;
    assert.deepEqual([a1.tenant, b1.tenant], ['a', 'b']);
    assert.deepEqual([b1.seenGlobal, b1.seenProto, b1.seenModule, b1.count], [null, null, null, 1], 'b sees nothing a wrote');
    assert.deepEqual([a2.seenGlobal, a2.seenProto, a2.seenModule, a2.count], ['a', 'a', 'a', 2], 'a keeps its own state');
    assert.match(String(a1.hostRequire), /Cannot find module 'fs'/);
  });

  it("starts a version again from its spare: the imports were done ahead, in an isolate of the instance's own", async () => {
    const hello = toDeployed(platform.store.functions.requireVersion('hello', 'latest'));
    const before = await platform.invokeSync('hello', { name: 'Ada' });
    await platform.invoker.evict('hello');
    assert.equal(await path.spareReady(hello), true, 'the host loaded a spare of hello after its start');
    const again = await platform.invokeSync('hello', { name: 'Ada' });
    assert.equal(again.status, 'succeeded', JSON.stringify(again));
    assert.equal(again.startKind, 'isolate');
    assert.equal(platform.store.invocations.get(again.id)?.importMs, 0, 'no import phase: the spare had evaluated the bundle');
    const [a, b] = [before.result, again.result] as Array<{ instanceId: string; invocationsInThisInstance: number }>;
    assert.equal(b.invocationsInThisInstance, 1, 'a new instance, not the evicted one');
    assert.notEqual(b.instanceId, a.instanceId, 'the spare drew its own instance id at its top level');
  });

  it("gives each version its own spare: a tenant's spare never starts another tenant", async () => {
    for (const name of ['tenant-a', 'tenant-b']) await platform.invoker.evict(name);
    for (const name of ['tenant-a', 'tenant-b']) {
      assert.equal(await path.spareReady(toDeployed(platform.store.functions.requireVersion(name, 'latest'))), true, `${name} has a spare`);
    }
    const b = await platform.invokeSync('tenant-b', { n: 3 });
    const a = await platform.invokeSync('tenant-a', { n: 3 });
    assert.equal(platform.store.invocations.get(b.id)?.importMs, 0, 'tenant-b started from a spare');
    const [rb, ra] = [b.result, a.result] as Array<Record<string, unknown>>;
    assert.deepEqual([rb.tenant, rb.seenGlobal, rb.seenModule, rb.count], ['b', null, null, 1]);
    assert.deepEqual([ra.tenant, ra.seenGlobal, ra.seenModule, ra.count], ['a', null, null, 1]);
  });

  it('runs a bundle that needs the file system in a container, with the reason recorded', async () => {
    const r = await platform.invokeSync('uses-fs', {});
    assert.equal(r.status, 'succeeded', JSON.stringify(r));
    assert.equal(r.startKind, 'cold');
    const version = platform.store.functions.requireVersion('uses-fs', 'latest');
    const verdict = path.compatibility(toDeployed(version));
    assert.equal(verdict.compatible, false);
    assert.match((verdict as { reason: string }).reason, /fs \(the file system\)/);
    assert.match(String(version.isolateStatus), /^container: uses fs \(the file system\)/, "the reason is in the version's record");
    assert.equal(platform.store.functions.requireVersion('hello', 'latest').isolateStatus, 'compatible');
  });

  it('runs a bundle that fails to load in an isolate in a container, and records why', async () => {
    const r = await platform.invokeSync('needs-buffer', {});
    assert.equal(r.status, 'succeeded', JSON.stringify(r));
    assert.equal(r.startKind, 'cold', 'the isolate could not load it: the same request started a container');
    const status = String(platform.store.functions.requireVersion('needs-buffer', 'latest').isolateStatus);
    assert.match(status, /^container: the isolate could not load it .*Buffer is not defined/);
  });

  it('auto: picks the isolate for a compatible function when it measures fastest, and not when it does not', async () => {
    const planner = platform.invoker.planner;
    const fn = toDeployed(platform.store.functions.requireVersion('hello-auto', 'latest'));
    // Measured costs are put in, so the choice is decided by them and not by this machine's load.
    const measure = (isolateMs: number) => {
      for (const kind of new Set(['cold', ...planner.paths.map((p) => p.kind)] as const)) planner.observe(fn, kind, kind === 'isolate' ? isolateMs : 1000);
    };
    for (let i = 0; i < 10; i++) measure(1);
    const fast = await platform.invokeSync('hello-auto', { name: 'Ada' });
    assert.equal(fast.status, 'succeeded', JSON.stringify(fast));
    assert.equal(fast.startKind, 'isolate', 'the isolate measured fastest');
    await platform.invoker.evict('hello-auto');
    for (let i = 0; i < 20; i++) measure(100_000);
    const slow = await platform.invokeSync('hello-auto', { name: 'Ada' });
    assert.equal(slow.startKind, 'cold', 'the container measured fastest (every other path measured the same as it)');
    await platform.invoker.evict('hello-auto');

    // An incompatible function is never started in an isolate, however cheap one measured.
    const fsFn = toDeployed(platform.store.functions.requireVersion('fs-auto', 'latest'));
    for (const kind of new Set(['cold', ...planner.paths.map((p) => p.kind)] as const)) planner.observe(fsFn, kind, kind === 'isolate' ? 1 : 1000);
    const fs = await platform.invokeSync('fs-auto', {});
    assert.equal(fs.status, 'succeeded', JSON.stringify(fs));
    assert.equal(fs.startKind, 'cold');
    assert.match(String(platform.store.functions.requireVersion('fs-auto', 'latest').isolateStatus), /^container: uses fs/);
  });

  it('stops a function past its CPU-time limit and starts a new isolate for the next request', async () => {
    const spun = await platform.invokeSync('spin', { spin: true });
    assert.equal(spun.status, 'failed');
    assert.equal(spun.error?.kind, 'timeout', JSON.stringify(spun.error));
    const next = await platform.invokeSync('spin', {});
    assert.equal(next.status, 'succeeded');
    assert.equal(next.startKind, 'isolate', 'the stopped isolate was replaced');
    const hello = await platform.invokeSync('hello', { name: 'still here' });
    assert.equal(hello.startKind, 'warm', "another function's isolate lived through it");
  });

  it("stops a function past its memory limit (the isolate's heap limit)", async () => {
    const hog = await platform.invokeSync('hog', { hog: true });
    assert.equal(hog.status, 'failed');
    assert.equal(hog.error?.kind, 'oom', JSON.stringify(hog.error));
    const next = await platform.invokeSync('hog', {});
    assert.equal(next.status, 'succeeded');
    assert.equal(next.startKind, 'isolate');
  });

  it('survives the isolate host dying: the next start spawns a new host', async () => {
    const pid = path.host.pid!;
    process.kill(pid, 'SIGKILL');
    await path.host.exited;
    // The host's exit settles each isolate's exit, and the invoker drops those instances, in turn.
    await new Promise((resolve) => setImmediate(resolve));
    const r = await platform.invokeSync('hello', { name: 'again' });
    assert.equal(r.status, 'succeeded', JSON.stringify(r));
    assert.equal(r.startKind, 'isolate');
    assert.notEqual(path.host.pid, pid);
  });
});
