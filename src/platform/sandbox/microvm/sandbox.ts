// The microVM sandbox: one QEMU microvm per instance, with the runtime agent inside the guest.
// It is a RuntimeProcess with QEMU as the process (MicroVmLauncher): the same spawn into cgroups,
// protocol, log segments, timeouts and kill; what the launcher changes is the command line, pause
// (the vCPUs stop), how the start is timed (the guest's clock is not the host's), and, for a
// restore, the work between QEMU's start and the guest running (afterSpawn).
//
// A start is one of:
//   boot     cold boot: kernel, /init, node, the function's import and init()
//   build    the same with guest RAM in a shared file, to be saved as a snapshot (saveSnapshot())
//   restore  from a snapshot: QEMU maps the memory file privately (copy-on-write, paged on first
//            touch), loads the device state, then, by restore mode:
//              lazy     nothing more: every page comes in on its first touch
//              reap     before the guest runs, the working set is read in one O_DIRECT read of the
//                       ws file and written into the memory file's page cache (vmtool reap-install)
//              faasnap  concurrently with the guest, a loader reads the loading set's runs from the
//                       memory file in first-touch order (vmtool prefetch); zero pages never read
//            The first reap/faasnap restore of a snapshot records the working set (working-set.ts).

import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';

import type { InvocationContext } from '../../../runtime/protocol.ts';
import { type Launcher, makePrivateDir, type RuntimeEntry, type RuntimeHandle, type SpawnCommand } from '../launcher.ts';
import type { ResolvedProcessOptions } from '../process.ts';
import { RuntimeProcess, signalName } from '../runtime-process.ts';
import type { ExitInfo, InvokeOutcome, Sandbox, SandboxSpec, StartTimings } from '../types.ts';
import { MicroVmError } from './errors.ts';
import { QmpClient } from './qmp.ts';
import { qemuArgs, type QemuInfo } from './qemu.ts';
import type { GuestImage } from './image.ts';
import type { VmSnapshot } from '../../accelerators/vm-snapshot/snapshot-store.ts';
import { type NativeTools, vmtool } from './vmtool.ts';
import { PagemapRecorder, findGuestRamMapping } from '../../accelerators/vm-snapshot/working-set.ts';

export type RestoreMode = 'lazy' | 'reap' | 'faasnap';
export const RESTORE_MODES: readonly RestoreMode[] = ['lazy', 'reap', 'faasnap'];

/** How QEMU advises the kernel about guest RAM (see native/guest-ram-advice.c). */
export type GuestRamAdvice = 'hugepage' | 'normal' | 'random';

export type VmLaunch =
  | { kind: 'boot' }
  | { kind: 'build'; buildDir: string }
  | { kind: 'restore'; snapshot: VmSnapshot; mode: RestoreMode; record: boolean; advice: GuestRamAdvice };

/** What a microVM sandbox needs from its backend. */
export interface MicroVmContext {
  qemu: QemuInfo;
  tools: NativeTools;
  image: GuestImage;
  /** The initrd for this function's code and environment. */
  initrd(spec: SandboxSpec): Promise<string>;
  /** Guest RAM for a function of `memoryMb`. */
  guestMemoryMb(memoryMb: number): number;
  vcpus: number;
  prefetchThreads: number;
  /** util-linux setpriv, to give QEMU a parent-death signal (absent: QEMU may outlive a killed thaw). */
  setpriv: string | undefined;
  /** Chooses how an instance starts (called once, before QEMU is spawned). */
  planStart(spec: SandboxSpec): Promise<VmLaunch>;
  /** A recording restore saw its first invocation through: save the working set. */
  saveWorkingSet(snapshot: VmSnapshot, firstSeen: ReadonlyMap<number, number>): Promise<void>;
  /** A recording restore ended before its first invocation: someone else may record. */
  abandonRecording(snapshot: VmSnapshot): void;
  /** REAP wrote the working set into the memory file (same bytes): keep it verified. */
  installed(snapshot: VmSnapshot): Promise<void>;
}

/** Everything a restore measured; `bytesRead`, faults and residency after restoreCounters(). */
export interface VmRestoreReport {
  mode: RestoreMode;
  /** This restore recorded the working set (REAP's record phase). */
  recording: boolean;
  accel: string;
  /** QEMU spawned → its QMP socket answered, ms. */
  qemuStartMs: number;
  /** migrate-incoming of the device state, ms. */
  loadStateMs: number;
  /** REAP: the working set read and installed before the guest ran, ms. */
  installMs?: number;
  /** QEMU spawned → the guest running (`cont` returned), ms. */
  timeToRunningMs: number;
  /** FaaSnap: the loader's own run, ms (concurrent with the guest). */
  prefetchMs?: number;
}

export interface VmRestoreCounters {
  /** Bytes read from the snapshot's files: QEMU's reads from storage (faults on the memory file,
   *  measured by /proc/<qemu>/io read_bytes), plus the state file, plus the prefetcher's reads. */
  bytesRead: number;
  qemuReadBytes: number;
  prefetchBytes: number;
  stateBytes: number;
  /** QEMU's major (I/O) and minor page faults so far. */
  majorFaults: number;
  minorFaults: number;
}

const QEMU_OVERHEAD_MB = 256;

/**
 * QEMU around a guest running the agent (see the top of this file): a Launcher for a RuntimeProcess,
 * which spawns it into the cgroup and speaks the protocol over the VM's virtio-serial port as with
 * any runtime.
 */
export class MicroVmLauncher implements Launcher {
  readonly backend = 'microvm';
  readonly entry: RuntimeEntry = { kind: 'agent' };
  launch: VmLaunch | undefined;
  qmp: QmpClient | undefined;
  recorder: PagemapRecorder | undefined;
  recordTimer: NodeJS.Timeout | undefined;
  restoreReport: VmRestoreReport | undefined;
  prefetch: Promise<{ bytesRead: number; prefetchMs: number }> | undefined;
  prefetchResult: { bytesRead: number; prefetchMs: number } | undefined;
  #dir: string | undefined;
  #initrdPath: string | undefined;
  #guestSignal: number | undefined;
  #install: Promise<{ bytesRead: number; installMs: number; readMs: number }> | undefined;
  /** The VM's console (kernel and /init messages), read when QEMU exits: its last lines explain a failed start. */
  #consoleTail = '';

  constructor(
    private readonly spec: SandboxSpec,
    private readonly options: ResolvedProcessOptions,
    private readonly vm: MicroVmContext,
    launch?: VmLaunch,
  ) {
    this.launch = launch;
  }

  /**
   * One at a time: the guest's /init starts the agent with arguments of its own (GUEST_INIT, from
   * the kernel command line), none of them --concurrency, and a VM restored from a snapshot resumes
   * an agent that was started before any instance's concurrency was known.
   */
  servesConcurrently(): boolean {
    return false;
  }

  get guestMemoryMb(): number {
    return this.vm.guestMemoryMb(this.spec.memoryMb);
  }

  /** The VM's own folder (QMP socket, console log). */
  get vmDir(): string {
    if (!this.#dir) throw new MicroVmError('ERR_VM_START', `sandbox ${this.spec.instanceId} has no folder yet`);
    return this.#dir;
  }

  /** The guest's /init loads the bundle from the initrd; the path is the agent's business there. */
  bundlePathForAgent(): string {
    return '/code/bundle.cjs';
  }

  async prepare(): Promise<void> {
    if (this.spec.network) {
      throw new MicroVmError('ERR_VM_CODE', `${this.spec.functionName} asks for network access, which microVMs do not give yet (no guest network device); deploy it without network or use --isolation container`);
    }
    this.#dir = await makePrivateDir(this.options.tmpRoot, this.spec.instanceId, this.options.runAs);
    this.#initrdPath = await this.vm.initrd(this.spec);
    this.launch ??= await this.vm.planStart(this.spec);
    const launch = this.launch;
    if (launch.kind !== 'restore' || launch.record) return;
    const snap = launch.snapshot;
    // Both prefetchers start with QEMU, overlapping its own start and the state load; REAP's must
    // finish before the guest runs (afterSpawn waits for it), FaaSnap's runs on beside the guest.
    if (launch.mode === 'reap') {
      this.#install = vmtool<{ bytesRead: number; installMs: number; readMs: number }>(this.vm.tools, ['reap-install', snap.wsPath, snap.memoryPath]);
      this.#install.catch(() => undefined);
    } else if (launch.mode === 'faasnap') {
      this.prefetch = vmtool<{ bytesRead: number; prefetchMs: number }>(this.vm.tools, ['prefetch', snap.loadsetPath, snap.memoryPath, String(this.vm.prefetchThreads)]);
      this.prefetch.then((r) => (this.prefetchResult = r)).catch(() => undefined);
    }
  }

  async release(): Promise<void> {
    if (!this.#dir) return;
    await rm(this.#dir, { recursive: true, force: true }).catch(() => undefined);
    this.#dir = undefined;
  }

  cgroupMemoryMb(): number {
    return this.guestMemoryMb + QEMU_OVERHEAD_MB;
  }

  command(handle: RuntimeHandle): SpawnCommand {
    const launch = this.launch!;
    const memoryFile =
      launch.kind === 'build'
        ? { path: join(launch.buildDir, 'memory'), shared: true }
        : launch.kind === 'restore'
          ? { path: launch.snapshot.memoryPath, shared: false }
          : undefined;
    const args = qemuArgs({
      qemu: this.vm.qemu,
      kernel: this.vm.image.kernel,
      initrd: this.#initrdPath!,
      memoryMb: this.guestMemoryMb,
      vcpus: this.vm.vcpus,
      memoryFile,
      cmdline: [`thaw.heap=${this.spec.memoryMb}`, `thaw.marker=${handle.logNonce}`],
      consoleLog: join(this.vmDir, 'console.log'),
      qmpSocket: join(this.vmDir, 'qmp.sock'),
      incoming: launch.kind === 'restore',
    });
    const env: Record<string, string> = { PATH: process.env.PATH ?? '/usr/bin:/bin' };
    if (launch.kind === 'restore' && launch.advice !== 'hugepage') {
      env.LD_PRELOAD = this.vm.tools.guestRamAdvice;
      env.THAW_GUEST_RAM_ADVICE = launch.advice;
    }
    // QEMU dies with thaw: setpriv's parent-death signal outlives its exec of QEMU.
    if (this.vm.setpriv) return { file: this.vm.setpriv, args: ['--pdeathsig', 'SIGKILL', '--', this.vm.qemu.binary, ...args], env, cwd: this.vmDir };
    return { file: this.vm.qemu.binary, args, env, cwd: this.vmDir };
  }

  /**
   * Pausing a VM stops its vCPU (QMP `stop`) rather than freezing QEMU: the guest's memory stays as
   * it was, and QEMU itself stays able to die with thaw (a frozen process ignores even SIGKILL
   * until thawed, under cgroup v1).
   */
  async freeze(): Promise<boolean> {
    if (!this.qmp) return false;
    await this.qmp.execute('stop');
    return true;
  }

  async thaw(): Promise<boolean> {
    if (!this.qmp) return false;
    await this.qmp.execute('cont');
    return true;
  }

  explainStartFailure(error: Error): void {
    if (this.#consoleTail) error.message += `\nVM console (last lines):\n${this.#consoleTail}`;
  }

  /** QEMU exits when the guest resets; the guest's /init printed node's exit status on the console first. */
  translateExit(code: number | null, signal: NodeJS.Signals | null): { code: number | null; signal: string | null } {
    let console = '';
    try {
      console = readFileSync(join(this.vmDir, 'console.log'), 'utf8');
    } catch {
      return { code, signal };
    }
    this.#consoleTail = console.trimEnd().split('\n').slice(-8).join('\n');
    const lines = [...console.matchAll(/thaw-exit: (\d+)/g)];
    const last = lines[lines.length - 1];
    if (!last) return { code, signal };
    const status = Number(last[1]);
    if (status > 128) {
      this.#guestSignal = status - 128;
      return { code: null, signal: signalName(status - 128) ?? `signal ${status - 128}` };
    }
    return { code: status, signal: null };
  }

  /** Inside the guest only its kernel's OOM killer sends SIGKILL. */
  exitWasOom(): boolean {
    return this.#guestSignal === 9;
  }

  async afterSpawn(handle: RuntimeHandle): Promise<void> {
    const t0 = performance.now();
    this.qmp = await this.connectQmp(handle);
    const launch = this.launch!;
    if (launch.kind !== 'restore') return;
    const qmp = this.qmp;
    const snap = launch.snapshot;
    const t1 = performance.now();
    let installMs: number | undefined;
    const install = this.#install;
    await qmp.execute('migrate-set-capabilities', { capabilities: [{ capability: 'x-ignore-shared', state: true }] });
    await qmp.execute('migrate-incoming', { uri: `exec:cat ${shellPath(snap.statePath)}` });
    await qmp.migrationDone();
    const t2 = performance.now();
    if (install) {
      const r = await install;
      installMs = performance.now() - t2;
      this.prefetchResult = { bytesRead: r.bytesRead, prefetchMs: r.readMs + r.installMs };
      await this.vm.installed(snap);
    }
    if (launch.record) {
      const mapping = await findGuestRamMapping(handle.pid!, snap.memoryPath);
      if (!mapping) throw new MicroVmError('ERR_VM_START', `cannot find the guest RAM mapping of ${snap.memoryPath} in QEMU (pid ${handle.pid})`);
      this.recorder = new PagemapRecorder(handle.pid!, mapping);
      this.recorder.poll();
      this.recordTimer = setInterval(() => this.recorder?.poll(), 5);
    }
    await qmp.execute('cont');
    const t3 = performance.now();
    this.restoreReport = {
      mode: launch.mode,
      recording: launch.record,
      accel: this.vm.qemu.accel,
      qemuStartMs: t1 - t0,
      loadStateMs: t2 - t1,
      installMs,
      timeToRunningMs: t3 - t0,
    };
    handle.sendToAgent({ type: 'restored', logMarker: handle.logNonce, epochMs: Date.now(), seed: randomBytes(32).toString('hex') });
  }

  private async connectQmp(handle: RuntimeHandle): Promise<QmpClient> {
    const path = join(this.vmDir, 'qmp.sock');
    let lastError: unknown;
    // QEMU creates its QMP socket while it starts: retry until it answers, QEMU exits, or the start times out.
    for (let attempt = 0; attempt < 6000; attempt++) {
      try {
        return await QmpClient.connect(path);
      } catch (err) {
        lastError = err;
      }
      const exited = await Promise.race([handle.exited.then(() => true), new Promise<false>((r) => setTimeout(() => r(false), 5))]);
      if (exited) break;
    }
    const stderr = await readFile(join(this.vmDir, 'console.log'), 'utf8').catch(() => '');
    throw new MicroVmError('ERR_VM_START', `QEMU did not open its control socket (${String(lastError)})${stderr ? `; console: ${stderr.slice(-300)}` : ''}`);
  }

  /** Stops recording pages and closes QMP (the sandbox is going). */
  close(): void {
    clearInterval(this.recordTimer);
    this.recorder?.close();
    this.recorder = undefined;
    this.qmp?.close();
  }
}

/**
 * One microVM instance: a RuntimeProcess with a MicroVmLauncher, plus what only a VM does — record
 * a restore's working set on its first invocation, report what a restore read, save a snapshot.
 */
export class MicroVmSandbox implements Sandbox {
  readonly launcher: MicroVmLauncher;
  readonly runtime: RuntimeProcess;
  private invocations = 0;
  /** Pages first touched by each invocation of a recording VM after the first (working-set drift). */
  readonly driftPages: number[] = [];
  /** A recording restore: settles once the working set of its first invocation is saved. */
  workingSetSaved: Promise<void> | undefined;

  constructor(
    spec: SandboxSpec,
    options: ResolvedProcessOptions,
    private readonly vm: MicroVmContext,
    launch?: VmLaunch,
  ) {
    this.launcher = new MicroVmLauncher(spec, options, vm, launch);
    this.runtime = new RuntimeProcess(spec, options, this.launcher);
  }

  get id(): string {
    return this.runtime.id;
  }

  get pid(): number | undefined {
    return this.runtime.pid;
  }

  get exited(): Promise<ExitInfo> {
    return this.runtime.exited;
  }

  get status(): string {
    return this.runtime.status;
  }

  /** 1: its launcher's guest agent serves one at a time (MicroVmLauncher.servesConcurrently). */
  get concurrency(): number {
    return this.runtime.concurrency;
  }

  get inFlight(): number {
    return this.runtime.inFlight;
  }

  get startLogs(): { stdout: string; stderr: string } {
    return this.runtime.startLogs;
  }

  get guestMemoryMb(): number {
    return this.launcher.guestMemoryMb;
  }

  get restoreReport(): VmRestoreReport | undefined {
    return this.launcher.restoreReport;
  }

  /** The start kind the invoker records: a restore from a VM snapshot is a snapshot start. */
  get startKind(): 'cold' | 'snapshot' {
    return this.launcher.launch?.kind === 'restore' ? 'snapshot' : 'cold';
  }

  start(): Promise<StartTimings> {
    return this.runtime.start();
  }

  pause(): Promise<void> {
    return this.runtime.pause();
  }

  resume(): Promise<void> {
    return this.runtime.resume();
  }

  setLimits(limits: { memoryMb?: number; cpuShares?: number; cpuQuota?: number | null }): Promise<void> {
    return this.runtime.setLimits(limits);
  }

  memoryUsageMb(): Promise<number> {
    return this.runtime.memoryUsageMb();
  }

  async invoke(payload: unknown, context: InvocationContext, timeoutMs: number, payloadJson?: string): Promise<InvokeOutcome> {
    const outcome = await this.runtime.invoke(payload, context, timeoutMs, payloadJson);
    this.invocations++;
    const recorder = this.launcher.recorder;
    const launch = this.launcher.launch;
    if (recorder && launch?.kind === 'restore') {
      const added = recorder.poll();
      if (this.invocations === 1) {
        // Written in the background: the first response does not wait for it.
        clearInterval(this.launcher.recordTimer);
        this.workingSetSaved = this.vm.saveWorkingSet(launch.snapshot, new Map(recorder.firstSeen));
        this.workingSetSaved.catch(() => undefined);
      } else {
        this.driftPages.push(added);
      }
    }
    return outcome;
  }

  /** What this restore has read and faulted so far (call after the first response). */
  async restoreCounters(): Promise<VmRestoreCounters> {
    const pid = this.pid;
    if (pid === undefined) throw new MicroVmError('ERR_VM_START', `sandbox ${this.id} is not running`);
    const launcher = this.launcher;
    if (launcher.prefetch && !launcher.prefetchResult) launcher.prefetchResult = await launcher.prefetch.catch(() => undefined);
    const io = await readFile(`/proc/${pid}/io`, 'utf8');
    const qemuReadBytes = Number(/read_bytes:\s*(\d+)/.exec(io)?.[1] ?? 0);
    const stat = (await readFile(`/proc/${pid}/stat`, 'utf8')).split(') ')[1]!.split(' ');
    const launch = launcher.launch;
    const stateBytes = launch?.kind === 'restore' ? launch.snapshot.manifest.state.bytes : 0;
    const prefetchBytes = launcher.prefetchResult?.bytesRead ?? 0;
    return {
      bytesRead: qemuReadBytes + stateBytes + prefetchBytes,
      qemuReadBytes,
      prefetchBytes,
      stateBytes,
      // Fields 10 and 12 of /proc/<pid>/stat (minflt, majflt), counted from `state` (field 3).
      minorFaults: Number(stat[7]),
      majorFaults: Number(stat[9]),
    };
  }

  /**
   * Saves the VM as a snapshot (a `build` start only): stops the guest and writes QEMU's device
   * state beside the shared memory file, then ends the VM. Returns how long the save took.
   */
  async saveSnapshot(): Promise<{ saveMs: number }> {
    const launch = this.launcher.launch;
    const qmp = this.launcher.qmp;
    if (launch?.kind !== 'build' || !qmp) throw new MicroVmError('ERR_VM_START', `sandbox ${this.id} was not started to build a snapshot`);
    const t0 = performance.now();
    await qmp.execute('migrate-set-capabilities', { capabilities: [{ capability: 'x-ignore-shared', state: true }] });
    await qmp.execute('stop');
    await qmp.execute('migrate', { uri: `exec:cat > ${shellPath(join(launch.buildDir, 'state'))}` });
    await qmp.migrationDone();
    const saveMs = performance.now() - t0;
    await qmp.execute('quit').catch(() => undefined);
    await this.destroy();
    return { saveMs };
  }

  async destroy(): Promise<void> {
    const launch = this.launcher.launch;
    if (this.launcher.recorder && this.invocations === 0 && launch?.kind === 'restore') this.vm.abandonRecording(launch.snapshot);
    this.launcher.close();
    await this.runtime.destroy();
    if (launch?.kind === 'build') await rm(join(launch.buildDir, 'qmp.sock'), { force: true }).catch(() => undefined);
  }
}

/** A path for QEMU's `exec:` migration URIs (run by /bin/sh). */
function shellPath(path: string): string {
  if (!/^[A-Za-z0-9_./%+-]+$/.test(path)) throw new MicroVmError('ERR_VM_START', `snapshot path ${JSON.stringify(path)} has characters QEMU's exec: migration cannot take`);
  return path;
}
