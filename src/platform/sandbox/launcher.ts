// A Launcher says how one sandbox's runtime is started and held: which program is spawned (node
// itself, bubblewrap around node, QEMU around a guest running node), what it needs first (a private
// TMPDIR, a network namespace, an initrd) and releases after, and the few places where that program
// behaves differently from a plain node process (its exit status, its pid, how it is paused). The
// RuntimeProcess (runtime-process.ts) does everything else — cgroups, the protocol, logs, timeouts,
// OOM detection — the same for every launcher: a sandbox is a RuntimeProcess composed with a
// Launcher, never a subclass.
//
// What the runtime runs is the launcher's RuntimeEntry: the cold agent with the function's bundle,
// a zygote importing packages, or a V8 startup snapshot of the function.

import { chown, mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { getHeapStatistics } from 'node:v8';

import type { ChildProcess } from 'node:child_process';

import type { HostMessage } from '../../runtime/protocol.ts';
import type { InstanceCgroup } from './cgroups.ts';
import type { ExitInfo, SandboxSpec, ZygoteBoot } from './types.ts';

export interface RunAs {
  uid: number;
  gid: number;
}

/** What the runtime process runs. */
export type RuntimeEntry =
  /** The cold agent, loading the function's bundle. */
  | { kind: 'agent' }
  /** A zygote: imports the packages, waits to be specialised (see ZygoteBoot). */
  | { kind: 'zygote'; boot: ZygoteBoot }
  /** A V8 startup snapshot of the function (the snapshot agent, restored). */
  | { kind: 'snapshot'; blobPath: string };

export interface SpawnCommand {
  file: string;
  args: string[];
  env: Record<string, string>;
  cwd: string;
  /** Open file descriptors the runtime gets as fds 4, 5, ... (closed here after the spawn). */
  extraFds?: number[];
}

/** What a launcher may see of and do with the runtime process it launched. */
export interface RuntimeHandle {
  readonly spec: Readonly<SandboxSpec>;
  /** The nonce of this instance's log markers. */
  readonly logNonce: string;
  /** The runtime's host pid (the spawned process until the launcher's findRuntimePid said otherwise). */
  readonly pid: number | undefined;
  /** The process spawned (a wrapper such as bwrap or QEMU). */
  readonly spawnedPid: number | undefined;
  readonly exited: Promise<ExitInfo>;
  readonly hasExited: boolean;
  /** Invocations it serves at once (1 unless the spec asks for more and the launcher's agent can: servesConcurrently). */
  readonly concurrency: number;
  /** Per invocation and stream, the bytes of output kept. */
  readonly logLimitBytes: number;
  /** Sends one message to the agent (a microVM's `restored`). */
  sendToAgent(message: HostMessage): void;
}

/**
 * A runtime's process spawned ahead of need and waiting in its sandbox and cgroup (a stem: see
 * stem-pool.ts), with the pipes RuntimeProcess expects (stdin for its script; stdout, stderr, fd 3).
 */
export interface WaitingRuntime {
  readonly child: ChildProcess;
  /** Its exit, recorded since it was spawned. */
  readonly exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  readonly cgroup: InstanceCgroup | undefined;
  /** The instance takes it over: its cgroup and process are the instance's to kill and remove. */
  handOver(): void;
  /** Runs the runtime (node with the agent) inside it. */
  run(cmd: SpawnCommand): void;
}

export interface Launcher {
  /** Which backend's isolation this is ('process', 'container', 'microvm'). */
  readonly backend: string;
  readonly entry: RuntimeEntry;
  /** The function's bundle as the agent sees it (a container mounts the code folder at /code). */
  bundlePathForAgent(): string;
  /**
   * false: the agent ends only its start segment with log markers, and the host cuts each
   * invocation's output by the order it arrives in (--invocation-markers=off: see logMarker() in
   * the protocol). Only where the runtime's stdout and stderr are the pipes its function writes to.
   * Absent: true.
   */
  marksInvocations?(): boolean;
  /**
   * Whether the agent it starts can serve several invocations at once: command() then passes it
   * the handle's concurrency (concurrencyArguments). false: one at a time, whatever the spec asks.
   * (Not optional: a launcher wrapping another must pass it on, not lose it.)
   */
  servesConcurrently(): boolean;
  /** Before the cgroup is made and the runtime spawned: folders, a network namespace, an initrd. */
  prepare(): Promise<void>;
  /** After prepare(): a runtime already waiting (its limits are set, then command() runs in it); undefined: spawn one. */
  takeWaiting?(): WaitingRuntime | undefined;
  /** The program to spawn (the runtime process places itself in the cgroup first, then execs it). */
  command(handle: RuntimeHandle): SpawnCommand;
  /** Releases what prepare() took. Never throws. */
  release(): Promise<void>;
  /** The memory limit of the sandbox's cgroup, MB (default: the function's; a VM adds QEMU's own). */
  cgroupMemoryMb?(): number;
  /** After start() settles, either way (a pool of network namespaces refills its taken one). */
  afterStart?(): void;
  /** Right after the spawn, before the start message is awaited (a VM restore drives QEMU here). */
  afterSpawn?(handle: RuntimeHandle): Promise<void>;
  /** The runtime's own exit status from the spawned program's (bwrap encodes a signal as 128+n). */
  translateExit?(code: number | null, signal: NodeJS.Signals | null): { code: number | null; signal: string | null };
  /** An out-of-memory kill the cgroup cannot see (a guest kernel's OOM killer). */
  exitWasOom?(status: { code: number | null; signal: string | null }): boolean;
  /** The host pid of node when the spawned program is a wrapper. */
  findRuntimePid?(spawnedPid: number): Promise<number>;
  /** Runs before the sandbox's processes are killed (bwrap: node first, so its reaper exits in order). */
  beforeKill?(handle: RuntimeHandle): Promise<void>;
  /** Stops the runtime itself (a VM's vCPUs); false: the default (freezer cgroup, else SIGSTOP). */
  freeze?(): Promise<boolean>;
  thaw?(): Promise<boolean>;
  /** Adds what explains a failed start (a VM's console) to its error. */
  explainStartFailure?(error: Error): void;
}

/**
 * What bounds a runtime's memory. 'v8-flag': `--max-old-space-size` (the only bound without a
 * memory cgroup). 'cgroup': the sandbox's memory cgroup alone, and node is started with no V8 flag:
 * node's code cache for its built-ins serves only the V8 flags it was built with, so under any
 * flag every built-in loaded after boot (node:net and the streams under it, 5 ms) is compiled from
 * source (30–50 ms), on every cold start. In a cgroup the flag was never the binding limit: a heap
 * of N MB needs more than N MB of RSS, so the cgroup's OOM kill comes first either way.
 */
export type HeapBound = 'v8-flag' | 'cgroup';

/**
 * The bound for a runtime of `memoryMb` in a sandbox with (or without) a memory cgroup. With one,
 * node's default heap limit (sized from the memory node can see) must be at least the function's
 * memory, or dropping the flag would shrink the heap below what the function was given.
 */
export function heapBound(memoryCgroup: boolean, memoryMb: number, nodeDefaultMb: number = nodeDefaultHeapLimitMb()): HeapBound {
  return memoryCgroup && memoryMb <= nodeDefaultMb ? 'cgroup' : 'v8-flag';
}

/**
 * This node's heap limit without flags, MB (the same binary runs every runtime); 0 when thaw's own
 * node runs under a heap flag, so its limit says nothing of the default (every runtime keeps the flag).
 */
export function nodeDefaultHeapLimitMb(): number {
  if (defaultHeapLimitMb === undefined) {
    const flagged = [...process.execArgv, ...(process.env.NODE_OPTIONS ?? '').split(/\s+/)].some((a) => /^--max-(old-space|heap)-size/.test(a));
    defaultHeapLimitMb = flagged ? 0 : Math.floor(getHeapStatistics().heap_size_limit / 2 ** 20);
  }
  return defaultHeapLimitMb;
}
let defaultHeapLimitMb: number | undefined;

/** Node's own arguments and the agent's for `entry`, with the paths as the runtime sees them. */
export function nodeArguments(
  entry: RuntimeEntry,
  paths: { agentPath: string; bundlePath: string; zygoteDir: string; blobPath: string },
  memoryMb: number,
  logNonce: string,
  runAs: RunAs | null,
  heap: HeapBound = 'v8-flag',
): string[] {
  const user = runAs ? [`--uid=${runAs.uid}`, `--gid=${runAs.gid}`] : [];
  // A snapshot's blob loads only under the flags it was built with; a zygote boots off the start path.
  if (entry.kind === 'snapshot') return [...snapshotNodeArguments(paths.blobPath, memoryMb, logNonce), ...user];
  const what = entry.kind === 'zygote' ? [`--zygote=${paths.zygoteDir}`, `--preload=${entry.boot.packages.join(',')}`] : [`--bundle=${paths.bundlePath}`];
  const v8 = entry.kind === 'agent' && heap === 'cgroup' ? [] : nodeV8Flags(memoryMb);
  const markers = agentMarksInvocations(entry) ? [] : ['--invocation-markers=off'];
  return [...v8, paths.agentPath, ...what, `--log-marker=${logNonce}`, ...markers, ...user];
}

/**
 * Whether the agent nodeArguments() starts ends every invocation's log segment with a marker (the
 * snapshot agent does); the others mark their start only (Launcher.marksInvocations). The process
 * and container launchers, which read the runtime's own pipes, answer with this.
 */
export function agentMarksInvocations(entry: RuntimeEntry): boolean {
  return entry.kind === 'snapshot';
}

/**
 * Whether the agent nodeArguments() starts for `entry` takes --concurrency: the cold agent and a
 * zygote's (agent.ts: the AgentSession serves them concurrently). Not a V8 snapshot's: its restore
 * parses only the few arguments it was built to take (snapshot-agent.ts), and its session is made
 * at build time, before any instance's concurrency is known.
 */
export function agentServesConcurrently(entry: RuntimeEntry): boolean {
  return entry.kind !== 'snapshot';
}

/** The agent's arguments for serving `handle.concurrency` invocations at once; none for one at a time (its tuned warm path). */
export function concurrencyArguments(handle: Pick<RuntimeHandle, 'concurrency' | 'logLimitBytes'>): string[] {
  return handle.concurrency > 1 ? [`--concurrency=${handle.concurrency}`, `--log-limit=${handle.logLimitBytes}`] : [];
}

/** V8 flags of every runtime, and of both the build and every restore of a snapshot (a blob refuses to load under other flags). */
export function nodeV8Flags(memoryMb: number): string[] {
  return [`--max-old-space-size=${memoryMb}`];
}

/**
 * V8 flags of every restore on top of the build's (flags outside V8's snapshot flag hash only).
 * --no-concurrent-marking: on Node v20.20, restoring a large heap (init-heavy's 84 MiB) crashes
 * with SIGSEGV in v8::internal::ConcurrentMarking::RunMajor (gdb) for some heap layouts, reproducibly
 * for a given blob: a concurrent marker starts while the heap is still being deserialised. Without
 * concurrent marking V8 still marks incrementally, on the main thread; the cost is longer GC steps
 * in instances with big heaps, the gain is restores that do not crash.
 */
export const RESTORE_V8_FLAGS: readonly string[] = ['--no-concurrent-marking'];

/** node's arguments for a restore of `blob`, up to the user switch. */
function snapshotNodeArguments(blob: string, memoryMb: number, logNonce: string): string[] {
  return ['--snapshot-blob', blob, ...nodeV8Flags(memoryMb), ...RESTORE_V8_FLAGS, '--', `--log-marker=${logNonce}`];
}

/** The environment the runtime gets: the function's env and a few needed variables, nothing of the host's. */
export function runtimeEnvironment(spec: Readonly<SandboxSpec>, home: string): Record<string, string> {
  return { PATH: '/usr/local/bin:/usr/bin:/bin', HOME: home, TMPDIR: home, NODE_ENV: 'production', ...spec.env };
}

/** A fresh private folder <root>/<id> for one sandbox, owned by the user functions run as. */
export async function makePrivateDir(root: string, id: string, runAs: RunAs | null): Promise<string> {
  const dir = join(root, id);
  // Traversable but not listable, so a function switched to another user reaches its own dir only.
  await mkdir(root, { recursive: true, mode: 0o711 });
  await rm(dir, { recursive: true, force: true });
  await mkdir(dir, { mode: 0o700 });
  if (runAs) await chown(dir, runAs.uid, runAs.gid);
  return dir;
}
