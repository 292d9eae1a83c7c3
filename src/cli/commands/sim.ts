// `thaw sim`: one simulation run of a keep-alive policy over a trace.

import { invalidOption } from '../../core/errors.ts';
import { KEEP_ALIVE_POLICIES } from '../../policies/keepalive/index.ts';
import { DEFAULT_TTL_MS } from '../../policies/keepalive/ttl.ts';
import { PLACEMENT_POLICIES } from '../../policies/placement/index.ts';
import { renderSimReport } from '../../sim/report/html.ts';
import { simSummaryTable } from '../../sim/report/table.ts';
import { runSimulation, type RunSpec } from '../../sim/run.ts';
import { openTraceSource } from '../../sim/trace-source.ts';
import { numberOption, parseOptions } from '../args.ts';
import { print, say, writeOutputs } from '../output.ts';
import { createProgress } from '../progress.ts';
import { TRACE_HELP, TRACE_OPTIONS, traceSourceFrom } from '../trace-options.ts';
import { parseDuration, parseMemory } from '../units.ts';
import { runCompatSim } from './compat.ts';

export const SIM_OPTIONS = {
  ...TRACE_OPTIONS,
  policy: { type: 'string' },
  memory: { type: 'string' },
  servers: { type: 'string' },
  placement: { type: 'string' },
  queue: { type: 'boolean' },
  ttl: { type: 'string' },
  timeline: { type: 'string' },
  'dynamic-sizing': { type: 'boolean' },
  'sizing-target': { type: 'string' },
  'sizing-initial': { type: 'string' },
  'sizing-max': { type: 'string' },
  json: { type: 'boolean' },
  out: { type: 'string' },
} as const;

export const DEFAULT_SIM_MEMORY = '16GB';

export const SIM_HELP = `thaw sim [options]            one simulation run
  --policy NAME         keep-alive policy: ${KEEP_ALIVE_POLICIES.join(', ')} (default gd)
  --memory SIZE         memory of each server, e.g. 512MB, 16GB (default ${DEFAULT_SIM_MEMORY})
  --servers N           number of servers (default 1)
  --placement NAME      where new instances go: ${PLACEMENT_POLICIES.join(', ')} (default least-loaded)
  --queue               queue requests that cannot be placed instead of dropping them
  --ttl DUR             keep-alive window of the ttl policy (default ${DEFAULT_TTL_MS / 60_000}m)
  --timeline DUR        resolution of the memory/starts timeline (default 1m)
  --dynamic-sizing      resize memory with FaaSCache's controller (then --memory is ignored)
  --sizing-target R     its target miss ratio (default 0.1)
  --sizing-initial SIZE its starting size (default 5000MB)
  --sizing-max SIZE     its largest size (default 20000MB)
  --json                print the result as JSON instead of tables
  --out DIR             write DIR/sim.json and DIR/sim.html (a self-contained report)
${TRACE_HELP}`;

type SimValues = ReturnType<typeof parseOptions<typeof SIM_OPTIONS>>['values'];

/** The run description shared by `sim` and `sim sweep` (memory and policy aside). */
export function runSpecFrom(values: SimValues): Omit<RunSpec, 'policy' | 'memoryMb'> {
  const servers = numberOption(values.servers, '--servers', 1, (n) => Number.isInteger(n) && n >= 1);
  const placement = values.placement ?? 'least-loaded';
  if (!PLACEMENT_POLICIES.includes(placement)) throw invalidOption('--placement', `unknown placement '${placement}' (known: ${PLACEMENT_POLICIES.join(', ')})`);
  const spec: Omit<RunSpec, 'policy' | 'memoryMb'> = {
    servers,
    placement,
    unplaceable: values.queue ? 'queue' : 'drop',
    ttlMs: values.ttl === undefined ? undefined : parseDuration(values.ttl, '--ttl'),
    timelineIntervalMs: values.timeline === undefined ? undefined : parseDuration(values.timeline, '--timeline'),
  };
  if (values['dynamic-sizing']) {
    spec.dynamicSizing = {
      targetMissRatio: values['sizing-target'] === undefined ? undefined : numberOption(values['sizing-target'], '--sizing-target', 0.1, (n) => n > 0 && n < 1),
      initialMb: values['sizing-initial'] === undefined ? undefined : parseMemory(values['sizing-initial'], '--sizing-initial'),
      maxMb: values['sizing-max'] === undefined ? undefined : parseMemory(values['sizing-max'], '--sizing-max'),
    };
  }
  return spec;
}

export function checkPolicy(name: string): string {
  const policy = name.toLowerCase();
  if (!KEEP_ALIVE_POLICIES.includes(policy)) throw invalidOption('--policy', `unknown keep-alive policy '${name}' (known: ${KEEP_ALIVE_POLICIES.join(', ')})`);
  return policy;
}

export async function simCommand(argv: string[]): Promise<number> {
  const { values } = parseOptions(argv, SIM_OPTIONS, 'sim');
  const source = traceSourceFrom(values);
  if (values.compat) return runCompatSim(source, values);
  const spec: RunSpec = { ...runSpecFrom(values), policy: checkPolicy(values.policy ?? 'gd'), memoryMb: parseMemory(values.memory ?? DEFAULT_SIM_MEMORY) };
  const trace = openTraceSource(source);
  const progress = createProgress({ total: trace.invocationCount, label: `sim ${spec.policy}` });
  const result = runSimulation(trace, spec, (done) => progress.update(done));
  progress.finish();
  if (values.json) print(JSON.stringify(result));
  else print(simSummaryTable(result));
  const written = writeOutputs({ json: !!values.json, outDir: values.out }, 'sim', result, () => renderSimReport(result));
  for (const path of written) say(`wrote ${path}`);
  return 0;
}
