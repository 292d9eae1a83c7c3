// The runtime agent: runs INSIDE a sandbox and hosts one function. The platform bundles this file
// (with esbuild) into one CommonJS file that plain `node` runs:
//
//   node [--max-old-space-size=N] agent.cjs --bundle=/code/bundle.cjs [--log-marker=hex] [--uid=N --gid=N]
//
// It loads the function's bundle, runs its optional init(), says `ready` on fd 3, then serves
// `invoke` messages one at a time. It uses Node built-ins only and imports nothing from the platform
// except the wire protocol (see protocol.ts). It never writes protocol messages to stdout or stderr:
// those carry the function's logs, cut into segments by markers (see logMarker()).
//
// Zygote mode (SOCK's zygotes; `--zygote=<package folder> --preload=a,b`): it drops privileges,
// imports the listed npm packages from that folder, says `zygote-ready` and waits. One `specialise`
// message then makes it an instance of one function: it takes the function's environment, loads
// the function's (variant) bundle, whose requires of those packages resolve to the modules already
// loaded, runs init() and says `ready`; from then on it is that function's instance, exactly as a
// cold one. A zygote never runs function code before it is specialised, and is specialised once.

// Must stay the first import: it takes the clock reading that ends the runtime's boot.
import { agentFirstLineMs } from './boot-clock.ts';

import { type ChildProcess, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import Module from 'node:module';
import * as net from 'node:net';
import * as path from 'node:path';
import { Duplex, Writable } from 'node:stream';
import { inspect } from 'node:util';

import {
  compileBundle,
  dropPrivileges,
  type ModuleInternals,
  parseAgentArguments,
  pickExport,
  runInvocation,
  serializeError,
  type Handler,
  type Init,
} from './agent-lib.ts';
import {
  PROTOCOL_FD,
  logMarker,
  type AgentArguments,
  type AgentMessage,
  type AgentStartTimings,
  type HostMessage,
  type SpecialiseMessage,
} from './protocol.ts';

const EXIT_FATAL = 1;
const EXIT_USAGE = 64;

const processStartEpochMs = performance.timeOrigin;
const runtimeBootMs = agentFirstLineMs;

// The streams the function's output goes through, captured before any of its code runs (it may
// replace process.stdout.write; the markers must still follow its output in order).
const writeStdout = process.stdout.write.bind(process.stdout);
const writeStderr = process.stderr.write.bind(process.stderr);

function fail(message: string, code: number): never {
  writeStderr(`thaw agent: ${message}\n`);
  process.exit(code);
}

// ---------------------------------------------------------------------------------------------

type Phase = 'loading' | 'zygote' | 'idle' | 'invoking' | 'exiting';

let phase: Phase = 'loading';
let channel: net.Socket | Duplex;

/**
 * The protocol channel on fd 3: a pipe or socket from the host, or (inside a microVM) a
 * virtio-serial port, a character device that libuv cannot open as a stream. The port is read by
 * a `cat` child sharing the open port (a port opens once), through a pipe: a blocking read() of
 * node's own would hold a libuv thread-pool thread that exit() then waits for, forever. Writes are
 * synchronous; the host always drains its end.
 */
function openChannel(): net.Socket | Duplex {
  if (!fs.fstatSync(PROTOCOL_FD).isCharacterDevice()) return new net.Socket({ fd: PROTOCOL_FD, readable: true, writable: true });
  startClockSetter();
  const reader = spawn('/bin/cat', [], { stdio: [PROTOCOL_FD, 'pipe', 'ignore'] });
  const writable = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      try {
        fs.writeSync(PROTOCOL_FD, chunk);
        callback();
      } catch (err) {
        callback(err as Error);
      }
    },
  });
  return Duplex.from({ readable: reader.stdout!, writable });
}

/**
 * In a microVM: a root shell, started before the agent drops privileges, that sets the guest clock
 * to each epoch second written to it (a restored guest wakes at its snapshot's time).
 */
let clockSetter: ChildProcess | undefined;
function startClockSetter(): void {
  clockSetter = spawn('/bin/sh', ['-c', 'while read -r s; do date -s "@$s" >/dev/null 2>&1; done'], { stdio: ['pipe', 'ignore', 'ignore'] });
  clockSetter.on('error', () => (clockSetter = undefined));
  clockSetter.stdin!.on('error', () => undefined);
  clockSetter.unref();
  (clockSetter.stdin as unknown as { unref?: () => void }).unref?.();
}
let markerNonce: string | undefined;
let segment = 0;
let current: { id: string; startedMs: number } | undefined;
const queue: Extract<HostMessage, { type: 'invoke' }>[] = [];
let partialTimings: Partial<AgentStartTimings> = { processStartEpochMs, runtimeBootMs };
/** The function's handler, once its bundle is loaded. */
let activeHandler: Handler | undefined;
/** Zygote mode: what to do with the one `specialise` message (undefined once it came). */
let onSpecialise: ((msg: SpecialiseMessage) => void) | undefined;

function endSegment(): void {
  if (markerNonce === undefined) return;
  const marker = logMarker(markerNonce, segment);
  try {
    writeStdout(marker);
    writeStderr(marker);
  } catch {
    // A closed stdout or stderr loses logs, not the result.
  }
}

function send(line: string, then?: () => void): void {
  channel.write(`${line}\n`, then ? () => then() : undefined);
}

function sendMessage(message: AgentMessage, then?: () => void): void {
  send(JSON.stringify(message), then);
}

/** Sends the last message and exits once it is flushed (or the channel is gone). */
function sendAndExit(message: AgentMessage, code: number): void {
  phase = 'exiting';
  if (channel.destroyed || !channel.writable) process.exit(code);
  sendMessage(message, () => process.exit(code));
}

function initFailed(err: unknown): never {
  endSegment();
  sendAndExit({ type: 'init-failed', error: serializeError(err, 'init'), timings: partialTimings }, EXIT_FATAL);
  // Nothing runs after this but the flush; park here so the caller does not continue.
  throw new AgentExiting();
}

class AgentExiting extends Error {}

function onFatal(err: unknown): void {
  if (err instanceof AgentExiting) return;
  switch (phase) {
    case 'loading':
      endSegment();
      sendAndExit({ type: 'init-failed', error: serializeError(err, 'init'), timings: partialTimings }, EXIT_FATAL);
      return;
    case 'invoking': {
      const inv = current!;
      current = undefined;
      endSegment();
      sendAndExit(
        {
          type: 'result',
          id: inv.id,
          ok: false,
          error: serializeError(err, 'error'),
          durationMs: performance.now() - inv.startedMs,
          fatal: true,
        },
        EXIT_FATAL,
      );
      return;
    }
    case 'zygote':
    case 'idle':
      // Outside an invocation: behave as node does (print it, exit 1); the host sees the exit.
      phase = 'exiting';
      try {
        writeStderr(`${inspect(err)}\n`);
      } catch {
        // nothing more to do
      }
      process.exit(EXIT_FATAL);
      return;
    case 'exiting':
      return;
  }
}

async function serve(handler: Handler): Promise<void> {
  while (queue.length > 0 && phase === 'idle') {
    const msg = queue.shift()!;
    phase = 'invoking';
    segment += 1;
    const inv = { id: msg.id, startedMs: performance.now() };
    current = inv;
    const line = await runInvocation(handler, msg, () => current === inv);
    if (line === undefined) return; // a fatal error already answered this invocation
    current = undefined;
    endSegment();
    send(line);
    phase = 'idle';
  }
}

/**
 * A microVM restored from a snapshot taken while this agent waited, idle, after `ready`: adopt the
 * new instance's log-marker nonce, start its log segments again, set the guest's clock from the
 * host's (a restored guest wakes at the snapshot's time), and say `ready` with no start phases.
 */
function onRestored(msg: Extract<HostMessage, { type: 'restored' }>): void {
  if (phase !== 'idle' || activeHandler === undefined) fail('restored arrived while the agent was not idle with a function loaded', EXIT_USAGE);
  markerNonce = msg.logMarker;
  segment = 0;
  reseedAfterClone(Buffer.from(msg.seed, 'hex'));
  // Best effort, off the critical path: busybox date sets the second; a failure leaves the clock stale.
  if (Number.isFinite(msg.epochMs)) clockSetter?.stdin?.write(`${Math.round(msg.epochMs / 1000)}\n`);
  endSegment();
  sendMessage({ type: 'ready', timings: { processStartEpochMs, runtimeBootMs: 0, agentSetupMs: 0, importMs: 0, initMs: 0 } });
}

/**
 * Every VM restored from one snapshot resumes with the same Math.random state and the same guest
 * kernel entropy pool. Mix the host's fresh bytes into the kernel pool (/dev/urandom is writable
 * by anyone; it mixes without crediting) and replace Math.random with a generator seeded from
 * them (xoshiro128**, 53-bit doubles, as uniform as V8's). What this cannot reach: a reference to
 * the original Math.random taken before the snapshot, and OpenSSL's generator inside node, whose
 * state is cloned too until it reseeds (see the README).
 */
function reseedAfterClone(seed: Buffer): void {
  if (seed.length < 16) return;
  try {
    fs.writeFileSync('/dev/urandom', seed);
  } catch {
    // not fatal: the kernel pool stays as cloned
  }
  let [a, b, c, d] = [seed.readUInt32LE(0), seed.readUInt32LE(4), seed.readUInt32LE(8), seed.readUInt32LE(12)];
  if ((a | b | c | d) === 0) a = 1;
  const next = (): number => {
    const result = Math.imul(rotl(Math.imul(b, 5), 7), 9) >>> 0;
    const t = b << 9;
    c ^= a;
    d ^= b;
    b ^= c;
    a ^= d;
    c ^= t;
    d = rotl(d, 11);
    return result;
  };
  Math.random = () => ((next() >>> 5) * 67108864 + (next() >>> 6)) / 9007199254740992;
}

function rotl(x: number, k: number): number {
  return ((x << k) | (x >>> (32 - k))) >>> 0;
}

function listen(): void {
  let buffered = '';
  channel.setEncoding('utf8');
  channel.on('data', (chunk: string) => {
    buffered += chunk;
    let nl: number;
    while ((nl = buffered.indexOf('\n')) >= 0) {
      const line = buffered.slice(0, nl);
      buffered = buffered.slice(nl + 1);
      if (line.trim() === '') continue;
      let msg: HostMessage;
      try {
        msg = JSON.parse(line) as HostMessage;
      } catch {
        fail(`bad message from the host: ${line.slice(0, 200)}`, EXIT_USAGE);
      }
      if (msg.type === 'shutdown') {
        phase = 'exiting';
        process.exit(0);
      } else if (msg.type === 'invoke') {
        const handler = activeHandler;
        if (handler === undefined) fail('an invocation arrived before a function was loaded (a zygote must be specialised first)', EXIT_USAGE);
        queue.push(msg);
        void serve(handler).catch(onFatal);
      } else if (msg.type === 'restored') {
        onRestored(msg);
      } else if (msg.type === 'specialise') {
        const specialise = onSpecialise;
        // Once only: a zygote that served one function never loads another.
        if (specialise === undefined) fail('specialise refused: this runtime is not an unspecialised zygote', EXIT_USAGE);
        onSpecialise = undefined;
        specialise(msg);
      } else {
        fail(`unknown message type ${JSON.stringify((msg as { type?: unknown }).type)}`, EXIT_USAGE);
      }
    }
  });
  // The host went away (or closed the channel to stop us): nothing left to serve.
  channel.on('end', () => process.exit(0));
  channel.on('error', () => process.exit(EXIT_FATAL));
}

/** Picks handler and init from the loaded bundle's exports, runs init(), says ready. */
async function initialiseAndServe(
  bundlePath: string,
  exports: unknown,
  extra: Pick<Extract<AgentMessage, { type: 'ready' }>, 'zygote'>,
  startListening: boolean,
): Promise<void> {
  const handler = pickExport(exports, 'handler') as Handler | undefined;
  if (handler === undefined) {
    const keys = exports !== null && typeof exports === 'object' ? Object.keys(exports) : [];
    initFailed(
      new TypeError(
        `${bundlePath} exports no handler: expected module.exports.handler (or a default export) to be a function; ` +
          `it exports ${keys.length > 0 ? keys.join(', ') : 'nothing'}`,
      ),
    );
  }
  const init = pickExport(exports, 'init') as Init | undefined;

  const initStart = performance.now();
  if (init !== undefined) {
    try {
      await init();
    } catch (err) {
      initFailed(err);
    }
  }
  if (phase !== 'loading') return; // an uncaught error during init already reported it
  partialTimings.initMs = performance.now() - initStart;

  endSegment();
  phase = 'idle';
  activeHandler = handler;
  sendMessage({ type: 'ready', timings: partialTimings as AgentStartTimings, ...extra });
  if (startListening) listen();
}

// ---------------------------------------------------------------------------------------------
// Zygote mode

async function zygoteMain(args: AgentArguments): Promise<void> {
  const zygoteDir = path.resolve(args.zygote!);
  const packages = args.preload ?? [];
  // Package code is third-party code: it never runs privileged. (The function's bundle is then read
  // unprivileged too; the platform makes it readable.)
  const importStart = performance.now();
  partialTimings.agentSetupMs = importStart - agentFirstLineMs;
  const M = Module as unknown as ModuleInternals;
  const mainFiles = new Map<string, string>();
  try {
    if (args.uid !== undefined && args.gid !== undefined) dropPrivileges(args.uid, args.gid);
    const requireFromZygote = Module.createRequire(path.join(zygoteDir, 'package.json'));
    for (const name of packages) {
      requireFromZygote(name);
      try {
        mainFiles.set(name, requireFromZygote.resolve(name));
      } catch {
        // loaded above; an exports map may still refuse resolve() for odd packages
      }
    }
  } catch (err) {
    initFailed(err);
  }
  partialTimings.importMs = performance.now() - importStart;
  partialTimings.initMs = 0;
  phase = 'zygote';
  onSpecialise = (msg) => void specialise(msg, zygoteDir, packages, mainFiles, M).catch(onFatal);
  sendMessage({ type: 'zygote-ready', timings: partialTimings as AgentStartTimings, packages });
  listen();
}

async function specialise(msg: SpecialiseMessage, zygoteDir: string, packages: string[], mainFiles: Map<string, string>, M: ModuleInternals): Promise<void> {
  phase = 'loading';
  const startedAt = performance.now();
  // The start phases of this instance begin now: no sandbox to make, no runtime to boot.
  partialTimings = { processStartEpochMs: performance.timeOrigin + startedAt, runtimeBootMs: 0, agentSetupMs: 0 };
  if (msg.env !== null && typeof msg.env === 'object') {
    for (const [key, value] of Object.entries(msg.env)) if (typeof value === 'string') process.env[key] = value;
  }
  const bundlePath = path.resolve(msg.bundle);
  process.argv = [process.argv[0]!, bundlePath];
  const cachedBefore = new Set(Object.keys(M._cache));
  const importStart = performance.now();
  let exports: unknown;
  try {
    const source = fs.readFileSync(bundlePath, 'utf8');
    exports = compileBundle(bundlePath, source, [path.join(zygoteDir, 'node_modules')]);
  } catch (err) {
    initFailed(err);
  }
  partialTimings.importMs = performance.now() - importStart;
  const loaded = Object.keys(M._cache).filter((file) => !cachedBefore.has(file));
  // The preloaded packages the bundle required: their main modules are children of the bundle's
  // module (CommonJS packages; ESM ones live in the ESM loader's cache and are not listed).
  const bundleModule = M._cache[bundlePath] as unknown as { children?: Array<{ filename: string }> } | undefined;
  const required = new Set((bundleModule?.children ?? []).map((c) => c.filename));
  const reused = packages.filter((name) => {
    const file = mainFiles.get(name);
    return file !== undefined && required.has(file);
  });
  await initialiseAndServe(bundlePath, exports, { zygote: { preloaded: packages, modulesLoaded: loaded.length, reused } }, false);
}

async function main(): Promise<void> {
  let args: AgentArguments;
  try {
    args = parseAgentArguments(process.argv.slice(2), process.env);
  } catch (err) {
    fail(err instanceof Error ? err.message : String(err), EXIT_USAGE);
  }
  delete process.env.THAW_BUNDLE;
  markerNonce = args.logMarker;

  try {
    channel = openChannel();
  } catch (err) {
    fail(`file descriptor ${PROTOCOL_FD} is not an open pipe to the host (${String(err)}); the agent is started by the thaw platform`, EXIT_USAGE);
  }

  process.on('uncaughtException', onFatal);
  process.on('unhandledRejection', onFatal);

  if (args.zygote !== undefined) {
    await zygoteMain(args);
    return;
  }

  const bundlePath = path.resolve(args.bundle);
  // The function sees itself as the main script.
  process.argv = [process.argv[0]!, bundlePath];

  // Import: read the bundle (still privileged, so a code directory only root can read works), drop
  // privileges, then run its top-level code.
  const importStart = performance.now();
  partialTimings.agentSetupMs = importStart - agentFirstLineMs;
  let exports: unknown;
  try {
    const source = fs.readFileSync(bundlePath, 'utf8');
    if (args.uid !== undefined && args.gid !== undefined) dropPrivileges(args.uid, args.gid);
    exports = compileBundle(bundlePath, source);
  } catch (err) {
    initFailed(err);
  }
  partialTimings.importMs = performance.now() - importStart;

  await initialiseAndServe(bundlePath, exports, {}, true);
}

main().catch(onFatal);
