// Start costs measured on the platform, fed back into the simulator. A calibration file (written by
// `thaw bench starts --export`) holds, per example function, the time to first response of each
// start kind. `thaw sim --start-costs FILE --start-path snapshot` then simulates every cold start as
// a snapshot (or zygote) start: each trace function's cold-start time is scaled by the measured
// ratio of that start kind to a cold start (the median over the measured functions), so a policy
// weighs cheap restores against memory held by keep-alive.

import { readFileSync } from 'node:fs';
import { invalidOption, ThawError } from '../core/errors.ts';
import type { FunctionSpec, Trace } from '../core/trace.ts';

export const START_COST_KINDS = ['cold', 'snapshot', 'zygote', 'isolate', 'resumed', 'warm'] as const;
export type StartCostKind = (typeof START_COST_KINDS)[number];

export interface StartCosts {
  version: 1;
  /** Where and how it was measured (free form). */
  source?: string;
  /** Per function, p50 time to first response of each start kind measured, ms. */
  functions: Record<string, Partial<Record<StartCostKind, number>>>;
}

export function parseStartCosts(text: string, file: string): StartCosts {
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (error) {
    throw new ThawError('ERR_INVALID_OPTION', `${file}: not JSON: ${(error as Error).message}`);
  }
  const fail = (what: string): never => {
    throw new ThawError('ERR_INVALID_OPTION', `${file}: ${what} (expected {"version": 1, "functions": {"name": {"cold": ms, "snapshot": ms, ...}}})`);
  };
  const d = data as StartCosts;
  if (typeof d !== 'object' || d === null || d.version !== 1) fail('version must be 1');
  if (typeof d.functions !== 'object' || d.functions === null) fail('no "functions" object');
  for (const [name, costs] of Object.entries(d.functions)) {
    for (const [kind, ms] of Object.entries(costs ?? {})) {
      if (!(START_COST_KINDS as readonly string[]).includes(kind)) fail(`functions.${name}: unknown start kind '${kind}'`);
      if (typeof ms !== 'number' || !(ms >= 0)) fail(`functions.${name}.${kind}: expected a duration in ms ≥ 0, got ${JSON.stringify(ms)}`);
    }
  }
  return d;
}

export function loadStartCosts(file: string): StartCosts {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    throw invalidOption('--start-costs', `cannot read ${file}: ${(error as Error).message}`);
  }
  return parseStartCosts(text, file);
}

/** The median over the measured functions of (kind's time / cold time). */
export function startCostRatio(costs: StartCosts, kind: StartCostKind): { ratio: number; functions: string[] } {
  const pairs = Object.entries(costs.functions).filter(([, c]) => c.cold !== undefined && c.cold > 0 && c[kind] !== undefined);
  if (pairs.length === 0) throw invalidOption('--start-path', `the start costs file measures no function with both a cold and a ${kind} start`);
  const ratios = pairs.map(([, c]) => c[kind]! / c.cold!).sort((a, b) => a - b);
  const mid = ratios.length >> 1;
  const ratio = ratios.length % 2 ? ratios[mid]! : (ratios[mid - 1]! + ratios[mid]!) / 2;
  return { ratio, functions: pairs.map(([name]) => name) };
}

/** The same trace with every function's cold-start time scaled by `ratio`. */
export function withScaledColdStarts(trace: Trace, ratio: number, label: string): Trace {
  const functions: FunctionSpec[] = trace.functions.map((f) => ({ ...f, coldStartMs: f.coldStartMs * ratio }));
  return {
    name: `${trace.name} (cold starts as ${label}: ×${ratio.toFixed(3)})`,
    functions,
    invocationCount: trace.invocationCount,
    spanMs: trace.spanMs,
    batches: () => trace.batches(),
  };
}
