// The simulator's side of thaw replay: the slice simulated as the platform serves it (requests that
// find no memory wait, up to the function's timeout, as the invoker's waiters do), the slice again
// with what the platform measured (when each request was sent, how long each held its instance,
// what each function's starts cost), and the comparison of the two sides, in total and per function.

import type { FunctionSpec, Trace } from '../../core/trace.ts';
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
  execMs: number;
  /** Waiting for an instance (memory, or the function's concurrency limit). */
  queueMs: number;
  /** The rest of the time the instance was held: thaw's own work around the start and the call. */
  platformMs: number;
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
export function simulateSlice(trace: Trace, o: SliceSimOptions): { side: ReplaySide; byFunction: SideCounts[] } {
  const r = runSimulation(trace, { policy: o.policy, memoryMb: o.memoryMb, ttlMs: o.ttlMs, unplaceable: 'queue', queueTimeoutMs: REPLAY_TIMEOUT_MS });
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
export function measuredTrace(trace: Trace, arrivals: readonly Arrival[], invocations: readonly PlatformInvocation[], speedup: number): { trace: Trace; arrivals: Arrival[] } {
  const startsByFn = trace.functions.map((): number[] => []);
  const all: number[] = [];
  arrivals.forEach((a, k) => {
    const inv = invocations[k]!;
    if (inv.outcome === 'cold') {
      startsByFn[a.fn]!.push(inv.startMs * speedup);
      all.push(inv.startMs * speedup);
    }
  });
  const overall = median(all);
  const functions: FunctionSpec[] = trace.functions.map((f, i) => ({ ...f, coldStartMs: median(startsByFn[i]!) ?? overall ?? f.coldStartMs }));
  const measured = arrivals.map((a, k) => {
    const inv = invocations[k]!;
    const ran = inv.outcome === 'cold' || inv.outcome === 'warm';
    return { fn: a.fn, time: inv.sentMs * speedup, durationMs: ran ? (inv.execMs + inv.platformMs) * speedup : a.durationMs };
  });
  // Requests leave in arrival order; equal send times keep it.
  for (let k = 1; k < measured.length; k++) if (measured[k]!.time < measured[k - 1]!.time) measured[k]!.time = measured[k - 1]!.time;
  return { trace: sliceTraceOf(trace.name, functions, measured, trace.spanMs), arrivals: measured };
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
