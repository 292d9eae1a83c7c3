// What the snapshot builder (src/platform/accelerators/v8-snapshot/builder.ts) and the snapshot entry it bundles
// (src/runtime/snapshot-agent.ts) agree on: the entry's baked-in configuration, the build report the
// entry writes on fd 3 while `node --build-snapshot` runs it, and which Node.js built-ins a user-land
// startup snapshot cannot hold. Types and constants only; the entry imports nothing else from the platform.

/** Baked into each function's snapshot entry at bundle time. */
export interface SnapshotEntryConfig {
  functionName: string;
  version: number;
  /** The bundle's path as the function sees it (its __filename): /code/bundle.cjs in a container. */
  filename: string;
  /** Drop to this user before any of the function's code runs at build time (null: stay). */
  runAs: { uid: number; gid: number } | null;
  /**
   * How long open handles (timers, sockets, servers, watchers, child processes) may take to close
   * after init() and beforeSnapshot() before the build gives up on them, ms.
   */
  settleMs: number;
}

/** Why a build cannot produce a snapshot, as the entry classifies it. */
export type SnapshotFailureKind =
  /** A built-in that Node.js cannot put in a user-land snapshot was loaded while building. */
  | 'unsupported-builtin'
  /** A native addon (.node) was loaded while building: its memory is outside the V8 heap. */
  | 'native-addon'
  /** Something still open after init/beforeSnapshot: a timer, socket, server, watcher, child. */
  | 'open-handle'
  /** A module that is not in the bundle was required while building (only built-ins can be). */
  | 'external-module'
  /** The function's top-level code, init() or beforeSnapshot() threw. */
  | 'function-error'
  /** The bundle exports no handler. */
  | 'no-handler'
  /** Something else (the entry's own failure, a crash of node while serialising, a timeout). */
  | 'other';

export type SnapshotBuildMessage =
  | {
      type: 'built';
      /** Loading the bundle (its top-level code) at build time, ms. */
      importMs: number;
      /** init() at build time, ms. */
      initMs: number;
      /** beforeSnapshot() at build time, ms. */
      beforeSnapshotMs: number;
      /** Built-ins Node.js has not verified in user snapshots that the function loaded (they restored fine in the check). */
      unverified: string[];
      hooks: { init: boolean; beforeSnapshot: boolean; afterRestore: boolean };
    }
  | { type: 'failed'; kind: SnapshotFailureKind; reason: string; detail?: string }
  /** Written by a restore started with --check: the blob deserialised and the entry's state is intact. */
  | { type: 'check-ok'; functionName: string; version: number };

/**
 * Built-ins that break a Node.js 20 user-land snapshot when loaded at build time (measured on
 * v20.20: each was required alone by a build script and the build failed):
 *   http, http2 — TypeError "methods.toSorted is not a function" while the module loads in the builder;
 *   https, tls — V8 aborts serialising ("global handle not serialized" / "Unknown external reference");
 *   repl — TypeError while it loads (its list of built-ins is not available in the builder).
 * Whatever loads them (fetch/undici, most HTTP client and server packages) fails the same way.
 */
export const UNSUPPORTED_BUILTINS: readonly string[] = ['http', 'http2', 'https', 'tls', 'repl', '_http_agent', '_http_client', '_http_common', '_http_incoming', '_http_outgoing', '_http_server', '_tls_common', '_tls_wrap'];

/**
 * Built-ins outside Node.js 20's list of modules supported in user snapshots (Node prints "It's
 * not yet fully verified whether built-in module X works in user snapshot builder scripts"). Each
 * was loaded alone, snapshotted and restored fine on v20.20; using some of them at build time is
 * refused by Node itself (a Worker: ERR_NOT_SUPPORTED_IN_SNAPSHOT) or leaves an open handle (a
 * child process, a bound dgram socket). thaw builds these, then restores the blob once in a check
 * before trusting it, and lists them in the build report.
 */
export const UNVERIFIED_BUILTINS: readonly string[] = [
  'async_hooks', 'child_process', 'cluster', 'dgram', 'dns/promises', 'domain', 'inspector', 'inspector/promises', 'module',
  'perf_hooks', 'readline', 'readline/promises', 'stream/consumers', 'stream/web', 'trace_events', 'tty', 'vm', 'wasi', 'worker_threads',
];

/** The prefix of the one line the entry writes on stderr when fd 3 is not available. */
export const BUILD_REPORT_PREFIX = 'thaw-snapshot-report:';

/** The argument a check restore is started with: deserialise, report `check-ok`, exit; run none of the function's code. */
export const CHECK_ARGUMENT = '--check';
