// thaw replay: a slice of an Azure-format trace driven through a real `thaw serve`, compressed in
// time, beside what the simulator predicts for the same slice, policy and memory.
//
// The server runs its policy clock `speedup` times faster than the wall clock (serve --time-scale),
// so keep-alive windows, histograms and pre-warm lead times are in trace time on both sides. Each
// trace function becomes a deployed function with the trace's memory limit whose handler waits for
// the invocation's trace duration / speedup. Each function is its own application on the platform,
// so the simulator runs the slice that way too (the hybrid policy learns per application).

import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ThawError } from '../../core/errors.ts';
import { seededRandom } from '../../core/random.ts';
import type { FunctionSpec, Trace } from '../../core/trace.ts';
import { LIMITS } from '../../platform/function.ts';
import { START_COST_KINDS, type StartCostKind, type StartCosts } from '../../sim/calibration.ts';
import {
  diffOf,
  measuredTrace,
  noiseBand,
  bandVerdict,
  eventDiff,
  type BandVerdict,
  type EventDiff,
  START_MODELS,
  platformByFunction,
  REPLAY_TIMEOUT_MS,
  simulateSlice,
  sliceTraceOf,
  withMeasuredStartCosts,
  type Arrival,
  type NoiseBand,
  type PlatformInvocation,
  type ReplayDiff,
  type ReplaySide,
  type SideCounts,
} from './replay-sim.ts';

export interface ReplayOptions {
  trace: Trace;
  /** How many functions (with at least one arrival in the window). */
  functions: number;
  /** Sample them with this seed instead of taking the first ones. */
  seed?: number;
  minutes: number;
  policy: string;
  memoryMb: number;
  ttlMs?: number;
  /** Trace time per wall-clock time (60: a trace minute in one second). */
  speedup: number;
  /** A server already running (started with --time-scale = speedup); else replay starts its own. */
  url?: string;
  /** Also simulate the trace with the start costs the platform measured (per start kind). */
  calibrate?: boolean;
  onProgress?: (message: string) => void;
  /** Also return every arrival and what the platform did with it (event-log diffs, offline noise studies). */
  keepInvocations?: boolean;
}

export type { BandVerdict, EventDiff, NoiseBand, PlatformInvocation, ReplayDiff, ReplaySide, SideCounts } from './replay-sim.ts';

export interface ReplayResult {
  slice: { trace: string; functions: string[]; minutes: number; invocations: number; speedup: number; policy: string; memoryMb: number; firstArrivalMs: number; lastArrivalMs: number };
  platform: ReplaySide & { failures: Record<string, number>; wallMs: number; invocationsPerSecond: number; meanColdStartMs: number; meanLateMs: number };
  /** The simulator's prediction from the trace alone (its start and execution times). */
  simulator: ReplaySide;
  diff: ReplayDiff;
  /**
   * The simulator run with what the platform measured: each request at the time it was sent, held
   * for its measured execution and thaw's own time around it, each function's cold start its median
   * measured one. What is left between this and the platform is the platform's timing noise, not
   * the trace's start costs (the agreement figure).
   */
  measured: { simulator: ReplaySide; diff: ReplayDiff; bands: (NoiseBand & { platformCold: BandVerdict })[]; events: EventDiff[] };
  /** --calibrate: the trace simulated again with the start costs the platform measured per start kind. */
  calibrated?: { simulator: ReplaySide; diff: ReplayDiff; startCosts: StartCosts; startKinds: Record<string, string> };
  /** Per function: what each side did. */
  byFunction: { id: string; memoryMb: number; invocations: number; platform: SideCounts; simulator: SideCounts; measured: SideCounts }[];
  /** keepInvocations: the slice (functions, arrivals in trace time) and the platform's answer to each arrival. */
  invocations?: { functions: FunctionSpec[]; arrivals: Arrival[]; platform: PlatformInvocation[] };
}

/** The slice: N functions with arrivals in the first `minutes`, renumbered, each its own app. */
export function sliceTrace(trace: Trace, options: Pick<ReplayOptions, 'functions' | 'seed' | 'minutes'>): { trace: Trace; arrivals: Arrival[] } {
  if (!(options.minutes > 0)) throw new ThawError('ERR_INVALID_OPTION', `option --minutes: must be > 0, got ${options.minutes}`);
  if (!(Number.isInteger(options.functions) && options.functions > 0)) throw new ThawError('ERR_INVALID_OPTION', `option --functions: must be an integer > 0, got ${options.functions}`);
  const windowMs = options.minutes * 60_000;
  const all: { fn: number; time: number; durationMs: number }[] = [];
  const active = new Set<number>();
  for (const batch of trace.batches()) {
    for (let i = 0; i < batch.length; i++) {
      const t = batch.time[i]!;
      if (t >= windowMs) continue;
      const fn = batch.fn[i]!;
      all.push({ fn, time: t, durationMs: batch.duration ? batch.duration[i]! : trace.functions[fn]!.warmMs });
      active.add(fn);
    }
  }
  let chosen = [...active].sort((a, b) => a - b);
  if (chosen.length < options.functions) throw new ThawError('ERR_INVALID_OPTION', `option --functions: ${trace.name} has only ${chosen.length} functions invoked in the first ${options.minutes} minutes`);
  if (options.seed !== undefined) {
    const random = seededRandom(options.seed);
    for (let i = chosen.length - 1; i > 0; i--) {
      const j = Math.floor(random() * (i + 1));
      [chosen[i], chosen[j]] = [chosen[j]!, chosen[i]!];
    }
    chosen = chosen.slice(0, options.functions).sort((a, b) => a - b);
  } else {
    chosen = chosen.slice(0, options.functions);
  }
  const newIndex = new Map(chosen.map((old, k) => [old, k]));
  const functions: FunctionSpec[] = chosen.map((old, index) => {
    const f = trace.functions[old]!;
    const id = `r${index}`;
    return { index, id, app: id, memoryMb: deployedMemoryMb(f.memoryMb), warmMs: f.warmMs, coldStartMs: f.coldStartMs };
  });
  const arrivals = all.filter((a) => newIndex.has(a.fn)).map((a) => ({ ...a, fn: newIndex.get(a.fn)! }));
  return { trace: sliceTraceOf(`${trace.name} (${options.functions} functions × ${options.minutes} min)`, functions, arrivals, windowMs), arrivals };
}

/**
 * The memory limit a trace function is deployed with: whole MB within the platform's limits (64 MB
 * at least; the Azure sample has functions of 5 MB). The simulator counts this too, or the two
 * would fill different memory with the same instances.
 */
export function deployedMemoryMb(traceMb: number): number {
  return Math.min(LIMITS.memoryMb.max, Math.max(LIMITS.memoryMb.min, Math.round(traceMb)));
}

/** A function that waits for the invocation's (scaled) trace duration. */
const HANDLER = `// Generated by thaw replay: waits for the invocation's trace duration (scaled), then answers.
export async function handler(event) {
  await new Promise((resolve) => setTimeout(resolve, event.ms));
  return null;
}
`;

export async function replay(o: ReplayOptions): Promise<ReplayResult> {
  if (!(o.speedup > 0)) throw new ThawError('ERR_INVALID_OPTION', `option --speedup: must be > 0, got ${o.speedup}`);
  const { trace, arrivals } = sliceTrace(o.trace, o);
  const say = o.onProgress ?? (() => {});
  const work = mkdtempSync(join(tmpdir(), 'thaw-replay-'));
  let server: ChildProcess | undefined;
  let stop: ((signal: NodeJS.Signals) => void) | undefined;
  try {
    let url = o.url;
    if (!url) {
      const port = await freePort();
      url = `http://127.0.0.1:${port}`;
      say(`starting thaw serve on ${url} (time scale ${o.speedup}, ${o.policy}, ${o.memoryMb} MB)`);
      server = startServer(join(work, 'data'), port, o);
      // Ctrl-C (or a kill) stops the server replay started, not just replay.
      const child = server;
      stop = (signal: NodeJS.Signals) => {
        child.kill('SIGTERM');
        process.kill(process.pid, signal);
      };
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
      await waitUntilUp(url, server);
    }
    say(`deploying ${trace.functions.length} functions`);
    for (const fn of trace.functions) await deploy(url, fn, work);
    say(`replaying ${arrivals.length} invocations over ${o.minutes} trace minutes (${((o.minutes * 60) / o.speedup).toFixed(1)} s)`);
    const run = await fire(url, trace, arrivals, o.speedup);
    // The simulator counts idle memory until the window closes: so does the platform, by stopping
    // every instance then (an idle period's cost is recorded when it ends).
    const windowEndMs = (o.minutes * 60_000) / o.speedup;
    if (run.wallMs < windowEndMs) await new Promise((resolve) => setTimeout(resolve, windowEndMs - run.wallMs));
    for (const fn of trace.functions) await fetch(`${url}/functions/${fn.id}/instances`, { method: 'DELETE' }).then((r) => r.arrayBuffer());
    // The platform writes idle costs to its store once a second.
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    const idleMemoryGBs = await idleGBs(url);
    const startCosts = o.calibrate ? await measuredStartCosts(url, trace) : undefined;
    const platform = {
      invocations: arrivals.length,
      cold: run.cold,
      warm: run.warm,
      dropped: run.dropped,
      failed: run.failed,
      failures: run.failures,
      coldStartRatio: run.cold + run.warm > 0 ? run.cold / (run.cold + run.warm) : 0,
      idleMemoryGBs,
      wallMs: run.wallMs,
      invocationsPerSecond: arrivals.length / (run.wallMs / 1000),
      meanColdStartMs: run.coldStartMs.length ? run.coldStartMs.reduce((a, b) => a + b, 0) / run.coldStartMs.length : 0,
      meanLateMs: run.lateMs / Math.max(1, arrivals.length),
    };
    const sim = { policy: o.policy, memoryMb: o.memoryMb, ttlMs: o.ttlMs };
    const simulator = simulateSlice(trace, sim);
    const measuredSlice = measuredTrace(trace, arrivals, run.invocations, o.speedup).trace;
    const measured = simulateSlice(measuredSlice, sim);
    const platformCounts = platformByFunction(trace, arrivals, run.invocations);
    const result: ReplayResult = {
      slice: { trace: trace.name, functions: trace.functions.map((f) => f.id), minutes: o.minutes, invocations: arrivals.length, speedup: o.speedup, policy: o.policy, memoryMb: o.memoryMb, firstArrivalMs: arrivals[0]?.time ?? 0, lastArrivalMs: arrivals.at(-1)?.time ?? 0 },
      platform,
      simulator: simulator.side,
      diff: diffOf(platform, simulator.side),
      measured: { simulator: measured.side, diff: diffOf(platform, measured.side), bands: START_MODELS.map((model) => {
          const band = noiseBand(trace, arrivals, run.invocations, o.speedup, sim, model);
          return { ...band, platformCold: bandVerdict(platform.cold, band.cold) };
        }),
        events: eventDiff(measuredSlice, arrivals, run.invocations, sim),
      },
      byFunction: trace.functions.map((f, i) => ({
        id: f.id,
        memoryMb: f.memoryMb,
        invocations: arrivals.filter((a) => a.fn === i).length,
        platform: platformCounts[i]!,
        simulator: simulator.byFunction[i]!,
        measured: measured.byFunction[i]!,
      })),
    };
    if (o.keepInvocations) result.invocations = { functions: [...trace.functions], arrivals, platform: run.invocations };
    if (startCosts) {
      const kinds = newStartKinds(trace, arrivals, run.invocations);
      const calibrated = simulateSlice(withMeasuredStartCosts(trace, arrivals, startCosts, kinds, o.speedup), sim).side;
      result.calibrated = { simulator: calibrated, diff: diffOf(platform, calibrated), startCosts, startKinds: kinds };
    }
    return result;
  } finally {
    if (stop) {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
    }
    if (server && server.exitCode === null) {
      const exited = new Promise((resolve) => server!.once('exit', resolve));
      server.kill('SIGTERM');
      await exited;
    }
    rmSync(work, { recursive: true, force: true });
  }
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

const BIN = fileURLToPath(new URL('../../../bin/thaw.js', import.meta.url));

function startServer(dataDir: string, port: number, o: ReplayOptions): ChildProcess {
  const args = [BIN, 'serve', '--port', String(port), '--data-dir', dataDir, '--keep-alive', o.policy, '--memory', `${o.memoryMb}MB`, '--time-scale', String(o.speedup), '--pause-after', '0'];
  if (o.ttlMs !== undefined) args.push('--ttl', `${o.ttlMs}ms`);
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-4000)));
  (child as ChildProcess & { stderrTail: () => string }).stderrTail = () => stderr;
  return child;
}

async function waitUntilUp(url: string, child: ChildProcess): Promise<void> {
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (child.exitCode !== null) throw new ThawError('ERR_UNREACHABLE', `thaw serve exited (${child.exitCode}) before it answered: ${(child as ChildProcess & { stderrTail: () => string }).stderrTail().trim()}`);
    try {
      const r = await fetch(`${url}/functions`);
      if (r.ok) return;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) throw new ThawError('ERR_UNREACHABLE', `thaw serve did not answer on ${url} within 60 s`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

async function deploy(url: string, fn: FunctionSpec, work: string): Promise<void> {
  const dir = join(work, 'functions', fn.id);
  mkdirSync(dir, { recursive: true });
  const files = { 'package.json': JSON.stringify({ name: fn.id, version: '1.0.0', private: true, type: 'module', main: 'index.js' }), 'index.js': HANDLER };
  for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text);
  const settings = { name: fn.id, memoryMb: fn.memoryMb, timeoutMs: REPLAY_TIMEOUT_MS, maxConcurrency: 1000 };
  const r = await fetch(`${url}/functions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ files, settings }) });
  if (!r.ok) throw new ThawError('ERR_DEPLOY_FAILED', `deploying ${fn.id} to ${url}: HTTP ${r.status} ${await r.text()}`);
}

interface FireResult {
  /** Per arrival, in the slice's order. */
  invocations: PlatformInvocation[];
  cold: number;
  warm: number;
  dropped: number;
  failed: number;
  /** Failures by what they were (HTTP status and error code, or the client's error). */
  failures: Record<string, number>;
  wallMs: number;
  /** Start phases of each cold start, ms of wall-clock time. */
  coldStartMs: number[];
  /** Sum over invocations of how late each request left against its scaled arrival time. */
  lateMs: number;
}

/** Sends each arrival at its trace time / speedup, all concurrently, and counts how each started. */
async function fire(url: string, trace: Trace, arrivals: Arrival[], speedup: number): Promise<FireResult> {
  const result: FireResult = { invocations: [], cold: 0, warm: 0, dropped: 0, failed: 0, failures: {}, wallMs: 0, coldStartMs: [], lateMs: 0 };
  const pending: Promise<void>[] = [];
  const t0 = performance.now();
  const sentMs: number[] = [];
  const fail = (k: number, why: string) => {
    result.failed++;
    result.failures[why] = (result.failures[why] ?? 0) + 1;
    result.invocations[k] = { outcome: 'failed', sentMs: sentMs[k]!, startMs: 0, execMs: 0, queueMs: 0, platformMs: 0, overheadMs: 0 };
  };
  const send = (a: Arrival, k: number): Promise<void> =>
    fetch(`${url}/functions/${trace.functions[a.fn]!.id}/invoke`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ ms: a.durationMs / speedup }) }).then(async (r) => {
      const roundTripMs = performance.now() - t0 - sentMs[k]!;
      const body = await r.text();
      const startKind = r.headers.get('x-thaw-start-kind') ?? undefined;
      const timing = phasesOf(r.headers.get('server-timing') ?? '');
      const record = (outcome: PlatformInvocation['outcome'], startMs = 0): void => {
        const overheadMs = timing.total === undefined ? 0 : Math.max(0, roundTripMs - timing.total);
        result.invocations[k] = { outcome, startKind, sentMs: sentMs[k]!, startMs, execMs: timing.exec ?? 0, queueMs: timing.queue ?? 0, platformMs: timing.platform ?? 0, overheadMs };
        if (startMs > 0) result.invocations[k]!.startPhases = Object.fromEntries(START_PHASES.map((phase) => [phase, timing[phase] ?? 0]));
      };
      if (r.status === 503) {
        result.dropped++;
        record('dropped');
      } else if (!r.ok) fail(k, `HTTP ${r.status} ${errorCode(body)}`.trim());
      else if (startKind === 'warm' || startKind === 'resumed') {
        result.warm++;
        record('warm');
      } else {
        // A new instance, however it started (cold, snapshot, zygote, isolate).
        const startMs = START_PHASES.reduce((sum, phase) => sum + (timing[phase] ?? 0), 0);
        result.cold++;
        result.coldStartMs.push(startMs);
        record('cold', startMs);
      }
    });
  for (let i = 0; i < arrivals.length; ) {
    const now = performance.now() - t0;
    const due = arrivals[i]!.time / speedup;
    if (due > now) {
      await new Promise((resolve) => setTimeout(resolve, Math.max(1, Math.floor(due - now))));
      continue;
    }
    while (i < arrivals.length && arrivals[i]!.time / speedup <= now) {
      result.lateMs += now - arrivals[i]!.time / speedup;
      const k = i++;
      sentMs[k] = now;
      pending.push(send(arrivals[k]!, k).catch((error: Error) => fail(k, failureOf(error))));
    }
  }
  await Promise.all(pending);
  result.wallMs = performance.now() - t0;
  return result;
}

/** Why a request got no answer: fetch's message and its cause's code (ECONNRESET, UND_ERR_SOCKET, ...), which says who gave up. */
function failureOf(error: Error): string {
  const cause = error.cause as { code?: string; message?: string } | undefined;
  return cause ? `${error.message}: ${cause.code ?? cause.message ?? 'unknown cause'}` : error.message;
}

/** The error code of a failed answer's body ({"error": {"code"}}), or ''. */
function errorCode(body: string): string {
  try {
    return (JSON.parse(body) as { error?: { code?: string } }).error?.code ?? '';
  } catch {
    return '';
  }
}

/** The phases of a start: what a cold start costs before the function runs. */
const START_PHASES = ['sandbox', 'runtime-boot', 'import', 'init'];

/** A Server-Timing header's durations by name (queue, sandbox, runtime-boot, import, init, exec, platform, total), ms. */
function phasesOf(header: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const part of header.split(',')) {
    const [name, ...params] = part.trim().split(';');
    const dur = params.find((p) => p.startsWith('dur='));
    if (name && dur) out[name] = Number(dur.slice(4));
  }
  return out;
}

async function idleGBs(url: string): Promise<number> {
  const r = await fetch(`${url}/stats`);
  const body = (await r.json()) as { idleCost?: { idleGbSeconds: number }[] };
  return (body.idleCost ?? []).reduce((sum, c) => sum + c.idleGbSeconds, 0);
}

/**
 * The platform's start costs per function and start kind, as a start-costs file holds them (thaw
 * sim --start-costs reads the format): the median of its start phases (sandbox, runtime boot,
 * import, init), wall-clock ms, of every start kind it measured.
 */
async function measuredStartCosts(url: string, trace: Trace): Promise<StartCosts> {
  const costs: StartCosts = { version: 1, source: `thaw replay (${url}): p50 of the start phases per start kind, wall-clock ms`, functions: {} };
  for (const fn of trace.functions) {
    const r = await fetch(`${url}/functions/${fn.id}/stats`);
    if (!r.ok) continue;
    const body = (await r.json()) as { byStartKind: { startKind: string; phases: Record<string, { p50: number | null }> }[] };
    for (const s of body.byStartKind) {
      if (!(START_COST_KINDS as readonly string[]).includes(s.startKind)) continue;
      const p = (k: string) => s.phases[k]?.p50 ?? 0;
      (costs.functions[fn.id] ??= {})[s.startKind as StartCostKind] = p('sandboxMs') + p('runtimeBootMs') + p('importMs') + p('initMs');
    }
  }
  return costs;
}

/** Per function, the start kind most of its new instances took on the platform. */
function newStartKinds(trace: Trace, arrivals: readonly Arrival[], invocations: readonly PlatformInvocation[]): Record<string, string> {
  const counts = trace.functions.map(() => new Map<string, number>());
  arrivals.forEach((a, k) => {
    const inv = invocations[k]!;
    if (inv.outcome === 'cold' && inv.startKind) counts[a.fn]!.set(inv.startKind, (counts[a.fn]!.get(inv.startKind) ?? 0) + 1);
  });
  const out: Record<string, string> = {};
  trace.functions.forEach((f, i) => {
    const top = [...counts[i]!].sort((x, y) => y[1] - x[1])[0];
    if (top) out[f.id] = top[0];
  });
  return out;
}
