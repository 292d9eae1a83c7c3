// VM snapshots on disk, one per function version and memory size:
//
//   <root>/<function>/v<version>-<memory>m/
//     memory          guest RAM (sparse: all-zero pages are holes, so they cost no reads)
//     state           QEMU's device state (the migration stream without RAM: x-ignore-shared)
//     manifest.json   sizes and SHA-256 of both, the machine they were taken on, build timings
//     ws, loadset     REAP's working set and FaaSnap's loading set, once recorded
//     ws.json         their SHA-256 and what the recording saw
//
// Every file is checked against its SHA-256 before its first use by this process and again
// whenever its size, inode or modification time changes; a file that does not match is never
// restored (ERR_VM_SNAPSHOT_CORRUPT). The hash of a large memory file is not recomputed for every
// restore: a file rewritten in place changes its mtime, which sends it back through the check.

import { createHash } from 'node:crypto';
import { createReadStream, existsSync } from 'node:fs';
import { mkdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

import { MicroVmError } from '../../sandbox/microvm/errors.ts';
import { type NativeTools, vmtool } from '../../sandbox/microvm/vmtool.ts';
import { type WorkingSetStats, writePrefetchFiles } from './working-set.ts';

export const SNAPSHOT_FORMAT = 1;

export interface FileRecord {
  bytes: number;
  sha256: string;
}

export interface VmSnapshotManifest {
  format: number;
  functionName: string;
  version: number;
  /** The function's memory size, MB, and the guest RAM the VM had. */
  memoryMb: number;
  guestMemoryMb: number;
  /** Guest image and initrd it was booted from; a restore must use the same. */
  imageKey: string;
  initrd: string;
  qemuVersion: string;
  accel: string;
  createdAt: string;
  memory: FileRecord & { dataBytes: number };
  state: FileRecord;
  build: { bootMs: number; saveMs: number; sparsifyMs: number; hashMs: number };
}

export interface WorkingSetManifest {
  ws: FileRecord;
  loadset: FileRecord;
  stats: WorkingSetStats;
  /** What recording cost: the recording restore's time to first response, ms, and polls made. */
  recordedAt: string;
}

export interface VmSnapshot {
  dir: string;
  manifest: VmSnapshotManifest;
  memoryPath: string;
  statePath: string;
  wsPath: string;
  loadsetPath: string;
  /** The recorded working set, if any. */
  workingSet: WorkingSetManifest | undefined;
}

export async function sha256File(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path, { highWaterMark: 1 << 20 })) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

type Identity = string;
async function identity(path: string): Promise<Identity> {
  const s = await stat(path);
  return `${s.dev}:${s.ino}:${s.size}:${s.mtimeMs}`;
}

export class VmSnapshotStore {
  /** Path → the identity under which its hash was last checked. */
  private readonly verified = new Map<string, Identity>();

  constructor(
    readonly root: string,
    private readonly tools: NativeTools,
  ) {}

  dirFor(functionName: string, version: number, memoryMb: number): string {
    return join(this.root, encodeURIComponent(functionName), `v${version}-${memoryMb}m`);
  }

  /** The snapshot of this version and size, if one was built (not yet verified: see verify()). */
  async load(functionName: string, version: number, memoryMb: number): Promise<VmSnapshot | undefined> {
    const dir = this.dirFor(functionName, version, memoryMb);
    let manifest: VmSnapshotManifest;
    try {
      manifest = JSON.parse(await readFile(join(dir, 'manifest.json'), 'utf8')) as VmSnapshotManifest;
    } catch {
      return undefined;
    }
    if (manifest.format !== SNAPSHOT_FORMAT) return undefined;
    let workingSet: WorkingSetManifest | undefined;
    try {
      workingSet = JSON.parse(await readFile(join(dir, 'ws.json'), 'utf8')) as WorkingSetManifest;
    } catch {
      workingSet = undefined;
    }
    return { dir, manifest, memoryPath: join(dir, 'memory'), statePath: join(dir, 'state'), wsPath: join(dir, 'ws'), loadsetPath: join(dir, 'loadset'), workingSet };
  }

  private async check(path: string, record: FileRecord, what: string): Promise<void> {
    let id: Identity;
    try {
      id = await identity(path);
    } catch {
      throw new MicroVmError('ERR_VM_SNAPSHOT_CORRUPT', `snapshot ${what} ${path} is missing`);
    }
    if (this.verified.get(path) === id) return;
    const s = await stat(path);
    if (s.size !== record.bytes) {
      throw new MicroVmError('ERR_VM_SNAPSHOT_CORRUPT', `snapshot ${what} ${path} has ${s.size} bytes, its manifest says ${record.bytes}`);
    }
    const actual = await sha256File(path);
    if (actual !== record.sha256) {
      this.verified.delete(path);
      throw new MicroVmError('ERR_VM_SNAPSHOT_CORRUPT', `snapshot ${what} ${path} does not match its SHA-256 (${actual.slice(0, 12)}… ≠ ${record.sha256.slice(0, 12)}…)`);
    }
    this.verified.set(path, id);
  }

  /** Checks memory and state against the manifest (and the prefetch files, when `withWorkingSet`). */
  async verify(snap: VmSnapshot, withWorkingSet: boolean): Promise<void> {
    await this.check(snap.statePath, snap.manifest.state, 'state');
    await this.check(snap.memoryPath, snap.manifest.memory, 'memory');
    if (withWorkingSet && snap.workingSet) {
      await this.check(snap.wsPath, snap.workingSet.ws, 'working set');
      await this.check(snap.loadsetPath, snap.workingSet.loadset, 'loading set');
    }
  }

  /**
   * After REAP wrote working-set pages (from a verified working-set file) into the memory file, the
   * bytes they replaced: its content is unchanged, only its mtime moved. Keep it verified.
   */
  async keepVerifiedAfterInstall(snap: VmSnapshot): Promise<void> {
    if (this.verified.has(snap.memoryPath)) this.verified.set(snap.memoryPath, await identity(snap.memoryPath));
  }

  /**
   * Turns a build folder (memory + state, just saved by a stopped VM) into the snapshot: punches
   * holes for zero pages, hashes both files, writes the manifest, then renames the folder into place.
   */
  async finalize(buildDir: string, base: Omit<VmSnapshotManifest, 'format' | 'memory' | 'state' | 'build' | 'createdAt'>, timings: { bootMs: number; saveMs: number }): Promise<VmSnapshot> {
    const memoryPath = join(buildDir, 'memory');
    const statePath = join(buildDir, 'state');
    const s0 = performance.now();
    const holes = await vmtool<{ punchedBytes: number; dataBytes: number }>(this.tools, ['sparsify', memoryPath]);
    const s1 = performance.now();
    const [memSha, stateSha, memStat, stateStat] = await Promise.all([sha256File(memoryPath), sha256File(statePath), stat(memoryPath), stat(statePath)]);
    const s2 = performance.now();
    const manifest: VmSnapshotManifest = {
      format: SNAPSHOT_FORMAT,
      ...base,
      createdAt: new Date().toISOString(),
      memory: { bytes: memStat.size, sha256: memSha, dataBytes: holes.dataBytes },
      state: { bytes: stateStat.size, sha256: stateSha },
      build: { ...timings, sparsifyMs: s1 - s0, hashMs: s2 - s1 },
    };
    await writeFile(join(buildDir, 'manifest.json'), `${JSON.stringify(manifest, null, 2)}\n`);
    const dir = this.dirFor(base.functionName, base.version, base.memoryMb);
    await mkdir(join(dir, '..'), { recursive: true });
    await rm(dir, { recursive: true, force: true });
    await rename(buildDir, dir);
    const snap = await this.load(base.functionName, base.version, base.memoryMb);
    if (!snap) throw new MicroVmError('ERR_VM_START', `snapshot ${dir} vanished right after it was written`);
    this.verified.set(snap.memoryPath, await identity(snap.memoryPath));
    this.verified.set(snap.statePath, await identity(snap.statePath));
    return snap;
  }

  /** Writes the REAP and FaaSnap files from a recording and records them in ws.json. */
  async saveWorkingSet(snap: VmSnapshot, firstSeen: ReadonlyMap<number, number>): Promise<WorkingSetManifest> {
    const stats = await writePrefetchFiles(snap.memoryPath, firstSeen, snap.wsPath, snap.loadsetPath);
    const [wsSha, lsSha, wsStat, lsStat] = await Promise.all([sha256File(snap.wsPath), sha256File(snap.loadsetPath), stat(snap.wsPath), stat(snap.loadsetPath)]);
    const ws: WorkingSetManifest = {
      ws: { bytes: wsStat.size, sha256: wsSha },
      loadset: { bytes: lsStat.size, sha256: lsSha },
      stats,
      recordedAt: new Date().toISOString(),
    };
    await writeFile(join(snap.dir, 'ws.json.tmp'), `${JSON.stringify(ws, null, 2)}\n`);
    await rename(join(snap.dir, 'ws.json.tmp'), join(snap.dir, 'ws.json'));
    snap.workingSet = ws;
    this.verified.set(snap.wsPath, await identity(snap.wsPath));
    this.verified.set(snap.loadsetPath, await identity(snap.loadsetPath));
    return ws;
  }

  /** Removes a snapshot (a corrupt one, before it is rebuilt). */
  async remove(snap: VmSnapshot): Promise<void> {
    for (const p of [snap.memoryPath, snap.statePath, snap.wsPath, snap.loadsetPath]) this.verified.delete(p);
    if (existsSync(snap.dir)) await rm(snap.dir, { recursive: true, force: true });
  }
}
