// The wire protocol between the platform and the runtime agent inside a sandbox: newline-delimited
// JSON on file descriptor 3 (a pipe), so the function's own stdout and stderr stay free for its logs.
// The agent imports nothing from the platform but these types.

/** What the function sees as its second argument. */
export interface InvocationContext {
  invocationId: string;
  functionName: string;
  version: number;
  memoryMb: number;
  /** Epoch ms by which the invocation must finish. */
  deadlineMs: number;
  /** W3C trace context of the invocation (thaw's span with --otlp, else the caller's), for the function's own spans. */
  traceparent?: string;
}

export type HostMessage =
  | { type: 'invoke'; id: string; payload: unknown; context: InvocationContext }
  | { type: 'shutdown' }
  /**
   * (Added.) An agent started with --concurrency=N>1 only: invocation `id` passed its deadline and
   * the host gives up on it. The agent stops waiting for it (what it does later is not reported:
   * its output goes to the pipes, its result nowhere), frees its slot and answers `abandoned` with
   * what it wrote so far. An id not in flight (its result is on its way) gets no answer.
   */
  | { type: 'abandon'; id: string }
  | RestoredMessage
  | SpecialiseMessage;

/**
 * MicroVMs only (added): the VM was restored from a snapshot taken while this agent was idle after
 * `ready`. The agent takes `logMarker` as its nonce, restarts its log segments at 0, sets the
 * guest clock to `epochMs` (best effort, to the second), reseeds what it can from `seed` (32
 * random bytes, hex: every clone of a snapshot starts with the same generator states) and
 * answers `ready` with zero start phases.
 */
export interface RestoredMessage {
  type: 'restored';
  logMarker: string;
  epochMs: number;
  seed: string;
}

/**
 * Zygote mode only (added): turn this zygote into an instance of one function, once. The agent sets
 * the function's environment, loads `bundle` (a variant bundle whose zygote packages are left as
 * run-time requires, resolved from the zygote's package folder, where they are already loaded),
 * runs init() and answers `ready` (or `init-failed`). A second `specialise` is refused (exit 64).
 */
export interface SpecialiseMessage {
  type: 'specialise';
  /** The bundle as the agent sees it, e.g. /code/bundle.cjs. */
  bundle: string;
  /** Variables added to the zygote's environment before the bundle loads. */
  env: Record<string, string>;
  functionName: string;
  version: number;
  /**
   * (Added.) Invocations to serve at once from now on, as --concurrency (absent: 1), and with more
   * than one, the bytes of output kept per invocation and stream, as --log-limit.
   */
  concurrency?: number;
  logLimitBytes?: number;
}

/** What a zygote specialisation loaded (added; in `ready` after a `specialise`). */
export interface ZygoteLoadReport {
  /** Packages the zygote had imported before it was specialised. */
  preloaded: string[];
  /** CommonJS modules compiled while the function loaded (the bundle itself counts one): the "rest". */
  modulesLoaded: number;
  /** Of `preloaded`, those whose main module the function's code required, now served from the zygote's cache. */
  reused: string[];
}

/** Start phases the agent measures itself, ms. */
export interface AgentStartTimings {
  /** performance.timeOrigin of the agent's process (epoch ms): when node began to start. */
  processStartEpochMs: number;
  /** From process start to the agent's first line running: the runtime's own boot. */
  runtimeBootMs: number;
  /** The agent's own setup after its first line (stdio, the fd-3 channel, arguments), before the import. (Added.) */
  agentSetupMs?: number;
  /** Loading the function bundle (its dependencies and top-level code). */
  importMs: number;
  /** The function's init() export, if any. */
  initMs: number;
}

export type ErrorKind = 'error' | 'timeout' | 'exit' | 'oom' | 'init';

export interface SerializedError {
  kind: ErrorKind;
  name?: string;
  message: string;
  stack?: string;
}

export type AgentMessage =
  | { type: 'ready'; timings: AgentStartTimings; zygote?: ZygoteLoadReport }
  /** (Added.) The answer to `abandon`: the invocation's output until then, and how long it had run, ms. */
  | { type: 'abandoned'; id: string; durationMs: number; stdout?: string; stderr?: string }
  /** Zygote mode (added): the packages are imported; waiting for `specialise`. importMs = the packages' import. */
  | { type: 'zygote-ready'; timings: AgentStartTimings; packages: string[] }
  | { type: 'init-failed'; error: SerializedError; timings: Partial<AgentStartTimings> }
  | ({ type: 'result'; id: string; ok: true; value: unknown; durationMs: number } & ResultSegment)
  | ({
      type: 'result';
      id: string;
      ok: false;
      error: SerializedError;
      durationMs: number;
      /** The agent exits right after this message (an uncaught exception or unhandled rejection). */
      fatal?: boolean;
    } & ResultSegment);

/** (Added.) How the invocation's log segment ends, from an agent started with --invocation-markers=off. */
export interface ResultSegment {
  /** true: with markers after all (output was still queued for a pipe when the invocation ended; see logMarker()). */
  marked?: boolean;
  /**
   * (Added.) Without markers: the bytes the agent's stdout and stderr have taken since it started,
   * this invocation's output included. The host ends the segment as soon as it has read as many
   * from each pipe (usually already, when it reads the result) instead of reading for the rest of a
   * turn of its event loop. Absent: a stream that does not count them (not a pipe).
   */
  written?: [stdout: number, stderr: number];
  /**
   * (Added.) An agent started with --concurrency=N>1: what the function wrote to process.stdout and
   * process.stderr (console.* included) from the invocation's own async context, bounded by
   * --log-limit (see concurrent-output.ts). Absent: nothing, or an agent serving one at a time, whose
   * output is cut from the pipes by its markers.
   */
  stdout?: string;
  stderr?: string;
}

/** Most invocations an agent serves at once (--concurrency, SandboxSpec.concurrency). */
export const MAX_CONCURRENCY = 1000;

/** The file descriptor the protocol runs on, in the agent. */
export const PROTOCOL_FD = 3;

/**
 * How the agent is started (all arguments after the agent script; every one is optional except
 * --bundle, which may instead come from THAW_BUNDLE in the environment, removed before user code runs):
 *   --bundle=<path>      the function bundle (CommonJS), e.g. /code/bundle.cjs
 *   --log-marker=<hex>   nonce for the end-of-segment markers written to stdout and stderr
 *   --invocation-markers=off  the markers end the start segment only (the host cuts invocations
 *                        by the order their output arrives in: see logMarker())
 *   --uid=<n> --gid=<n>  drop to this user and group (needs root) after reading the bundle and
 *                        before running any of its code
 *   --concurrency=<n>    (added) serve up to n invocations at once (1..1000; default 1, one at a
 *                        time); further ones queue. With n > 1 invocations end no log segment: what
 *                        each writes through process.stdout / process.stderr is captured by async
 *                        context and returned in its result (`stdout`, `stderr`); see concurrent-output.ts
 *   --log-limit=<bytes>  (added) with --concurrency > 1: per invocation and stream, the most output
 *                        kept (its head and tail; default 64 KiB)
 * Zygote mode (added), instead of --bundle:
 *   --zygote=<dir>       a package folder (<dir>/node_modules); drop privileges first, then import
 *   --preload=<a,b,...>  these packages from it, say `zygote-ready`, and wait for one `specialise`
 */
export interface AgentArguments {
  /** The function bundle; '' in zygote mode (it comes with `specialise`). */
  bundle: string;
  logMarker?: string;
  /** false (--invocation-markers=off): only the start segment ends with a marker (see logMarker()). */
  invocationMarkers?: boolean;
  uid?: number;
  gid?: number;
  /** Invocations served at once (--concurrency; absent: 1, one at a time). */
  concurrency?: number;
  /** With concurrency > 1: per invocation and stream, the bytes of output kept (--log-limit; absent: 64 KiB). */
  logLimitBytes?: number;
  /** Zygote mode: the package folder the preloaded packages are imported from. */
  zygote?: string;
  /** Zygote mode: the packages to import (may be empty: a bare pre-booted runtime). */
  preload?: string[];
}

/**
 * The agent ends each log segment (the start, then each invocation) by writing this marker to both
 * stdout and stderr, through the same stream the function writes to, before it sends `ready` or
 * `result`. The host cuts the function's output at the markers, so each invocation gets exactly
 * the output written during it (output written between invocations goes to the next one).
 * `seq` is 0 for the start and n for the n-th invocation.
 *
 * With --invocation-markers=off only the start segment has one. That is for hosts that read the
 * function's stdout and stderr from the very pipes it writes to (a process or a container; not a
 * microVM, whose output comes through QEMU): the agent's writes to them are synchronous, so every
 * byte written before the result is in those pipes when the host reads the result. The result
 * says how many bytes the streams have taken (`written`): the host ends the segment once it has
 * read that many from each pipe, and without the count once it has read what they hold (one turn
 * of its event loop, which reads every ready pipe). Two pipe writes and two wake-ups of the host
 * fewer per invocation; output written after the result (a timer the function left), or around
 * the streams (fd 1 itself, a child process), may then go to this invocation or to the next.
 * Writes to a full pipe are queued, not synchronous: when the function's stdout or stderr still
 * holds queued bytes at the end of an invocation, the agent writes the markers after all (they
 * queue behind those bytes) and says so in the result (`marked`).
 */
export const LOG_MARKER_PREFIX = '\u0000thaw-end:';
export function logMarker(nonce: string, seq: number): string {
  return `${LOG_MARKER_PREFIX}${nonce}:${seq}\u0000`;
}
