// Stems (stem-pool.ts): lean containers made ahead in cgroups of their own, a cold instance started
// in one. What must still hold: the function's memory limit on the stem's cgroup, no other
// function's code, no network without access and a namespace of its own with it, its environment
// byte for byte; a stem that dies waiting is replaced; close() leaves nothing behind.
// (start-paths.test.ts and sandbox.test.ts run their conformance over the pooled path too.)

import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';

import type { LeanContainerBackend } from '../../../src/platform/sandbox/lean-container.ts';
import { createSandboxBackend, detectIsolation } from '../../../src/platform/sandbox/index.ts';
import type { RuntimeProcess } from '../../../src/platform/sandbox/runtime-process.ts';
import { shellQuote, type StemLauncher } from '../../../src/platform/sandbox/stem-pool.ts';
import { alive, ctx, fixture, spec, testDataDir } from './support.ts';

const detected = await detectIsolation();
const containerMissing = !detected.container.ok ? `lean containers unavailable: ${detected.container.reason}` : detected.cgroups.driver ? undefined : 'no usable cgroups';

describe('stem pool', { skip: containerMissing }, () => {
  let backend: LeanContainerBackend;
  const live: RuntimeProcess[] = [];
  before(async () => {
    backend = (await createSandboxBackend({ isolation: 'container', dataDir: testDataDir(), stemPoolSize: 1 })) as LeanContainerBackend;
  });
  after(async () => {
    await Promise.all(live.map((sb) => sb.destroy()));
    await backend?.close();
  });

  /** An instance started in a stem that waited (the pool is full first). */
  async function pooled(name: string, overrides: Parameters<typeof spec>[1] = {}): Promise<RuntimeProcess> {
    await backend.stems!.filled();
    const sb = backend.create(spec(name, overrides));
    live.push(sb);
    await sb.start();
    assert.equal((sb.launcher as StemLauncher).pooled, true, 'started in a stem');
    return sb;
  }

  it('fills the pool in the background and refills it after each start', async () => {
    await backend.stems!.filled();
    assert.equal(backend.stems!.status().ready.isolated, 1);
    const taken = backend.stems!.status().counts.taken;
    const sb = await pooled('hello');
    await backend.stems!.filled();
    assert.equal(backend.stems!.status().ready.isolated, 1, 'refilled');
    assert.equal(backend.stems!.status().counts.taken, taken + 1);
    await sb.destroy();
  });

  it("sets the function's memory limit on the stem's cgroup and enforces it", async () => {
    const sb = await pooled('allocates-too-much', { memoryMb: 96 });
    const cg = sb.cgroupInfo!;
    assert.equal(await cg.memoryLimitBytes(), 96 * 1024 * 1024);
    assert.ok((await cg.pids()).includes(sb.pid!), 'node runs in the cgroup');
    const out = await sb.invoke({ mode: 'buffer', maxMb: 2048 }, ctx('allocates-too-much', 60_000), 60_000);
    assert.equal(out.error?.kind, 'oom', JSON.stringify(out.error));
    assert.equal((await sb.exited).oom, true);
  });

  it("sees its own code only, no host network, and runs as nobody under the seccomp filter", async () => {
    const sb = await pooled('reads-files');
    const out = await sb.invoke({ otherCode: `${fixture('hello')}/bundle.cjs`, port: 9 }, ctx('reads-files'), 20_000);
    assert.equal(out.ok, true, JSON.stringify(out.error));
    const p = out.value as { otherCode: { ok: boolean; code?: string }; tcp: { ok: boolean }; uid: number; seccomp: string | null; codeWritable: boolean };
    assert.deepEqual(p.otherCode, { ok: false, code: 'ENOENT' });
    assert.equal(p.tcp.ok, false);
    assert.equal(p.uid, 65534);
    if (process.arch === 'x64') assert.equal(p.seccomp, '2');
    assert.equal(p.codeWritable, false);
    assert.notEqual(readlinkSync(`/proc/${sb.pid}/ns/net`), readlinkSync('/proc/self/ns/net'), 'a network namespace of its own');
    await sb.destroy();
  });

  it('with network access, takes a stem made in a network namespace of its own', { skip: detected.network.ok ? false : 'no network namespaces' }, async () => {
    // The first function with network access asks for such stems; the next one gets one.
    const first = backend.create(spec('hello', { network: true }));
    live.push(first);
    await first.start();
    await backend.stems!.filled();
    const sb = await pooled('hello', { network: true });
    const netOf = (pid: number) => readlinkSync(`/proc/${pid}/ns/net`);
    assert.notEqual(netOf(sb.pid!), netOf(process.pid));
    assert.notEqual(netOf(sb.pid!), netOf(first.pid!), 'not shared with another instance');
    await Promise.all([sb.destroy(), first.destroy()]);
  });

  it('passes its environment byte for byte; a name the shell cannot export starts it without a stem', async () => {
    const value = "it's $HOME `x`\n\"quoted\" \\ end";
    const sb = await pooled('hello', { env: { GREETING: value } });
    const out = await sb.invoke({ name: 'x' }, ctx('hello'), 10_000);
    assert.equal(out.ok, true);
    const environ = readFileSync(`/proc/${sb.pid}/environ`, 'utf8').split('\0');
    assert.ok(environ.includes(`GREETING=${value}`), environ.join(' | '));
    await sb.destroy();
    await backend.stems!.filled();
    const odd = backend.create(spec('hello', { env: { 'odd-name': '1' } }));
    live.push(odd);
    await odd.start();
    assert.equal((odd.launcher as StemLauncher).pooled, false);
    assert.equal((await odd.invoke({}, ctx('hello'), 10_000)).ok, true);
    await odd.destroy();
  });
});

describe('stem pool: a stem killed while it waits', { skip: containerMissing }, () => {
  it('is replaced, and close() leaves no process, cgroup or slot behind', async () => {
    const backend = (await createSandboxBackend({ isolation: 'container', dataDir: testDataDir(), stemPoolSize: 2 })) as LeanContainerBackend;
    const pool = backend.stems!;
    await pool.filled();
    const stems = pool.waitingStems();
    assert.equal(stems.length, 2);
    process.kill(-stems[0]!.child.pid!, 'SIGKILL');
    // The pool notices the exit and makes another.
    await stems[0]!.exit;
    await pool.filled();
    assert.equal(pool.status().counts.died, 1);
    assert.equal(pool.status().ready.isolated, 2);
    assert.ok(!pool.waitingStems().includes(stems[0]!));
    const cgroupParent = backend.resolvedOptions.cgroups!.parents.memory;
    const now = pool.waitingStems().map((s) => s.child.pid!);
    await backend.close();
    for (const pid of now) assert.equal(alive(pid), false, `stem ${pid} is gone`);
    assert.deepEqual(readdirSync(cgroupParent).filter((n) => n.startsWith(`${pool.name}-`)), [], 'no stem cgroup left');
    assert.equal(existsSync(pool.root), false, 'no slot left');
  });
});

describe('stem pool: what a killed thaw left', { skip: containerMissing }, () => {
  it('is removed before the first stem is made: its slots and its empty cgroups', async () => {
    const first = (await createSandboxBackend({ isolation: 'container', dataDir: testDataDir(), stemPoolSize: 0 })) as LeanContainerBackend;
    const options = first.resolvedOptions;
    // A pid above the kernel's maximum (4194304) never runs.
    const slot = join(options.tmpRoot, '.stems', 'stem-999999999-1', 'stem-999999999-1-1');
    mkdirSync(slot, { recursive: true });
    const groups = [...new Set(Object.values(options.cgroups!.parents))].map((parent) => join(parent!, 'stem-999999999-1-1'));
    for (const dir of groups) mkdirSync(dir);
    const backend = (await createSandboxBackend({ isolation: 'container', dataDir: testDataDir(), stemPoolSize: 1 })) as LeanContainerBackend;
    try {
      await backend.stems!.filled();
      assert.equal(existsSync(join(options.tmpRoot, '.stems', 'stem-999999999-1')), false);
      for (const dir of groups) assert.equal(existsSync(dir), false, dir);
    } finally {
      await backend.close();
    }
  });
});

describe('shellQuote', () => {
  it('quotes anything into one shell word', () => {
    assert.equal(shellQuote("a'b"), `'a'\\''b'`);
    assert.equal(shellQuote(''), "''");
  });
});
