// A trace held in memory: built from explicit arrivals. For tests, golden traces and small examples.

import { ThawError } from '../../core/errors.ts';
import type { ArrivalBatch, FunctionSpec, Trace } from '../../core/trace.ts';

export interface FunctionInit {
  id: string;
  app?: string;
  memoryMb: number;
  warmMs: number;
  coldStartMs: number;
  /** Invocations one instance serves at once (default 1). */
  concurrency?: number;
}

/** Arrivals as [function id, time ms] or [function id, time ms, duration ms]. */
export type ArrivalInit = readonly [string, number] | readonly [string, number, number];

export function inMemoryTrace(name: string, functions: readonly FunctionInit[], arrivals: readonly ArrivalInit[], spanMs?: number): Trace {
  const specs: FunctionSpec[] = functions.map((f, index) => ({ index, app: f.app ?? f.id, ...f }));
  const byId = new Map(specs.map((f) => [f.id, f.index]));
  const n = arrivals.length;
  const fn = new Int32Array(n);
  const time = new Float64Array(n);
  const withDurations = arrivals.some((a) => a.length === 3);
  const duration = withDurations ? new Float64Array(n) : undefined;
  // Stable sort by time, so equal times keep the order they were given in.
  const order = arrivals.map((_, i) => i).sort((a, b) => arrivals[a]![1] - arrivals[b]![1] || a - b);
  order.forEach((src, dst) => {
    const a = arrivals[src]!;
    const index = byId.get(a[0]);
    if (index === undefined) throw new ThawError('ERR_UNKNOWN_FUNCTION', `${name}: arrival ${src + 1} names unknown function '${a[0]}'`);
    fn[dst] = index;
    time[dst] = a[1];
    if (duration) duration[dst] = a[2] ?? specs[index]!.warmMs;
  });
  const batch: ArrivalBatch = { length: n, fn, time, duration };
  return {
    name,
    functions: specs,
    invocationCount: n,
    spanMs: spanMs ?? (n > 0 ? time[n - 1]! : 0),
    batches: () => [batch],
  };
}
