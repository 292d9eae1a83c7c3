// ZygoteStartPath with real sandboxes (lean containers where available, and plain processes), real
// zygote processes, and fixture packages that count how often their top-level code runs in a
// process, so what was loaded where is asserted by structure, not by timing.

import assert from 'node:assert/strict';
import { chmodSync, existsSync, mkdirSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';

import { VirtualClock } from '../../../../src/core/clock.ts';
import { Pool } from '../../../../src/core/pool.ts';
import { LruKeepAlive } from '../../../../src/policies/keepalive/index.ts';
import { LeastLoadedPlacement } from '../../../../src/policies/placement/index.ts';
import { createSandboxBackend, detectIsolation } from '../../../../src/platform/sandbox/index.ts';
import type { RuntimeProcess } from '../../../../src/platform/sandbox/runtime-process.ts';
import type { IsolationMode } from '../../../../src/platform/sandbox/index.ts';
import type { SandboxBackend } from '../../../../src/platform/sandbox/types.ts';
import { StartPlanner, startKindOf } from '../../../../src/platform/accelerators/planner.ts';
import { PoolZygoteMemory, ZygoteStartPath, type ZygoteFunction } from '../../../../src/platform/accelerators/zygote/index.ts';
import type { ZygoteInstanceSandbox } from '../../../../src/platform/accelerators/zygote/instance-sandbox.ts';
import { ctx, deployFixture, fixtureInstaller, instanceSpec, tempDir } from './support.ts';

const detected = await detectIsolation();
const cgroupsMissing = detected.cgroups.driver ? undefined : `no usable cgroups: ${detected.cgroups.problems.join('; ')}`;
const containerMissing = !detected.container.ok ? `lean containers unavailable: ${detected.container.reason}` : cgroupsMissing;

interface Result {
  fn: string;
  values: unknown[];
  loads: Record<string, number>;
  functionsLoaded: string[];
  bundles: string[];
  cachedPackages: string[];
  env: string | null;
  argv1: string;
  uid: number | null;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code !== 'ESRCH';
  }
}

async function waitFor(what: string, cond: () => boolean, timeoutMs = 10_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

const variants: Array<{ title: string; isolation: IsolationMode; skip: string | undefined }> = [
  { title: 'lean containers', isolation: 'container', skip: containerMissing },
  { title: 'processes', isolation: 'process', skip: cgroupsMissing },
];

for (const variant of variants) {
  describe(`zygote start path (${variant.title})`, { skip: variant.skip }, () => {
    let backend: SandboxBackend;
    let path: ZygoteStartPath;
    let one: ZygoteFunction;
    let two: ZygoteFunction;
    let other: ZygoteFunction;
    const installs: string[] = [];
    const warnings: string[] = [];
    const live: Array<{ destroy(): Promise<void> }> = [];
    const inside = variant.isolation === 'container';
    let dataDir: string;

    before(async () => {
      dataDir = tempDir('thaw-zyg-data-');
      backend = await createSandboxBackend({ isolation: variant.isolation, dataDir });
      path = new ZygoteStartPath({ backend, dataDir, installer: fixtureInstaller(installs), retryDelayMs: 20, onWarning: (m) => warnings.push(m) });
      [one, two, other] = await Promise.all([
        deployFixture('zyg-one', { env: { ZYG_GREETING: 'hello from the env' } }),
        deployFixture('zyg-two'),
        deployFixture('zyg-other'),
      ]);
      for (const fn of [one, two, other]) path.onDeploy(fn);
      await path.settled();
    });

    after(async () => {
      await Promise.all(live.map((s) => s.destroy()));
      await path?.close();
      // Without namespaces the default root is outside the data directory, under the OS tmpdir.
      if (path && !path.rootDir.startsWith(dataDir)) rmSync(path.rootDir, { recursive: true, force: true });
    });

    function create(fn: ZygoteFunction): ZygoteInstanceSandbox {
      const sb = path.create(fn, instanceSpec(fn));
      live.push(sb);
      return sb;
    }

    it('plans a zygote for the package set two functions share, and installs it once, from its own folder', async () => {
      assert.deepEqual(
        path.plan!.kept.map((n) => [n.packages, n.serves]),
        [[{ 'counter-a': '1.0.0', 'counter-b': '2.0.0', 'counter-esm': '1.0.0' }, ['zyg-one', 'zyg-two']]],
      );
      assert.deepEqual(installs, ['counter-a@1.0.0 counter-b@2.0.0 counter-esm@1.0.0']);
      assert.ok(path.rootDir && existsSync(join(path.rootDir, 'sets')));
      assert.equal(path.readyZygotes().length, 1);
      const stats = await path.stats();
      const set = stats.sets[0]!;
      assert.equal(set.ready, 1);
      // The zygote's own start: a sandbox, a runtime boot and the packages' import, as a cold start has.
      assert.ok(set.lastStart!.runtimeBootMs > 0 && set.lastStart!.importMs > 0 && set.lastStart!.initMs === 0);
      assert.ok(set.residentMb[0]! > 0);
      assert.deepEqual(stats.variants, { ready: 2, building: 0, failed: 0 }, 'a variant bundle for each function of the set');
      const variantOne = path.variantOf(one, path.plan!.kept[0]!.packages)!;
      assert.deepEqual(variantOne.result!.external, ['counter-a', 'counter-b', 'counter-esm']);
      assert.deepEqual(variantOne.result!.bundledPackages, ['counter-c'], 'only the rest is in the variant');
    });

    it('specialises a zygote for a function with one more package: it loads only the rest, and works', async () => {
      assert.equal(path.available(one), true);
      const zygote = path.readyZygotes()[0]!;
      const sb = create(one);
      assert.equal(sb.zygoteId, zygote.id);
      const t = await sb.start();
      assert.equal(sb.startedAs, 'zygote', sb.fallbackReason);
      assert.equal(t.runtimeBootMs, 0, 'no runtime to boot');
      assert.equal(t.agentSetupMs, 0);
      assert.equal(sb.pid, zygote.pid, 'the zygote process became the instance');
      // What the specialisation loaded: the bundle only; the three packages came from the zygote.
      assert.deepEqual(sb.load, { preloaded: ['counter-a', 'counter-b', 'counter-esm'], modulesLoaded: 1, reused: ['counter-a', 'counter-b', 'counter-esm'] });

      const out = await sb.invoke({ x: 5 }, ctx(one), 10_000);
      assert.equal(out.ok, true, JSON.stringify(out.error));
      const r = out.value as Result;
      assert.deepEqual(r.values, [10, 'counter-b@2.0.0', 'counter-c@1.0.0', 'counter-esm@1.0.0', 15]);
      // Every package's top-level code ran exactly once in this process: the zygote's packages were
      // not loaded again by the function, and counter-c (not in the zygote) came from its bundle.
      assert.deepEqual(r.loads, { 'counter-a@1.0.0': 1, 'counter-b@2.0.0': 1, 'counter-esm@1.0.0': 1, 'counter-c@1.0.0': 1 });
      assert.deepEqual(r.cachedPackages.sort(), ['counter-a/index.js', 'counter-b/index.js', 'counter-esm/index.js'], "the zygote's modules, from its package folder");
      assert.deepEqual(r.functionsLoaded, ['zyg-one']);
      assert.equal(r.env, 'hello from the env', "the function's environment");
      assert.equal(r.argv1, inside ? '/code/bundle.cjs' : join(dirnameOfSlot(sb), 'bundle.cjs'));
      assert.equal(r.uid, 65534, 'as the unprivileged user, like a cold instance');

      // The same function started cold loads every package in its own import phase, from its bundle.
      const cold = backend.create(instanceSpec(one)) as RuntimeProcess;
      live.push(cold);
      const coldTimings = await cold.start();
      const coldOut = await cold.invoke({ x: 5 }, ctx(one), 10_000);
      const c = coldOut.value as Result;
      assert.deepEqual(c.values, r.values);
      assert.deepEqual(c.loads, r.loads);
      assert.deepEqual(c.cachedPackages, [], 'cold: every package is inside the bundle');
      process.stderr.write(`  [${variant.title}] cold import ${coldTimings.importMs.toFixed(2)} ms vs zygote import ${t.importMs.toFixed(2)} ms (not asserted)\n`);
    });

    it('never hands out a consumed zygote, refills in the background, and never puts a function where another one ran', async () => {
      await path.settled();
      const before = (await path.stats()).sets[0]!.counts;
      const first = create(two);
      const firstId = first.zygoteId!;
      assert.ok(firstId);
      assert.ok(!path.readyZygotes().some((z) => z.id === firstId), 'taken: out of the ready set at once');
      assert.equal(path.available(two), false, 'none ready until the refill');
      await first.start();
      assert.equal((await path.stats()).sets[0]!.starting, 0, 'the refill waits for the first response: it would compete with it for CPU');
      const firstOut = (await first.invoke({}, ctx(two), 10_000)).value as Result;
      await path.settled();
      const after1 = (await path.stats()).sets[0]!;
      assert.equal(after1.counts.started, before.started + 1, 'one refill');
      assert.equal(after1.ready, 1);
      assert.notEqual(path.readyZygotes()[0]!.id, firstId);
      assert.deepEqual(firstOut.functionsLoaded, ['zyg-two']);

      // Each zygote is taken once: every new instance gets a fresh zygote, and each process has run
      // exactly one function's code (its own bundle only).
      const seen = new Set<string>([firstId]);
      for (const fn of [one, two, one]) {
        await path.settled();
        const sb = create(fn);
        assert.equal(sb.startedAs, undefined);
        assert.ok(sb.zygoteId && !seen.has(sb.zygoteId), `zygote ${sb.zygoteId} handed out twice`);
        seen.add(sb.zygoteId);
        await sb.start();
        assert.equal(sb.startedAs, 'zygote');
        const r = (await sb.invoke({}, ctx(fn), 10_000)).value as Result;
        assert.deepEqual(r.functionsLoaded, [fn.name], 'no other function ever loaded in this process');
        assert.deepEqual(
          r.bundles.filter((f) => !f.endsWith('agent.cjs')),
          [inside ? '/code/bundle.cjs' : join(dirnameOfSlot(sb), 'bundle.cjs')],
          'one function bundle in the module cache: its own',
        );
        assert.deepEqual(Object.values(r.loads), Object.values(r.loads).map(() => 1));
      }
      // A specialised zygote refuses a second specialisation, whoever asks.
      await assert.rejects(takenSandbox(first).specialise({ functionName: 'zyg-one', version: 1, env: {} }), /already specialised/);
    });

    it('a zygote takes its function\'s concurrency when specialised, and serves that many at once', async () => {
      await path.settled();
      const sb = path.create(one, { ...instanceSpec(one), concurrency: 3 });
      live.push(sb);
      assert.equal(sb.concurrency, 1, 'nothing is known before it starts');
      await sb.start();
      assert.equal(sb.startedAs, 'zygote', sb.fallbackReason);
      assert.equal(sb.concurrency, 3);
      // Three in flight at once: a sandbox serving one at a time refuses the second (ERR_SANDBOX_STATE).
      const outs = [1, 2, 3].map((x) => sb.invoke({ x }, ctx(one), 10_000));
      assert.equal(sb.inFlight, 3);
      for (const [i, out] of (await Promise.all(outs)).entries()) {
        assert.equal(out.ok, true, JSON.stringify(out.error));
        assert.equal((out.value as Result).values[0], 2 * (i + 1));
      }
      assert.equal(sb.inFlight, 0);
    });

    it('does not offer a zygote to a function whose dependencies differ, and such a start is cold', async () => {
      await path.settled();
      assert.equal(path.readyZygotes().length, 1);
      assert.equal(path.available(other), false, 'its counter-b@3.0.0 is not the zygote’s counter-b@2.0.0');
      assert.equal(path.match(other), undefined);
      const sb = create(other);
      await sb.start();
      assert.equal(sb.startedAs, 'cold');
      assert.match(sb.fallbackReason!, /no zygote/);
      const r = (await sb.invoke({ x: 2 }, ctx(other), 10_000)).value as Result;
      assert.deepEqual(r.values, [4, 'counter-b@3.0.0']);
      assert.equal(path.readyZygotes().length, 1, 'the zygote is still there');

      // Node's own boot settings cannot reach a booted runtime; a bigger memory limit than the zygote's neither.
      assert.equal(path.available({ ...one, env: { NODE_OPTIONS: '--stack-size=2000' } }), false);
      assert.equal(path.available({ ...one, env: { NODE_ENV: 'development' } }), false);
      assert.equal(path.available({ ...one, memoryMb: 1024 }), false);
      assert.equal(path.available({ ...one, network: true }), false);
      assert.equal(path.available({ ...one, dependencies: undefined } as ZygoteFunction), true, 'dependencies registered at deploy are used');
      assert.equal(path.available(one), true);
    });

    it('replaces a zygote that dies while it waits, and falls back to cold when a taken one cannot be specialised', async () => {
      await path.settled();
      const victim = path.readyZygotes()[0]!;
      process.kill(victim.pid!, 'SIGKILL');
      await waitFor('the dead zygote to be replaced', () => path.readyZygotes().some((z) => z.id !== victim.id));
      await path.settled();
      assert.ok(!path.readyZygotes().some((z) => z.id === victim.id));
      assert.ok((await path.stats()).sets[0]!.counts.died >= 1);

      // Taken, then killed before start(): the instance starts cold, and still works.
      const taken = path.readyZygotes()[0]!;
      const sb = create(one);
      assert.equal(sb.zygoteId, taken.id);
      process.kill(taken.pid!, 'SIGKILL');
      await waitFor('the taken zygote to exit', () => !alive(taken.pid!));
      await new Promise((r) => setTimeout(r, 50));
      const fallbacks = (await path.stats()).fallbacks;
      await sb.start();
      assert.equal(sb.startedAs, 'cold');
      assert.match(sb.fallbackReason!, /zygote/);
      const r = (await sb.invoke({ x: 3 }, ctx(one), 10_000)).value as Result;
      assert.deepEqual(r.values[0], 6);
      assert.equal((await path.stats()).fallbacks, fallbacks + 1);
      assert.ok(warnings.some((w) => w.includes('fell back to a cold start')));
    });

    it('plugs into the StartPlanner: a `zygote` preference starts from a zygote, `cold` and `snapshot` never do', async () => {
      await path.settled();
      const planner = new StartPlanner(backend, [path]);
      const planned = planner.plan({ ...one, start: 'zygote' }, instanceSpec(one));
      live.push(planned.sandbox);
      assert.equal(planned.path, 'zygote');
      const t = await planned.sandbox.start();
      assert.equal(startKindOf(planned.sandbox, planned.path), 'zygote');
      assert.equal(t.runtimeBootMs, 0);
      planner.observe(one, 'zygote', t.sandboxMs + t.importMs + t.initMs);
      assert.equal((await planned.sandbox.invoke({ x: 1 }, ctx(one), 10_000)).ok, true);
      await path.settled();
      // auto tries the zygote path (not measured yet for this version) ...
      const auto = planner.plan({ ...two, start: 'auto' }, instanceSpec(two));
      live.push(auto.sandbox);
      assert.equal(auto.path, 'zygote');
      await auto.sandbox.start();
      await auto.sandbox.invoke({}, ctx(two), 10_000);
      await path.settled();
      // ... and a version that chose another path never takes a zygote.
      assert.equal(path.available({ ...one, start: 'cold' }), false);
      assert.equal(path.available({ ...one, start: 'snapshot' }), false);
      const cold = planner.plan({ ...one, start: 'cold' }, instanceSpec(one));
      live.push(cold.sandbox);
      assert.equal(cold.path, 'cold');
      // A fallback inside the zygote sandbox is reported as what it was: cold.
      const fallback = planner.plan({ ...other, start: 'zygote' }, instanceSpec(other));
      live.push(fallback.sandbox);
      assert.equal(fallback.path, 'cold', 'no zygote for it: the planner starts it cold itself');
    });

    it('destroys its zygotes on close', async () => {
      await path.settled();
      const ready = path.readyZygotes();
      assert.ok(ready.length > 0);
      const slots = readdirSync(join(path.rootDir, 'slots'));
      assert.ok(slots.length > 0);
      await path.close();
      for (const z of ready) assert.equal(alive(z.pid!), false, `zygote ${z.id} still runs`);
      assert.equal(path.available(one), false);
      const leftover = readdirSync(join(path.rootDir, 'slots')).filter((s) => ready.some((z) => z.id === s));
      assert.deepEqual(leftover, [], "the zygotes' /code folders are gone");
    });
  });
}

/** The host folder a (process-backend) zygote's bundle was written to. */
function dirnameOfSlot(sb: ZygoteInstanceSandbox): string {
  return takenSandbox(sb).codeDir;
}

/** The specialised zygote an instance runs in. */
function takenSandbox(sb: ZygoteInstanceSandbox): RuntimeProcess {
  const inner = sb.inner as RuntimeProcess | undefined;
  if (!inner?.isZygote) throw new Error(`${sb.id} does not run in a zygote`);
  return inner;
}

describe('zygote memory in the Pool (lean containers or processes)', { skip: cgroupsMissing }, () => {
  it('a zygote the keep-alive policy evicts is destroyed, and refilled when a function asks for it', async () => {
    const dataDir = tempDir('thaw-zyg-pool-');
    const backend = await createSandboxBackend({ isolation: containerMissing ? 'process' : 'container', dataDir });
    const clock = new VirtualClock();
    let memory: PoolZygoteMemory | undefined;
    const pool = new Pool({
      servers: [{ memoryMb: 300 }],
      keepAlive: new LruKeepAlive(),
      placement: new LeastLoadedPlacement(),
      clock,
      listener: { removed: (instance, reason) => void memory?.onRemoved(instance, reason) },
    });
    let nextIndex = 1000;
    memory = new PoolZygoteMemory(pool, { allocateIndex: () => nextIndex++ });
    const path = new ZygoteStartPath({ backend, dataDir, memory, installer: fixtureInstaller() });
    try {
      const [one, two] = await Promise.all([deployFixture('zyg-one'), deployFixture('zyg-two')]);
      path.onDeploy(one);
      path.onDeploy(two);
      await path.settled();
      const [zygote] = path.readyZygotes();
      assert.ok(zygote);
      assert.equal(pool.servers[0]!.usedMb, 128, "the zygote's memory is in the Pool");
      assert.equal(pool.servers[0]!.idleMb, 128, 'as idle memory');

      // A function needs 256 MB: the Pool evicts the idle zygote (the policy's choice), the path destroys it.
      const big = { index: 0, id: 'big@1', app: 'big', memoryMb: 256, warmMs: 10, coldStartMs: 100 };
      const instance = pool.acquire(big)!;
      assert.equal(instance.startKind, 'cold');
      await waitFor('the evicted zygote to exit', () => !alive(zygote.pid!));
      assert.deepEqual(path.readyZygotes(), []);
      const stats = (await path.stats()).sets[0]!;
      assert.equal(stats.counts.evicted, 1);
      assert.equal(stats.dormant, true, 'not refilled until asked for');

      // Asked for while memory is full: no zygote can be started (pre-warming never evicts).
      assert.equal(path.available(one), false);
      await path.settled();
      assert.deepEqual(path.readyZygotes(), []);
      assert.ok((await path.stats()).sets[0]!.counts.noMemory >= 1);

      // Memory free again: the next ask refills it.
      pool.kill(instance);
      assert.equal(path.available(one), false);
      await path.settled();
      assert.equal(path.readyZygotes().length, 1);
      assert.equal(path.available(one), true);

      // Specialising releases the zygote's pseudo-instance; the function's own instance is the Pool's.
      const fnInstance = pool.acquire({ index: 1, id: 'zyg-one@1', app: 'zyg-one', memoryMb: 128, warmMs: 10, coldStartMs: 100 })!;
      const sb = path.create(one, instanceSpec(one));
      assert.equal(pool.servers[0]!.usedMb, 128, "the function's instance only: the zygote's pseudo-instance is gone");
      await sb.start();
      assert.equal(sb.startedAs, 'zygote');
      await sb.invoke({}, ctx(one), 10_000);
      assert.equal(pool.servers[0]!.usedMb, 128 + 128, 'and the refill, started once the first response is out');
      await sb.destroy();
      pool.kill(fnInstance);
    } finally {
      await path.close();
      if (!path.rootDir.startsWith(dataDir)) rmSync(path.rootDir, { recursive: true, force: true });
    }
    assert.equal(pool.servers[0]!.usedMb, 0, 'close() released every zygote');
  });
});

describe('zygote folders', () => {
  it('refuses a root folder others may write to (its packages would run in functions)', async () => {
    const dataDir = tempDir('thaw-zyg-root-');
    const backend = await createSandboxBackend({ isolation: 'process', dataDir, cgroups: false });
    const open = join(dataDir, 'open');
    mkdirSync(open, { mode: 0o777 });
    chmodSync(open, 0o777);
    assert.throws(() => new ZygoteStartPath({ backend, dataDir, rootDir: open }), /writable by others/);
    const fine = new ZygoteStartPath({ backend, dataDir, rootDir: join(dataDir, 'zygotes') });
    assert.ok(existsSync(join(fine.rootDir, 'slots')));
    await fine.close();
  });
});
