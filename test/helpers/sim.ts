// Helpers shared by policy and simulator tests: run a small in-memory trace and record every decision.

import type { KeepAlivePolicy } from '../../src/core/policy.ts';
import { isPrewarmPolicy } from '../../src/core/prewarm.ts';
import type { RemovalReason } from '../../src/core/pool.ts';
import { seededRandom } from '../../src/core/random.ts';
import type { Trace } from '../../src/core/trace.ts';
import { LeastLoadedPlacement } from '../../src/policies/placement/index.ts';
import { simulate, type InvocationOutcome, type SimulationOptions } from '../../src/sim/engine.ts';
import type { SimResult } from '../../src/sim/result.ts';
import { inMemoryTrace, type ArrivalInit, type FunctionInit } from '../../src/sim/traces/in-memory.ts';

export interface RecordedRun {
  result: SimResult;
  /** One entry per arrival, in order: `A:cold`, `B:warm`, `C:dropped`, ... */
  outcomes: string[];
  /** Removals in order: `A:evicted@3000`, ... */
  removals: string[];
}

export function run(
  policy: KeepAlivePolicy,
  trace: Trace,
  memoryMb: number | number[],
  extra: Partial<SimulationOptions> = {},
): RecordedRun {
  const outcomes: string[] = [];
  const removals: string[] = [];
  const result = simulate(trace, {
    servers: (Array.isArray(memoryMb) ? memoryMb : [memoryMb]).map((m) => ({ memoryMb: m })),
    keepAlive: policy,
    // A keep-alive policy that also pre-warms (the hybrid histogram) runs as both.
    ...(isPrewarmPolicy(policy) ? { prewarm: [policy] } : {}),
    placement: new LeastLoadedPlacement(),
    observer: {
      invocation: (fn, _t, outcome: InvocationOutcome) => outcomes.push(`${fn.id}:${outcome}`),
      removed: (fn, t, reason: RemovalReason) => removals.push(`${fn.id}:${reason}@${t}`),
    },
    ...extra,
  });
  return { result, outcomes, removals };
}

export function trace(functions: FunctionInit[], arrivals: ArrivalInit[], spanMs?: number): Trace {
  return inMemoryTrace('test', functions, arrivals, spanMs);
}

/** A seeded random workload: `n` functions of mixed sizes and rates over `minutes`. */
export function randomTrace(seed: number, n = 20, minutes = 30): Trace {
  const rnd = seededRandom(seed);
  const functions: FunctionInit[] = [];
  const arrivals: ArrivalInit[] = [];
  for (let i = 0; i < n; i++) {
    const id = `f${i}`;
    functions.push({ id, memoryMb: 32 + Math.floor(rnd() * 8) * 32, warmMs: 5 + rnd() * 2000, coldStartMs: 50 + rnd() * 3000 });
    const perMinute = rnd() < 0.3 ? rnd() * 20 : rnd() * 1.5;
    for (let m = 0; m < minutes; m++) {
      const k = Math.floor(perMinute + rnd());
      for (let j = 0; j < k; j++) arrivals.push([id, m * 60_000 + rnd() * 60_000]);
    }
  }
  return inMemoryTrace(`random-${seed}`, functions, arrivals, minutes * 60_000);
}
