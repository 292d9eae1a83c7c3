// The snapshot agent: the entry of a function's V8 startup snapshot. The platform bundles this file
// with the function's deployed bundle (src/platform/accelerators/v8-snapshot/builder.ts) into ONE CommonJS script
// that needs only built-ins, and runs it once as
//
//   node --max-old-space-size=N --snapshot-blob out.blob --build-snapshot entry.cjs
//
// At build time it loads the function, runs init() and then beforeSnapshot(), makes sure nothing is
// left open (a timer, socket, server, watcher or child would keep the builder waiting forever), and
// reports on fd 3. Node then saves the heap. Each instance is then started as
//
//   node --max-old-space-size=N --snapshot-blob out.blob -- --log-marker=hex [--uid=N --gid=N]
//
// and begins in the deserialize main function registered here: it refreshes per-instance state,
// runs afterRestore(), and serves the cold agent's protocol on fd 3 (ready → invoke …), reporting
// runtimeBootMs = process start → the deserialize main, importMs = 0, initMs = afterRestore().
//
// Per-instance state. V8 reseeds Math.random on restore and crypto.randomBytes / getRandomValues
// read OpenSSL (outside the heap), so they differ between instances. But node:crypto's randomUUID()
// (also globalThis.crypto.randomUUID) serves UUIDs from a heap buffer of 128 filled ahead, and
// randomInt() from a heap buffer of 1024 values: both were snapshotted, so every instance restored
// from one blob would replay the same "random" values. The first deserialize callback runs each
// through exactly one whole cycle (128 UUIDs, 1024 ints), which refills its buffer from OpenSSL and
// leaves the read position where it was: the values that follow are fresh in every instance, also
// through references the function took at build time (const { randomUUID } = require('crypto')).

// Must stay the first import: its clock reading is taken when the entry starts (at build time).
import './boot-clock.ts';

import * as fs from 'node:fs';
import * as path from 'node:path';
import * as v8 from 'node:v8';

import { define } from 'thaw:function';
import config from 'thaw:snapshot-config';

import { dropPrivileges, pickExport, refreshCryptoCaches, serializeError, type Handler } from './agent-lib.ts';
import { socketChannel, type ProtocolChannel } from './channel.ts';
import { frame } from './framing.ts';
import { PROTOCOL_FD, type AgentStartTimings } from './protocol.ts';
import { AgentSession, EXIT_FATAL, EXIT_USAGE } from './session.ts';
import { BUILD_REPORT_PREFIX, CHECK_ARGUMENT, UNSUPPORTED_BUILTINS, UNVERIFIED_BUILTINS, type SnapshotBuildMessage, type SnapshotFailureKind } from './snapshot-protocol.ts';

type Hook = () => unknown;

// The builder's require: built-ins only (captured here; after a restore, run-time requires go
// through a normal require made for the bundle's path).
const builderRequire: (id: string) => unknown = require;

/** Building the snapshot, restoring it (before the channel is open), then serving in a session. */
let stage: 'building' | 'restoring' | 'session' = 'building';

// ------------------------------------------------------------------ build time

class BuildFailure extends Error {
  constructor(
    readonly kind: SnapshotFailureKind,
    message: string,
  ) {
    super(message);
    this.name = 'SnapshotBuildFailure';
  }
}

/** The first build-time problem met in a require (the function might catch the error; the build still fails). */
let requireFailure: BuildFailure | undefined;
const unverifiedLoaded = new Set<string>();
let restoredRequire: ((id: string) => unknown) | undefined;

function report(message: SnapshotBuildMessage): void {
  const line = frame(message);
  try {
    fs.writeSync(PROTOCOL_FD, line);
  } catch {
    try {
      fs.writeSync(2, `${BUILD_REPORT_PREFIX}${line}`);
    } catch {
      // nowhere to report
    }
  }
}

function buildFailed(err: unknown): never {
  const failure = err instanceof BuildFailure ? err : requireFailure;
  if (failure) {
    report({ type: 'failed', kind: failure.kind, reason: failure.message, detail: err instanceof BuildFailure ? undefined : describe(err) });
  } else {
    const e = serializeError(err, 'init');
    report({ type: 'failed', kind: 'function-error', reason: `${e.name ? `${e.name}: ` : ''}${e.message}`, detail: e.stack });
  }
  process.exit(EXIT_FATAL);
}

function describe(err: unknown): string {
  const e = serializeError(err, 'init');
  return e.stack ?? `${e.name}: ${e.message}`;
}

function bareBuiltin(id: string): string {
  return id.startsWith('node:') ? id.slice(5) : id;
}

/** The require the function's bundle gets: strict at build time, a normal one after a restore. */
function functionRequire(id: string): unknown {
  if (restoredRequire) return restoredRequire(id);
  if (typeof id !== 'string') return builderRequire(id);
  const bare = bareBuiltin(id);
  if (/\.node$/i.test(id)) {
    requireFailure ??= new BuildFailure('native-addon', `loads the native addon ${JSON.stringify(id)} at build time; a native addon's memory is outside the V8 heap, so it cannot be in a snapshot`);
    throw requireFailure;
  }
  if (UNSUPPORTED_BUILTINS.includes(bare)) {
    requireFailure ??= new BuildFailure('unsupported-builtin', `loads node:${bare} at build time, which Node.js ${process.version} cannot put in a user-land snapshot (load it lazily, inside the handler)`);
    throw requireFailure;
  }
  let loaded: unknown;
  try {
    loaded = builderRequire(id);
  } catch (err) {
    if ((err as NodeJS.ErrnoException)?.code === 'MODULE_NOT_FOUND' && !id.startsWith('node:')) {
      requireFailure ??= new BuildFailure('external-module', `requires ${JSON.stringify(id)} at build time, which is not in the bundle (only built-ins can be loaded while a snapshot is built)`);
      throw requireFailure;
    }
    throw err;
  }
  if (UNVERIFIED_BUILTINS.includes(bare)) unverifiedLoaded.add(bare);
  return loaded;
}
functionRequire.resolve = (id: string): string => {
  if (restoredRequire) return (restoredRequire as NodeJS.Require).resolve(id);
  throw new BuildFailure('external-module', `calls require.resolve(${JSON.stringify(id)}) at build time`);
};
functionRequire.cache = Object.create(null) as Record<string, unknown>;

/** Handles open before the function's code ran (stdout and stderr, when they are pipes): not the function's. */
let baseline: string[] = [];

function recordBaseline(): void {
  void process.stdout;
  void process.stderr;
  baseline = process.getActiveResourcesInfo();
}

/** What the function left open: the active resources, less the baseline's. */
function activeHandles(): string[] {
  const rest = [...baseline];
  return process.getActiveResourcesInfo().filter((r) => {
    const i = rest.indexOf(r);
    if (i >= 0) {
      rest.splice(i, 1);
      return false;
    }
    return r !== 'TTYWrap';
  });
}

const HANDLE_NAMES: Record<string, string> = {
  Timeout: 'a timer (setTimeout/setInterval)',
  Immediate: 'a setImmediate',
  TCPServerWrap: 'a listening TCP server',
  TCPSocketWrap: 'a TCP socket',
  TCPWrap: 'a TCP socket',
  PipeServerWrap: 'a listening pipe server',
  PipeWrap: 'a pipe (or a child process stdio)',
  ProcessWrap: 'a child process',
  FSEventWrap: 'a file watcher (fs.watch)',
  StatWatcher: 'a file watcher (fs.watchFile)',
  UDPWrap: 'a UDP socket',
  FSReqCallback: 'a pending fs operation',
  FileHandle: 'an open fs FileHandle',
  GetAddrInfoReqWrap: 'a pending DNS lookup',
  SignalWrap: 'a signal listener',
};

function describeHandles(handles: string[]): string {
  const counts = new Map<string, number>();
  for (const h of handles) counts.set(h, (counts.get(h) ?? 0) + 1);
  return [...counts].map(([h, n]) => `${n > 1 ? `${n}× ` : ''}${h}${HANDLE_NAMES[h] ? ` (${HANDLE_NAMES[h]})` : ''}`).join(', ');
}

/** Waits up to settleMs for whatever init/beforeSnapshot left open to close; throws naming what is still open. */
async function settle(): Promise<void> {
  const deadline = performance.now() + config.settleMs;
  for (;;) {
    // Checked from inside a timer callback, whose own timer is no longer counted.
    const open = activeHandles();
    if (open.length === 0) return;
    if (performance.now() >= deadline) {
      throw new BuildFailure(
        'open-handle',
        `still open after init() and beforeSnapshot(): ${describeHandles(open)}; close it in beforeSnapshot() (and reopen it in afterRestore()), or unref() it`,
      );
    }
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

let handler: Handler | undefined;
let afterRestore: Hook | undefined;
let exportsOf: unknown;

async function build(): Promise<void> {
  if (!v8.startupSnapshot.isBuildingSnapshot()) {
    process.stderr.write('thaw snapshot entry: run me with node --snapshot-blob <blob> --build-snapshot <entry>\n');
    process.exit(EXIT_USAGE);
  }
  if (config.runAs) dropPrivileges(config.runAs.uid, config.runAs.gid);
  recordBaseline();
  // The function sees itself as the main script.
  process.argv = [process.argv[0]!, config.filename];

  const importStart = performance.now();
  const mod = { exports: {} as unknown };
  define.call(mod.exports, mod.exports, functionRequire, mod, config.filename, path.dirname(config.filename));
  if (requireFailure) throw requireFailure;
  const importMs = performance.now() - importStart;
  exportsOf = mod.exports;

  handler = pickExport(exportsOf, 'handler') as Handler | undefined;
  if (handler === undefined) throw new BuildFailure('no-handler', `${config.filename} exports no handler`);
  const init = pickExport(exportsOf, 'init') as Hook | undefined;
  const beforeSnapshot = hookOf(exportsOf, 'beforeSnapshot');
  afterRestore = hookOf(exportsOf, 'afterRestore');

  const initStart = performance.now();
  if (init) await init();
  if (requireFailure) throw requireFailure;
  const initMs = performance.now() - initStart;
  const beforeStart = performance.now();
  if (beforeSnapshot) await beforeSnapshot();
  if (requireFailure) throw requireFailure;
  const beforeSnapshotMs = performance.now() - beforeStart;
  await settle();
  report({
    type: 'built',
    importMs,
    initMs,
    beforeSnapshotMs,
    unverified: [...unverifiedLoaded].sort(),
    hooks: { init: init !== undefined, beforeSnapshot: beforeSnapshot !== undefined, afterRestore: afterRestore !== undefined },
  });
}

function hookOf(exports: unknown, name: 'beforeSnapshot' | 'afterRestore'): Hook | undefined {
  const mod = exports as Record<string, unknown> | null | undefined;
  if (mod === null || mod === undefined) return undefined;
  if (typeof mod[name] === 'function') return mod[name] as Hook;
  const def = (mod as { default?: unknown }).default;
  if (def !== null && typeof def === 'object' && typeof (def as Record<string, unknown>)[name] === 'function') return (def as Record<string, Hook>)[name];
  return undefined;
}

// ------------------------------------------------------------------ restore

interface RestoreArguments {
  logMarker?: string;
  uid?: number;
  gid?: number;
  check: boolean;
}

function parseRestoreArguments(argv: readonly string[]): RestoreArguments {
  const args: RestoreArguments = { check: false };
  for (const arg of argv) {
    if (arg === CHECK_ARGUMENT) {
      args.check = true;
      continue;
    }
    const match = /^--([a-z-]+)=(.*)$/s.exec(arg);
    if (!match) throw new TypeError(`unexpected argument ${JSON.stringify(arg)}`);
    const [, name, value] = match as unknown as [string, string, string];
    if (name === 'log-marker') {
      if (!/^[0-9a-f]{8,64}$/.test(value)) throw new TypeError('--log-marker must be 8 to 64 hex digits');
      args.logMarker = value;
    } else if (name === 'uid' || name === 'gid') {
      const id = Number(value);
      if (!Number.isInteger(id) || id < 0) throw new TypeError(`--${name} must be a non-negative integer`);
      args[name] = id;
    } else {
      throw new TypeError(`unknown option --${name}`);
    }
  }
  if ((args.uid === undefined) !== (args.gid === undefined)) throw new TypeError('--uid and --gid go together');
  return args;
}

let restoreArgs: RestoreArguments = { check: false };
let restoreArgsError: Error | undefined;

// Registered before the function's code loads, so it runs before any deserialize callback the
// function registers: privileges are dropped and randomness refreshed before its code runs again.
v8.startupSnapshot.addDeserializeCallback(() => {
  stage = 'restoring';
  try {
    restoreArgs = parseRestoreArguments(process.argv.slice(1));
  } catch (err) {
    restoreArgsError = err as Error;
  }
  if (restoreArgs.uid !== undefined && restoreArgs.gid !== undefined) {
    try {
      dropPrivileges(restoreArgs.uid, restoreArgs.gid);
    } catch (err) {
      process.stderr.write(`thaw snapshot agent: ${(err as Error).message}\n`);
      process.exit(EXIT_FATAL);
    }
  }
  refreshCryptoCaches();
  restoredRequire = (process as unknown as { getBuiltinModule(id: 'module'): typeof import('node:module') }).getBuiltinModule('module').createRequire(config.filename);
});

let session: AgentSession | undefined;
const timings: Partial<AgentStartTimings> = {};

function onFatal(err: unknown): void {
  if (stage === 'building') buildFailed(err);
  else if (session) session.onFatal(err);
  else process.exit(EXIT_FATAL); // restoring: no channel to answer on yet
}

async function restoreMain(mainMs: number): Promise<void> {
  if (restoreArgsError) {
    process.stderr.write(`thaw snapshot agent: ${restoreArgsError.message}\n`);
    process.exit(EXIT_USAGE);
  }
  if (restoreArgs.check) {
    // A check restore: the blob deserialised; say so and run none of the function's code.
    fs.writeSync(PROTOCOL_FD, frame({ type: 'check-ok', functionName: config.functionName, version: config.version } satisfies SnapshotBuildMessage));
    process.exit(handler ? 0 : EXIT_FATAL);
  }
  process.argv = [process.argv[0]!, config.filename];
  timings.processStartEpochMs = performance.timeOrigin;
  timings.runtimeBootMs = mainMs;
  timings.importMs = 0;
  let channel: ProtocolChannel;
  try {
    channel = socketChannel(PROTOCOL_FD);
  } catch (err) {
    process.stderr.write(`thaw snapshot agent: file descriptor ${PROTOCOL_FD} is not an open pipe to the host (${String(err)})\n`);
    process.exit(EXIT_USAGE);
  }
  // stdio was reset by the restore: these are this instance's streams.
  session = new AgentSession({
    channel,
    name: 'thaw snapshot agent',
    logNonce: restoreArgs.logMarker,
    writeStdout: process.stdout.write.bind(process.stdout),
    writeStderr: process.stderr.write.bind(process.stderr),
    timings,
  });
  stage = 'session';
  const hookStart = performance.now();
  timings.agentSetupMs = hookStart - mainMs;
  if (afterRestore) await afterRestore();
  if (session.phase !== 'loading') return; // an uncaught error already reported it
  timings.initMs = performance.now() - hookStart;
  session.ready(handler!);
  session.listen();
}

process.on('uncaughtException', onFatal);
process.on('unhandledRejection', onFatal);

v8.startupSnapshot.setDeserializeMainFunction(() => {
  const mainMs = performance.now();
  restoreMain(mainMs).catch(onFatal);
});

build().catch(buildFailed);
