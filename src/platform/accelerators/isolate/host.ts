// The isolate host: one long-running process (under bubblewrap where available) that runs function
// instances as V8 isolates (isolated-vm). thaw sends it JSON lines on stdin — create, invoke,
// dispose, heap — and reads one JSON answer per request on stdout. Each isolate has its own heap with
// the function's memory limit, its own globals (prelude.ts) and its own copy of the function's code;
// a CPU-time watchdog and the function's timeout dispose of an isolate that runs too long. Bundled by
// esbuild into one CommonJS file (host-process.ts), run by plain `node`.

import { randomBytes } from 'node:crypto';

import type * as IvmTypes from 'isolated-vm';
import { coalescedWriter, frame, onMessages } from '../../../runtime/framing.ts';
import type { HostAnswer, HostRequest } from './protocol.ts';
import { PRELUDE } from './prelude.ts';

// Resolved by thaw and passed in: the host's bundle lives in the data directory, not in node_modules.
// eslint-disable-next-line @typescript-eslint/no-require-imports
const ivm = require(process.env.THAW_ISOLATED_VM ?? 'isolated-vm') as typeof IvmTypes;

interface Live {
  isolate: IvmTypes.Isolate;
  context: IvmTypes.Context;
  invoke: IvmTypes.Reference;
  /** The start that made it, until its first invocation has answered: then its version's spare is refilled. */
  refill?: CreateRequest;
  /** Why the host disposed of it (a limit), so the answer in flight can say so. */
  killedFor?: { kind: 'timeout' | 'oom'; message: string };
}

type CreateRequest = Extract<HostRequest, { op: 'create' }>;

const isolates = new Map<string, Live>();
/**
 * Each version's bundle, as thaw sent it once (a deps-heavy bundle is megabytes: sending and parsing
 * it as JSON on every start cost more than the start).
 */
const sources = new Map<string, string>();
/** V8's code cache per function version: a second isolate of the same version skips the parse. */
const codeCache = new Map<string, IvmTypes.ExternalCopy<ArrayBuffer>>();

const write = coalescedWriter(process.stdout);
function send(answer: HostAnswer): void {
  write(frame(answer));
}

/** Runs `work` under the isolate's CPU-time and wall-time limits; disposes of the isolate past either. */
async function limited<T>(live: Live, cpuLimitMs: number, wallLimitMs: number, work: () => Promise<T>): Promise<T> {
  const cpuStart = live.isolate.cpuTime;
  const kill = (message: string): void => {
    if (live.isolate.isDisposed) return;
    live.killedFor = { kind: 'timeout', message };
    live.isolate.dispose();
  };
  const watchdog = setInterval(() => {
    if (live.isolate.isDisposed) return;
    const usedMs = Number(live.isolate.cpuTime - cpuStart) / 1e6;
    if (usedMs > cpuLimitMs) kill(`the function used more than its CPU-time limit of ${cpuLimitMs} ms`);
  }, Math.max(1, Math.min(10, cpuLimitMs / 4)));
  const wall = setTimeout(() => kill(`the function did not finish within ${wallLimitMs} ms`), wallLimitMs);
  try {
    return await work();
  } finally {
    clearInterval(watchdog);
    clearTimeout(wall);
  }
}

/** What an error from isolated-vm means: a limit the host enforced, the heap limit, or the function's own. */
function failure(live: Live, error: unknown): { kind: 'error' | 'timeout' | 'oom' | 'exit'; message: string; fatal: boolean } {
  const message = (error as Error)?.message ?? String(error);
  if (live.killedFor) return { ...live.killedFor, fatal: true };
  if (/memory limit/i.test(message)) return { kind: 'oom', message: `the isolate exceeded its memory limit: ${message}`, fatal: true };
  if (live.isolate.isDisposed) return { kind: 'exit', message, fatal: true };
  return { kind: 'error', message, fatal: false };
}

/**
 * A new isolate with the prelude and the function's bundle evaluated (its imports done), under the
 * function's limits; init() has not run. Throws with the isolate disposed of.
 */
async function load(req: CreateRequest, code: string): Promise<{ live: Live; importStart: number }> {
  const isolate = new ivm.Isolate({ memoryLimit: Math.max(8, req.memoryMb) });
  const live: Live = { isolate, context: undefined as unknown as IvmTypes.Context, invoke: undefined as unknown as IvmTypes.Reference };
  try {
    const context = await isolate.createContext();
    live.context = context;
    const global = context.global;
    await global.set('globalThis', global.derefInto());
    await global.set('__thaw_random', new ivm.Callback((n: number) => randomBytes(Math.min(65536, Math.max(0, n | 0))).toString('hex')));
    let fireRef: IvmTypes.Reference | undefined;
    await global.set(
      '__thaw_timer',
      new ivm.Callback((ms: number, id: number) => {
        setTimeout(() => {
          if (!isolate.isDisposed) fireRef?.apply(undefined, [id], { timeout: req.cpuLimitMs }).catch(() => {});
        }, ms);
      }),
    );
    await (await isolate.compileScript(PRELUDE, { filename: 'thaw:prelude' })).run(context);
    fireRef = await global.get('__thaw_fire', { reference: true });
    live.invoke = await global.get('__thaw_invoke', { reference: true });
    const importStart = performance.now();
    const cached = codeCache.get(req.cacheKey);
    const source = `(function (exports, require, module, __filename, __dirname) {${code}\n})`;
    const script = (await isolate.compileScript(source, { filename: 'file:///code/bundle.cjs', cachedData: cached, produceCachedData: !cached })) as IvmTypes.Script & IvmTypes.CachedDataResult;
    if (!cached && script.cachedData) codeCache.set(req.cacheKey, script.cachedData);
    const defineRef = await global.get('__thaw_define', { reference: true });
    await limited(live, req.cpuLimitMs, req.timeoutMs, async () => {
      const factory = (await script.run(context, { reference: true })) as IvmTypes.Reference;
      await defineRef.apply(undefined, [JSON.stringify(req.env), factory.derefInto()]);
    });
    return { live, importStart };
  } catch (error) {
    const f = failure(live, error);
    if (!isolate.isDisposed) isolate.dispose();
    throw Object.assign(error instanceof Error ? error : new Error(String(error)), { failure: f });
  }
}

// Spares: for a version whose starts ask for them (`spares` > 0), the host keeps one isolate loaded
// ahead — a fresh isolate of its own, bundle evaluated, init() not run — and the next start of that
// version takes it instead of evaluating the bundle again (the imports are most of a deps-heavy
// start). It is refilled in the background once the instance a start made (or took) has answered its
// first invocation, so the refill does not compete with that request for the CPU. A spare
// is per version (never another function's), evaluated under the version's own limits, and each
// spare ran the bundle's top level itself, so values drawn there (an instance id, a random seed)
// differ between instances as they do between containers — nothing is copied from one instance to
// another, as a heap snapshot would. V8 startup snapshots (ivm.Isolate.createSnapshot) were tried
// first: on Node 20 (V8 11.3) a restored heap loses one-character identifiers (lodash's `_`: "_ is
// not defined"), and its build runs the code with no limits in the host itself.
interface Spare {
  /** The version's settings it was loaded with: a start with other settings does not take it. */
  memoryMb: number;
  envJson: string;
  loaded?: Live;
  /** Settles when it has loaded (or failed to). */
  settled: Promise<void>;
}
const spares = new Map<string, Spare>();

/** The loaded spare of this version with these settings, taken out of the spares; else undefined. */
function takeSpare(req: CreateRequest): Live | undefined {
  const spare = spares.get(req.cacheKey);
  if (!spare?.loaded) return undefined;
  if (spare.memoryMb !== req.memoryMb || spare.envJson !== JSON.stringify(req.env)) {
    dropSpare(req.cacheKey); // loaded with other settings: the refill after this start loads one with these
    return undefined;
  }
  spares.delete(req.cacheKey);
  return spare.loaded.isolate.isDisposed ? undefined : spare.loaded;
}

function dropSpare(cacheKey: string): void {
  const spare = spares.get(cacheKey);
  spares.delete(cacheKey);
  if (spare?.loaded && !spare.loaded.isolate.isDisposed) spare.loaded.isolate.dispose();
}

/** Loads a spare for this version in the background, unless one is loaded or loading; at most req.spares versions keep one (the least recently refilled is dropped first). */
function refillSpare(req: CreateRequest): void {
  if (!(req.spares > 0) || spares.has(req.cacheKey)) return;
  const spare: Spare = { memoryMb: req.memoryMb, envJson: JSON.stringify(req.env), settled: Promise.resolve() };
  spares.set(req.cacheKey, spare);
  while (spares.size > req.spares) dropSpare(spares.keys().next().value!);
  const code = sources.get(req.cacheKey);
  if (code === undefined) return;
  spare.settled = load(req, code).then(
    ({ live }) => {
      if (spares.get(req.cacheKey) === spare) spare.loaded = live;
      else live.isolate.dispose(); // forgotten (retired) while it loaded
    },
    // The start that needs it will load the bundle itself, and report its error.
    () => {
      if (spares.get(req.cacheKey) === spare) spares.delete(req.cacheKey);
    },
  );
}

async function create(req: CreateRequest): Promise<void> {
  const t0 = performance.now();
  if (req.code !== undefined) sources.set(req.cacheKey, req.code);
  const code = sources.get(req.cacheKey);
  if (code === undefined) return send({ id: req.id, ok: false, needCode: true, error: { kind: 'exit', message: `the host has no code of ${req.cacheKey}` } });
  let live = takeSpare(req);
  const fromSpare = live !== undefined;
  let tImport = performance.now();
  let tInit = tImport;
  try {
    if (!live) {
      const loaded = await load(req, code);
      live = loaded.live;
      tImport = loaded.importStart;
      tInit = performance.now();
    }
    isolates.set(req.isolate, live);
    const initRef = await live.context.global.get('__thaw_init', { reference: true });
    const current = live;
    const init = JSON.parse(await limited(current, req.cpuLimitMs, req.timeoutMs, () => initRef.apply(undefined, [], { result: { promise: true } }) as Promise<string>)) as {
      ok: boolean;
      error?: { name?: string; message: string; stack?: string };
    };
    if (!init.ok) throw Object.assign(new Error(init.error!.message), { name: init.error!.name ?? 'Error', stack: init.error!.stack, fromFunction: true });
    const tReady = performance.now();
    live.refill = req;
    send({ id: req.id, ok: true, spare: fromSpare, timings: { sandboxMs: tImport - t0, importMs: tInit - tImport, initMs: tReady - tInit } });
  } catch (error) {
    const f = (error as { failure?: ReturnType<typeof failure> }).failure ?? (live ? failure(live, error) : { kind: 'error' as const, message: String(error), fatal: true });
    isolates.delete(req.isolate);
    if (live && !live.isolate.isDisposed) live.isolate.dispose();
    send({ id: req.id, ok: false, error: { kind: f.kind === 'error' ? 'init' : f.kind, name: (error as Error)?.name, message: f.message, stack: (error as Error)?.stack } });
  }
}

async function invoke(req: Extract<HostRequest, { op: 'invoke' }>): Promise<void> {
  const live = isolates.get(req.isolate);
  if (!live) return send({ id: req.id, ok: false, error: { kind: 'exit', message: `isolate ${req.isolate} is not running` }, durationMs: 0, fatal: true });
  const t0 = performance.now();
  try {
    const answer = await limited(
      live,
      req.cpuLimitMs,
      req.timeoutMs,
      () => live.invoke.apply(undefined, [JSON.stringify(req.payload ?? null), JSON.stringify(req.context)], { result: { promise: true } }) as Promise<string>,
    );
    const r = JSON.parse(answer) as { ok: boolean; value?: unknown; error?: { name?: string; message: string; stack?: string }; stdout: string; stderr: string };
    send({ id: req.id, ok: r.ok, value: r.value, error: r.error && { kind: 'error', ...r.error }, stdout: r.stdout, stderr: r.stderr, durationMs: performance.now() - t0 });
  } catch (error) {
    const f = failure(live, error);
    if (f.fatal) isolates.delete(req.isolate);
    send({ id: req.id, ok: false, error: { kind: f.kind, message: f.message }, durationMs: performance.now() - t0, fatal: f.fatal });
  } finally {
    refillAfter(live);
  }
}

/** Refills the version's spare after the instance's first invocation (or its end, if it never had one). */
function refillAfter(live: Live): void {
  const made = live.refill;
  live.refill = undefined;
  if (made) refillSpare(made);
}

function dispose(req: Extract<HostRequest, { op: 'dispose' }>): void {
  const live = isolates.get(req.isolate);
  isolates.delete(req.isolate);
  if (live && !live.isolate.isDisposed) live.isolate.dispose();
  if (live) refillAfter(live);
  if (req.forget) {
    codeCache.delete(req.forget);
    sources.delete(req.forget);
    dropSpare(req.forget);
  }
  send({ id: req.id, ok: true });
}

/** Answers once this version's spare, if one is loading, has settled: whether one is ready now. */
async function spareReady(req: Extract<HostRequest, { op: 'spare' }>): Promise<void> {
  await spares.get(req.cacheKey)?.settled;
  send({ id: req.id, ok: true, spare: spares.get(req.cacheKey)?.loaded !== undefined });
}

function heap(req: Extract<HostRequest, { op: 'heap' }>): void {
  const live = isolates.get(req.isolate);
  if (!live || live.isolate.isDisposed) return send({ id: req.id, ok: true, heapMb: 0 });
  const s = live.isolate.getHeapStatisticsSync();
  send({ id: req.id, ok: true, heapMb: (s.total_heap_size + s.externally_allocated_size) / 2 ** 20 });
}

onMessages<HostRequest>(process.stdin, serve, (line) => process.stderr.write(`isolate host: not a JSON request: ${line.slice(0, 200)}\n`));
function serve(req: HostRequest): void {
  const run = req.op === 'create' ? create(req) : req.op === 'invoke' ? invoke(req) : req.op === 'dispose' ? dispose(req) : req.op === 'heap' ? heap(req) : req.op === 'spare' ? spareReady(req) : undefined;
  if (run === undefined) send({ id: (req as { id: number }).id, ok: false, error: { kind: 'exit', message: `unknown op ${JSON.stringify((req as { op?: unknown }).op)}` } });
  else void Promise.resolve(run).catch((error: Error) => send({ id: req.id, ok: false, error: { kind: 'exit', message: `isolate host: ${error.message}` } }));
}
// thaw went away: so does every isolate.
process.stdin.on('end', () => process.exit(0));
send({ id: 0, ok: true, ready: true });
