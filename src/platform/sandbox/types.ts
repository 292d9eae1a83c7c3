// The Sandbox interface: one instance of one function, isolated. Backends (a bare process, a lean
// bubblewrap container, later snapshots, zygotes and microVMs) implement it; the invoker only sees it.

import type { StartPathKind } from '../../core/instance.ts';
import type { ErrorKind, InvocationContext, ZygoteLoadReport } from '../../runtime/protocol.ts';

export interface SandboxSpec {
  /** Unique id of the instance (names its cgroup, its private /tmp). */
  instanceId: string;
  functionName: string;
  version: number;
  /** Folder holding the deployed, bundled function (`bundle.cjs`); mounted read-only. */
  codeDir: string;
  /** Memory limit, MB (cgroup memory limit and V8's heap limit). */
  memoryMb: number;
  /** CPU weight; 1024 = one core's fair share (cgroup cpu.shares / cpu.weight). */
  cpuShares?: number;
  /** Hard CPU cap in cores (cgroup cfs quota / cpu.max), e.g. 0.5; absent or null = no cap. (Added.) */
  cpuQuota?: number | null;
  env: Record<string, string>;
  /** Whether the function may use the network (otherwise a new, empty network namespace). */
  network: boolean;
  /**
   * Invocations the instance serves at once (an integer 1..1000; absent: 1). Where the backend's
   * runtime cannot serve more than one, its Sandbox says so (Sandbox.concurrency = 1). (Added.)
   */
  concurrency?: number;
}

/** Phases of a cold start, ms. */
export interface StartTimings {
  /** Creating the sandbox: namespaces, mounts, cgroup, until the runtime process begins. */
  sandboxMs: number;
  /** The runtime (node) booting until the agent runs. */
  runtimeBootMs: number;
  /** The agent's own setup (stdio, protocol channel) between runtime boot and import. (Added.) */
  agentSetupMs?: number;
  /** Loading the function bundle: its dependencies and top-level code. */
  importMs: number;
  /** The function's init(). */
  initMs: number;
  /** Of sandboxMs, the time spent creating and configuring the instance's cgroup (0 without). (Added.) */
  cgroupMs?: number;
}

export interface InvokeOutcome {
  ok: boolean;
  value?: unknown;
  error?: { kind: ErrorKind; name?: string; message: string; stack?: string };
  /** Execution time measured inside the sandbox, ms. */
  durationMs: number;
  /** What the function wrote during the invocation, truncated to the backend's log limit. */
  stdout: string;
  stderr: string;
  /**
   * The sandbox cannot serve another invocation: it has exited (timeout, exit, OOM) or exits right
   * after this one (an uncaught exception or unhandled rejection). Replace it. (Added.)
   */
  fatal?: boolean;
}

export interface ExitInfo {
  code: number | null;
  signal: string | null;
  /** The kernel killed it for exceeding its memory limit (cgroup OOM), or V8 ran out of heap. */
  oom: boolean;
}

export interface Sandbox {
  readonly id: string;
  /** The runtime process id on the host, once started. */
  readonly pid: number | undefined;
  /** Boots the runtime in the sandbox, loads the bundle, runs init(). Rejects if init fails. */
  start(): Promise<StartTimings>;
  /**
   * Runs one invocation. A function error resolves with ok: false; it rejects only on misuse.
   * `payloadJson`: the payload's JSON text as the caller received it (JSON.parse of it gave
   * `payload`), for a sandbox that hands the payload on as text: it need not encode it again.
   */
  invoke(payload: unknown, context: InvocationContext, timeoutMs: number, payloadJson?: string): Promise<InvokeOutcome>;
  /** Freezes every process of the sandbox (freezer cgroup, or SIGSTOP). */
  pause(): Promise<void>;
  resume(): Promise<void>;
  /** Adjusts limits while it runs (vertical scaling). */
  setLimits(limits: { memoryMb?: number; cpuShares?: number; cpuQuota?: number | null }): Promise<void>;
  /** Resident memory now, MB. */
  memoryUsageMb(): Promise<number>;
  /** Kills it and releases everything it held. Idempotent. */
  destroy(): Promise<void>;
  /**
   * Invocations it serves at once: its spec's concurrency, or 1 where the backend cannot serve more
   * (invoke() beyond it rejects with ERR_SANDBOX_STATE). (Added.)
   */
  readonly concurrency: number;
  /** Invocations it is serving now (invoked, not yet answered). (Added.) */
  readonly inFlight: number;
  /** Settles when the runtime process has exited, for whatever reason. */
  readonly exited: Promise<ExitInfo>;
  /**
   * How it really started, when that can differ from the start path planned for it (a snapshot or
   * isolate start that fell back to cold, a VM restored from a snapshot). Absent: as planned.
   */
  readonly startKind?: StartPathKind;
}

/** What isolation a backend really provides on this machine (detected, never assumed). */
export interface IsolationReport {
  backend: string;
  namespaces: boolean;
  cgroups: 'v1' | 'v2' | 'none';
  /** How a paused instance is stopped: its cgroup frozen, SIGSTOP, or (a microVM) its guest stopped. */
  freezer: 'cgroup' | 'signal' | 'vm-stop';
  /**
   * What a function deployed with network access gets: a network namespace of its own with egress
   * only (`namespace`), this host's network (`host`: it reaches the host's loopback and services), or
   * none at all (`none`). Absent: not said by this backend. (Added.)
   */
  network?: 'namespace' | 'host' | 'none';
  /** The CPU scheduling policy instances run under (scheduling.ts). Absent: not said by this backend. (Added.) */
  scheduling?: 'batch' | 'normal';
  /** Each missing piece of isolation, said plainly (printed loudly by thaw serve). */
  warnings: string[];
}

export interface SandboxBackend {
  readonly name: string;
  readonly isolation: IsolationReport;
  create(spec: SandboxSpec): Sandbox;
  /** Releases what the backend holds beyond its sandboxes (a pool of network namespaces). (Added.) */
  close?(): Promise<void>;
}

// ------------------------------------------------------------------ zygotes (added)

/**
 * What a zygote sandbox imports before any function is known: npm packages from a package folder
 * on the host (mounted read-only at /zygote in a container). The sandbox's SandboxSpec.codeDir is a
 * host folder of its own, empty at start (mounted read-only at /code), into which the platform
 * writes the function's bundle just before it specialises the zygote.
 */
export interface ZygoteBoot {
  /** Host folder holding node_modules/ with the packages (installed at their exact versions). */
  packageDir: string;
  /** Package names to import, in order. May be empty (a bare, pre-booted runtime). */
  packages: readonly string[];
}

/** What the function's instance gets when a zygote is specialised for it. */
export interface SpecialiseRequest {
  functionName: string;
  version: number;
  /** The function's environment, added to the zygote's before its bundle loads. */
  env: Record<string, string>;
  /**
   * Invocations the instance serves at once (1..MAX_CONCURRENCY; default 1): the zygote's agent was
   * booted before the function was known, and takes its concurrency with the function.
   */
  concurrency?: number;
}

/** Start phases of a specialisation, with what it loaded (see ZygoteLoadReport). */
export interface SpecialiseTimings extends StartTimings {
  zygote?: ZygoteLoadReport;
}

/** A sandbox started as a zygote: start() imports the packages; specialise() loads one function, once. */
export interface ZygoteSandbox extends Sandbox {
  /** The host folder mounted at /code (write the function's bundle.cjs there before specialise()). */
  readonly codeDir: string;
  /** Starts the runtime and imports the packages (importMs = the packages' import; no function yet). */
  start(): Promise<StartTimings>;
  /** Loads the function's bundle from codeDir/bundle.cjs in the waiting zygote and runs its init(). Once. */
  specialise(request: SpecialiseRequest): Promise<SpecialiseTimings>;
  /** Whether specialise() was ever called (a zygote serves one function, ever). */
  readonly specialised: boolean;
  /** `zygote` while it waits to be specialised; then as any sandbox (idle, busy, ..., exited). */
  readonly status: string;
}

/** A backend that can also start zygotes (the process and lean-container backends). */
export interface ZygoteCapableBackend extends SandboxBackend {
  createZygote(spec: SandboxSpec, zygote: ZygoteBoot): ZygoteSandbox;
}

export function isZygoteCapable(backend: SandboxBackend): backend is ZygoteCapableBackend {
  return typeof (backend as Partial<ZygoteCapableBackend>).createZygote === 'function';
}
