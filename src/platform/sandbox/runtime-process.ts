// RuntimeProcess: one sandbox's runtime as a child process, whatever launches it (a Launcher:
// node directly, bubblewrap around node, QEMU around a guest running node; see launcher.ts). It does
// what every sandbox shares: the spawn (through a tiny shell that enters the cgroup first), the fd-3
// protocol, timeouts, log capture, OOM detection, pause and resume, limits, cleanup; and zygote
// specialisation when its launcher's entry is a zygote.
//
// Cgroup placement: the spawned program is `/bin/sh -c 'echo $$ > <cgroup.procs>...; exec node …'`.
// The shell writes its own pid into every cgroup.procs file and then execs the runtime, so node (or
// bwrap) runs its very first instruction inside the cgroup: its whole boot is charged and limited,
// there is no window in which user code runs unconfined, and no host/agent handshake is needed.
// (Writing the pid from the host after spawn races with the child, and in cgroup v1 the memory
// charged before the move stays with the old cgroup; a go-ahead message would cost a round trip.)
// The shell costs about a millisecond; it also sets `ulimit -c 0`, so V8's abort on heap exhaustion
// writes no core file into the code directory. The move itself is the expensive part (measured
// ~10 ms here, the same for one hierarchy or four: the kernel waits out an RCU grace period when a
// task changes cgroup). A pool of cgroups with a stem process already inside, forked or exec'd on
// demand, takes it off the start path (SOCK's observation that reusing cgroups is cheaper): a
// launcher may hand over such a waiting runtime (takeWaiting; the stems of stem-pool.ts).

import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { closeSync } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import { constants as osConstants } from 'node:os';
import { isAbsolute } from 'node:path';
import type { Duplex } from 'node:stream';

import type { StartPathKind } from '../../core/instance.ts';
import { frame, onLines, parseMessage } from '../../runtime/framing.ts';
import { MAX_CONCURRENCY, type AgentMessage, type AgentStartTimings, type HostMessage, type InvocationContext, type SerializedError } from '../../runtime/protocol.ts';
import type { CgroupDriver, InstanceCgroup } from './cgroups.ts';
import { SandboxError, SandboxStartError } from './errors.ts';
import type { Launcher, RuntimeHandle, SpawnCommand } from './launcher.ts';
import { InvocationDeadline } from './deadline.ts';
import { type ConcurrentInvocationEvent, InFlightInvocations, type InvocationEvent, type ResultMessage } from './in-flight.ts';
import { SegmentedLog } from './logs.ts';
import { keepHeadAndTail } from '../store/text.ts';
import type { ResolvedScheduling } from './scheduling.ts';
import type { ExitInfo, InvokeOutcome, SandboxSpec, SpecialiseRequest, SpecialiseTimings, StartTimings, ZygoteBoot, ZygoteSandbox } from './types.ts';

/** What a runtime process needs of its backend's options. */
export interface ResolvedRuntimeOptions {
  /** Per invocation and per stream (stdout, stderr), bytes. */
  logLimitBytes: number;
  /** Cgroups to confine each sandbox in; null = none. */
  cgroups: CgroupDriver | null;
  /** Boot + import + init must finish within this, ms. */
  startTimeoutMs: number;
  /** Tasks (processes + threads) per sandbox when the pids controller exists; null = no limit. */
  pidsMax: number | null;
  /** The CPU scheduling policy instances run under (scheduling.ts). */
  scheduling: ResolvedScheduling;
}

/** Checks a spec and says precisely what is wrong. */
export function validateSpec(spec: SandboxSpec): SandboxSpec {
  if (spec === null || typeof spec !== 'object') throw new TypeError('sandbox spec must be an object');
  if (typeof spec.instanceId !== 'string' || !/^[A-Za-z0-9_.-]{1,128}$/.test(spec.instanceId) || /^\.\.?$/.test(spec.instanceId)) {
    throw new TypeError(`spec.instanceId must be 1-128 of [A-Za-z0-9_.-], got ${JSON.stringify(spec.instanceId)}`);
  }
  if (typeof spec.functionName !== 'string' || spec.functionName === '') throw new TypeError('spec.functionName must be a non-empty string');
  if (!Number.isInteger(spec.version) || spec.version < 0) throw new TypeError(`spec.version must be a non-negative integer, got ${spec.version}`);
  if (typeof spec.codeDir !== 'string' || !isAbsolute(spec.codeDir)) throw new TypeError(`spec.codeDir must be an absolute path, got ${JSON.stringify(spec.codeDir)}`);
  if (!Number.isInteger(spec.memoryMb) || spec.memoryMb < 16) throw new TypeError(`spec.memoryMb must be an integer ≥ 16 (MB), got ${spec.memoryMb}`);
  if (spec.cpuShares !== undefined && !(Number.isFinite(spec.cpuShares) && spec.cpuShares > 0)) {
    throw new TypeError(`spec.cpuShares must be a positive number, got ${spec.cpuShares}`);
  }
  if (spec.cpuQuota !== undefined && spec.cpuQuota !== null && !(Number.isFinite(spec.cpuQuota) && spec.cpuQuota > 0)) {
    throw new TypeError(`spec.cpuQuota must be a positive number of cores, got ${spec.cpuQuota}`);
  }
  if (typeof spec.network !== 'boolean') throw new TypeError('spec.network must be a boolean');
  checkConcurrency(spec.concurrency, 'spec.concurrency');
  if (spec.env === null || typeof spec.env !== 'object') throw new TypeError('spec.env must be an object of strings');
  for (const [key, value] of Object.entries(spec.env)) {
    if (!/^[^=\0]+$/.test(key)) throw new TypeError(`spec.env: invalid variable name ${JSON.stringify(key)}`);
    if (typeof value !== 'string' || value.includes('\0')) throw new TypeError(`spec.env.${key} must be a string without NUL bytes`);
  }
  return spec;
}

/** Epoch milliseconds with sub-millisecond precision: this process's timeOrigin plus its monotonic clock. */
export function epochNow(): number {
  return performance.timeOrigin + performance.now();
}

/**
 * The sandbox phase of a start, on the host's clock alone: from t0 until the runtime's start
 * message arrived (both epochNow() of this process, so their difference is its monotonic clock's),
 * less what the runtime measured inside on its own clock (boot, its setup, import, init). Never the
 * runtime's performance.timeOrigin less t0: each process fixes its timeOrigin from the wall clock
 * when it starts, so that difference compares two readings of the wall clock taken at different
 * times, and a wall clock stepped or slewed in between (NTP, a VM resumed from a snapshot) reads as
 * start time. (Seen: every start of a thaw serve that had run across such a step took 8.6–10.8 s
 * "in the sandbox" while it answered within its usual second; a replay simulated those phantom
 * starts.) What the host adds, the start message's way out, counts as sandbox time.
 */
export function sandboxPhaseMs(t0: number, t: Partial<AgentStartTimings>, startMessageAtMs: number): number {
  const inside = (t.runtimeBootMs ?? 0) + (t.agentSetupMs ?? 0) + (t.importMs ?? 0) + (t.initMs ?? 0);
  return Math.max(0, startMessageAtMs - t0 - inside);
}

/** Signal number → name; the first name listed wins (SIGABRT, not its alias SIGIOT; SIGIO, not SIGPOLL). */
const SIGNAL_NAMES = new Map<number, string>();
for (const [name, n] of Object.entries(osConstants.signals)) if (!SIGNAL_NAMES.has(n)) SIGNAL_NAMES.set(n, name);

export function signalName(n: number): string | undefined {
  return SIGNAL_NAMES.get(n);
}

export function describeExit(info: { code: number | null; signal: string | null }): string {
  if (info.signal) return `killed by ${info.signal}`;
  return `exit code ${info.code}`;
}

/** Writes its pid into each cgroup.procs given before `--`, then execs the rest. */
export const PLACE_AND_EXEC = 'ulimit -c 0 2>/dev/null; while [ "$#" -gt 0 ] && [ "$1" != -- ]; do echo $$ > "$1" || exit 125; shift; done; shift; exec "$@"';
/** The shell's exit status when it could not enter the cgroup. */
const EXIT_CGROUP_PLACEMENT = 125;

const V8_OOM = /JavaScript heap out of memory|Reached heap limit|Allocation failed - process out of memory/;

/** `zygote`: started in zygote mode, packages imported, waiting to be specialised (never invoked). */
type State = 'new' | 'starting' | 'zygote' | 'idle' | 'busy' | 'paused' | 'exited' | 'destroyed';

type StartMessage = Extract<AgentMessage, { type: 'ready' | 'init-failed' | 'zygote-ready' }>;

export class RuntimeProcess implements ZygoteSandbox, RuntimeHandle {
  readonly id: string;
  readonly spec: Readonly<SandboxSpec>;
  readonly exited: Promise<ExitInfo>;
  /** What the function wrote while it loaded and initialised (after start() resolves). */
  startLogs: { stdout: string; stderr: string } = { stdout: '', stderr: '' };

  /** How its runtime is started: a plain process, bubblewrap, a microVM. */
  readonly launcher: Launcher;
  readonly logNonce = randomBytes(8).toString('hex');
  /** Whether the agent ends each invocation's log segment with a marker (else: cut by arrival order). */
  private readonly marksInvocations: boolean;
  private readonly options: ResolvedRuntimeOptions;
  private cgroup: InstanceCgroup | undefined;
  private child: ChildProcess | undefined;
  /** Zygote mode: the packages to import before any function is known (see ZygoteBoot). */
  private readonly zygoteBoot: ZygoteBoot | undefined;
  /** The function named in errors (the zygote's until it is specialised). */
  private label: string;
  private wasSpecialised = false;

  private state: State = 'new';
  private runtimePid: number | undefined;
  private channel: Duplex | undefined;
  private stdoutLog: SegmentedLog | undefined;
  private stderrLog: SegmentedLog | undefined;
  private seq = 0;
  private limits: { memoryMb: number; cpuShares: number | undefined; cpuQuota: number | null };
  private exitInfo: ExitInfo | undefined;
  private resolveExited!: (info: ExitInfo) => void;
  private startWaiter: ((msg: StartMessage) => void) | undefined;
  /** A start message that came before anyone waited for it. */
  private earlyStartMessage: StartMessage | undefined;
  /** The invocation waiting for its result, settled by whichever comes first: the result, the runtime's exit, its deadline. */
  private current: { id: string; settle: (event: InvocationEvent) => void } | undefined;
  private readonly deadline = new InvocationDeadline();
  /**
   * Invocations it serves at once: its spec's, where its launcher's agent can serve more than one
   * (else 1); a zygote's, its function's from specialise().
   */
  private serves = 1;
  /** With concurrency > 1: the invocations waiting for their results (one at a time: `current`). */
  private concurrentInvocations: InFlightInvocations | undefined;
  /** With concurrency > 1: invoke() calls not yet returned. */
  private running = 0;
  private destroying: Promise<void> | undefined;
  private spawnError: Error | undefined;
  private releaseError: unknown;

  constructor(spec: SandboxSpec, options: ResolvedRuntimeOptions, launcher: Launcher) {
    this.spec = Object.freeze({ ...validateSpec(spec), env: { ...spec.env } });
    this.id = spec.instanceId;
    this.options = options;
    this.launcher = launcher;
    this.marksInvocations = launcher.marksInvocations?.() ?? true;
    this.serveUpTo(spec.concurrency ?? 1);
    this.label = spec.functionName;
    if (launcher.entry.kind === 'zygote') this.zygoteBoot = validZygoteBoot(launcher.entry.boot);
    this.limits = { memoryMb: spec.memoryMb, cpuShares: spec.cpuShares, cpuQuota: spec.cpuQuota ?? null };
    this.exited = new Promise((resolve) => (this.resolveExited = resolve));
  }

  get pid(): number | undefined {
    return this.runtimePid;
  }

  get concurrency(): number {
    return this.serves;
  }

  /** Serves up to `concurrency` at once, where the launcher's agent can (once: the constructor, or a zygote's specialise()). */
  private serveUpTo(concurrency: number): void {
    if (concurrency <= 1 || !this.launcher.servesConcurrently()) return;
    this.serves = concurrency;
    // An invocation past its deadline is abandoned, not killed with its siblings, while the agent can still answer.
    this.concurrentInvocations = new InFlightInvocations({ abandon: (id) => this.channel?.write(frame({ type: 'abandon', id } satisfies HostMessage)) });
  }

  /** Invocations it is serving now. */
  get inFlight(): number {
    if (this.concurrentInvocations) return this.running;
    return this.state === 'busy' ? 1 : 0;
  }

  /** Per invocation and stream, the bytes of output kept (the agent's bound too, when it serves concurrently). */
  get logLimitBytes(): number {
    return this.options.logLimitBytes;
  }

  /** The host folder holding (or, for a zygote, about to hold) the function's bundle.cjs. */
  get codeDir(): string {
    return this.spec.codeDir;
  }

  /** The instance's cgroup, if it has one (for inspection). */
  get cgroupInfo(): InstanceCgroup | undefined {
    return this.cgroup;
  }

  /** new → starting → idle ⇄ busy, idle ⇄ paused, → exited / destroyed. */
  get status(): State {
    return this.state;
  }

  /** What it started as: its entry (a restored V8 snapshot, a zygote) or, running the agent, cold. */
  get startKind(): StartPathKind {
    const kind = this.launcher.entry.kind;
    return kind === 'agent' ? 'cold' : kind;
  }

  /** The process spawned (a wrapper such as bwrap or QEMU), once started. */
  get spawnedPid(): number | undefined {
    return this.child?.pid;
  }

  /** Whether the runtime has exited (and everything was released). */
  get hasExited(): boolean {
    return this.exitInfo !== undefined;
  }

  /** (A method, so TypeScript does not narrow the state across awaits.) */
  private wasDestroyed(): boolean {
    return this.state === 'destroyed';
  }

  /** When the start message (ready, init-failed, zygote-ready) arrived, epoch ms on the host's clock. */
  private startMessageAtMs: number | undefined;

  /** Sends one message to the agent on the protocol channel. */
  sendToAgent(message: HostMessage): void {
    if (!this.channel || this.channel.destroyed) throw new SandboxError('ERR_SANDBOX_STATE', `sandbox ${this.id} has no channel to its runtime`);
    this.channel.write(frame(message));
  }

  /** The host pid of the node process, once it is ready. */
  private async findRuntimePid(spawnedPid: number): Promise<number> {
    return (await this.launcher.findRuntimePid?.(spawnedPid)) ?? spawnedPid;
  }

  // ------------------------------------------------------------------ start

  async start(): Promise<StartTimings> {
    try {
      return await this.startRuntime();
    } catch (err) {
      if (err instanceof Error) this.launcher.explainStartFailure?.(err);
      throw err;
    } finally {
      this.launcher.afterStart?.();
    }
  }

  private async startRuntime(): Promise<StartTimings> {
    if (this.state !== 'new') throw new SandboxError('ERR_SANDBOX_STATE', `sandbox ${this.id} is ${this.state}; start() runs once`);
    this.state = 'starting';
    const t0 = epochNow();
    let cgroupMs = 0;
    const startTimer = deferredTimer(this.options.startTimeoutMs);
    try {
      try {
        await assertDirectory(this.spec.codeDir);
        await this.launcher.prepare();
        // A runtime already waiting in its sandbox and cgroup (a stem): only the function's limits to set.
        const waiting = this.launcher.takeWaiting?.();
        if (waiting) {
          const c0 = epochNow();
          await waiting.cgroup?.configure({ memoryMb: this.spec.memoryMb, cpuShares: this.spec.cpuShares, cpuQuota: this.spec.cpuQuota ?? null, pidsMax: this.options.pidsMax });
          cgroupMs = epochNow() - c0;
          if (this.wasDestroyed()) throw new SandboxError('ERR_SANDBOX_STATE', `sandbox ${this.id} was destroyed while it started`);
          this.cgroup = waiting.cgroup;
          waiting.handOver();
          this.attachRuntime(waiting.child, waiting.exit);
          waiting.run(this.launcher.command(this));
        } else if (this.options.cgroups) {
          const c0 = epochNow();
          this.cgroup = await this.options.cgroups.create(this.id, {
            memoryMb: this.launcher.cgroupMemoryMb?.() ?? this.spec.memoryMb,
            cpuShares: this.spec.cpuShares,
            cpuQuota: this.spec.cpuQuota ?? null,
            pidsMax: this.options.pidsMax,
          });
          cgroupMs = epochNow() - c0;
        }
        if (!waiting) {
          if (this.wasDestroyed()) throw new SandboxError('ERR_SANDBOX_STATE', `sandbox ${this.id} was destroyed while it started`);
          this.spawnRuntime(this.launcher.command(this));
        }
      } catch (err) {
        await this.release();
        this.finishExit({ code: null, signal: null, oom: false });
        throw err instanceof SandboxError || err instanceof TypeError
          ? err
          : new SandboxError('ERR_SANDBOX_START', `sandbox ${this.id} could not be created: ${(err as Error).message}`, { cause: err });
      }

      // (A failure here is cleaned up by the finally below: the runtime is killed.)
      await this.launcher.afterSpawn?.(this);
      const first = await this.awaitStartMessage(startTimer);
      if (first.type === 'zygote-ready') {
        if (!this.zygoteBoot) throw new SandboxError('ERR_SANDBOX_START', `sandbox ${this.id}: the runtime said zygote-ready, but this is not a zygote`);
        this.runtimePid = await this.findRuntimePid(this.child!.pid!).catch(() => this.child!.pid!);
        if (this.wasDestroyed()) throw new SandboxError('ERR_SANDBOX_STATE', `sandbox ${this.id} was destroyed while it started`);
        this.state = 'zygote';
        const t = first.timings;
        return {
          sandboxMs: sandboxPhaseMs(t0, { ...t, initMs: 0 }, this.startMessageAtMs ?? epochNow()),
          runtimeBootMs: Math.max(0, t.runtimeBootMs),
          agentSetupMs: Math.max(0, t.agentSetupMs ?? 0),
          importMs: Math.max(0, t.importMs),
          initMs: 0,
          cgroupMs,
        };
      }
      const ready = await this.settleStart(first, startTimer);
      this.runtimePid = await this.findRuntimePid(this.child!.pid!).catch(() => this.child!.pid!);
      if (this.wasDestroyed()) throw new SandboxError('ERR_SANDBOX_STATE', `sandbox ${this.id} was destroyed while it started`);
      this.state = 'idle';
      const t = ready.timings;
      return {
        sandboxMs: sandboxPhaseMs(t0, t, this.startMessageAtMs ?? epochNow()),
        runtimeBootMs: Math.max(0, t.runtimeBootMs),
        agentSetupMs: Math.max(0, t.agentSetupMs ?? 0),
        importMs: Math.max(0, t.importMs),
        initMs: Math.max(0, t.initMs),
        cgroupMs,
      };
    } finally {
      startTimer.cancel();
      if (this.state === 'starting') {
        // A failed start leaves nothing behind.
        await this.kill().catch(() => undefined);
        await this.exited;
        this.state = 'exited';
      }
    }
  }

  /** The first message of a start or a specialisation, or the runtime's exit, or the start timeout. */
  private awaitStartMessage(startTimer: DeferredTimer): Promise<StartMessage | { type: 'exit'; info: ExitInfo } | { type: 'timeout' }> {
    const early = this.earlyStartMessage;
    this.earlyStartMessage = undefined;
    return Promise.race([
      early ? Promise.resolve(early) : new Promise<StartMessage>((resolve) => (this.startWaiter = resolve)),
      this.exited.then((info) => ({ type: 'exit' as const, info })),
      startTimer.promise.then(() => ({ type: 'timeout' as const })),
    ]);
  }

  /** `ready`: collects the start logs and returns it; anything else: throws what went wrong. */
  private async settleStart(
    first: StartMessage | { type: 'exit'; info: ExitInfo } | { type: 'timeout' },
    startTimer: DeferredTimer,
  ): Promise<Extract<AgentMessage, { type: 'ready' }>> {
    if (first.type === 'ready') {
      const logs = await Promise.race([
        Promise.all([this.stdoutLog!.segment(0), this.stderrLog!.segment(0)]),
        startTimer.promise.then(() => {
          this.stdoutLog!.cut(0);
          this.stderrLog!.cut(0);
          return Promise.all([this.stdoutLog!.segment(0), this.stderrLog!.segment(0)]);
        }),
      ]);
      this.startLogs = { stdout: logs[0], stderr: logs[1] };
      return first;
    }

    if (first.type === 'timeout') {
      await this.kill();
      const info = await this.exited;
      const [stdout, stderr] = await this.segmentLogs(0);
      throw new SandboxStartError(
        'ERR_SANDBOX_START_TIMEOUT',
        `${this.label} did not finish starting (boot, import, init) within ${this.options.startTimeoutMs} ms; the sandbox was killed`,
        { stdout, stderr, exit: info },
      );
    }

    if (first.type === 'init-failed') {
      const info = await this.exited;
      const [stdout, stderr] = await this.segmentLogs(0);
      const e = first.error;
      throw new SandboxStartError('ERR_SANDBOX_INIT', `${this.label} failed to start: ${e.name ? `${e.name}: ` : ''}${e.message}`, {
        functionError: e,
        stdout,
        stderr,
        exit: info,
      });
    }

    if (first.type === 'zygote-ready') {
      throw new SandboxError('ERR_SANDBOX_START', `sandbox ${this.id}: the runtime said zygote-ready when a function was expected`);
    }

    // The runtime exited before it was ready.
    const info = first.info;
    const [stdout, stderr] = await this.segmentLogs(0);
    if (this.wasDestroyed()) throw new SandboxError('ERR_SANDBOX_STATE', `sandbox ${this.id} was destroyed while it started`);
    const why = this.spawnError
      ? `it could not be spawned: ${this.spawnError.message}`
      : info.code === EXIT_CGROUP_PLACEMENT && this.cgroup
        ? 'it could not be placed in its cgroup'
        : info.oom
          ? `it ran out of memory (limit ${this.limits.memoryMb} MB)`
          : describeExit(info);
    const lastLines = lastLinesOf(this.stderrLog?.tail() ?? '', 5);
    throw new SandboxStartError(
      'ERR_SANDBOX_START',
      `the runtime of ${this.label} exited before it was ready: ${why}${lastLines ? `\n${lastLines}` : ''}`,
      { stdout, stderr, exit: info },
    );
  }

  // ------------------------------------------------------------------ zygotes

  /** Whether this sandbox was started as a zygote. */
  get isZygote(): boolean {
    return this.zygoteBoot !== undefined;
  }

  /** Whether specialise() was ever called on it (it is then one function's instance, for good). */
  get specialised(): boolean {
    return this.wasSpecialised;
  }

  /**
   * Zygote mode: turns the waiting zygote into an instance of one function, once. The function's
   * bundle must already be at codeDir/bundle.cjs (readable by the user functions run as). Timings:
   * no sandbox and no runtime boot (0), importMs = loading the bundle (the zygote's packages come
   * from its module cache), initMs = init(). On failure the sandbox is gone, as after a failed start.
   */
  async specialise(request: SpecialiseRequest): Promise<SpecialiseTimings> {
    if (!this.zygoteBoot) throw new SandboxError('ERR_SANDBOX_STATE', `sandbox ${this.id} is not a zygote`);
    if (this.wasSpecialised) throw new SandboxError('ERR_SANDBOX_STATE', `zygote ${this.id} was already specialised: a zygote serves one function, once`);
    if (this.state !== 'zygote') throw new SandboxError('ERR_SANDBOX_STATE', `zygote ${this.id} is ${this.state}: only a started, waiting zygote can be specialised`);
    if (request === null || typeof request !== 'object' || typeof request.functionName !== 'string' || request.functionName === '') {
      throw new TypeError('specialise: request.functionName must be a non-empty string');
    }
    checkConcurrency(request.concurrency, 'specialise: request.concurrency');
    const concurrency = request.concurrency ?? 1;
    const env = request.env ?? {};
    for (const [key, value] of Object.entries(env)) {
      if (!/^[^=\0]+$/.test(key)) throw new TypeError(`specialise: invalid variable name ${JSON.stringify(key)}`);
      if (typeof value !== 'string' || value.includes('\0')) throw new TypeError(`specialise: env.${key} must be a string without NUL bytes`);
    }
    this.wasSpecialised = true;
    this.state = 'starting';
    this.label = request.functionName;
    const t0 = epochNow();
    const startTimer = deferredTimer(this.options.startTimeoutMs);
    try {
      const waiting = this.awaitStartMessage(startTimer);
      // A zygote booted serving one at a time (it had no function yet): its function's concurrency now.
      const serves = this.concurrency === 1 && concurrency > 1 && this.launcher.servesConcurrently() ? concurrency : undefined;
      const message: HostMessage = { type: 'specialise', bundle: this.launcher.bundlePathForAgent(), env, functionName: request.functionName, version: request.version };
      if (serves !== undefined) Object.assign(message, { concurrency: serves, logLimitBytes: this.options.logLimitBytes });
      this.channel!.write(frame(message));
      if (serves !== undefined) this.serveUpTo(serves);
      const first = await waiting;
      const ready = await this.settleStart(first, startTimer);
      if (this.wasDestroyed()) throw new SandboxError('ERR_SANDBOX_STATE', `sandbox ${this.id} was destroyed while it was specialised`);
      this.state = 'idle';
      const t = ready.timings;
      return {
        // The message's way in and out, around the agent's import and init: the only "sandbox" time left.
        sandboxMs: sandboxPhaseMs(t0, { importMs: t.importMs, initMs: t.initMs }, this.startMessageAtMs ?? epochNow()),
        runtimeBootMs: 0,
        agentSetupMs: 0,
        importMs: Math.max(0, t.importMs),
        initMs: Math.max(0, t.initMs),
        cgroupMs: 0,
        ...(ready.zygote ? { zygote: ready.zygote } : {}),
      };
    } finally {
      startTimer.cancel();
      if (this.state === 'starting') {
        await this.kill().catch(() => undefined);
        await this.exited;
        this.state = 'exited';
      }
    }
  }

  private segmentLogs(seq: number): Promise<[string, string]> {
    return Promise.all([this.stdoutLog?.segment(seq) ?? '', this.stderrLog?.segment(seq) ?? '']);
  }

  private spawnRuntime(cmd: SpawnCommand): void {
    const child = spawnPlaced(cmd, this.cgroup?.procsFiles() ?? [], 'ignore', this.options.scheduling.prefix);
    const processExit = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
      child.once('exit', (code, signal) => resolve({ code, signal }));
      child.once('error', (err) => {
        this.spawnError = err;
        resolve({ code: null, signal: null });
      });
    });
    this.attachRuntime(child, processExit);
  }

  /** Takes the runtime's process (spawned now, or waiting since earlier): its pipes, its exit. */
  private attachRuntime(child: ChildProcess, processExit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>): void {
    this.child = child;
    this.runtimePid = child.pid;
    this.stdoutLog = new SegmentedLog(child.stdout!, this.logNonce, this.options.logLimitBytes);
    this.stderrLog = new SegmentedLog(child.stderr!, this.logNonce, this.options.logLimitBytes);
    const channel = child.stdio[3] as Duplex;
    this.channel = channel;
    let channelClosed: () => void;
    const channelDone = new Promise<void>((resolve) => (channelClosed = resolve));
    onLines(channel, (line) => this.onAgentLine(line));
    channel.on('error', () => undefined);
    channel.on('close', () => channelClosed());
    channel.on('end', () => channelClosed());

    void processExit.then(async ({ code, signal }) => {
      if (this.spawnError) {
        // Never ran: no pipes will deliver anything.
        channel.destroy();
        child.stdout?.destroy();
        child.stderr?.destroy();
      }
      await this.afterExit(this.launcher.translateExit?.(code, signal) ?? { code, signal }, channelDone);
    });
  }

  private onAgentLine(line: string): void {
    const msg = parseMessage<AgentMessage>(line);
    if (msg === undefined) return; // not ours to act on; the agent never sends this
    if (msg.type === 'ready' || msg.type === 'init-failed' || msg.type === 'zygote-ready') {
      this.startMessageAtMs = epochNow();
      const waiter = this.startWaiter;
      this.startWaiter = undefined;
      if (waiter) waiter(msg);
      else this.earlyStartMessage = msg;
    } else if (msg.type === 'result') {
      // (A result for an invocation no longer waited for, one given up on, is dropped.)
      const current = this.current;
      if (current?.id === msg.id) {
        this.current = undefined;
        current.settle({ type: 'result', msg });
      } else {
        this.concurrentInvocations?.resultArrived(msg);
      }
    } else if (msg.type === 'abandoned') {
      this.concurrentInvocations?.abandonedArrived(msg);
    }
  }

  /** After the spawned process exits: kill the rest, drain the pipes, read OOM state, release everything. */
  private async afterExit(status: { code: number | null; signal: string | null }, channelDone: Promise<void>): Promise<void> {
    if (this.cgroup) await this.cgroup.killAll().catch(() => undefined);
    this.killGroup();
    // The pipes close once every process holding them is gone (all of them are, with a cgroup; a
    // process that left our process group without a cgroup could hold them: give up after 2 s).
    const drained = Promise.all([this.stdoutLog?.whenEnded(), this.stderrLog?.whenEnded(), channelDone]);
    const grace = deferredTimer(2000);
    await Promise.race([drained, grace.promise]);
    grace.cancel();
    this.child?.stdout?.destroy();
    this.child?.stderr?.destroy();
    this.channel?.destroy();

    let oom = false;
    if (this.cgroup) oom = (await this.cgroup.oomKills().catch(() => 0)) > 0;
    if (!oom && this.launcher.exitWasOom?.(status)) oom = true;
    if (!oom && (status.signal === 'SIGABRT' || status.code === 134) && V8_OOM.test(this.stderrLog?.tail() ?? '')) oom = true;
    await this.release();
    this.finishExit({ code: status.code, signal: status.signal, oom });
  }

  private finishExit(info: ExitInfo): void {
    if (this.exitInfo) return;
    this.exitInfo = info;
    if (this.state !== 'destroyed' && this.state !== 'starting') this.state = 'exited';
    this.deadline.close();
    const current = this.current;
    this.current = undefined;
    current?.settle({ type: 'exit', info });
    this.concurrentInvocations?.runtimeExited(info);
    this.resolveExited(info);
  }

  private async release(): Promise<void> {
    try {
      await this.cgroup?.destroy();
    } catch (err) {
      this.releaseError = err;
    }
    await this.launcher.release();
  }

  private killGroup(): void {
    const pid = this.child?.pid;
    if (pid === undefined) return;
    try {
      process.kill(-pid, 'SIGKILL');
    } catch {
      // the group is gone
    }
  }

  /** SIGKILL to everything in the sandbox; settles this.exited soon after. */
  private async kill(): Promise<void> {
    if (!this.child || this.exitInfo) return;
    await this.launcher.beforeKill?.(this);
    if (this.exitInfo) return;
    this.killGroup();
    try {
      this.child.kill('SIGKILL');
    } catch {
      // gone
    }
    if (this.cgroup) await this.cgroup.killAll().catch(() => undefined);
  }

  // ------------------------------------------------------------------ invoke

  async invoke(payload: unknown, context: InvocationContext, timeoutMs: number, payloadJson?: string): Promise<InvokeOutcome> {
    if (!(Number.isFinite(timeoutMs) && timeoutMs > 0)) throw new TypeError(`timeoutMs must be a positive number, got ${timeoutMs}`);
    if (this.concurrentInvocations) return this.invokeConcurrently(this.concurrentInvocations, payload, context, timeoutMs, payloadJson);
    switch (this.state) {
      case 'idle':
        break;
      case 'exited':
        return this.alreadyExitedOutcome();
      case 'busy':
        throw new SandboxError('ERR_SANDBOX_STATE', `sandbox ${this.id} is busy: it runs one invocation at a time`);
      case 'paused':
        throw new SandboxError('ERR_SANDBOX_STATE', `sandbox ${this.id} is paused: resume() it first`);
      default:
        throw new SandboxError('ERR_SANDBOX_STATE', `sandbox ${this.id} is ${this.state}: it cannot be invoked`);
    }
    const id = context.invocationId || randomUUID();
    const line = invokeLine(id, payload, context, payloadJson);
    this.state = 'busy';
    const seq = ++this.seq;
    const started = performance.now();
    try {
      const first = await new Promise<InvocationEvent>((settle) => {
        this.current = { id, settle };
        this.deadline.arm(timeoutMs, () => settle({ type: 'timeout' }));
        this.channel!.write(line);
      });

      if (first.type === 'timeout') {
        await this.kill();
        await this.exited;
        const [stdout, stderr] = await this.segmentLogs(seq);
        return { ok: false, error: timeoutError(timeoutMs), durationMs: performance.now() - started, stdout, stderr, fatal: true };
      }

      if (first.type === 'exit') {
        // (A result that came before the exit settled the invocation: the channel is drained before exit settles.)
        const [stdout, stderr] = await this.segmentLogs(seq);
        return { ok: false, error: this.exitError(first.info), durationMs: performance.now() - started, stdout, stderr, fatal: true };
      }

      return await this.fromResult(first.msg, seq);
    } finally {
      this.current = undefined;
      this.deadline.disarm();
      if (this.state === 'busy') this.state = this.exitInfo ? 'exited' : 'idle';
    }
  }

  /** It died between invocations (e.g. a timer threw): a function failure, not misuse. */
  private async alreadyExitedOutcome(): Promise<InvokeOutcome> {
    const info = await this.exited;
    return {
      ok: false,
      error: { kind: info.oom ? 'oom' : 'exit', message: `the sandbox had already exited (${describeExit(info)}${info.oom ? ', out of memory' : ''})` },
      durationMs: 0,
      stdout: '',
      stderr: '',
      fatal: true,
    };
  }

  /** Why an invocation ended with the runtime's exit. */
  private exitError(info: ExitInfo): SerializedError {
    return info.oom
      ? { kind: 'oom', message: `the function ran out of memory (limit ${this.limits.memoryMb} MB); the runtime was killed (${describeExit(info)})` }
      : { kind: 'exit', message: `the runtime exited during the invocation (${describeExit(info)})` };
  }

  // ------------------------------------------------------------------ invoke, several at once

  /**
   * invoke() of a sandbox serving up to `concurrency` invocations at once: each waits for its own
   * result under its own deadline (in-flight.ts), and its logs come in its result (the agent
   * captured them by async context), not from the pipes: the pipes carry only output written outside
   * any invocation, which SegmentedLog keeps bounded and nobody waits for.
   */
  private async invokeConcurrently(
    invocations: InFlightInvocations,
    payload: unknown,
    context: InvocationContext,
    timeoutMs: number,
    payloadJson: string | undefined,
  ): Promise<InvokeOutcome> {
    if (this.state === 'exited') return this.alreadyExitedOutcome();
    this.assertRoomForInvocation();
    const id = context.invocationId || randomUUID();
    if (invocations.has(id)) throw new SandboxError('ERR_SANDBOX_STATE', `sandbox ${this.id} is already serving invocation ${id}: each invocation in flight needs an id of its own`);
    const line = invokeLine(id, payload, context, payloadJson);
    this.state = 'busy';
    this.running += 1;
    const started = performance.now();
    try {
      const event = await invocations.wait(id, timeoutMs, () => this.channel!.write(line));
      return await this.concurrentOutcome(event, timeoutMs, started);
    } finally {
      this.running -= 1;
      if (this.state === 'busy' && this.running === 0) this.state = this.exitInfo ? 'exited' : 'idle';
    }
  }

  /** Throws unless the sandbox can take one more invocation now (idle, or busy with room left). */
  private assertRoomForInvocation(): void {
    switch (this.state) {
      case 'idle':
        return;
      case 'busy':
        if (this.running < this.concurrency) return;
        throw new SandboxError('ERR_SANDBOX_STATE', `sandbox ${this.id} is busy: it serves ${this.concurrency} invocations at once, and ${this.running} are in flight`);
      case 'paused':
        throw new SandboxError('ERR_SANDBOX_STATE', `sandbox ${this.id} is paused: resume() it first`);
      default:
        throw new SandboxError('ERR_SANDBOX_STATE', `sandbox ${this.id} is ${this.state}: it cannot be invoked`);
    }
  }

  /** The outcome of one of several invocations in flight, from how its wait ended. */
  private async concurrentOutcome(event: ConcurrentInvocationEvent, timeoutMs: number, started: number): Promise<InvokeOutcome> {
    const failed = (error: SerializedError): InvokeOutcome => ({ ok: false, error, durationMs: performance.now() - started, stdout: '', stderr: '', fatal: true });
    switch (event.type) {
      case 'timeout':
        // The agent did not answer `abandon` (its event loop is blocked): what the invocation wrote
        // so far was the agent's to return, and goes with the runtime.
        await this.kill();
        await this.exited;
        return failed(timeoutError(timeoutMs));
      case 'sibling-timeout':
        // The sibling that timed out kills the sandbox; this one ends with it.
        await this.exited;
        return failed({
          kind: 'exit',
          message: `another invocation on the same instance did not finish within its time limit of ${event.timeoutMs} ms; the instance was killed while serving this one`,
        });
      case 'exit':
        return failed(this.exitError(event.info));
      case 'abandoned': {
        // The agent gave it up and serves on: this invocation alone fails, with what it wrote.
        const limit = this.options.logLimitBytes;
        return {
          ok: false,
          error: { kind: 'timeout', message: `the invocation did not finish within its time limit of ${timeoutMs} ms; the instance gave up on it and serves its other invocations on` },
          durationMs: event.msg.durationMs,
          stdout: keepHeadAndTail(event.msg.stdout ?? '', limit).text,
          stderr: keepHeadAndTail(event.msg.stderr ?? '', limit).text,
          // Said outright: a timeout is otherwise taken as the end of the sandbox (invoker, SafeSandbox).
          fatal: false,
        };
      }
      case 'result':
        return this.fromConcurrentResult(event.msg, started + timeoutMs);
    }
  }

  /** A result with its output inside; after a fatal one, once the runtime is gone (killed if it outlives `deadline`). */
  private async fromConcurrentResult(msg: ResultMessage, deadline: number): Promise<InvokeOutcome> {
    const fatal = !msg.ok && msg.fatal === true;
    if (fatal) await this.exitedOrKilledBy(deadline);
    // The agent bounds it already (by UTF-16 units); cut to the exact byte limit as the pipes' logs are.
    const limit = this.options.logLimitBytes;
    const base = { durationMs: msg.durationMs, stdout: keepHeadAndTail(msg.stdout ?? '', limit).text, stderr: keepHeadAndTail(msg.stderr ?? '', limit).text, ...(fatal ? { fatal: true } : {}) };
    return msg.ok ? { ok: true, value: msg.value, ...base } : { ok: false, error: msg.error, ...base };
  }

  /** Waits for the runtime's exit; kills it if it has not exited by `deadline` (performance.now() ms). */
  private async exitedOrKilledBy(deadline: number): Promise<void> {
    const timer = setTimeout(() => void this.kill(), Math.max(0, deadline - performance.now()));
    await this.exited;
    clearTimeout(timer);
  }

  private async fromResult(msg: ResultMessage, seq: number): Promise<InvokeOutcome> {
    const fatal = !msg.ok && msg.fatal === true;
    // The markers follow the function's output on its own streams, written before the result: they
    // have usually arrived already. Otherwise wait for them, bounded by the invocation's own
    // deadline (in case the function closed its stdout). Without markers: cut by arrival order.
    const [stdout, stderr] = !this.marksInvocations && !msg.marked
      ? (this.allWrittenRead(msg.written) ? this.endSegmentLogs(seq) : await this.segmentLogsByOrder(seq))
      : (this.readySegmentLogs(seq) ?? (await this.segmentLogsWithinDeadline(seq)));
    // The agent exits right after a fatal error: report once it is gone, so the caller sees a
    // consistent state.
    if (fatal) {
      this.deadline.whenPassed(() => void this.kill());
      await this.exited;
    }
    const base = { durationMs: msg.durationMs, stdout, stderr, ...(fatal ? { fatal: true } : {}) };
    return msg.ok ? { ok: true, value: msg.value, ...base } : { ok: false, error: msg.error, ...base };
  }

  /** Segment `seq` of both streams if both are complete already (no promise on the warm path), else undefined. */
  private readySegmentLogs(seq: number): [string, string] | undefined {
    const out = this.stdoutLog;
    const err = this.stderrLog;
    if ((out && !out.isReady(seq)) || (err && !err.isReady(seq))) return undefined;
    return [out?.takeReady(seq) ?? '', err?.takeReady(seq) ?? ''];
  }

  /**
   * Segment `seq` of both streams from an agent that does not mark invocations: everything in the
   * pipes when its result was read. The agent wrote it before the result, synchronously, so it was
   * in the pipes then; the rest of this turn of the event loop (until setImmediate) reads every
   * pipe that was ready, whatever order the poll listed them in.
   */
  private async segmentLogsByOrder(seq: number): Promise<[string, string]> {
    await new Promise<void>((resolve) => setImmediate(resolve));
    return this.endSegmentLogs(seq);
  }

  /**
   * Whether both pipes have delivered at least the bytes the agent says its stdout and stderr took
   * (ResultSegment.written): then the segment holds all of the invocation's output written through
   * them, and ends now. (More may have come: bytes written around the streams, by fd or by a child
   * process; those go by arrival order as before.)
   */
  private allWrittenRead(written: [number, number] | undefined): boolean {
    if (written === undefined) return false;
    return (this.stdoutLog?.bytesReceived ?? Infinity) >= written[0] && (this.stderrLog?.bytesReceived ?? Infinity) >= written[1];
  }

  /** Ends segment `seq` of both streams with what they have delivered. */
  private endSegmentLogs(seq: number): [string, string] {
    this.stdoutLog?.end(seq);
    this.stderrLog?.end(seq);
    return [this.stdoutLog?.takeReady(seq) ?? '', this.stderrLog?.takeReady(seq) ?? ''];
  }

  /** Segment `seq` of both streams once their markers arrive; once the deadline passes, what arrived by then. */
  private segmentLogsWithinDeadline(seq: number): Promise<[string, string]> {
    const logs = this.segmentLogs(seq);
    this.deadline.whenPassed(() => {
      this.stdoutLog?.cut(seq);
      this.stderrLog?.cut(seq);
    });
    return logs;
  }

  // ------------------------------------------------------------------ pause, resume, limits, usage

  async pause(): Promise<void> {
    if (this.state !== 'idle') throw new SandboxError('ERR_SANDBOX_STATE', `sandbox ${this.id} is ${this.state}: only an idle sandbox can be paused`);
    this.state = 'paused';
    try {
      await this.freezeRuntime();
    } catch (err) {
      if (this.state === 'paused') this.state = 'idle';
      throw err;
    }
  }

  async resume(): Promise<void> {
    if (this.state !== 'paused') throw new SandboxError('ERR_SANDBOX_STATE', `sandbox ${this.id} is ${this.state}, not paused`);
    await this.thawRuntime();
    if (this.state === 'paused') this.state = 'idle';
  }

  /** Stops every process of the sandbox from running (the freezer cgroup, else SIGSTOP). */
  private async freezeRuntime(): Promise<void> {
    if (await this.launcher.freeze?.()) return;
    if (this.cgroup?.features.freezer) await this.cgroup.freeze();
    else await this.signalSandbox('SIGSTOP');
  }

  private async thawRuntime(): Promise<void> {
    if (await this.launcher.thaw?.()) return;
    if (this.cgroup?.features.freezer) await this.cgroup.thaw();
    else await this.signalSandbox('SIGCONT');
  }

  /** SIGSTOP / SIGCONT to every process of the sandbox; for SIGSTOP, waits until the runtime is stopped. */
  private async signalSandbox(signal: 'SIGSTOP' | 'SIGCONT'): Promise<void> {
    if (this.cgroup) await this.cgroup.signalAll(signal);
    const pid = this.child?.pid;
    if (pid !== undefined) {
      try {
        process.kill(-pid, signal);
      } catch {
        // gone
      }
    }
    const target = this.runtimePid;
    if (signal === 'SIGSTOP' && target !== undefined) {
      for (let i = 0; i < 1000; i++) {
        const state = await processState(target);
        if (state === undefined || state === 'T' || state === 't') return;
        await new Promise((resolve) => setTimeout(resolve, Math.min(10, i)));
      }
    }
  }

  async setLimits(limits: { memoryMb?: number; cpuShares?: number; cpuQuota?: number | null }): Promise<void> {
    if (this.state === 'new' || this.state === 'exited' || this.state === 'destroyed') {
      throw new SandboxError('ERR_SANDBOX_STATE', `sandbox ${this.id} is ${this.state}: limits apply to a running sandbox`);
    }
    if (!this.cgroup) {
      throw new SandboxError('ERR_SANDBOX_UNSUPPORTED', `sandbox ${this.id} has no cgroup (no usable cgroups on this machine): its limits cannot change while it runs`);
    }
    if (limits.memoryMb !== undefined) {
      if (!Number.isInteger(limits.memoryMb) || limits.memoryMb < 16) throw new TypeError(`memoryMb must be an integer ≥ 16, got ${limits.memoryMb}`);
      // (V8's heap limit was fixed at boot; the cgroup limit is what changes.)
      await this.cgroup.setMemoryLimit(limits.memoryMb);
      this.limits.memoryMb = limits.memoryMb;
    }
    if (limits.cpuShares !== undefined) {
      await this.cgroup.setCpuShares(limits.cpuShares);
      this.limits.cpuShares = limits.cpuShares;
    }
    if (limits.cpuQuota !== undefined) {
      await this.cgroup.setCpuQuota(limits.cpuQuota);
      this.limits.cpuQuota = limits.cpuQuota;
    }
  }

  async memoryUsageMb(): Promise<number> {
    if (this.exitInfo || this.state === 'new') return 0;
    if (this.cgroup) return (await this.cgroup.memoryUsageBytes()) / (1024 * 1024);
    const pid = this.runtimePid;
    if (pid === undefined) return 0;
    try {
      const status = await readFile(`/proc/${pid}/status`, 'utf8');
      const kb = /^VmRSS:\s+(\d+) kB$/m.exec(status);
      return kb ? Number(kb[1]) / 1024 : 0;
    } catch {
      return 0;
    }
  }

  // ------------------------------------------------------------------ destroy

  destroy(): Promise<void> {
    this.destroying ??= (async () => {
      const before = this.state;
      this.state = 'destroyed';
      if (before === 'new' || !this.child) {
        await this.release();
        this.finishExit({ code: null, signal: null, oom: false });
      } else {
        if (before === 'paused') {
          // Frozen or stopped processes act on SIGKILL only once running again.
          if (this.cgroup?.features.freezer) await this.cgroup.thaw().catch(() => undefined);
          else await this.signalSandbox('SIGCONT').catch(() => undefined);
        }
        await this.kill();
        await this.exited;
      }
      if (this.releaseError) throw this.releaseError;
    })();
    return this.destroying;
  }
}

/** Why an invocation that outlived its time limit failed. */
/** Throws unless `value` is absent or a number of invocations served at once (1..MAX_CONCURRENCY). */
function checkConcurrency(value: number | undefined, name: string): void {
  if (value !== undefined && !(Number.isInteger(value) && value >= 1 && value <= MAX_CONCURRENCY)) {
    throw new TypeError(`${name} must be an integer from 1 to ${MAX_CONCURRENCY} (invocations served at once), got ${JSON.stringify(value)}`);
  }
}

function timeoutError(timeoutMs: number): SerializedError {
  return { kind: 'timeout', message: `the invocation did not finish within its time limit of ${timeoutMs} ms; the sandbox was killed` };
}

export interface DeferredTimer {
  promise: Promise<void>;
  cancel(): void;
}

/** A promise that resolves after ms (never, once cancelled). */
export function deferredTimer(ms: number): DeferredTimer {
  let handle: NodeJS.Timeout | undefined;
  const promise = new Promise<void>((resolve) => {
    handle = setTimeout(resolve, ms);
  });
  return { promise, cancel: () => clearTimeout(handle) };
}

async function assertDirectory(path: string): Promise<void> {
  let ok = false;
  try {
    ok = (await stat(path)).isDirectory();
  } catch (err) {
    throw new SandboxError('ERR_SANDBOX_START', `the code directory ${path} cannot be used: ${(err as Error).message}`, { cause: err });
  }
  if (!ok) throw new SandboxError('ERR_SANDBOX_START', `the code directory ${path} is not a directory`);
}

async function processState(pid: number): Promise<string | undefined> {
  try {
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[0];
  } catch {
    return undefined;
  }
}

function lastLinesOf(text: string, n: number): string {
  return text
    .split('\n')
    .filter((l) => l.trim() !== '' && !l.includes('\u0000'))
    .slice(-n)
    .join('\n');
}

function validZygoteBoot(zygote: ZygoteBoot): ZygoteBoot {
  if (typeof zygote.packageDir !== 'string' || !isAbsolute(zygote.packageDir)) {
    throw new TypeError(`zygote.packageDir must be an absolute path, got ${JSON.stringify(zygote.packageDir)}`);
  }
  if (!Array.isArray(zygote.packages)) throw new TypeError('zygote.packages must be an array of package names');
  return Object.freeze({ packageDir: zygote.packageDir, packages: Object.freeze([...zygote.packages]) });
}

/**
 * Spawns `cmd` through the placing shell (PLACE_AND_EXEC): inside the cgroup before its first
 * instruction, in a process group of its own, under the scheduling policy `scheduling` puts it in
 * (a command prefix, see scheduling.ts; none: the default policy).
 */
export function spawnPlaced(cmd: SpawnCommand, procsFiles: string[], stdin: 'pipe' | 'ignore', scheduling: readonly string[] = []): ChildProcess {
  try {
    return spawn('/bin/sh', ['-c', PLACE_AND_EXEC, 'thaw-sandbox', ...procsFiles, '--', ...scheduling, cmd.file, ...cmd.args], {
      cwd: cmd.cwd,
      env: cmd.env,
      stdio: [stdin, 'pipe', 'pipe', 'pipe', ...(cmd.extraFds ?? [])],
      // Its own process group, so a kill reaches whatever it forks (and a Ctrl-C on thaw does not).
      detached: true,
    });
  } finally {
    for (const fd of cmd.extraFds ?? []) closeSync(fd);
  }
}

/**
 * The invoke message as one line. The payload's JSON text goes in as the caller received it when it
 * has one without a newline (which would end the line early; JSON whitespace is the only place a raw
 * newline can be): the warm path does not encode again what it just decoded.
 */
export function invokeLine(id: string, payload: unknown, context: InvocationContext, payloadJson?: string): string {
  const withId: InvocationContext = { ...context, invocationId: id };
  if (payloadJson === undefined || payloadJson.includes('\n')) return frame({ type: 'invoke', id, payload, context: withId } satisfies HostMessage);
  return `{"type":"invoke","id":${JSON.stringify(id)},"context":${JSON.stringify(withId)},"payload":${payloadJson}}\n`;
}
