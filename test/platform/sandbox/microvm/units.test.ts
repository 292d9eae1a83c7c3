// The microVM backend's parts that need no VM: the cpio writer, module dependencies, QEMU's
// command line, the prefetch files, the native page tools and snapshot verification.

import assert from 'node:assert/strict';
import { readFileSync, statSync, statfsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';

import { writeCpio } from '../../../../src/platform/sandbox/microvm/cpio.ts';
import { GUEST_INIT, moduleDepends } from '../../../../src/platform/sandbox/microvm/image.ts';
import { qemuArgs, type QemuInfo } from '../../../../src/platform/sandbox/microvm/qemu.ts';
import { VmSnapshotStore, sha256File, SNAPSHOT_FORMAT, type VmSnapshotManifest } from '../../../../src/platform/accelerators/vm-snapshot/snapshot-store.ts';
import { ensureNativeTools, residentBytes, vmtool } from '../../../../src/platform/sandbox/microvm/vmtool.ts';
import { PAGE_SIZE, readWorkingSetIndex, writePrefetchFiles } from '../../../../src/platform/accelerators/vm-snapshot/working-set.ts';
import { tempDir } from '../support.ts';

const TMPFS_MAGIC = 0x01021994;
function onTmpfs(path: string): boolean {
  return statfsSync(path).type === TMPFS_MAGIC;
}

/** Parses a newc archive back into name → (mode, data). */
function parseCpio(buf: Buffer): Map<string, { mode: number; data: Buffer }> {
  const out = new Map<string, { mode: number; data: Buffer }>();
  let off = 0;
  const align = (n: number) => (n + 3) & ~3;
  for (;;) {
    assert.equal(buf.subarray(off, off + 6).toString(), '070701', `magic at ${off}`);
    const field = (i: number) => parseInt(buf.subarray(off + 6 + i * 8, off + 14 + i * 8).toString(), 16);
    const mode = field(1);
    const size = field(6);
    const nameSize = field(11);
    const name = buf.subarray(off + 110, off + 110 + nameSize - 1).toString();
    off = align(off + 110 + nameSize);
    if (name === 'TRAILER!!!') return out;
    out.set(name, { mode, data: buf.subarray(off, off + size) });
    off = align(off + size);
  }
}

describe('cpio (newc) writer', () => {
  it('writes files, directories and symlinks the kernel can unpack, 4-byte aligned', () => {
    const dir = tempDir('thaw-cpio-');
    const path = join(dir, 'a.cpio');
    const size = writeCpio(path, [
      { name: 'bin', kind: 'dir', mode: 0o755 },
      { name: 'bin/hello', kind: 'file', mode: 0o755, data: 'echo hi\n' },
      { name: 'lib/odd', kind: 'file', mode: 0o644, data: Buffer.from([1, 2, 3]) },
      { name: 'bin/sh', kind: 'symlink', mode: 0o777, target: 'busybox' },
    ]);
    const buf = readFileSync(path);
    assert.equal(buf.length, size);
    const entries = parseCpio(buf);
    assert.equal(entries.get('bin/hello')!.data.toString(), 'echo hi\n');
    assert.equal(entries.get('bin/hello')!.mode, 0o100755);
    assert.deepEqual([...entries.get('lib/odd')!.data], [1, 2, 3]);
    assert.equal(entries.get('bin')!.mode, 0o040755);
    assert.equal(entries.get('bin/sh')!.data.toString(), 'busybox');
  });

  it('refuses absolute names', () => {
    const dir = tempDir('thaw-cpio-');
    assert.throws(() => writeCpio(join(dir, 'b.cpio'), [{ name: '/etc/passwd', kind: 'file', mode: 0o644, data: '' }]), /relative/);
  });
});

describe('guest image pieces', () => {
  it('reads a kernel module’s dependencies from its .modinfo', () => {
    const ko = Buffer.concat([Buffer.from('\x7fELF...'), Buffer.from('\0license=GPL\0depends=virtio,virtio_ring\0name=virtio_mmio\0')]);
    assert.deepEqual(moduleDepends(ko), ['virtio', 'virtio_ring']);
    assert.deepEqual(moduleDepends(Buffer.from('\0depends=\0name=virtio_ring\0')), []);
  });

  it('finds its ports by name and never creates a device node by redirecting to it', () => {
    assert.match(GUEST_INIT, /\[ -c "\$dev" \] && \( : <> "\$dev" \)/);
    assert.match(GUEST_INIT, /thaw-exit: \$\?/);
  });
});

describe('QEMU command line', () => {
  const qemu: QemuInfo = { binary: '/usr/bin/qemu-system-x86_64', version: '7.2', accel: 'tcg', accelReason: 'test' };
  const base = { qemu, kernel: '/k', initrd: '/i', memoryMb: 384, vcpus: 1, cmdline: ['thaw.heap=128'], consoleLog: '/c', qmpSocket: '/q' };

  it('differs between a snapshot’s save and its restore only in memory sharing and the incoming migration', () => {
    const save = qemuArgs({ ...base, memoryFile: { path: '/m', shared: true }, incoming: false });
    const restore = qemuArgs({ ...base, memoryFile: { path: '/m', shared: false }, incoming: true });
    assert.ok(save.includes('memory-backend-file,id=mem,size=384M,mem-path=/m,share=on'));
    assert.ok(restore.includes('memory-backend-file,id=mem,size=384M,mem-path=/m,share=off'));
    assert.deepEqual(restore.slice(-3), ['-incoming', 'defer', '-S']);
    const strip = (args: string[]) => args.map((a) => a.replace(/share=(on|off)/, '')).filter((a) => !['-incoming', 'defer', '-S'].includes(a));
    assert.deepEqual(strip(save), strip(restore));
  });

  it('uses TCG with a bounded translation cache, or KVM with the host CPU', () => {
    const tcg = qemuArgs({ ...base, incoming: false });
    assert.ok(tcg.includes('tcg,tb-size=64'));
    assert.ok(tcg.includes('memory-backend-ram,id=mem,size=384M'));
    const kvm = qemuArgs({ ...base, qemu: { ...qemu, accel: 'kvm' }, incoming: false });
    assert.deepEqual(kvm.slice(kvm.indexOf('-accel'), kvm.indexOf('-accel') + 4), ['-accel', 'kvm', '-cpu', 'host']);
  });
});

/** A 16-page "memory file": pages 0-3 data, 4-7 zero, 8-15 data; page p holds byte p+1. */
function fakeMemory(dir: string): string {
  const buf = Buffer.alloc(16 * PAGE_SIZE);
  for (let p = 0; p < 16; p++) if (p < 4 || p >= 8) buf.fill(p + 1, p * PAGE_SIZE, (p + 1) * PAGE_SIZE);
  const path = join(dir, 'memory');
  writeFileSync(path, buf);
  return path;
}

describe('prefetch files (REAP working set, FaaSnap loading set)', () => {
  it('packs the touched non-zero pages, leaves zero pages out, groups runs by first touch', async () => {
    const dir = tempDir('thaw-ws-');
    const memory = fakeMemory(dir);
    // First touches: poll 0 saw pages 9, 2, 5 (zero); poll 1 saw 3, 10, 1; poll 2 saw 6 (zero), 12.
    const firstSeen = new Map([[9, 0], [2, 0], [5, 0], [3, 1], [10, 1], [1, 1], [6, 2], [12, 2]]);
    const stats = await writePrefetchFiles(memory, firstSeen, join(dir, 'ws'), join(dir, 'loadset'));
    assert.deepEqual(stats, { touchedPages: 8, zeroPages: 2, pages: 6, wsFileBytes: PAGE_SIZE * 2 + 6 * PAGE_SIZE, groups: 3, runs: 6 });
    assert.deepEqual(await readWorkingSetIndex(join(dir, 'ws')), [1, 2, 3, 9, 10, 12]);
    const ws = readFileSync(join(dir, 'ws'));
    for (const [i, p] of [1, 2, 3, 9, 10, 12].entries()) assert.equal(ws[2 * PAGE_SIZE + i * PAGE_SIZE], p + 1, `page ${p}`);
    const ls = readFileSync(join(dir, 'loadset'));
    assert.equal(ls.subarray(0, 8).toString(), 'THAWLS01');
    const runs = Array.from({ length: Number(ls.readBigUInt64LE(8)) }, (_, i) => [Number(ls.readBigUInt64LE(16 + i * 16)), ls.readUInt32LE(24 + i * 16), ls.readUInt32LE(28 + i * 16)]);
    // [first page, pages, group]: group 0 = {2, 9}, group 1 = {1, 3, 10} (1 and 3 are not adjacent), group 2 = {12}.
    assert.deepEqual(runs, [[2, 1, 0], [9, 1, 0], [1, 1, 1], [3, 1, 1], [10, 1, 1], [12, 1, 2]]);
  });

  it('coalesces consecutive pages of one group into one run', async () => {
    const dir = tempDir('thaw-ws-');
    const memory = fakeMemory(dir);
    const stats = await writePrefetchFiles(memory, new Map([[8, 0], [9, 0], [10, 0], [11, 1], [0, 1]]), join(dir, 'ws'), join(dir, 'loadset'));
    assert.equal(stats.runs, 3); // [8-10] in group 0; [0] and [11] in group 1
  });
});

const tools = await ensureNativeTools(tempDir('thaw-native-')).catch((err: Error) => err);
const noTools = tools instanceof Error ? `native tools cannot be built here: ${tools.message}` : false;

describe('native page tools (vmtool)', { skip: noTools }, () => {
  const t = tools as Exclude<typeof tools, Error>;

  it('punches holes where pages are all zeros, keeping the content', async () => {
    const dir = tempDir('thaw-vmtool-');
    const memory = fakeMemory(dir);
    const before = readFileSync(memory);
    const r = await vmtool<{ punchedBytes: number; dataBytes: number }>(t, ['sparsify', memory]);
    assert.deepEqual(r, { punchedBytes: 4 * PAGE_SIZE, dataBytes: 12 * PAGE_SIZE });
    assert.deepEqual(readFileSync(memory), before);
    assert.ok(statSync(memory).blocks * 512 <= 12 * PAGE_SIZE, `allocated ${statSync(memory).blocks * 512} bytes`);
  });

  it('REAP install writes the working set’s pages at their offsets', async () => {
    const dir = tempDir('thaw-vmtool-');
    const memory = fakeMemory(dir);
    await writePrefetchFiles(memory, new Map([[1, 0], [2, 0], [9, 0]]), join(dir, 'ws'), join(dir, 'loadset'));
    const target = join(dir, 'target');
    writeFileSync(target, Buffer.alloc(16 * PAGE_SIZE));
    const r = await vmtool<{ bytesRead: number; pages: number; runs: number }>(t, ['reap-install', join(dir, 'ws'), target]);
    assert.deepEqual([r.bytesRead, r.pages, r.runs], [2 * PAGE_SIZE + 3 * PAGE_SIZE, 3, 2]);
    const out = readFileSync(target);
    for (let p = 0; p < 16; p++) assert.equal(out[p * PAGE_SIZE], [1, 2, 9].includes(p) ? p + 1 : 0, `page ${p}`);
  });

  it('FaaSnap prefetch reads exactly the loading set', async () => {
    const dir = tempDir('thaw-vmtool-');
    const memory = fakeMemory(dir);
    await writePrefetchFiles(memory, new Map([[0, 0], [1, 0], [12, 1], [5, 1]]), join(dir, 'ws'), join(dir, 'loadset'));
    const r = await vmtool<{ bytesRead: number; runs: number }>(t, ['prefetch', join(dir, 'loadset'), memory, '3']);
    assert.deepEqual([r.bytesRead, r.runs], [3 * PAGE_SIZE, 2]);
  });

  it('says how much of a file is in the page cache, and evicts it', async () => {
    const dir = tempDir('thaw-vmtool-');
    const memory = fakeMemory(dir);
    readFileSync(memory);
    assert.equal(await residentBytes(t, memory), 16 * PAGE_SIZE);
    await vmtool(t, ['drop', memory]);
    // Eviction is advice; on a disk filesystem clean pages go at once (tmpfs pages are the file itself).
    if (!onTmpfs(memory)) assert.ok((await residentBytes(t, memory)) < 16 * PAGE_SIZE);
  });

  it('rejects a file that is not a working set, saying which', async () => {
    const dir = tempDir('thaw-vmtool-');
    writeFileSync(join(dir, 'bogus'), Buffer.alloc(PAGE_SIZE));
    await assert.rejects(vmtool(t, ['reap-install', join(dir, 'bogus'), fakeMemory(dir)]), /bad magic in .*bogus/);
  });
});

describe('VM snapshot verification', { skip: noTools }, () => {
  const t = tools as Exclude<typeof tools, Error>;

  async function fakeSnapshot(store: VmSnapshotStore): Promise<void> {
    const dir = store.dirFor('fn', 1, 128);
    const { mkdirSync } = await import('node:fs');
    mkdirSync(dir, { recursive: true });
    fakeMemory(dir);
    writeFileSync(join(dir, 'state'), 'device state');
    const manifest: VmSnapshotManifest = {
      format: SNAPSHOT_FORMAT, functionName: 'fn', version: 1, memoryMb: 128, guestMemoryMb: 384, imageKey: 'k', initrd: '/i', qemuVersion: '7.2', accel: 'tcg',
      createdAt: new Date(0).toISOString(),
      memory: { bytes: 16 * PAGE_SIZE, sha256: await sha256File(join(dir, 'memory')), dataBytes: 12 * PAGE_SIZE },
      state: { bytes: 12, sha256: await sha256File(join(dir, 'state')) },
      build: { bootMs: 0, saveMs: 0, sparsifyMs: 0, hashMs: 0 },
    };
    writeFileSync(join(dir, 'manifest.json'), JSON.stringify(manifest));
  }

  it('accepts intact files and rejects a memory file changed in place, or a missing state', async () => {
    const store = new VmSnapshotStore(tempDir('thaw-snapstore-'), t);
    await fakeSnapshot(store);
    const snap = (await store.load('fn', 1, 128))!;
    await store.verify(snap, false);
    const buf = readFileSync(snap.memoryPath);
    buf[5 * PAGE_SIZE + 7] = 0xff;
    writeFileSync(snap.memoryPath, buf);
    await assert.rejects(store.verify(snap, false), (err: Error & { code?: string }) => err.code === 'ERR_VM_SNAPSHOT_CORRUPT' && /does not match its SHA-256/.test(err.message));
    const { rmSync } = await import('node:fs');
    rmSync(snap.statePath);
    await assert.rejects(store.verify(snap, false), /state .* is missing/);
  });

  it('knows no snapshot where none was built', async () => {
    const store = new VmSnapshotStore(tempDir('thaw-snapstore-'), t);
    assert.equal(await store.load('nothing', 1, 128), undefined);
  });
});
