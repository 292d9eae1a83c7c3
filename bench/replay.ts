// Invocations per second a real thaw serve sustains under replay: a slice of the bundled Azure
// sample driven at growing speed-ups (each twice the last), measured against the rate the trace
// offers at that speed-up in the same run (sustained / offered: 1 means it served everything in time), with how late
// requests left and how many were dropped or failed. One replay per speed-up (thaw replay's code).
//
//   node --import tsx bench/replay.ts [--functions 20] [--minutes 10] [--policy ttl] [--memory 4GB] [--speedups 15,30,60,120] [--out out/bench/replay.json]

import { parseArgs } from 'node:util';
import { replay } from '../src/cli/commands/replay-run.ts';
import { parseMemory } from '../src/cli/units.ts';
import { DEFAULT_TRACE_DIR, openTrace } from '../src/sim/traces/index.ts';
import { machine, printTable, writeJson } from './lib.ts';

const { values: args } = parseArgs({
  options: {
    functions: { type: 'string', default: '20' },
    minutes: { type: 'string', default: '10' },
    policy: { type: 'string', default: 'ttl' },
    memory: { type: 'string', default: '4GB' },
    speedups: { type: 'string', default: '15,30,60,120' },
    trace: { type: 'string', default: DEFAULT_TRACE_DIR },
    out: { type: 'string', default: 'out/bench/replay.json' },
  },
});

const trace = openTrace(args.trace!);
const rows: Array<Array<string | number>> = [];
const results: unknown[] = [];
for (const speedup of args.speedups!.split(',').map(Number)) {
  const r = await replay({ trace, functions: Number(args.functions), minutes: Number(args.minutes), policy: args.policy!, memoryMb: parseMemory(args.memory!), speedup });
  const p = r.platform;
  // Offered: the arrivals over the wall time between the first and the last; sustained: the ones it
  // served (cold or warm: not dropped, not failed) over the wall time from the first request sent
  // to the last answer received.
  const firstS = r.slice.firstArrivalMs / speedup / 1000;
  const offered = r.slice.invocations / ((r.slice.lastArrivalMs - r.slice.firstArrivalMs) / speedup / 1000);
  const sustained = (p.cold + p.warm) / (p.wallMs / 1000 - firstS);
  rows.push([speedup, r.slice.invocations, offered.toFixed(1), sustained.toFixed(1), (sustained / offered).toFixed(3), p.meanLateMs.toFixed(2), p.meanColdStartMs.toFixed(0), p.cold, r.simulator.cold, r.measured.simulator.cold, p.dropped, p.failed]);
  results.push({ speedup, offeredPerSecond: offered, sustainedPerSecond: sustained, ...r });
}
printTable(
  `replay of ${args.functions} functions × ${args.minutes} min of ${trace.name} (${args.policy}, ${args.memory})`,
  ['speed-up', 'invocations', 'offered /s', 'sustained /s', 'sustained / offered', 'mean late ms', 'mean cold start ms', 'cold (platform)', 'cold (sim)', 'cold (sim, measured times)', 'dropped', 'failed'],
  rows,
);
writeJson(args.out!, { machine: machine(), trace: trace.name, results });
