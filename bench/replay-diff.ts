// Where a replay's platform and simulator part, and why: reads the event log `thaw replay
// --invocations FILE` wrote and simulates the slice again under different timing models, one
// change at a time against replay's own measured simulation, so each row says how much of the gap
// one mechanism explains. Prints a table (total and the hottest functions' cold starts) and writes
// JSON. No platform is run: the same log gives the same table.
//
//   node --import tsx bench/replay-diff.ts --invocations FILE [--policy gd] [--memory 4GB] [--top 3] [--out out/bench/replay-diff.json]

import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { parseMemory } from '../src/cli/units.ts';
import { measuredTrace, simulateSlice, sliceTraceOf, type Arrival, type PlatformInvocation } from '../src/cli/commands/replay-sim.ts';
import type { FunctionSpec } from '../src/core/trace.ts';
import { printTable, writeJson } from './lib.ts';

const { values: args } = parseArgs({
  options: {
    invocations: { type: 'string' },
    policy: { type: 'string' },
    memory: { type: 'string' },
    top: { type: 'string', default: '3' },
    out: { type: 'string', default: 'out/bench/replay-diff.json' },
  },
});
if (!args.invocations) throw new Error('--invocations FILE (from thaw replay --invocations) is required');

interface Log {
  slice: { trace: string; speedup: number; policy: string; memoryMb: number; minutes: number };
  functions: FunctionSpec[];
  arrivals: Arrival[];
  platform: PlatformInvocation[];
}
const log = JSON.parse(readFileSync(args.invocations, 'utf8')) as Log;
const { speedup } = log.slice;
const sim = { policy: args.policy ?? log.slice.policy, memoryMb: args.memory ? parseMemory(args.memory) : log.slice.memoryMb };
const spanMs = log.slice.minutes * 60_000;
const base = sliceTraceOf(log.slice.trace, log.functions, log.arrivals, spanMs);
const measured = measuredTrace(base, log.arrivals, log.platform, speedup);

const platformCold = log.functions.map(() => 0);
log.arrivals.forEach((a, k) => void (log.platform[k]!.outcome === 'cold' && platformCold[a.fn]!++));
const top = [...platformCold.keys()].sort((a, b) => platformCold[b]! - platformCold[a]!).slice(0, Number(args.top));

/** The measured slice with each arrival and duration rewritten by `change` (trace ms). */
function variant(change: (a: Arrival, inv: PlatformInvocation) => Partial<Arrival>, functions = measured.trace.functions) {
  const arrivals = measured.arrivals.map((a, k) => ({ ...a, ...change(a, log.platform[k]!) }));
  arrivals.sort((x, y) => x.time - y.time);
  return sliceTraceOf(log.slice.trace, [...functions], arrivals, spanMs);
}

// measuredTrace sorts nothing (requests leave in arrival order), so its k-th arrival is the log's k-th.
const starts = measured.starts;
const nearestOwn = (fn: FunctionSpec, t: number): number => {
  const own = starts[fn.index]!;
  if (own.length === 0) return fn.coldStartMs;
  let best = own[0]!;
  for (const s of own) if (Math.abs(s.time - t) < Math.abs(best.time - t)) best = s;
  return best.ms;
};

const models: { name: string; why: string; run: () => ReturnType<typeof simulateSlice> }[] = [
  { name: 'measured (replay)', why: 'sent at the client, held exec + platform, start = its function\'s median', run: () => simulateSlice(measured.trace, sim) },
  { name: 'start = nearest own', why: 'each start costs what its function\'s start nearest in time cost', run: () => simulateSlice(measured.trace, sim, nearestOwn) },
  { name: 'arrive + overhead', why: 'each request reaches the invoker after all of its HTTP overhead', run: () => simulateSlice(variant((a, inv) => ({ time: a.time + inv.overheadMs * speedup })), sim) },
  { name: 'arrive + overhead/2', why: 'half of it (the way in)', run: () => simulateSlice(variant((a, inv) => ({ time: a.time + (inv.overheadMs / 2) * speedup })), sim) },
  { name: 'arrive + queue', why: 'a request that waited for memory on the platform arrives when it stopped waiting', run: () => simulateSlice(variant((a, inv) => ({ time: a.time + inv.queueMs * speedup })), sim) },
  { name: 'hold = exec only', why: 'thaw\'s time around the call does not hold the instance', run: () => simulateSlice(variant((a, inv) => (inv.outcome === 'cold' || inv.outcome === 'warm' ? { durationMs: inv.execMs * speedup } : {})), sim) },
];

const rows: (string | number)[][] = [];
const results: unknown[] = [];
const platformTotal = platformCold.reduce((a, b) => a + b, 0);
rows.push(['platform', platformTotal, '', ...top.map((f) => platformCold[f]!), '']);
for (const m of models) {
  const r = m.run();
  const cold = r.side.cold;
  rows.push([m.name, cold, `${(((platformTotal - cold) / cold) * 100).toFixed(1)} %`, ...top.map((f) => r.byFunction[f]!.cold), m.why]);
  results.push({ model: m.name, why: m.why, cold, dropped: r.side.dropped, byFunction: r.byFunction.map((c) => c.cold) });
}
printTable(
  `${log.slice.trace}: ${log.arrivals.length} invocations, ${sim.policy}, ${sim.memoryMb} MB, speed-up ${speedup}`,
  ['model', 'cold', 'platform vs it', ...top.map((f) => `cold ${log.functions[f]!.id}`), 'what changes'],
  rows,
);
writeJson(args.out!, { invocations: args.invocations, slice: log.slice, top: top.map((f) => log.functions[f]!.id), platformCold, results });
