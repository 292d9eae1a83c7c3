// ProcessSandbox: the runtime agent in a plain child process (with cgroup limits when the machine
// has usable cgroups). It also carries everything the other process-based backends share: the
// spawn (through a tiny shell that enters the cgroup first), the fd-3 protocol, timeouts, log
// capture, OOM detection, pause and resume, cleanup. LeanContainerSandbox (bubblewrap.ts) only
// changes the command that is spawned.
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
// demand, would take it off the start path (SOCK's observation that reusing cgroups is cheaper).

import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { closeSync } from 'node:fs';
import { chown, mkdir, readFile, rm, stat } from 'node:fs/promises';
import { constants as osConstants, tmpdir } from 'node:os';
import { isAbsolute, join } from 'node:path';
import type { Duplex } from 'node:stream';

import { frame, onLines, parseMessage } from '../../runtime/framing.ts';
import type { AgentMessage, AgentStartTimings, HostMessage, InvocationContext, SerializedError } from '../../runtime/protocol.ts';
import type { CgroupDriver, InstanceCgroup } from './cgroups.ts';
import { SandboxError, SandboxStartError } from './errors.ts';
import { DEFAULT_LOG_LIMIT_BYTES, SegmentedLog } from './logs.ts';
import type {
  ExitInfo,
  InvokeOutcome,
  IsolationReport,
  Sandbox,
  SandboxBackend,
  SandboxSpec,
  SpecialiseRequest,
  SpecialiseTimings,
  StartTimings,
  ZygoteBoot,
  ZygoteCapableBackend,
  ZygoteSandbox,
} from './types.ts';

export interface RunAs {
  uid: number;
  gid: number;
}

export interface ProcessBackendOptions {
  /** The bundled runtime agent (agent.cjs); see ensureAgentBundle(). */
  agentPath: string;
  /** The node binary. Default: the one running thaw. */
  nodePath?: string;
  /** Per invocation and per stream (stdout, stderr), bytes. Default 64 KiB. */
  logLimitBytes?: number;
  /** Cgroups to confine each sandbox in; null = none. */
  cgroups?: CgroupDriver | null;
  /** Run the function as this user (the agent drops to it before the function's code runs); null = as thaw runs. */
  runAs?: RunAs | null;
  /**
   * Where each sandbox gets its private TMPDIR (process backend). Default: <os tmpdir>/thaw-sandboxes
   * (outside the data directory, which may not be traversable by the user functions run as).
   */
  tmpRoot?: string;
  /** Boot + import + init must finish within this, ms. Default 60 s. */
  startTimeoutMs?: number;
  /** Tasks (processes + threads) per sandbox when the pids controller exists; null = no limit. Default 512. */
  pidsMax?: number | null;
  /** What to report as this backend's isolation (computed by createSandboxBackend); a default is derived otherwise. */
  isolation?: IsolationReport;
}

export interface ResolvedProcessOptions {
  agentPath: string;
  nodePath: string;
  logLimitBytes: number;
  cgroups: CgroupDriver | null;
  runAs: RunAs | null;
  tmpRoot: string;
  startTimeoutMs: number;
  pidsMax: number | null;
}

export function resolveProcessOptions(options: ProcessBackendOptions): ResolvedProcessOptions {
  if (typeof options.agentPath !== 'string' || !isAbsolute(options.agentPath)) {
    throw new TypeError(`agentPath must be an absolute path, got ${JSON.stringify(options.agentPath)}`);
  }
  const logLimitBytes = options.logLimitBytes ?? DEFAULT_LOG_LIMIT_BYTES;
  if (!Number.isInteger(logLimitBytes) || logLimitBytes < 0) throw new TypeError(`logLimitBytes must be a non-negative integer, got ${logLimitBytes}`);
  const startTimeoutMs = options.startTimeoutMs ?? 60_000;
  if (!(startTimeoutMs > 0)) throw new TypeError(`startTimeoutMs must be positive, got ${startTimeoutMs}`);
  const pidsMax = options.pidsMax === undefined ? 512 : options.pidsMax;
  if (pidsMax !== null && (!Number.isInteger(pidsMax) || pidsMax < 16)) throw new TypeError(`pidsMax must be an integer ≥ 16 or null, got ${pidsMax}`);
  const runAs = options.runAs ?? null;
  if (runAs !== null && (!Number.isInteger(runAs.uid) || runAs.uid < 0 || !Number.isInteger(runAs.gid) || runAs.gid < 0)) {
    throw new TypeError(`runAs must be { uid, gid } with non-negative integers, got ${JSON.stringify(runAs)}`);
  }
  return {
    agentPath: options.agentPath,
    nodePath: options.nodePath ?? process.execPath,
    logLimitBytes,
    cgroups: options.cgroups ?? null,
    runAs,
    tmpRoot: options.tmpRoot ?? join(tmpdir(), 'thaw-sandboxes'),
    startTimeoutMs,
    pidsMax,
  };
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
  if (spec.env === null || typeof spec.env !== 'object') throw new TypeError('spec.env must be an object of strings');
  for (const [key, value] of Object.entries(spec.env)) {
    if (!/^[^=\0]+$/.test(key)) throw new TypeError(`spec.env: invalid variable name ${JSON.stringify(key)}`);
    if (typeof value !== 'string' || value.includes('\0')) throw new TypeError(`spec.env.${key} must be a string without NUL bytes`);
  }
  return spec;
}

/** Epoch milliseconds with sub-millisecond precision (comparable with the agent's performance.timeOrigin). */
export function epochNow(): number {
  return performance.timeOrigin + performance.now();
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
const PLACE_AND_EXEC = 'ulimit -c 0 2>/dev/null; while [ "$#" -gt 0 ] && [ "$1" != -- ]; do echo $$ > "$1" || exit 125; shift; done; shift; exec "$@"';
/** The shell's exit status when it could not enter the cgroup. */
const EXIT_CGROUP_PLACEMENT = 125;

const V8_OOM = /JavaScript heap out of memory|Reached heap limit|Allocation failed - process out of memory/;

/** `zygote`: started in zygote mode, packages imported, waiting to be specialised (never invoked). */
type State = 'new' | 'starting' | 'zygote' | 'idle' | 'busy' | 'paused' | 'exited' | 'destroyed';

type ResultMessage = Extract<AgentMessage, { type: 'result' }>;
type StartMessage = Extract<AgentMessage, { type: 'ready' | 'init-failed' | 'zygote-ready' }>;

export interface SpawnCommand {
  file: string;
  args: string[];
  env: Record<string, string>;
  cwd: string;
  /** Open file descriptors the runtime gets as fds 4, 5, ... (closed here after the spawn). */
  extraFds?: number[];
}

export class ProcessSandbox implements Sandbox {
  readonly id: string;
  readonly spec: Readonly<SandboxSpec>;
  readonly exited: Promise<ExitInfo>;
  /** What the function wrote while it loaded and initialised (after start() resolves). */
  startLogs: { stdout: string; stderr: string } = { stdout: '', stderr: '' };

  protected readonly options: ResolvedProcessOptions;
  protected cgroup: InstanceCgroup | undefined;
  protected child: ChildProcess | undefined;
  protected tmpDir: string | undefined;
  protected readonly logNonce = randomBytes(8).toString('hex');
  /** Zygote mode: the packages to import before any function is known (see ZygoteBoot). */
  protected readonly zygoteBoot: ZygoteBoot | undefined;
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
  private readonly results = new Map<string, ResultMessage>();
  private readonly resultWaiters = new Map<string, (msg: ResultMessage) => void>();
  private destroying: Promise<void> | undefined;
  private spawnError: Error | undefined;
  private releaseError: unknown;

  constructor(spec: SandboxSpec, options: ResolvedProcessOptions, zygote?: ZygoteBoot) {
    this.spec = Object.freeze({ ...validateSpec(spec), env: { ...spec.env } });
    this.id = spec.instanceId;
    this.options = options;
    this.label = spec.functionName;
    if (zygote !== undefined) {
      if (typeof zygote.packageDir !== 'string' || !isAbsolute(zygote.packageDir)) {
        throw new TypeError(`zygote.packageDir must be an absolute path, got ${JSON.stringify(zygote.packageDir)}`);
      }
      if (!Array.isArray(zygote.packages)) throw new TypeError('zygote.packages must be an array of package names');
      this.zygoteBoot = Object.freeze({ packageDir: zygote.packageDir, packages: Object.freeze([...zygote.packages]) });
    }
    this.limits = { memoryMb: spec.memoryMb, cpuShares: spec.cpuShares, cpuQuota: spec.cpuQuota ?? null };
    this.exited = new Promise((resolve) => (this.resolveExited = resolve));
  }

  get pid(): number | undefined {
    return this.runtimePid;
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

  /** Whether the runtime has exited (and everything was released). */
  protected get hasExited(): boolean {
    return this.exitInfo !== undefined;
  }

  /** (A method, so TypeScript does not narrow the state across awaits.) */
  private wasDestroyed(): boolean {
    return this.state === 'destroyed';
  }

  // ------------------------------------------------------------------ hooks for subclasses

  /** The environment the runtime gets: the function's env and a few needed variables, nothing of the host's. */
  protected environment(home: string): Record<string, string> {
    return {
      PATH: '/usr/local/bin:/usr/bin:/bin',
      HOME: home,
      TMPDIR: home,
      NODE_ENV: 'production',
      ...this.spec.env,
    };
  }

  /** Node's own arguments and the agent's (zygote mode: the package folder and packages instead of a bundle). */
  protected runtimeArgs(agentPath: string, bundlePath: string): string[] {
    const what = this.zygoteBoot
      ? [`--zygote=${this.zygoteDirForAgent()}`, `--preload=${this.zygoteBoot.packages.join(',')}`]
      : [`--bundle=${bundlePath}`];
    const args = [`--max-old-space-size=${this.spec.memoryMb}`, agentPath, ...what, `--log-marker=${this.logNonce}`];
    if (this.options.runAs) args.push(`--uid=${this.options.runAs.uid}`, `--gid=${this.options.runAs.gid}`);
    return args;
  }

  /** Zygote mode: where the agent finds the package folder (a container mounts it elsewhere). */
  protected zygoteDirForAgent(): string {
    return this.zygoteBoot!.packageDir;
  }

  /** Where the agent finds the function's bundle (a container mounts the code folder at /code). */
  protected bundlePathForAgent(): string {
    return join(this.spec.codeDir, 'bundle.cjs');
  }

  /** Creates whatever the sandbox needs before the spawn (here: its private TMPDIR). */
  protected async prepare(): Promise<void> {
    const dir = join(this.options.tmpRoot, this.id);
    // Traversable but not listable, so a function switched to another user reaches its own dir only.
    await mkdir(this.options.tmpRoot, { recursive: true, mode: 0o711 });
    await rm(dir, { recursive: true, force: true });
    await mkdir(dir, { mode: 0o700 });
    if (this.options.runAs) await chown(dir, this.options.runAs.uid, this.options.runAs.gid);
    this.tmpDir = dir;
  }

  protected command(): SpawnCommand {
    const home = this.tmpDir ?? tmpdir();
    return {
      file: this.options.nodePath,
      args: this.runtimeArgs(this.options.agentPath, this.bundlePathForAgent()),
      env: this.environment(home),
      cwd: this.spec.codeDir,
    };
  }

  /** The exit status as the runtime itself ended (a wrapper may encode signals as 128+n). */
  protected translateExit(code: number | null, signal: NodeJS.Signals | null): { code: number | null; signal: string | null } {
    return { code, signal };
  }

  /** The memory limit of the sandbox's cgroup, MB (a VM adds its monitor's own memory). */
  protected cgroupMemoryMb(): number {
    return this.spec.memoryMb;
  }

  /** Runs right after the spawn, before the start message is awaited (a VM restore drives QEMU here). */
  protected async afterSpawn(): Promise<void> {}

  /** The sandbox phase of a start: from t0 until the runtime process began (read off its own clock). */
  protected sandboxPhaseMs(t0: number, timings: AgentStartTimings): number {
    return timings.processStartEpochMs - t0;
  }

  /** When the start message (ready, init-failed, zygote-ready) arrived, epoch ms on the host's clock. */
  protected startMessageAtMs: number | undefined;

  /** Whether the exit was an out-of-memory kill the cgroup cannot see (a guest kernel's OOM killer). */
  protected exitWasOom(_status: { code: number | null; signal: string | null }): boolean {
    return false;
  }

  /** Sends one message to the agent on the protocol channel. */
  protected sendToAgent(message: HostMessage): void {
    if (!this.channel || this.channel.destroyed) throw new SandboxError('ERR_SANDBOX_STATE', `sandbox ${this.id} has no channel to its runtime`);
    this.channel.write(frame(message));
  }

  /** The host pid of the node process, once it is ready. */
  protected async findRuntimePid(spawnedPid: number): Promise<number> {
    return spawnedPid;
  }

  // ------------------------------------------------------------------ start

  async start(): Promise<StartTimings> {
    if (this.state !== 'new') throw new SandboxError('ERR_SANDBOX_STATE', `sandbox ${this.id} is ${this.state}; start() runs once`);
    this.state = 'starting';
    const t0 = epochNow();
    let cgroupMs = 0;
    const startTimer = deferredTimer(this.options.startTimeoutMs);
    try {
      try {
        await assertDirectory(this.spec.codeDir);
        await this.prepare();
        if (this.options.cgroups) {
          const c0 = epochNow();
          this.cgroup = await this.options.cgroups.create(this.id, {
            memoryMb: this.cgroupMemoryMb(),
            cpuShares: this.spec.cpuShares,
            cpuQuota: this.spec.cpuQuota ?? null,
            pidsMax: this.options.pidsMax,
          });
          cgroupMs = epochNow() - c0;
        }
        if (this.wasDestroyed()) throw new SandboxError('ERR_SANDBOX_STATE', `sandbox ${this.id} was destroyed while it started`);
        this.spawnRuntime(this.command());
      } catch (err) {
        await this.release();
        this.finishExit({ code: null, signal: null, oom: false });
        throw err instanceof SandboxError || err instanceof TypeError
          ? err
          : new SandboxError('ERR_SANDBOX_START', `sandbox ${this.id} could not be created: ${(err as Error).message}`, { cause: err });
      }

      // (A failure here is cleaned up by the finally below: the runtime is killed.)
      await this.afterSpawn();
      const first = await this.awaitStartMessage(startTimer);
      if (first.type === 'zygote-ready') {
        if (!this.zygoteBoot) throw new SandboxError('ERR_SANDBOX_START', `sandbox ${this.id}: the runtime said zygote-ready, but this is not a zygote`);
        this.runtimePid = await this.findRuntimePid(this.child!.pid!).catch(() => this.child!.pid!);
        if (this.wasDestroyed()) throw new SandboxError('ERR_SANDBOX_STATE', `sandbox ${this.id} was destroyed while it started`);
        this.state = 'zygote';
        const t = first.timings;
        return {
          sandboxMs: Math.max(0, t.processStartEpochMs - t0),
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
        sandboxMs: Math.max(0, this.sandboxPhaseMs(t0, t)),
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
      this.channel!.write(frame({ type: 'specialise', bundle: this.bundlePathForAgent(), env, functionName: request.functionName, version: request.version } satisfies HostMessage));
      const first = await waiting;
      const ready = await this.settleStart(first, startTimer);
      if (this.wasDestroyed()) throw new SandboxError('ERR_SANDBOX_STATE', `sandbox ${this.id} was destroyed while it was specialised`);
      this.state = 'idle';
      const t = ready.timings;
      return {
        // The message's way in, before the agent began: the only "sandbox" time left.
        sandboxMs: Math.max(0, t.processStartEpochMs - t0),
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
    const procs = this.cgroup?.procsFiles() ?? [];
    let child: ChildProcess;
    try {
      child = spawn('/bin/sh', ['-c', PLACE_AND_EXEC, 'thaw-sandbox', ...procs, '--', cmd.file, ...cmd.args], {
        cwd: cmd.cwd,
        env: cmd.env,
        stdio: ['ignore', 'pipe', 'pipe', 'pipe', ...(cmd.extraFds ?? [])],
        // Its own process group, so a kill reaches whatever it forks (and a Ctrl-C on thaw does not).
        detached: true,
      });
    } finally {
      for (const fd of cmd.extraFds ?? []) closeSync(fd);
    }
    this.child = child;
    this.runtimePid = child.pid;
    this.stdoutLog = new SegmentedLog(child.stdout, this.logNonce, this.options.logLimitBytes);
    this.stderrLog = new SegmentedLog(child.stderr, this.logNonce, this.options.logLimitBytes);
    const channel = child.stdio[3] as Duplex;
    this.channel = channel;
    let channelClosed: () => void;
    const channelDone = new Promise<void>((resolve) => (channelClosed = resolve));
    onLines(channel, (line) => this.onAgentLine(line));
    channel.on('error', () => undefined);
    channel.on('close', () => channelClosed());
    channel.on('end', () => channelClosed());

    const processExit = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
      child.once('exit', (code, signal) => resolve({ code, signal }));
      child.once('error', (err) => {
        this.spawnError = err;
        resolve({ code: null, signal: null });
      });
    });
    void processExit.then(async ({ code, signal }) => {
      if (this.spawnError) {
        // Never ran: no pipes will deliver anything.
        channel.destroy();
        child.stdout?.destroy();
        child.stderr?.destroy();
      }
      await this.afterExit(this.translateExit(code, signal), channelDone);
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
      const waiter = this.resultWaiters.get(msg.id);
      if (waiter) {
        this.resultWaiters.delete(msg.id);
        waiter(msg);
      } else {
        this.results.set(msg.id, msg);
      }
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
    if (!oom && this.exitWasOom(status)) oom = true;
    if (!oom && (status.signal === 'SIGABRT' || status.code === 134) && V8_OOM.test(this.stderrLog?.tail() ?? '')) oom = true;
    await this.release();
    this.finishExit({ code: status.code, signal: status.signal, oom });
  }

  private finishExit(info: ExitInfo): void {
    if (this.exitInfo) return;
    this.exitInfo = info;
    if (this.state !== 'destroyed' && this.state !== 'starting') this.state = 'exited';
    this.resolveExited(info);
  }

  /** Releases what a subclass holds beyond the cgroup and TMPDIR (a container's network namespace). Never throws. */
  protected async releaseExtra(): Promise<void> {}

  private async release(): Promise<void> {
    try {
      await this.cgroup?.destroy();
    } catch (err) {
      this.releaseError = err;
    }
    await this.releaseExtra();
    if (this.tmpDir) {
      await rm(this.tmpDir, { recursive: true, force: true }).catch(() => undefined);
      this.tmpDir = undefined;
    }
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
  protected async kill(): Promise<void> {
    if (!this.child || this.exitInfo) return;
    this.killGroup();
    try {
      this.child.kill('SIGKILL');
    } catch {
      // gone
    }
    if (this.cgroup) await this.cgroup.killAll().catch(() => undefined);
  }

  // ------------------------------------------------------------------ invoke

  async invoke(payload: unknown, context: InvocationContext, timeoutMs: number): Promise<InvokeOutcome> {
    if (!(Number.isFinite(timeoutMs) && timeoutMs > 0)) throw new TypeError(`timeoutMs must be a positive number, got ${timeoutMs}`);
    switch (this.state) {
      case 'idle':
        break;
      case 'exited': {
        // It died between invocations (e.g. a timer threw): a function failure, not misuse.
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
      case 'busy':
        throw new SandboxError('ERR_SANDBOX_STATE', `sandbox ${this.id} is busy: it runs one invocation at a time`);
      case 'paused':
        throw new SandboxError('ERR_SANDBOX_STATE', `sandbox ${this.id} is paused: resume() it first`);
      default:
        throw new SandboxError('ERR_SANDBOX_STATE', `sandbox ${this.id} is ${this.state}: it cannot be invoked`);
    }
    const id = context.invocationId || randomUUID();
    const line = frame({ type: 'invoke', id, payload, context: { ...context, invocationId: id } } satisfies HostMessage);
    this.state = 'busy';
    const seq = ++this.seq;
    const started = performance.now();
    const timer = deferredTimer(timeoutMs);
    const resultPromise = new Promise<ResultMessage>((resolve) => {
      const early = this.results.get(id);
      if (early) {
        this.results.delete(id);
        resolve(early);
      } else {
        this.resultWaiters.set(id, resolve);
      }
    });
    this.channel!.write(line);

    try {
      const first = await Promise.race([
        resultPromise.then((msg) => ({ type: 'result' as const, msg })),
        this.exited.then((info) => ({ type: 'exit' as const, info })),
        timer.promise.then(() => ({ type: 'timeout' as const })),
      ]);

      if (first.type === 'timeout') {
        await this.kill();
        await this.exited;
        const [stdout, stderr] = await this.segmentLogs(seq);
        return {
          ok: false,
          error: { kind: 'timeout', message: `the invocation did not finish within its time limit of ${timeoutMs} ms; the sandbox was killed` },
          durationMs: performance.now() - started,
          stdout,
          stderr,
          fatal: true,
        };
      }

      if (first.type === 'exit') {
        // A result that raced with the exit still counts (the channel is drained before exit settles).
        const late = this.results.get(id);
        if (late) return await this.fromResult(late, seq, timer);
        const info = first.info;
        const [stdout, stderr] = await this.segmentLogs(seq);
        const error: SerializedError = info.oom
          ? {
              kind: 'oom',
              message: `the function ran out of memory (limit ${this.limits.memoryMb} MB); the runtime was killed (${describeExit(info)})`,
            }
          : { kind: 'exit', message: `the runtime exited during the invocation (${describeExit(info)})` };
        return { ok: false, error, durationMs: performance.now() - started, stdout, stderr, fatal: true };
      }

      return await this.fromResult(first.msg, seq, timer);
    } finally {
      timer.cancel();
      this.resultWaiters.delete(id);
      this.results.delete(id);
      if (this.state === 'busy') this.state = this.exitInfo ? 'exited' : 'idle';
    }
  }

  private async fromResult(msg: ResultMessage, seq: number, timer: DeferredTimer): Promise<InvokeOutcome> {
    const fatal = !msg.ok && msg.fatal === true;
    // The markers follow the function's output on its own streams; wait for them (bounded by the
    // invocation's own deadline, in case the function closed its stdout).
    const [stdout, stderr] = await Promise.race([
      this.segmentLogs(seq),
      timer.promise.then(() => {
        this.stdoutLog?.cut(seq);
        this.stderrLog?.cut(seq);
        return this.segmentLogs(seq);
      }),
    ]);
    // The agent exits right after a fatal error: report once it is gone, so the caller sees a
    // consistent state.
    if (fatal) {
      await Promise.race([this.exited, timer.promise.then(() => this.kill())]);
      await this.exited;
    }
    const base = { durationMs: msg.durationMs, stdout, stderr, ...(fatal ? { fatal: true } : {}) };
    return msg.ok ? { ok: true, value: msg.value, ...base } : { ok: false, error: msg.error, ...base };
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
  protected async freezeRuntime(): Promise<void> {
    if (this.cgroup?.features.freezer) await this.cgroup.freeze();
    else await this.signalSandbox('SIGSTOP');
  }

  protected async thawRuntime(): Promise<void> {
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

/** Sandboxes as plain child processes (no namespaces), with cgroups when available. */
export class ProcessBackend implements ZygoteCapableBackend {
  readonly name: string = 'process';
  readonly isolation: IsolationReport;
  protected readonly options: ResolvedProcessOptions;

  constructor(options: ProcessBackendOptions) {
    this.options = resolveProcessOptions(options);
    this.isolation = options.isolation ?? processIsolationReport(this.options, []);
  }

  create(spec: SandboxSpec): ProcessSandbox {
    return new ProcessSandbox(spec, this.options);
  }

  /**
   * A zygote (added): a process that imports `zygote.packages` from `zygote.packageDir` and waits
   * to be specialised (ProcessSandbox.specialise). `spec.codeDir` is a folder of its own, filled in
   * later. Without namespaces the agent reads both by their host paths, as the user functions run
   * as: both must be reachable (traversable, readable) by that user.
   */
  createZygote(spec: SandboxSpec, zygote: ZygoteBoot): ProcessSandbox & ZygoteSandbox {
    return new ProcessSandbox(spec, this.options, zygote);
  }
}

/** What a process sandbox isolates (and, loudly, what it does not). */
export function processIsolationReport(options: ResolvedProcessOptions, extraWarnings: string[]): IsolationReport {
  const cg = options.cgroups;
  const warnings = [...extraWarnings];
  warnings.push(
    'NO NAMESPACES: functions run as plain processes: they see the host filesystem (whatever their user may read, ' +
      "including other functions' code), the host network (no network=false enforcement) and every host process.",
  );
  if (options.runAs === null && process.getuid?.() === 0) warnings.push('FUNCTIONS RUN AS ROOT on the host (runAs is off).');
  if (!cg) {
    warnings.push(
      'NO CGROUPS: memory is bounded only by V8\'s heap flag (Buffers and native memory are not), CPU is not limited, ' +
        'process count is not limited, pause uses SIGSTOP, and setLimits() is unavailable.',
    );
  } else {
    if (!cg.features.cpu) warnings.push('No cgroup cpu controller: CPU weight is not enforced.');
    if (!cg.features.pids) warnings.push('No cgroup pids controller: the number of processes is not limited.');
    if (!cg.features.freezer) warnings.push('No cgroup freezer: pause uses SIGSTOP.');
  }
  return {
    backend: 'process',
    namespaces: false,
    cgroups: cg ? cg.version : 'none',
    freezer: cg?.features.freezer ? 'cgroup' : 'signal',
    network: 'host',
    warnings,
  };
}
