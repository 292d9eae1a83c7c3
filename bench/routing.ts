// Routing across a cluster in the simulator: bounded-load consistent hashing (chbl) against the
// blind routers (random, round-robin), where each server reuses only its own instances, and against
// the placements that reuse an idle instance on any server (least-loaded, affinity: the warm-hit
// upper bound a router with perfect, instant knowledge would reach). Warm-hit ratio and load spread
// (the busiest server against the mean) on the bundled Azure sample, alike servers and two tiers.
//
//   node --import tsx bench/routing.ts [--servers 4] [--memory 16GB] [--policy gd] [--out out/bench/routing.json]

import { parseArgs } from 'node:util';
import { parseMemory } from '../src/cli/units.ts';
import { PLACEMENT_POLICIES, ROUTING_POLICIES } from '../src/policies/placement/index.ts';
import { parseTiers } from '../src/sim/cluster.ts';
import { runSimulation, type RunSpec } from '../src/sim/run.ts';
import { DEFAULT_TRACE_DIR, openTrace } from '../src/sim/traces/index.ts';
import { machine, printTable, writeJson } from './lib.ts';

const { values: args } = parseArgs({
  options: {
    servers: { type: 'string', default: '4' },
    memory: { type: 'string', default: '16GB' },
    tiers: { type: 'string', default: 'high:2x16GB:speed=1.5,low:2x32GB' },
    policy: { type: 'string', default: 'gd' },
    trace: { type: 'string', default: DEFAULT_TRACE_DIR },
    out: { type: 'string', default: 'out/bench/routing.json' },
  },
});

const trace = openTrace(args.trace!);
const placements = [...ROUTING_POLICIES, ...PLACEMENT_POLICIES.filter((p) => p !== 'first-fit')];
const clusters: Array<{ label: string; spec: Pick<RunSpec, 'servers' | 'memoryMb' | 'tiers'> }> = [
  { label: `${args.servers} × ${args.memory}`, spec: { servers: Number(args.servers), memoryMb: parseMemory(args.memory!) } },
  { label: `tiers ${args.tiers}`, spec: { memoryMb: 0, tiers: parseTiers(args.tiers!, parseMemory) } },
];

const rows: Array<Array<string | number>> = [];
const results: unknown[] = [];
for (const cluster of clusters) {
  for (const placement of placements) {
    const result = runSimulation(trace, { policy: args.policy!, placement, ...cluster.spec });
    const s = result.summary;
    const kind = ROUTING_POLICIES.includes(placement) ? 'router' : 'global reuse';
    rows.push([
      cluster.label, placement, kind, (s.warm / s.served).toFixed(4), s.cold, s.dropped,
      s.loadSpread!.maxOverMeanInvocations.toFixed(2), s.loadSpread!.maxOverMeanBusyGBs.toFixed(2), s.loadSpread!.peakServerLoad,
    ]);
    results.push({ cluster: cluster.label, placement, kind, summary: s, elapsedMs: result.elapsedMs });
  }
}
printTable(
  `routing on ${trace.name} (${args.policy} keep-alive)`,
  ['cluster', 'placement', 'kind', 'warm-hit ratio', 'cold', 'dropped', 'spread (invocations)', 'spread (busy GB-s)', 'peak load/server'],
  rows,
);
writeJson(args.out!, { machine: machine(), trace: trace.name, policy: args.policy, results });
