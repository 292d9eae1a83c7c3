// The microVM backend (`thaw serve --isolation microvm`): QEMU microvm instances behind the
// Sandbox interface, with VM snapshots. A version's first instance boots cold; a snapshot of it
// (taken after its init, by a separate builder VM) is built in the background; later instances
// are restored from the snapshot in the configured restore mode (lazy, reap or faasnap).

import { existsSync } from 'node:fs';
import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';

import { ensureAgentBundle } from '../agent-bundle.ts';
import { type ProcessBackendOptions, type ResolvedProcessOptions, resolveProcessOptions } from '../process.ts';
import type { IsolationReport, SandboxBackend, SandboxSpec } from '../types.ts';
import { MicroVmError } from './errors.ts';
import { type GuestImage, ensureGuestImage, functionInitrd } from './image.ts';
import { type QemuInfo, detectQemu } from './qemu.ts';
import { type GuestRamAdvice, MicroVmSandbox, type MicroVmContext, type RestoreMode, RESTORE_MODES, type VmLaunch } from './sandbox.ts';
import { type VmSnapshot, VmSnapshotStore } from '../../accelerators/vm-snapshot/snapshot-store.ts';
import { type NativeTools, dropFromPageCache, ensureNativeTools } from './vmtool.ts';

export interface MicroVmBackendOptions extends Omit<ProcessBackendOptions, 'agentPath'> {
  /** thaw's data directory (agent bundle; snapshots under <dataDir>/microvm/snapshots by default). */
  dataDir: string;
  /** Guest image, packages, initrds and native helpers. Default $THAW_VM_CACHE, else <dataDir>/microvm/cache. */
  cacheDir?: string;
  /** Where VM snapshots live. Default <dataDir>/microvm/snapshots. */
  snapshotDir?: string;
  /** How instances are restored from a snapshot. Default faasnap. */
  restore?: RestoreMode;
  /** Build and restore VM snapshots (default true); false: every instance boots cold. */
  snapshots?: boolean;
  /** vCPUs per VM. Default 1. */
  vcpus?: number;
  /** Guest RAM beyond the function's memory size (kernel, the rootfs holding node), MB. Default 256. */
  guestOverheadMb?: number;
  /** FaaSnap loader threads. Default 4. */
  prefetchThreads?: number;
  /** Evict the snapshot's files from the page cache before every restore (for measurements). */
  dropPageCache?: boolean;
  /** Guest-RAM advice of lazy restores: hugepage (QEMU's own: 2 MiB reads), normal, random (4 KiB). */
  lazyAdvice?: GuestRamAdvice;
  log?: (line: string) => void;
  /** Where a version's VM snapshot status is recorded (`thaw ls` shows it): the platform's store. */
  status?: { setSnapshotStatus(name: string, version: number, status: string | null): void };
}

/** What the machine lacks for microVMs, or null when it has everything (QEMU; the rest is built on demand). */
export function microVmUnavailable(): string | null {
  if (process.platform !== 'linux' || process.arch !== 'x64') return `microVMs need Linux on x86-64 (this is ${process.platform}/${process.arch})`;
  if (!detectQemu()) return 'QEMU is not installed: apt-get install qemu-system-x86 (or set THAW_QEMU)';
  return null;
}

export class MicroVmBackend implements SandboxBackend, MicroVmContext {
  readonly name = 'microvm';
  readonly isolation: IsolationReport;
  readonly store: VmSnapshotStore;
  readonly restoreMode: RestoreMode;
  readonly vcpus: number;
  readonly prefetchThreads: number;
  readonly setpriv = ['/usr/bin/setpriv', '/bin/setpriv'].find((p) => existsSync(p));
  private readonly building = new Map<string, Promise<VmSnapshot | undefined>>();
  private readonly recording = new Set<string>();
  private readonly options: MicroVmBackendOptions;

  private constructor(
    options: MicroVmBackendOptions,
    readonly qemu: QemuInfo,
    readonly tools: NativeTools,
    readonly image: GuestImage,
    private readonly process: ResolvedProcessOptions,
    private readonly cacheDir: string,
  ) {
    this.options = options;
    this.restoreMode = options.restore ?? 'faasnap';
    this.vcpus = options.vcpus ?? 1;
    this.prefetchThreads = options.prefetchThreads ?? 4;
    this.store = new VmSnapshotStore(options.snapshotDir ?? join(options.dataDir, 'microvm', 'snapshots'), tools);
    const warnings: string[] = [];
    if (qemu.accel === 'tcg') warnings.push(`microVMs run under software emulation (${qemu.accelReason}): guests run 10-20x slower than on KVM`);
    if (!process.cgroups) warnings.push('no cgroups: QEMU processes are not memory- or CPU-limited on the host (the guest RAM size still bounds the function)');
    this.isolation = { backend: `microvm (qemu ${qemu.version}, ${qemu.accel})`, namespaces: false, cgroups: process.cgroups ? process.cgroups.version : 'none', freezer: 'vm-stop', warnings };
  }

  /** Detects QEMU, builds (or finds cached) the guest image and native helpers. */
  static async create(options: MicroVmBackendOptions): Promise<MicroVmBackend> {
    const missing = microVmUnavailable();
    if (missing) throw new MicroVmError('ERR_VM_UNAVAILABLE', missing);
    if (options.restore !== undefined && !RESTORE_MODES.includes(options.restore)) {
      throw new TypeError(`restore must be one of ${RESTORE_MODES.join(', ')}, got ${JSON.stringify(options.restore)}`);
    }
    const cacheDir = options.cacheDir ?? (process.env.THAW_VM_CACHE || undefined) ?? join(options.dataDir, 'microvm', 'cache');
    const tools = await ensureNativeTools(cacheDir);
    const [image, agent] = await Promise.all([
      ensureGuestImage({ cacheDir, dataDir: options.dataDir, guestHelper: tools.guestHelper, log: options.log }),
      ensureAgentBundle(options.dataDir),
    ]);
    const resolved = resolveProcessOptions({ ...options, agentPath: agent.path, runAs: null, startTimeoutMs: options.startTimeoutMs ?? 120_000 });
    return new MicroVmBackend(options, detectQemu()!, tools, image, resolved, cacheDir);
  }

  guestMemoryMb(memoryMb: number): number {
    return memoryMb + (this.options.guestOverheadMb ?? 256);
  }

  initrd(spec: SandboxSpec): Promise<string> {
    return functionInitrd(this.image, this.cacheDir, spec.codeDir, spec.env);
  }

  create(spec: SandboxSpec): MicroVmSandbox {
    return new MicroVmSandbox(spec, this.process, this);
  }

  /** An instance started a given way (tests and benchmarks: force a cold boot or a restore mode). */
  createWith(spec: SandboxSpec, launch: VmLaunch): MicroVmSandbox {
    return new MicroVmSandbox(spec, this.process, this, launch);
  }

  private key(spec: SandboxSpec): string {
    return `${spec.functionName}@${spec.version}:${spec.memoryMb}`;
  }

  async planStart(spec: SandboxSpec): Promise<VmLaunch> {
    if (this.options.snapshots === false) return { kind: 'boot' };
    // A build in flight started before this start would: waiting for it and restoring is about a
    // restore's time slower than the build, where a cold boot would take a whole boot from now.
    await this.building.get(this.key(spec));
    const snap = await this.usableSnapshot(spec);
    if (!snap) {
      void this.ensureSnapshot(spec);
      return { kind: 'boot' };
    }
    return this.restoreLaunch(snap, this.restoreMode);
  }

  /**
   * A restore of `snap` in `mode`: when the working set is not recorded yet (and nobody is
   * recording it), this restore records it, with 4 KiB faults; if someone is, it runs lazily.
   */
  async restoreLaunch(snap: VmSnapshot, mode: RestoreMode): Promise<VmLaunch> {
    const key = snap.dir;
    let record = false;
    let effective = mode;
    if (mode !== 'lazy' && !snap.workingSet) {
      if (this.recording.has(key)) effective = 'lazy';
      else {
        record = true;
        this.recording.add(key);
      }
    }
    await this.store.verify(snap, effective !== 'lazy' && !record);
    // A recording needs a cold page cache: pages already cached would be mapped by fault-around.
    if (this.options.dropPageCache || record) {
      await dropFromPageCache(this.tools, [snap.memoryPath, snap.statePath, ...(snap.workingSet ? [snap.wsPath, snap.loadsetPath] : [])]);
    }
    const advice: GuestRamAdvice = record || effective !== 'lazy' ? 'random' : (this.options.lazyAdvice ?? 'hugepage');
    return { kind: 'restore', snapshot: snap, mode: effective, record, advice };
  }

  /** This version's snapshot if it exists and verifies; a corrupt one is removed (and rebuilt). */
  private async usableSnapshot(spec: SandboxSpec): Promise<VmSnapshot | undefined> {
    const snap = await this.store.load(spec.functionName, spec.version, spec.memoryMb);
    if (!snap) return undefined;
    const initrd = await this.initrd(spec);
    try {
      if (snap.manifest.imageKey !== this.image.key || snap.manifest.initrd !== initrd || snap.manifest.accel !== this.qemu.accel) {
        throw new MicroVmError('ERR_VM_SNAPSHOT_MISSING', `snapshot ${snap.dir} was taken of another guest image, code or accelerator`);
      }
      await this.store.verify(snap, false);
      return snap;
    } catch (err) {
      this.options.log?.(`microvm: not restoring ${snap.dir}: ${(err as Error).message}; removing it, booting cold`);
      this.report(spec, `discarded (${(err as Error).message.slice(0, 120)}); rebuilding`);
      await this.store.remove(snap);
      return undefined;
    }
  }

  /** Builds this version's snapshot once (concurrent callers share the build). */
  ensureSnapshot(spec: SandboxSpec): Promise<VmSnapshot | undefined> {
    const key = this.key(spec);
    let pending = this.building.get(key);
    if (!pending) {
      pending = this.buildSnapshot(spec)
        .catch((err: unknown) => {
          this.options.log?.(`microvm: snapshot of ${key} failed: ${(err as Error).message}`);
          this.report(spec, `snapshot failed: ${(err as Error).message.split('\n')[0]!.slice(0, 160)}`);
          return undefined;
        })
        .finally(() => this.building.delete(key));
      this.building.set(key, pending);
    }
    return pending;
  }

  /**
   * Boots a builder VM with guest RAM in a shared file, waits for the function's init, saves the
   * device state, ends the VM and stores memory + state as this version's snapshot.
   */
  async buildSnapshot(spec: SandboxSpec): Promise<VmSnapshot> {
    const final = this.store.dirFor(spec.functionName, spec.version, spec.memoryMb);
    const buildDir = `${final}.build-${process.pid}-${Date.now()}`;
    await mkdir(buildDir, { recursive: true });
    const builder = this.createWith({ ...spec, instanceId: `${spec.instanceId}-snapshot` }, { kind: 'build', buildDir });
    this.report(spec, 'snapshot building');
    try {
      const t0 = performance.now();
      await builder.start();
      const bootMs = performance.now() - t0;
      const { saveMs } = await builder.saveSnapshot();
      const snap = await this.store.finalize(
        buildDir,
        {
          functionName: spec.functionName,
          version: spec.version,
          memoryMb: spec.memoryMb,
          guestMemoryMb: this.guestMemoryMb(spec.memoryMb),
          imageKey: this.image.key,
          initrd: await this.initrd(spec),
          qemuVersion: this.qemu.version,
          accel: this.qemu.accel,
        },
        { bootMs, saveMs },
      );
      const m = snap.manifest;
      this.report(spec, `snapshot ready (${Math.round(m.memory.dataBytes / 2 ** 20)} of ${m.guestMemoryMb} MB guest RAM stored, ${this.qemu.accel})`);
      return snap;
    } catch (err) {
      await builder.destroy().catch(() => undefined);
      await rm(buildDir, { recursive: true, force: true });
      throw err;
    }
  }

  async saveWorkingSet(snap: VmSnapshot, firstSeen: ReadonlyMap<number, number>): Promise<void> {
    try {
      const ws = await this.store.saveWorkingSet(snap, firstSeen);
      const m = snap.manifest;
      this.report(m, `snapshot ready, working set recorded (${ws.stats.pages} pages, ${(ws.ws.bytes / 2 ** 20).toFixed(1)} MB; restores: ${this.restoreMode})`);
    } finally {
      this.recording.delete(snap.dir);
    }
  }

  abandonRecording(snap: VmSnapshot): void {
    this.recording.delete(snap.dir);
  }

  installed(snap: VmSnapshot): Promise<void> {
    return this.store.keepVerifiedAfterInstall(snap);
  }

  /** Records a version's VM snapshot status, if anyone listens (a version gone meanwhile is fine). */
  private report(spec: { functionName: string; version: number }, status: string): void {
    try {
      this.options.status?.setSnapshotStatus(spec.functionName, spec.version, `vm ${status}`);
    } catch {
      // the version was removed
    }
  }

  /** Settles when no snapshot build is running. */
  async idle(): Promise<void> {
    await Promise.all([...this.building.values()]);
  }
}
