// Test helper: the FaaSCache reference's recorded outputs (test/fixtures/faascache/*.json, see the
// README there) and an exact comparison of runFaasCache against them.

import { readFileSync } from 'node:fs';
import type { Trace } from '../../../src/core/trace.ts';
import { runFaasCache, type FaasCachePolicy } from '../../../src/sim/compat/faascache.ts';

export interface FixtureRun {
  policy: FaasCachePolicy;
  memoryMb: number;
  /** [function index, hits, misses, evictions, drops] for every function with a non-zero count. */
  functions: Array<[number, number, number, number, number]>;
  /** Function indexes in miss_stats() order (first appearance in the perf log). */
  servedOrder: number[];
  /** analyze_timings(...)["global"]; null when nothing was served. */
  global: { server_cold: number; wted_eat: number; wted_increase: number } | null;
  finalClock: number;
  finalMemUsed: number;
  /** The ContainerPool list at the end, as [function index, Priority]. */
  finalPool: Array<[number, number]>;
  referenceSeconds: number;
}

export interface Fixture {
  trace: string;
  python: string;
  invocations: number;
  /** The reference's lambdas values in trace order: [HashFunction, mem, cold_dur, warm_dur]. */
  functions: Array<[string, number, number, number]>;
  runs: FixtureRun[];
}

export function readFixture(path: string): Fixture {
  return JSON.parse(readFileSync(path, 'utf8')) as Fixture;
}

/** Differences between the trace's functions and the fixture's (empty when they agree). */
export function compareFunctions(trace: Trace, fx: Fixture): string[] {
  const diffs: string[] = [];
  if (trace.functions.length !== fx.functions.length) diffs.push(`functions: ${trace.functions.length} vs reference ${fx.functions.length}`);
  fx.functions.forEach(([id, mem, cold, warm], i) => {
    const f = trace.functions[i];
    if (!f || f.id !== id || f.memoryMb !== mem || f.warmMs !== warm || f.warmMs + f.coldStartMs !== cold) {
      diffs.push(`function ${i}: ${JSON.stringify(f)} vs reference ${JSON.stringify([id, mem, cold, warm])}`);
    }
  });
  if (trace.invocationCount !== fx.invocations) diffs.push(`invocations: ${trace.invocationCount} vs reference ${fx.invocations}`);
  return diffs;
}

/** Run one fixture configuration and list every difference from the reference (empty = exact match). */
export function compareRun(trace: Trace, run: FixtureRun, opts: { pool?: boolean } = {}): { diffs: string[]; ms: number } {
  const t0 = performance.now();
  const { result, pool, servedOrder } = runFaasCache(trace, { policy: run.policy, memoryMb: run.memoryMb });
  const ms = performance.now() - t0;
  const diffs: string[] = [];
  const where = `${run.policy}@${run.memoryMb}`;
  const expected = new Map(run.functions.map((r) => [r[0], r]));
  result.functions.forEach((f, i) => {
    const e = expected.get(i) ?? [i, 0, 0, 0, 0];
    const got = [i, f.hits, f.misses, f.evictions, f.drops];
    if (got.some((v, k) => v !== e[k])) diffs.push(`${where} function ${i} [hits, misses, evictions, drops]: ${JSON.stringify(got.slice(1))} vs reference ${JSON.stringify(e.slice(1))}`);
  });
  const ids = trace.functions.map((f) => f.id);
  const expOrder = run.servedOrder.map((i) => ids[i]);
  if (JSON.stringify(servedOrder) !== JSON.stringify(expOrder)) diffs.push(`${where} perf-log function order differs`);
  const g = result.reference;
  if (JSON.stringify(g) !== JSON.stringify(run.global)) diffs.push(`${where} analyze_timings global: ${JSON.stringify(g)} vs reference ${JSON.stringify(run.global)}`);
  if (result.final.clock !== run.finalClock) diffs.push(`${where} final Clock: ${result.final.clock} vs reference ${run.finalClock}`);
  if (result.final.memoryUsedMb !== run.finalMemUsed) diffs.push(`${where} final mem_used: ${result.final.memoryUsedMb} vs reference ${run.finalMemUsed}`);
  if (opts.pool !== false) {
    const expPool = run.finalPool.map(([i, p]) => [ids[i], p]);
    if (pool.length !== expPool.length) diffs.push(`${where} final pool size: ${pool.length} vs reference ${expPool.length}`);
    else {
      const k = pool.findIndex((x, j) => x[0] !== expPool[j]![0] || x[1] !== expPool[j]![1]);
      if (k >= 0) diffs.push(`${where} final pool differs at position ${k}: ${JSON.stringify(pool[k])} vs reference ${JSON.stringify(expPool[k])}`);
    }
  }
  return { diffs, ms };
}
