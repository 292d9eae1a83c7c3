// The simulator's side of thaw replay: the slice simulated as the platform serves it (requests that
// find no memory wait, up to the function's timeout, as the invoker's waiters do), the slice again
// with what the platform measured (when each request was sent, how long each held its instance,
// what each function's starts cost), and the comparison of the two sides, in total and per function.

import { seededRandom } from '../../core/random.ts';
import type { FunctionSpec, Trace } from '../../core/trace.ts';
import type { SimObserver } from '../../sim/engine.ts';
import { runSimulation } from '../../sim/run.ts';
import type { StartCosts } from '../../sim/calibration.ts';

/** cold, warm, dropped (no instance in time) and failed (anything else) invocations. */
export interface SideCounts {
  cold: number;
  warm: number;
  dropped: number;
  failed: number;
}

/** What one side did with the slice. Times are trace time. */
export interface ReplaySide extends SideCounts {
  invocations: number;
  coldStartRatio: number;
  idleMemoryGBs: number;
}

export interface ReplayDiff {
  cold: number;
  coldPct: number;
  warm: number;
  dropped: number;
  coldStartRatio: number;
  idleMemoryGBs: number;
}

/** One arrival of the slice: function index, trace time and trace duration, ms. */
export interface Arrival {
  fn: number;
  time: number;
  durationMs: number;
}

/** What the platform did with one arrival (wall-clock ms, from its answer's Server-Timing header). */
export interface PlatformInvocation {
  outcome: 'cold' | 'warm' | 'dropped' | 'failed';
  /** The start kind the platform reported (cold, warm, snapshot, zygote, isolate, ...), if it ran. */
  startKind?: string;
  /** When the request was sent, ms after the first one could have been. */
  sentMs: number;
  /** Start phases (sandbox, runtime boot, import, init) of a new instance; 0 if warm. */
  startMs: number;
  /** Those phases one by one (Server-Timing names), for a new instance: which of them a slow start spent its time in. */
  startPhases?: Record<string, number>;
  execMs: number;
  /** Waiting for an instance (memory, or the function's concurrency limit). */
  queueMs: number;
  /** The rest of the time the instance was held: thaw's own work around the start and the call. */
  platformMs: number;
  /** The round trip as the client saw it less the platform's own total: HTTP, the gateway, the wait to be read. */
  overheadMs: number;
}

/**
 * How long the platform makes a request wait for memory, in trace time: replay deploys every
 * function with this timeout, and the invoker's waiters give up after the function's timeout on the
 * (scaled) policy clock.
 */
export const REPLAY_TIMEOUT_MS = 900_000;

export interface SliceSimOptions {
  policy: string;
  memoryMb: number;
  ttlMs?: number;
}

/** The slice through the simulator, queueing as the platform does. */
export function simulateSlice(trace: Trace, o: SliceSimOptions, startTimeMs?: (fn: FunctionSpec, timeMs: number) => number, observer?: SimObserver): { side: ReplaySide; byFunction: SideCounts[] } {
  const r = runSimulation(trace, { policy: o.policy, memoryMb: o.memoryMb, ttlMs: o.ttlMs, unplaceable: 'queue', queueTimeoutMs: REPLAY_TIMEOUT_MS, startTimeMs, observer });
  const t = r.summary;
  return {
    side: { invocations: t.invocations, cold: t.cold, warm: t.warm, dropped: t.dropped, failed: 0, coldStartRatio: t.coldStartRatio, idleMemoryGBs: t.wastedMemoryGBs },
    byFunction: r.perFunction.map((f) => ({ cold: f.cold, warm: f.warm, dropped: f.dropped, failed: 0 })),
  };
}

export function diffOf(p: ReplaySide, s: ReplaySide): ReplayDiff {
  return {
    cold: p.cold - s.cold,
    coldPct: s.cold > 0 ? (100 * (p.cold - s.cold)) / s.cold : p.cold === 0 ? 0 : Infinity,
    warm: p.warm - s.warm,
    dropped: p.dropped - s.dropped,
    coldStartRatio: p.coldStartRatio - s.coldStartRatio,
    idleMemoryGBs: p.idleMemoryGBs - s.idleMemoryGBs,
  };
}

/** The platform's outcomes per function. */
export function platformByFunction(trace: Trace, arrivals: readonly Arrival[], invocations: readonly PlatformInvocation[]): SideCounts[] {
  const out = trace.functions.map(() => ({ cold: 0, warm: 0, dropped: 0, failed: 0 }));
  arrivals.forEach((a, k) => out[a.fn]![invocations[k]!.outcome]++);
  return out;
}

/**
 * The slice as the platform lived it, in trace time: each request at the time it was sent, held
 * for its measured execution plus thaw's own time around it, and each function's cold start its
 * median measured start (the median over every function's starts where it never started). A
 * request that did not run keeps its trace duration.
 */
export function measuredTrace(trace: Trace, arrivals: readonly Arrival[], invocations: readonly PlatformInvocation[], speedup: number): { trace: Trace; arrivals: Arrival[]; starts: TimedStart[][] } {
  const starts = measuredStarts(trace, arrivals, invocations, speedup);
  const overall = median(starts.flat().map((s) => s.ms));
  const functions: FunctionSpec[] = trace.functions.map((f, i) => ({ ...f, coldStartMs: median(starts[i]!.map((s) => s.ms)) ?? overall ?? f.coldStartMs }));
  const measured = arrivals.map((a, k) => {
    const inv = invocations[k]!;
    const ran = inv.outcome === 'cold' || inv.outcome === 'warm';
    return { fn: a.fn, time: inv.sentMs * speedup, durationMs: ran ? (inv.execMs + inv.platformMs) * speedup : a.durationMs };
  });
  inOrder(measured);
  return { trace: sliceTraceOf(trace.name, functions, measured, trace.spanMs), arrivals: measured, starts };
}

/** A start the platform measured: when its request was sent and what the start cost, trace ms. */
export interface TimedStart {
  time: number;
  ms: number;
}

/** Each function's measured starts in the order they were sent, trace ms. */
function measuredStarts(trace: Trace, arrivals: readonly Arrival[], invocations: readonly PlatformInvocation[], speedup: number): TimedStart[][] {
  const starts = trace.functions.map((): TimedStart[] => []);
  arrivals.forEach((a, k) => {
    const inv = invocations[k]!;
    if (inv.outcome === 'cold') starts[a.fn]!.push({ time: inv.sentMs * speedup, ms: inv.startMs * speedup });
  });
  for (const xs of starts) xs.sort((x, y) => x.time - y.time);
  return starts;
}

/** Requests leave in arrival order: a time before the previous one's becomes it. */
function inOrder(arrivals: Arrival[]): void {
  for (let k = 1; k < arrivals.length; k++) if (arrivals[k]!.time < arrivals[k - 1]!.time) arrivals[k]!.time = arrivals[k - 1]!.time;
}

/** Mean, spread and range of one count over a band's replicates. */
export interface BandStat {
  min: number;
  max: number;
  mean: number;
  sd: number;
}

/**
 * How a replicate draws each simulated start's cost from the measured ones:
 * - `independent`: any of its function's measured starts, each draw on its own;
 * - `nearest`: one of the measured starts nearest in time to the simulated one (its function's,
 *   or any function's where it has none) — the machine's load at that moment, which independent
 *   draws lose: concurrent starts on a loaded machine are slower together.
 */
export type StartModel = 'independent' | 'nearest';
export const START_MODELS: readonly StartModel[] = ['independent', 'nearest'];

/** The spread of the simulator's counts under the platform's own timing jitter. */
export interface NoiseBand {
  model: StartModel;
  replicates: number;
  cold: BandStat;
  warm: BandStat;
  dropped: BandStat;
}

/**
 * Where the platform's count falls in a band: `z` standard deviations from the band's mean, and
 * whether within ±2 sd — the tolerance the band's noise justifies (docs/simulator.md, Agreement).
 */
export interface BandVerdict {
  z: number;
  within2Sd: boolean;
}

export function bandVerdict(platformCount: number, band: BandStat): BandVerdict {
  const off = platformCount - band.mean;
  // A band without spread (every replicate the same) holds only its own count.
  const z = band.sd > 0 ? off / band.sd : off === 0 ? 0 : Math.sign(off) * Infinity;
  return { z, within2Sd: Math.abs(z) <= 2 };
}

/** How many measured starts nearest in time a `nearest` draw picks among. */
const NEAREST_K = 3;

/**
 * The measured simulation again `replicates` times, each with the timing the platform showed but
 * did not repeat: every start's cost drawn from the measured starts (by `model`; the median stands
 * for them in the measured simulation), and every request reaching the invoker somewhere within
 * its measured HTTP overhead after it was sent. The spread of the counts is what timing jitter
 * alone moves them by: the tolerance an agreement check can justify. Seeded, so a run repeats.
 */
export function noiseBand(trace: Trace, arrivals: readonly Arrival[], invocations: readonly PlatformInvocation[], speedup: number, o: SliceSimOptions, model: StartModel = 'nearest', replicates = 20, seed = 1): NoiseBand {
  const base = measuredTrace(trace, arrivals, invocations, speedup);
  const all = base.starts.flat().sort((x, y) => x.time - y.time);
  const random = seededRandom(seed);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(random() * xs.length)]!;
  const startCost = (fn: FunctionSpec, timeMs: number): number => {
    const own = base.starts[fn.index]!;
    const pool = own.length ? own : all;
    if (pool.length === 0) return fn.coldStartMs;
    return model === 'independent' ? pick(pool).ms : pick(nearestInTime(pool, timeMs, NEAREST_K)).ms;
  };
  const counts: SideCounts[] = [];
  for (let r = 0; r < replicates; r++) {
    const jittered = base.arrivals.map((a, k) => ({ ...a, time: a.time + random() * Math.max(0, invocations[k]!.overheadMs) * speedup }));
    jittered.sort((x, y) => x.time - y.time);
    const t = sliceTraceOf(trace.name, [...base.trace.functions], jittered, trace.spanMs);
    counts.push(simulateSlice(t, o, startCost).side);
  }
  const stat = (get: (c: SideCounts) => number): BandStat => {
    const xs = counts.map(get);
    const mean = xs.reduce((a, b) => a + b, 0) / xs.length;
    const sd = Math.sqrt(xs.reduce((a, b) => a + (b - mean) ** 2, 0) / Math.max(1, xs.length - 1));
    return { min: Math.min(...xs), max: Math.max(...xs), mean, sd };
  };
  return { model, replicates, cold: stat((c) => c.cold), warm: stat((c) => c.warm), dropped: stat((c) => c.dropped) };
}

/** The `k` starts of `sorted` (by time) nearest to `timeMs`. */
export function nearestInTime(sorted: readonly TimedStart[], timeMs: number, k: number): TimedStart[] {
  let lo = 0;
  let hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (sorted[mid]!.time < timeMs) lo = mid + 1;
    else hi = mid;
  }
  // Grow a window [left, right) outwards from the insertion point, nearer side first.
  let left = lo;
  let right = lo;
  while (right - left < Math.min(k, sorted.length)) {
    if (left === 0) right++;
    else if (right === sorted.length) left--;
    else if (timeMs - sorted[left - 1]!.time <= sorted[right]!.time - timeMs) left--;
    else right++;
  }
  return sorted.slice(left, right);
}

/** Per function, where the platform and the simulation served the same request differently. */
export interface EventDiff {
  fn: number;
  /** The platform started it cold, the simulation found a warm instance. */
  coldOnPlatform: number;
  /** The simulation started it cold, the platform found a warm instance. */
  coldInSim: number;
  /** The platform gave no answer (failed) or dropped it; the simulation served it. */
  notServedOnPlatform: number;
  /** Of those, the ones the simulation started cold. */
  notServedOnPlatformColdInSim: number;
  /** The simulation dropped it; the platform served it. */
  notServedInSim: number;
}

/**
 * The event-log diff of a replay: each function's k-th request on the platform against its k-th
 * outcome in `trace`'s simulation (a function's queued requests are served in arrival order on both
 * sides), counted per kind of disagreement. Functions on which the two sides agree are left out.
 */
export function eventDiff(trace: Trace, arrivals: readonly Arrival[], invocations: readonly PlatformInvocation[], o: SliceSimOptions): EventDiff[] {
  const sim = trace.functions.map((): string[] => []);
  simulateSlice(trace, o, undefined, { invocation: (fn, _t, outcome) => void (outcome !== 'queued' && sim[fn.index]!.push(outcome)) });
  const platform = trace.functions.map((): string[] => []);
  arrivals.forEach((a, k) => platform[a.fn]!.push(invocations[k]!.outcome));
  const out: EventDiff[] = [];
  trace.functions.forEach((_, fn) => {
    const d: EventDiff = { fn, coldOnPlatform: 0, coldInSim: 0, notServedOnPlatform: 0, notServedOnPlatformColdInSim: 0, notServedInSim: 0 };
    platform[fn]!.forEach((p, k) => {
      const s = sim[fn]![k] ?? 'dropped';
      const pServed = p === 'cold' || p === 'warm';
      const sServed = s === 'cold' || s === 'warm';
      if (pServed && sServed) {
        if (p === 'cold' && s === 'warm') d.coldOnPlatform++;
        if (p === 'warm' && s === 'cold') d.coldInSim++;
      } else if (sServed) {
        d.notServedOnPlatform++;
        if (s === 'cold') d.notServedOnPlatformColdInSim++;
      }
      else if (pServed) d.notServedInSim++;
    });
    if (d.coldOnPlatform + d.coldInSim + d.notServedOnPlatform + d.notServedInSim > 0) out.push(d);
  });
  return out;
}

/**
 * The trace with each function's cold-start time the start cost the platform measured for it (in
 * trace time), of the start kind its new instances took there; functions it never started keep
 * theirs. The costs are a start-costs file's (thaw sim --start-costs reads the same format).
 */
export function withMeasuredStartCosts(trace: Trace, arrivals: readonly Arrival[], costs: StartCosts, kinds: Record<string, string>, speedup: number): Trace {
  const functions: FunctionSpec[] = trace.functions.map((f) => {
    const ms = costs.functions[f.id]?.[kinds[f.id] as keyof StartCosts['functions'][string]];
    return ms === undefined ? f : { ...f, coldStartMs: ms * speedup };
  });
  return sliceTraceOf(`${trace.name} (start costs measured)`, functions, arrivals, trace.spanMs);
}

/** A trace of the given functions and arrivals (one batch). */
export function sliceTraceOf(name: string, functions: FunctionSpec[], arrivals: readonly Arrival[], spanMs: number): Trace {
  return {
    name,
    functions,
    invocationCount: arrivals.length,
    spanMs,
    *batches() {
      yield {
        length: arrivals.length,
        fn: Int32Array.from(arrivals, (a) => a.fn),
        time: Float64Array.from(arrivals, (a) => a.time),
        duration: Float64Array.from(arrivals, (a) => a.durationMs),
      };
    },
  };
}

function median(xs: number[]): number | undefined {
  if (xs.length === 0) return undefined;
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}
