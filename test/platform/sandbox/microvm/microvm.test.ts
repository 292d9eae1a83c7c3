// The microVM backend for real: QEMU (under KVM where the machine has hardware virtualisation,
// else TCG) boots the guest image, a snapshot is taken after the function's init, and instances
// are restored from it in the three restore modes. Skipped, saying why, where QEMU is missing.

import assert from 'node:assert/strict';
import { readFileSync, statSync, statfsSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';

import { MicroVmBackend, microVmUnavailable } from '../../../../src/platform/sandbox/microvm/backend.ts';
import type { MicroVmSandbox } from '../../../../src/platform/sandbox/microvm/sandbox.ts';
import type { VmSnapshot } from '../../../../src/platform/accelerators/vm-snapshot/snapshot-store.ts';
import { PAGE_SIZE, readWorkingSetIndex } from '../../../../src/platform/accelerators/vm-snapshot/working-set.ts';
import { ctx, fixture, spec as baseSpec, tempDir } from '../support.ts';

const missing = microVmUnavailable();
const FN = 'vmtest';
const spec = (overrides = {}) => baseSpec(FN, { codeDir: fixture('microvm'), memoryMb: 128, env: { GREETING: "it's a VM" }, ...overrides });

describe('microVM sandboxes', { skip: missing ?? false, timeout: 15 * 60_000 }, () => {
  let backend: MicroVmBackend;
  let snap: VmSnapshot;
  const live: MicroVmSandbox[] = [];

  before(async () => {
    backend = await MicroVmBackend.create({
      dataDir: tempDir('thaw-vm-data-'),
      // The guest image is the same for every run on a machine: keep it between test runs.
      cacheDir: (process.env.THAW_VM_CACHE || undefined) ?? join(tmpdir(), 'thaw-vm-test-cache'),
      snapshotDir: tempDir('thaw-vm-snapshots-'),
      dropPageCache: true,
      snapshots: true,
      log: (line) => console.error(line),
    });
  });

  after(async () => {
    await Promise.all(live.map((s) => s.destroy()));
  });

  async function restore(mode: 'lazy' | 'reap' | 'faasnap'): Promise<MicroVmSandbox> {
    const current = (await backend.store.load(FN, 1, 128))!;
    const sandbox = backend.createWith(spec(), await backend.restoreLaunch(current, mode));
    live.push(sandbox);
    await sandbox.start();
    return sandbox;
  }

  it('boots cold: kernel, init, node, the function’s import and init, all timed', async () => {
    const vm = backend.createWith(spec(), { kind: 'boot' });
    live.push(vm);
    const t = await vm.start();
    assert.ok(t.sandboxMs > 0 && t.runtimeBootMs > 0 && t.initMs > 0, JSON.stringify(t));
    const out = await vm.invoke({ name: 'cold' }, ctx(FN), 60_000);
    assert.equal(out.ok, true, JSON.stringify(out));
    assert.deepEqual(out.value, { hello: 'cold', items: 50000, greeting: "it's a VM", fn: FN });
    assert.equal(out.stdout, 'hello log cold\n');
    const thrown = await vm.invoke({ action: 'throw' }, ctx(FN), 60_000);
    assert.equal(thrown.ok, false);
    assert.match(thrown.error!.message, /boom from the guest/);
    assert.equal(vm.startKind, 'cold');
    await vm.destroy();
  });

  it('refuses a function that asks for the network, saying why, before any VM starts', async () => {
    const vm = backend.createWith(spec({ network: true }), { kind: 'boot' });
    await assert.rejects(vm.start(), (err: Error & { code?: string; cause?: { code?: string } }) => err.cause?.code === 'ERR_VM_CODE' && /network access/.test(err.message));
    assert.equal(vm.pid, undefined);
  });

  it('takes a snapshot after init: device state + a sparse memory file, checksummed', async () => {
    snap = await backend.buildSnapshot(spec());
    const m = snap.manifest;
    assert.equal(m.memory.bytes, (128 + 256) * 1024 * 1024);
    assert.match(m.memory.sha256, /^[0-9a-f]{64}$/);
    assert.ok(m.state.bytes > 0 && m.state.bytes < 1024 * 1024, `state ${m.state.bytes} bytes`);
    // Zero pages are holes: the file allocates no more than its non-zero pages.
    const allocated = statSync(snap.memoryPath).blocks * 512;
    assert.ok(m.memory.dataBytes < m.memory.bytes, `data ${m.memory.dataBytes} of ${m.memory.bytes}`);
    assert.ok(allocated <= m.memory.dataBytes + 1024 * 1024, `allocated ${allocated}, data ${m.memory.dataBytes}`);
  });

  it('restores lazily and answers from the initialised heap', async () => {
    const current = (await backend.store.load(FN, 1, 128))!;
    const vm = await restore('lazy');
    assert.equal(vm.startKind, 'snapshot');
    assert.equal(vm.restoreReport!.mode, 'lazy');
    const out = await vm.invoke({ name: 'lazy' }, ctx(FN), 60_000);
    assert.deepEqual(out.value, { hello: 'lazy', items: 50000, greeting: "it's a VM", fn: FN });
    assert.equal(out.stdout, 'hello log lazy\n');
    const counters = await vm.restoreCounters();
    assert.ok(counters.bytesRead > 0, JSON.stringify(counters));
    // On a disk (not tmpfs, whose pages are the file itself) first touches of the evicted file are I/O.
    if (statfsSync(current.memoryPath).type !== 0x01021994) assert.ok(counters.majorFaults > 0, JSON.stringify(counters));
    await vm.destroy();
  });

  it('while one restore records the working set, the others of that snapshot run lazily', async () => {
    const current = (await backend.store.load(FN, 1, 128))!;
    const first = await backend.restoreLaunch(current, 'reap');
    const second = await backend.restoreLaunch(current, 'faasnap');
    assert.ok(first.kind === 'restore' && first.record && first.advice === 'random');
    assert.ok(second.kind === 'restore' && !second.record && second.mode === 'lazy');
    backend.abandonRecording(current); // neither was started
  });

  it('REAP: the first restore records the working set at 4 KiB, later ones install it in one read', async () => {
    const recording = await restore('reap');
    assert.equal(recording.restoreReport!.recording, true);
    const first = await recording.invoke({ name: 'record' }, ctx(FN), 60_000);
    assert.equal(first.ok, true);
    await recording.workingSetSaved;
    await recording.destroy();

    const current = (await backend.store.load(FN, 1, 128))!;
    const ws = current.workingSet!;
    assert.ok(ws.stats.pages > 0 && ws.stats.touchedPages >= ws.stats.pages, JSON.stringify(ws.stats));
    const index = await readWorkingSetIndex(current.wsPath);
    assert.equal(index.length, ws.stats.pages);
    assert.deepEqual(index, [...index].sort((a, b) => a - b));
    // Every page in the file is a non-zero page of the memory file, byte for byte.
    const memory = readFileSync(current.memoryPath);
    const file = readFileSync(current.wsPath);
    const dataStart = PAGE_SIZE + Math.ceil((index.length * 8) / PAGE_SIZE) * PAGE_SIZE;
    for (const i of [0, Math.floor(index.length / 2), index.length - 1]) {
      const page = memory.subarray(index[i]! * PAGE_SIZE, (index[i]! + 1) * PAGE_SIZE);
      assert.ok(page.some((b) => b !== 0), `page ${index[i]} is zero`);
      assert.ok(page.equals(file.subarray(dataStart + i * PAGE_SIZE, dataStart + (i + 1) * PAGE_SIZE)), `page ${index[i]} differs`);
    }

    const vm = await restore('reap');
    assert.equal(vm.restoreReport!.recording, false);
    const out = await vm.invoke({ name: 'reap' }, ctx(FN), 60_000);
    assert.deepEqual(out.value, { hello: 'reap', items: 50000, greeting: "it's a VM", fn: FN });
    const counters = await vm.restoreCounters();
    assert.equal(counters.prefetchBytes, ws.ws.bytes);
    await vm.destroy();
  });

  it('FaaSnap: a concurrent loader reads the loading set, never a zero page', async () => {
    const vm = await restore('faasnap');
    const out = await vm.invoke({ name: 'faasnap' }, ctx(FN), 60_000);
    assert.deepEqual(out.value, { hello: 'faasnap', items: 50000, greeting: "it's a VM", fn: FN });
    const counters = await vm.restoreCounters();
    const ws = (await backend.store.load(FN, 1, 128))!.workingSet!;
    // The loader reads exactly the non-zero working-set pages.
    assert.equal(counters.prefetchBytes, ws.stats.pages * PAGE_SIZE);
    await vm.destroy();
  });

  it('clones of one snapshot draw different random values from every source, and read the host’s clock', async () => {
    type Draw = { random: number; bytes: string; uuid: string; web: string; int: number; now: number; instanceTag: string };
    const draws: Draw[] = [];
    for (let i = 0; i < 2; i++) {
      const vm = await restore('lazy');
      const before = Date.now();
      const out = await vm.invoke({ action: 'random' }, ctx(FN), 60_000);
      const draw = out.value as Draw;
      draws.push(draw);
      // The guest clock is set from the host's at restore, to the millisecond (give or take the trip).
      assert.ok(Math.abs(draw.now - before) < 10_000, `guest clock ${new Date(draw.now).toISOString()}, host ${new Date(before).toISOString()}`);
      await vm.destroy();
    }
    const [x, y] = draws as [Draw, Draw];
    assert.equal(x.instanceTag, y.instanceTag, 'state from init() is the snapshot’s');
    for (const key of ['random', 'bytes', 'uuid', 'web', 'int'] as const) assert.notEqual(x[key], y[key], `${key} is cloned`);
  });

  it('pauses by stopping the guest (QEMU stays killable) and resumes where it was', async () => {
    const vm = await restore('lazy');
    await vm.pause();
    assert.equal(vm.status, 'paused');
    // Not frozen: QEMU itself is running (only the guest is stopped).
    assert.notEqual(readFileSync(`/proc/${vm.pid}/stat`, 'utf8').split(') ')[1]![0], 'T');
    await vm.resume();
    const out = await vm.invoke({ name: 'resumed' }, ctx(FN), 60_000);
    assert.equal((out.value as { hello: string }).hello, 'resumed');
    await vm.destroy();
  });

  it('an exit inside the guest ends the instance with the function’s exit status', async () => {
    const vm = await restore('lazy');
    const out = await vm.invoke({ action: 'exit' }, ctx(FN), 60_000);
    assert.equal(out.ok, false);
    assert.equal(out.fatal, true);
    const info = await vm.exited;
    assert.deepEqual(info, { code: 3, signal: null, oom: false });
  });

  it('running the guest out of memory is an out-of-memory exit, not a crash', async () => {
    const vm = await restore('lazy');
    const out = await vm.invoke({ action: 'hoard' }, ctx(FN), 60_000);
    assert.equal(out.ok, false);
    assert.equal(out.error!.kind, 'oom', JSON.stringify(out.error));
    assert.deepEqual(await vm.exited, { code: null, signal: 'SIGKILL', oom: true });
  });

  it('never restores a corrupt snapshot: the next start boots cold and the snapshot is rebuilt', async () => {
    const current = (await backend.store.load(FN, 1, 128))!;
    const fd = readFileSync(current.memoryPath);
    const at = current.manifest.memory.bytes / 2;
    fd[at] = fd[at]! ^ 0xff;
    writeFileSync(current.memoryPath, fd);
    await assert.rejects(backend.store.verify(current, false), (err: Error & { code?: string }) => err.code === 'ERR_VM_SNAPSHOT_CORRUPT');
    const launch = await backend.planStart(spec());
    assert.equal(launch.kind, 'boot');
    await backend.idle();
    const rebuilt = (await backend.store.load(FN, 1, 128))!;
    await backend.store.verify(rebuilt, false);
    assert.notEqual(rebuilt.manifest.createdAt, current.manifest.createdAt);
  });
});
