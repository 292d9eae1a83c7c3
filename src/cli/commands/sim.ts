// `thaw sim`: one simulation run of a keep-alive policy over a trace.

import { invalidOption } from '../../core/errors.ts';
import { KEEP_ALIVE_POLICIES } from '../../policies/keepalive/index.ts';
import { DEFAULT_TTL_MS } from '../../policies/keepalive/ttl.ts';
import { PLACEMENT_POLICIES, ROUTING_POLICIES } from '../../policies/placement/index.ts';
import { CV_READINGS, type CvReading, type HybridHistogramOptions } from '../../policies/keepalive/hybrid-histogram.ts';
import { parseProvisioned, PREWARM_POLICIES, type ProvisionedEntry } from '../../policies/prewarm/index.ts';
import type { IceBreakerOptions } from '../../policies/prewarm/icebreaker.ts';
import { parseTiers } from '../../sim/cluster.ts';
import { renderSimReport } from '../../sim/report/html.ts';
import { simSummaryTable } from '../../sim/report/summaries.ts';
import { runSimulation, type RunSpec } from '../../sim/run.ts';
import { openTraceSource } from '../../sim/trace-source.ts';
import { numberOption, parseOptions } from '../args.ts';
import { print, say, writeOutputs } from '../output.ts';
import { createProgress } from '../progress.ts';
import { DEFAULT_SIM_MEMORY, TRACE_HELP, TRACE_OPTIONS, traceSourceFrom } from '../trace-options.ts';
import { parseDuration, parseMemory } from '../units.ts';
import { runCompatSim } from './compat.ts';

export const SIM_OPTIONS = {
  ...TRACE_OPTIONS,
  policy: { type: 'string' },
  memory: { type: 'string' },
  servers: { type: 'string' },
  placement: { type: 'string' },
  'chbl-epsilon': { type: 'string' },
  queue: { type: 'boolean' },
  'instance-concurrency': { type: 'string' },
  ttl: { type: 'string' },
  timeline: { type: 'string' },
  'dynamic-sizing': { type: 'boolean' },
  'sizing-target': { type: 'string' },
  'sizing-initial': { type: 'string' },
  'sizing-max': { type: 'string' },
  tiers: { type: 'string' },
  prewarm: { type: 'string' },
  'fft-window': { type: 'string' },
  'fft-harmonics': { type: 'string' },
  'fft-degree': { type: 'string' },
  'pdm-thresholds': { type: 'string' },
  'no-pdm': { type: 'boolean' },
  provisioned: { type: 'string' },
  'provisioned-all': { type: 'string' },
  'hybrid-range': { type: 'string' },
  'hybrid-bin': { type: 'string' },
  'hybrid-percentiles': { type: 'string' },
  'hybrid-margins': { type: 'string' },
  'hybrid-cv': { type: 'string' },
  'hybrid-cv-threshold': { type: 'string' },
  'hybrid-min-samples': { type: 'string' },
  'hybrid-oob': { type: 'string' },
  json: { type: 'boolean' },
  out: { type: 'string' },
} as const;


export const SIM_HELP = `thaw sim [options]            one simulation run
  --policy NAME         keep-alive policy: ${KEEP_ALIVE_POLICIES.join(', ')} (default gd)
  --memory SIZE         memory of each server, e.g. 512MB, 16GB (default ${DEFAULT_SIM_MEMORY})
  --servers N           number of servers (default 1)
  --placement NAME      where new instances go: ${PLACEMENT_POLICIES.join(', ')} (default least-loaded;
                        an idle instance on any server is reused); or a router that sends each request
                        to one server, which reuses only its own instances: ${ROUTING_POLICIES.join(', ')}
  --chbl-epsilon X      chbl: a server's load may pass its share by this fraction (default 0.25)
  --queue               queue requests that cannot be placed instead of dropping them
  --instance-concurrency N  invocations one instance serves at once (default 1; Knative's
                        containerConcurrency): a request joins a busy instance with a free slot first
  --ttl DUR             keep-alive window of the ttl policy (default ${DEFAULT_TTL_MS / 60_000}m)
  --timeline DUR        resolution of the memory/starts timeline (default 1m)
  --dynamic-sizing      resize memory with FaaSCache's controller (then --memory is ignored)
  --sizing-target R     its target miss ratio (default 0.1)
  --sizing-initial SIZE its starting size (default 5000MB)
  --sizing-max SIZE     its largest size (default 20000MB)
  --json                print the result as JSON instead of tables
  --out DIR             write DIR/sim.json and DIR/sim.html (a self-contained report)
Heterogeneous servers, pre-warming, provisioned concurrency:
  --tiers LIST          server tiers instead of --memory/--servers: NAME:COUNTxSIZE[:speed=S][:price=P],...
                        e.g. high:4x16GB:speed=1.5:price=0.0000166,low:4x64GB:speed=1:price=0.000005
                        (speed divides start and execution times; price is per GB-s of memory held)
  --prewarm NAME        pre-warm policy: ${PREWARM_POLICIES.join(', ')} (IceBreaker), or none (default)
  --fft-window N        IceBreaker: minutes in the predictor's window (default 60)
  --fft-harmonics N     IceBreaker: harmonics kept (default 10)
  --fft-degree N        IceBreaker: detrending polynomial degree, 2 quadratic (default) or 1 linear
  --pdm-thresholds A,B  IceBreaker: initial PDM thresholds (default 0.33,0.66; adjusted during the run)
  --no-pdm              IceBreaker: warm every positive prediction on the fastest tier
  --provisioned LIST    provisioned concurrency: fn=N or fn=N@TIME (from TIME on), comma-separated;
                        fn is a function id or #index; e.g. 'f1=2,f1=0@2h,#7=1'
  --provisioned-all N   N instances of every function (also N@TIME,... as a schedule)
  --hybrid-range DUR    hybrid: histogram range (default 4h)
  --hybrid-bin DUR      hybrid: bin width (default 1m)
  --hybrid-percentiles H,T  hybrid: pre-warm and keep-alive percentiles (default 5,99)
  --hybrid-margins H,T  hybrid: margins off the pre-warm and onto the keep-alive window (default 0.1,0.1)
  --hybrid-cv READING   hybrid: CV over ${CV_READINGS.join(', ')} (default bin-counts)
  --hybrid-cv-threshold X  hybrid: representative when CV ≥ X (default 2)
  --hybrid-min-samples N   hybrid: fewer idle times: not representative (default 10)
  --hybrid-oob X        hybrid: out-of-range share above which the time-series model is used (default 0.5)
${TRACE_HELP}`;

type SimValues = ReturnType<typeof parseOptions<typeof SIM_OPTIONS>>['values'];

/** The run description shared by `sim` and `sim sweep` (memory and policy aside). */
export function runSpecFrom(values: SimValues): Omit<RunSpec, 'policy' | 'memoryMb'> {
  const servers = numberOption(values.servers, '--servers', 1, (n) => Number.isInteger(n) && n >= 1);
  const placement = values.placement ?? 'least-loaded';
  const known = [...PLACEMENT_POLICIES, ...ROUTING_POLICIES];
  if (!known.includes(placement)) throw invalidOption('--placement', `unknown placement '${placement}' (known: ${known.join(', ')})`);
  const spec: Omit<RunSpec, 'policy' | 'memoryMb'> = {
    servers,
    placement,
    ...(values['chbl-epsilon'] === undefined ? {} : { chblEpsilon: numberOption(values['chbl-epsilon'], '--chbl-epsilon', 0.25, (n) => n > 0 && n <= 100) }),
    unplaceable: values.queue ? 'queue' : 'drop',
    ...(values['instance-concurrency'] === undefined
      ? {}
      : { instanceConcurrency: numberOption(values['instance-concurrency'], '--instance-concurrency', 1, (n) => Number.isInteger(n) && n >= 1 && n <= 10_000) }),
    ttlMs: values.ttl === undefined ? undefined : parseDuration(values.ttl, '--ttl'),
    timelineIntervalMs: values.timeline === undefined ? undefined : parseDuration(values.timeline, '--timeline'),
  };
  if (values.tiers !== undefined) spec.tiers = parseTiers(values.tiers, parseMemory);
  const prewarm = values.prewarm;
  if (prewarm !== undefined && prewarm !== 'none') {
    if (!PREWARM_POLICIES.includes(prewarm)) throw invalidOption('--prewarm', `unknown pre-warm policy '${prewarm}' (known: ${PREWARM_POLICIES.join(', ')}, none)`);
    spec.prewarm = prewarm;
  }
  const icebreaker: IceBreakerOptions = {};
  if (values['fft-window'] !== undefined) icebreaker.window = numberOption(values['fft-window'], '--fft-window', 60, (n) => Number.isInteger(n) && n >= 2 && n <= 10_000);
  if (values['fft-harmonics'] !== undefined) icebreaker.harmonics = numberOption(values['fft-harmonics'], '--fft-harmonics', 10, (n) => Number.isInteger(n) && n >= 0);
  if (values['fft-degree'] !== undefined) icebreaker.degree = numberOption(values['fft-degree'], '--fft-degree', 2, (n) => Number.isInteger(n) && n >= 0 && n <= 5);
  if (values['no-pdm']) icebreaker.noPdm = true;
  if (values['pdm-thresholds'] !== undefined) {
    const [low, high] = pair(values['pdm-thresholds'], '--pdm-thresholds');
    if (!(low >= 0.05 && high <= 0.95 && high - low >= 0.05)) throw invalidOption('--pdm-thresholds', `expected 0.05 ≤ A ≤ B − 0.05 ≤ 0.9, got '${values['pdm-thresholds']}'`);
    icebreaker.pdm = { low, high };
  }
  if (Object.keys(icebreaker).length) spec.icebreaker = icebreaker;
  const provisioned: ProvisionedEntry[] = [];
  const duration = (option: string) => (t: string) => parseDuration(t, option);
  if (values['provisioned-all'] !== undefined) {
    provisioned.push(...parseProvisioned(values['provisioned-all'].split(',').map((p) => `*=${p.trim()}`).join(','), duration('--provisioned-all'), '--provisioned-all'));
  }
  if (values.provisioned !== undefined) provisioned.push(...parseProvisioned(values.provisioned, duration('--provisioned')));
  if (provisioned.length) spec.provisioned = provisioned;
  const hybrid: HybridHistogramOptions = {};
  if (values['hybrid-range'] !== undefined) hybrid.rangeMs = parseDuration(values['hybrid-range'], '--hybrid-range');
  if (values['hybrid-bin'] !== undefined) hybrid.binMs = parseDuration(values['hybrid-bin'], '--hybrid-bin');
  if (values['hybrid-percentiles'] !== undefined) [hybrid.headPercentile, hybrid.tailPercentile] = pair(values['hybrid-percentiles'], '--hybrid-percentiles');
  if (values['hybrid-margins'] !== undefined) [hybrid.headMargin, hybrid.tailMargin] = pair(values['hybrid-margins'], '--hybrid-margins');
  if (values['hybrid-cv'] !== undefined) {
    if (!CV_READINGS.includes(values['hybrid-cv'] as CvReading)) throw invalidOption('--hybrid-cv', `expected ${CV_READINGS.join(', ')}, got '${values['hybrid-cv']}'`);
    hybrid.cvReading = values['hybrid-cv'] as CvReading;
  }
  if (values['hybrid-cv-threshold'] !== undefined) hybrid.cvThreshold = numberOption(values['hybrid-cv-threshold'], '--hybrid-cv-threshold', 2, (n) => n >= 0);
  if (values['hybrid-min-samples'] !== undefined) hybrid.minSamples = numberOption(values['hybrid-min-samples'], '--hybrid-min-samples', 10, (n) => Number.isInteger(n) && n >= 1);
  if (values['hybrid-oob'] !== undefined) hybrid.oobThreshold = numberOption(values['hybrid-oob'], '--hybrid-oob', 0.5, (n) => n >= 0 && n <= 1);
  if (Object.keys(hybrid).length) spec.hybrid = hybrid;
  if (values['dynamic-sizing']) {
    spec.dynamicSizing = {
      targetMissRatio: values['sizing-target'] === undefined ? undefined : numberOption(values['sizing-target'], '--sizing-target', 0.1, (n) => n > 0 && n < 1),
      initialMb: values['sizing-initial'] === undefined ? undefined : parseMemory(values['sizing-initial'], '--sizing-initial'),
      maxMb: values['sizing-max'] === undefined ? undefined : parseMemory(values['sizing-max'], '--sizing-max'),
    };
  }
  return spec;
}

/** Two comma-separated numbers. */
function pair(text: string, option: string): [number, number] {
  const parts = text.split(',').map((p) => Number(p.trim()));
  if (parts.length !== 2 || !parts.every(Number.isFinite)) throw invalidOption(option, `expected two numbers A,B, got '${text}'`);
  return [parts[0]!, parts[1]!];
}

/** Options FaaSCache's reference has no counterpart for: refused with --compat rather than ignored. */
export function refuseWithCompat(values: SimValues): void {
  if (values['instance-concurrency'] !== undefined) throw invalidOption('--instance-concurrency', 'cannot be combined with --compat faascache (the reference runs one invocation per container)');
}

export function checkPolicy(name: string): string {
  const policy = name.toLowerCase();
  if (!KEEP_ALIVE_POLICIES.includes(policy)) throw invalidOption('--policy', `unknown keep-alive policy '${name}' (known: ${KEEP_ALIVE_POLICIES.join(', ')})`);
  return policy;
}

export async function simCommand(argv: string[]): Promise<number> {
  const { values } = parseOptions(argv, SIM_OPTIONS, 'sim');
  const source = traceSourceFrom(values);
  if (values.compat) {
    refuseWithCompat(values);
    return runCompatSim(source, values);
  }
  const spec: RunSpec = { ...runSpecFrom(values), policy: checkPolicy(values.policy ?? 'gd'), memoryMb: parseMemory(values.memory ?? DEFAULT_SIM_MEMORY) };
  if (spec.tiers && values.memory !== undefined) throw invalidOption('--memory', 'cannot be combined with --tiers (each tier gives its servers’ memory)');
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
