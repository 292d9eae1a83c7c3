// The runtime agent: runs INSIDE a sandbox and hosts one function. The platform bundles this file
// (with esbuild) into one CommonJS file that plain `node` runs:
//
//   node [--max-old-space-size=N] agent.cjs --bundle=/code/bundle.cjs [--log-marker=hex] [--uid=N --gid=N]
//        [--concurrency=N --log-limit=bytes]
//
// It loads the function's bundle, runs its optional init(), says `ready` on fd 3, then serves
// `invoke` messages one at a time (or up to --concurrency at once; see concurrent-output.ts). It uses Node built-ins only and imports nothing from the platform
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
// Must stay the second: before any built-in loads (see there).
import './builtin-code-cache.ts';

import * as fs from 'node:fs';
import Module from 'node:module';
import * as path from 'node:path';
import { Duplex, Writable } from 'node:stream';
import { inspect } from 'node:util';

import {
  builtin,
  compileBundle,
  dropPrivileges,
  type ModuleInternals,
  parseAgentArguments,
  pickExport,
  refreshCryptoCaches,
  type Handler,
  type Init,
} from './agent-lib.ts';
import { socketChannel, streamChannel, type ProtocolChannel } from './channel.ts';
import { onLines } from './framing.ts';
import { AgentSession, EXIT_USAGE } from './session.ts';
import { MAX_CONCURRENCY, PROTOCOL_FD, type AgentArguments, type AgentMessage, type AgentStartTimings, type HostMessage, type SpecialiseMessage } from './protocol.ts';

const processStartEpochMs = performance.timeOrigin;
const runtimeBootMs = agentFirstLineMs;

// The streams the function's output goes through, captured before any of its code runs (it may
// replace process.stdout.write; the markers must still follow its output in order).
const writeStdout = process.stdout.write.bind(process.stdout);
const writeStderr = process.stderr.write.bind(process.stderr);
const stdoutStream = process.stdout;
const stderrStream = process.stderr;
/** Bytes queued for a full pipe (a write to a pipe is synchronous only while the pipe has room). */
const outputQueued = (): boolean => stdoutStream.writableLength > 0 || stderrStream.writableLength > 0;
/** Bytes the function's stdout and stderr have taken so far; undefined where a stream does not count them (a file). */
const outputWritten = (): [number, number] | undefined => {
  const out = (stdoutStream as { bytesWritten?: number }).bytesWritten;
  const err = (stderrStream as { bytesWritten?: number }).bytesWritten;
  return typeof out === 'number' && typeof err === 'number' ? [out, err] : undefined;
};

function fail(message: string, code: number): never {
  writeStderr(`thaw agent: ${message}\n`);
  process.exit(code);
}

// ---------------------------------------------------------------------------------------------

/** The session on the protocol channel, once it is open. */
let session: AgentSession;

/**
 * The protocol channel on fd 3: a pipe or socket from the host, or (inside a microVM) a
 * virtio-serial port, a character device that libuv cannot open as a stream. The port is read by
 * a `cat` child sharing the open port (a port opens once), through a pipe: a blocking read() of
 * node's own would hold a libuv thread-pool thread that exit() then waits for, forever. Writes are
 * synchronous; the host always drains its end.
 */
function openChannel(): ProtocolChannel {
  if (!fs.fstatSync(PROTOCOL_FD).isCharacterDevice()) return socketChannel(PROTOCOL_FD);
  startGuestHelper();
  const { spawn } = builtin<typeof import('node:child_process')>('node:child_process');
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
  return streamChannel(Duplex.from({ readable: reader.stdout!, writable }));
}

/**
 * In a microVM: thaw's static guest helper (/thaw/guest-helper), started as root before the agent
 * drops privileges, which sets the guest clock and reseeds the guest kernel's generator on request
 * (one command per line, one `ok` or `err …` line back).
 */
interface GuestHelper {
  call(command: string): Promise<string>;
}
let guestHelper: GuestHelper | undefined;
const GUEST_HELPER = '/thaw/guest-helper';
function startGuestHelper(): void {
  if (!fs.existsSync(GUEST_HELPER)) return;
  const { spawn } = builtin<typeof import('node:child_process')>('node:child_process');
  const child = spawn(GUEST_HELPER, [], { stdio: ['pipe', 'pipe', 'ignore'] });
  const waiting: ((line: string) => void)[] = [];
  onLines(child.stdout!, (line) => waiting.shift()?.(line));
  const gone = (): void => {
    guestHelper = undefined;
    for (const w of waiting.splice(0)) w('err the guest helper is gone');
  };
  child.on('error', gone);
  child.on('exit', gone);
  child.stdin!.on('error', () => undefined);
  child.unref();
  for (const stream of [child.stdin, child.stdout]) (stream as unknown as { unref?: () => void }).unref?.();
  guestHelper = {
    call: (command) =>
      new Promise((resolve) => {
        waiting.push(resolve);
        child.stdin!.write(`${command}\n`);
      }),
  };
}
/** Zygote mode: what to do with the one `specialise` message (undefined once it came). */
let onSpecialise: ((msg: SpecialiseMessage) => void) | undefined;

/** An error nobody caught: the session answers for it; before it exists, behave as node does. */
function onFatal(err: unknown): void {
  if (session) return session.onFatal(err);
  writeStderr(`${inspect(err)}\n`);
  process.exit(1);
}

/**
 * A microVM restored from a snapshot taken while this agent waited, idle, after `ready`: adopt the
 * new instance's log-marker nonce, start its log segments again, make this clone's randomness its
 * own and its clock the host's (a restored guest wakes at its snapshot's time), then say `ready`
 * with no start phases.
 */
async function onRestored(msg: Extract<HostMessage, { type: 'restored' }>): Promise<void> {
  if (session.phase !== 'idle' || session.handler === undefined) session.fail('restored arrived while the agent was not idle with a function loaded', EXIT_USAGE);
  const receivedMs = performance.now();
  session.restartSegments(msg.logMarker);
  await reseedAfterClone(msg, () => Math.round(msg.epochMs + (performance.now() - receivedMs)));
  session.endSegment();
  session.send({ type: 'ready', timings: { processStartEpochMs, runtimeBootMs: 0, agentSetupMs: 0, importMs: 0, initMs: 0 } });
}

/**
 * Every VM restored from one snapshot resumes with the same generator states: the guest kernel's,
 * OpenSSL's inside node (crypto.randomBytes, randomUUID, getRandomValues), node's buffered UUIDs
 * and ints, and V8's Math.random. In order:
 *  1. the kernel: the guest helper credits the host's 32 fresh bytes to its pool and reseeds it;
 *  2. OpenSSL: its primary generator reseeds from the kernel once its reseed interval (an hour of
 *     wall time) has passed, and every thread's generator follows at its next draw: the clock is
 *     stepped past that for one draw, then set to the host's time (to the millisecond);
 *  3. node's heap buffers are cycled (refreshCryptoCaches);
 *  4. Math.random, which cannot be reseeded, is replaced by xoshiro128** seeded from the host's
 *     bytes (a reference to the original taken before the snapshot keeps the cloned sequence).
 */
async function reseedAfterClone(msg: Extract<HostMessage, { type: 'restored' }>, hostNowMs: () => number): Promise<void> {
  const seed = Buffer.from(msg.seed, 'hex');
  if (seed.length < 16) return;
  const helper = guestHelper;
  if (helper) {
    await helper.call(`reseed ${msg.seed}`);
    if (Number.isFinite(msg.epochMs)) {
      await helper.call(`time ${hostNowMs() + 2 * 3_600_000}`);
      builtin<typeof import('node:crypto')>('node:crypto').randomBytes(1);
      await helper.call(`time ${hostNowMs()}`);
    }
  } else {
    try {
      fs.writeFileSync('/dev/urandom', seed); // mixes, does not reseed: the best an unprivileged process can do
    } catch {
      // the kernel pool stays as cloned
    }
  }
  refreshCryptoCaches();
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

/** The messages only this agent takes: `restored` (a microVM's clone), `specialise` (a zygote). */
function onOther(msg: Exclude<HostMessage, { type: 'invoke' | 'shutdown' | 'abandon' }>): void {
  if (msg.type === 'restored') {
    void onRestored(msg).catch(onFatal);
    return;
  }
  const specialise = onSpecialise;
  // Once only: a zygote that served one function never loads another.
  if (specialise === undefined) session.fail('specialise refused: this runtime is not an unspecialised zygote', EXIT_USAGE);
  onSpecialise = undefined;
  specialise(msg);
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
    session.initFailed(
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
      session.initFailed(err);
    }
  }
  if (session.phase !== 'loading') return; // an uncaught error during init already reported it
  session.timings.initMs = performance.now() - initStart;
  session.ready(handler, extra);
  if (startListening) session.listen();
}

// ---------------------------------------------------------------------------------------------
// Zygote mode

async function zygoteMain(args: AgentArguments): Promise<void> {
  const zygoteDir = path.resolve(args.zygote!);
  const packages = args.preload ?? [];
  // Package code is third-party code: it never runs privileged. (The function's bundle is then read
  // unprivileged too; the platform makes it readable.)
  const importStart = performance.now();
  session.timings.agentSetupMs = importStart - agentFirstLineMs;
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
    session.initFailed(err);
  }
  session.timings.importMs = performance.now() - importStart;
  session.timings.initMs = 0;
  session.phase = 'zygote';
  onSpecialise = (msg) => void specialise(msg, zygoteDir, packages, mainFiles, M).catch(onFatal);
  session.send({ type: 'zygote-ready', timings: session.timings as AgentStartTimings, packages });
  session.listen();
}

async function specialise(msg: SpecialiseMessage, zygoteDir: string, packages: string[], mainFiles: Map<string, string>, M: ModuleInternals): Promise<void> {
  session.phase = 'loading';
  const startedAt = performance.now();
  // The start phases of this instance begin now: no sandbox to make, no runtime to boot.
  session.timings = { processStartEpochMs: performance.timeOrigin + startedAt, runtimeBootMs: 0, agentSetupMs: 0 };
  if (msg.env !== null && typeof msg.env === 'object') {
    for (const [key, value] of Object.entries(msg.env)) if (typeof value === 'string') process.env[key] = value;
  }
  const bundlePath = path.resolve(msg.bundle);
  process.argv = [process.argv[0]!, bundlePath];
  // The function's concurrency, which the zygote could not know when it booted; before its code loads.
  const concurrency = msg.concurrency ?? 1;
  if (!(Number.isInteger(concurrency) && concurrency >= 1 && concurrency <= MAX_CONCURRENCY)) session.fail(`specialise: concurrency must be an integer from 1 to ${MAX_CONCURRENCY}, got ${JSON.stringify(msg.concurrency)}`, EXIT_USAGE);
  session.serveUpTo(concurrency, msg.logLimitBytes);
  const cachedBefore = new Set(Object.keys(M._cache));
  const importStart = performance.now();
  let exports: unknown;
  try {
    const source = fs.readFileSync(bundlePath, 'utf8');
    exports = compileBundle(bundlePath, source, [path.join(zygoteDir, 'node_modules')]);
  } catch (err) {
    session.initFailed(err);
  }
  session.timings.importMs = performance.now() - importStart;
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

  let channel: ProtocolChannel;
  try {
    channel = openChannel();
  } catch (err) {
    fail(`file descriptor ${PROTOCOL_FD} is not an open pipe to the host (${String(err)}); the agent is started by the thaw platform`, EXIT_USAGE);
  }
  session = new AgentSession({
    channel,
    name: 'thaw agent',
    logNonce: args.logMarker,
    invocationMarkers: args.invocationMarkers,
    outputQueued,
    outputWritten,
    writeStdout,
    writeStderr,
    timings: { processStartEpochMs, runtimeBootMs },
    concurrency: args.concurrency,
    logLimitBytes: args.logLimitBytes,
    onOther,
  });

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
  session.timings.agentSetupMs = importStart - agentFirstLineMs;
  let exports: unknown;
  try {
    const source = fs.readFileSync(bundlePath, 'utf8');
    if (args.uid !== undefined && args.gid !== undefined) dropPrivileges(args.uid, args.gid);
    exports = compileBundle(bundlePath, source);
  } catch (err) {
    session.initFailed(err);
  }
  session.timings.importMs = performance.now() - importStart;

  await initialiseAndServe(bundlePath, exports, {}, true);
}

main().catch(onFatal);
