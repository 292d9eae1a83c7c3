// The agent's pure parts (argument parsing, error and result serialisation, loading the bundle),
// apart from agent.ts so they can be tested without starting an agent.

import Module from 'node:module';
import * as path from 'node:path';
import { inspect, types } from 'node:util';

import { MAX_CONCURRENCY, type AgentArguments, type AgentMessage, type ErrorKind, type HostMessage, type InvocationContext, type SerializedError } from './protocol.ts';

/** What the function's handler receives as its second argument. */
export interface FunctionContext extends InvocationContext {
  /** Milliseconds left before the platform stops the invocation. */
  getRemainingTimeMs(): number;
}

export type Handler = (event: unknown, context: FunctionContext) => unknown;
export type Init = () => unknown;

const MAX_STACK_CHARS = 16 * 1024;

export function parseAgentArguments(argv: readonly string[], env: NodeJS.ProcessEnv): AgentArguments {
  const args: Partial<AgentArguments> = {};
  for (const arg of argv) {
    const match = /^--([a-z-]+)=(.*)$/s.exec(arg);
    if (!match) throw new TypeError(`unexpected argument ${JSON.stringify(arg)} (expected --name=value)`);
    const [, name, value] = match as unknown as [string, string, string];
    switch (name) {
      case 'bundle':
        args.bundle = value;
        break;
      case 'log-marker':
        if (!/^[0-9a-f]{8,64}$/.test(value)) throw new TypeError('--log-marker must be 8 to 64 hex digits');
        args.logMarker = value;
        break;
      case 'invocation-markers':
        if (value !== 'on' && value !== 'off') throw new TypeError(`--invocation-markers must be on or off, got ${JSON.stringify(value)}`);
        args.invocationMarkers = value === 'on';
        break;
      case 'uid':
      case 'gid': {
        const id = Number(value);
        if (!Number.isInteger(id) || id < 0) throw new TypeError(`--${name} must be a non-negative integer, got ${JSON.stringify(value)}`);
        args[name] = id;
        break;
      }
      case 'concurrency': {
        const n = Number(value);
        if (!/^\d+$/.test(value) || n < 1 || n > MAX_CONCURRENCY) throw new TypeError(`--concurrency must be an integer from 1 to ${MAX_CONCURRENCY}, got ${JSON.stringify(value)}`);
        args.concurrency = n;
        break;
      }
      case 'log-limit': {
        const n = Number(value);
        if (!/^\d+$/.test(value) || !Number.isSafeInteger(n)) throw new TypeError(`--log-limit must be a non-negative integer of bytes, got ${JSON.stringify(value)}`);
        args.logLimitBytes = n;
        break;
      }
      case 'zygote':
        if (value === '') throw new TypeError('--zygote must name a package folder');
        args.zygote = value;
        break;
      case 'preload':
        args.preload = value === '' ? [] : value.split(',');
        for (const name of args.preload) {
          if (!isPackageName(name)) throw new TypeError(`--preload: ${JSON.stringify(name)} is not an npm package name`);
        }
        break;
      default:
        throw new TypeError(`unknown option --${name}`);
    }
  }
  if (args.zygote !== undefined || args.preload !== undefined) {
    // Zygote mode: the bundle comes later, with `specialise`.
    if (args.zygote === undefined) throw new TypeError('--preload needs --zygote=<package folder>');
    if (args.bundle !== undefined) throw new TypeError('--bundle and --zygote exclude each other: a zygote gets its bundle when it is specialised');
    args.preload ??= [];
    args.bundle = '';
    if ((args.uid === undefined) !== (args.gid === undefined)) throw new TypeError('--uid and --gid go together');
    return args as AgentArguments;
  }
  args.bundle ??= env.THAW_BUNDLE;
  if (!args.bundle) throw new TypeError('no function bundle: pass --bundle=<path> or set THAW_BUNDLE');
  if ((args.uid === undefined) !== (args.gid === undefined)) throw new TypeError('--uid and --gid go together');
  return args as AgentArguments;
}

export function serializeError(err: unknown, kind: ErrorKind): SerializedError {
  try {
    if (types.isNativeError(err) || err instanceof Error) {
      const e = err as Error;
      const stack = typeof e.stack === 'string' ? e.stack.slice(0, MAX_STACK_CHARS) : undefined;
      return { kind, name: String(e.name), message: String(e.message), ...(stack !== undefined ? { stack } : {}) };
    }
    if (err !== null && typeof err === 'object' && 'message' in err) {
      const e = err as { name?: unknown; message: unknown };
      return { kind, name: e.name === undefined ? 'Error' : String(e.name), message: String(e.message) };
    }
    const message = typeof err === 'string' ? err : inspect(err, { depth: 2, breakLength: Infinity });
    return { kind, name: 'NonErrorThrown', message: `a non-Error value was thrown: ${message}` };
  } catch (inner) {
    // A hostile getter on the error; say so rather than fail.
    return { kind, name: 'Error', message: `an error that cannot be read was thrown (${String(inner)})` };
  }
}

/** JSON text of a handler's return value, or why it has none. undefined stays undefined. */
export function resultJson(value: unknown): { json: string | undefined } | { error: SerializedError } {
  let json: string | undefined;
  try {
    json = JSON.stringify(value);
  } catch (err) {
    const why = err instanceof Error ? err.message : String(err);
    return {
      error: { kind: 'error', name: 'ResultNotSerializableError', message: `the handler returned a value that is not JSON-serialisable: ${why}` },
    };
  }
  if (json === undefined && value !== undefined) {
    return {
      error: {
        kind: 'error',
        name: 'ResultNotSerializableError',
        message: `the handler returned a ${typeof value}, which is not JSON-serialisable`,
      },
    };
  }
  return { json };
}

// Captured before any function code runs: a function may replace them (the await they stand for
// would not see that either).
const NativePromise = Promise;
const promiseResolve = Promise.resolve;
const promiseReject = Promise.reject;
const promiseThen = Promise.prototype.then;

/**
 * Runs one invocation: the handler with the payload and the function's context, then `done` with
 * the `result` line's JSON text (no newline) once its value settles, unless `stillCurrent()` has
 * turned false by then (a fatal error, e.g. an uncaught exception, already answered it). The
 * sessions of every agent serve their invocations with it.
 *
 * The handler's value is taken as `await` would take it, in the same microtask (Promise.resolve,
 * then a reaction on it): a plain value or a promise the handler made settles one tick later, so
 * output from microtasks the handler queued still comes before the result. Without an async
 * function around it: no promise of its own, no second tick before `done`. durationMs runs from
 * `startedMs` (taken as the invocation started) to the settling.
 */
export function runInvocation(
  handler: Handler,
  msg: Extract<HostMessage, { type: 'invoke' }>,
  startedMs: number,
  stillCurrent: () => boolean,
  done: (json: string) => void,
): void {
  // The context as it arrived, plus the one method: no copy of it per invocation.
  const context = msg.context as FunctionContext;
  const deadlineMs = context.deadlineMs;
  context.getRemainingTimeMs = () => Math.max(0, deadlineMs - Date.now());
  const id = msg.id;
  const failed = (err: unknown): void => {
    if (!stillCurrent()) return;
    done(JSON.stringify({ type: 'result', id, ok: false, error: serializeError(err, 'error'), durationMs: performance.now() - startedMs } satisfies AgentMessage));
  };
  let settled: Promise<unknown>;
  try {
    settled = promiseResolve.call(NativePromise, handler(msg.payload, context)) as Promise<unknown>;
  } catch (err) {
    // Thrown before the handler returned: answered after a tick all the same, as from an async function.
    settled = promiseReject.call(NativePromise, err) as Promise<unknown>;
  }
  promiseThen.call(
    settled,
    (value) => {
      if (stillCurrent()) done(resultLine(id, value, performance.now() - startedMs));
    },
    failed,
  );
}

/** The `result` line (JSON text) of an invocation whose handler's value settled as `value`. */
export function resultLine(id: string, value: unknown, durationMs: number): string {
  const out = resultJson(value);
  if ('error' in out) return JSON.stringify({ type: 'result', id, ok: false, error: out.error, durationMs } satisfies AgentMessage);
  // The head written out rather than serialised: a string id is all it needs encoding (a number
  // such as durationMs is written by JSON as JavaScript writes it).
  const head = typeof id === 'string' ? `{"type":"result","id":${JSON.stringify(id)},"ok":true,"durationMs":${durationMs}` : JSON.stringify({ type: 'result', id, ok: true, durationMs }).slice(0, -1);
  return out.json === undefined ? `${head}}` : `${head},"value":${out.json}}`;
}

/**
 * Cycles node:crypto's heap-buffered random sources once, so their next values come fresh from
 * OpenSSL: randomUUID() serves from a buffer of 128 UUIDs filled ahead, randomInt() from one of
 * 1024 values. Run after a restore from a snapshot (V8 or VM), which would replay them otherwise.
 */
export function refreshCryptoCaches(): void {
  const crypto = builtin<typeof import('node:crypto')>('node:crypto');
  for (let i = 0; i < 128; i++) crypto.randomUUID();
  // randomInt(1): range 1, so it never rejects a draw (each call reads exactly one cached value).
  for (let i = 0; i < 1024; i++) crypto.randomInt(1);
}

/**
 * A built-in module, loaded when first needed rather than when the agent starts. The agent runs
 * under --max-old-space-size, a V8 flag, and node's code cache for its built-ins only serves the
 * flags it was made with: every built-in loaded at start is compiled from source, on the cold path
 * (node:child_process about 10 ms, node:crypto about 11, on the 2-core test machine).
 */
export function builtin<T>(id: string): T {
  return (process as unknown as { getBuiltinModule(id: string): T }).getBuiltinModule(id);
}

export interface ModuleInternals {
  new (id: string, parent: null): ModuleInstance;
  _nodeModulePaths(dir: string): string[];
  _cache: Record<string, ModuleInstance>;
}
interface ModuleInstance {
  filename: string;
  paths: string[];
  loaded: boolean;
  exports: unknown;
  _compile(source: string, filename: string): void;
}

/** An npm package name (optionally scoped), as --preload accepts it. */
export function isPackageName(name: string): boolean {
  return /^(?:@[a-z0-9][a-z0-9._~-]*\/)?[a-z0-9][a-z0-9._~-]*$/i.test(name) && name.length <= 214;
}

/**
 * Compiles an already-read CommonJS bundle as a module (so it can be read before dropping privileges).
 * `paths` replaces the module's node_modules search path (zygote mode: only the zygote's package
 * folder, so the bundle's run-time requires find the modules the zygote already loaded).
 */
export function compileBundle(filename: string, source: string, paths?: readonly string[]): unknown {
  const M = Module as unknown as ModuleInternals;
  const mod = new M(filename, null);
  mod.filename = filename;
  mod.paths = paths ? [...paths] : M._nodeModulePaths(path.dirname(filename));
  M._cache[filename] = mod;
  try {
    mod._compile(source, filename);
  } catch (err) {
    delete M._cache[filename];
    throw err;
  }
  mod.loaded = true;
  return mod.exports;
}

export function dropPrivileges(uid: number, gid: number): void {
  try {
    process.setgroups?.([]);
    process.setgid?.(gid);
    process.setuid?.(uid);
  } catch (err) {
    throw new Error(`cannot switch to uid ${uid} / gid ${gid}: ${err instanceof Error ? err.message : String(err)}`);
  }
  if (process.getuid?.() !== uid || process.getgid?.() !== gid) throw new Error(`could not switch to uid ${uid} / gid ${gid}`);
}

export function pickExport(exports: unknown, name: 'handler' | 'init'): unknown {
  const mod = exports as Record<string, unknown> | null | undefined;
  if (mod === null || mod === undefined) return undefined;
  if (typeof mod[name] === 'function') return mod[name];
  const def = (mod as { default?: unknown }).default;
  if (def !== null && typeof def === 'object' && typeof (def as Record<string, unknown>)[name] === 'function') {
    return (def as Record<string, unknown>)[name];
  }
  if (name === 'handler') {
    if (typeof def === 'function') return def;
    if (typeof mod === 'function') return mod;
  }
  return undefined;
}

