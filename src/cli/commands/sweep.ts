// `thaw sim sweep`: every policy × every memory size over one trace, on all cores.

import { availableParallelism } from 'node:os';
import { computeCurves } from '../../policies/sizing/curve.ts';
import { renderSweepReport } from '../../sim/report/html.ts';
import { sweepTable } from '../../sim/report/summaries.ts';
import { runSweep } from '../../sim/sweep.ts';
import { openTraceSource } from '../../sim/trace-source.ts';
import { numberOption, parseOptions } from '../args.ts';
import { print, say, writeOutputs } from '../output.ts';
import { createProgress } from '../progress.ts';
import { parseMemoryList } from '../units.ts';
import { runCompatSweep } from './compat.ts';
import { checkPolicy, refuseWithCompat, runSpecFrom, SIM_OPTIONS } from './sim.ts';
import { traceSourceFrom } from '../trace-options.ts';
import { invalidOption } from '../../core/errors.ts';
import { wildJobs, wildPoints } from '../../sim/wild.ts';
import type { TraceSource } from '../../sim/trace-source.ts';
import { parseMemory } from '../units.ts';

/** Memory per server of the wild view: ample, as the paper's model has no memory limit. */
const WILD_MEMORY = '256GB';

async function wildSweep(source: TraceSource, values: ReturnType<typeof parseOptions<typeof SWEEP_OPTIONS>>['values'], workers: number): Promise<number> {
  if (values.compat) throw invalidOption('--view', 'the wild view runs thaw’s simulator, not --compat faascache');
  const base = runSpecFrom(values);
  const memoryMb = parseMemory(values.memory ?? WILD_MEMORY);
  const jobs = wildJobs(base, memoryMb);
  const trace = openTraceSource(source);
  const progress = createProgress({ total: trace.invocationCount * jobs.length, label: 'sweep (wild view)' });
  const labels = jobs.map((j) => j.label!);
  const sweep = await runSweep({ trace: source, policies: labels, memoriesMb: [memoryMb], base, jobs, workers, onProgress: (done) => progress.update(done) });
  progress.finish();
  sweep.view = 'wild';
  sweep.wild = wildPoints(sweep);
  if (values.json) print(JSON.stringify(sweep));
  else print(sweepTable(sweep));
  if (values.out) for (const path of writeOutputs({ json: false, outDir: values.out }, 'sweep', sweep, () => renderSweepReport(sweep))) say(`wrote ${path}`);
  return 0;
}

const SWEEP_OPTIONS = {
  ...SIM_OPTIONS,
  policies: { type: 'string' },
  workers: { type: 'string' },
  view: { type: 'string' },
} as const;

export const DEFAULT_SWEEP_POLICIES = 'ttl,lru,gd';
export const DEFAULT_SWEEP_MEMORY = '4GB..80GB:4GB';

export const SWEEP_HELP = `thaw sim sweep [options]      policies × memory sizes, on every core
  --policies A,B,...    keep-alive policies (default ${DEFAULT_SWEEP_POLICIES})
  --memory LIST         sizes and ranges: 1GB..80GB:500MB (step), 1GB..40GB/40 (count),
                        or a list 4GB,8GB,16GB (default ${DEFAULT_SWEEP_MEMORY})
  --workers N           worker threads (default: one per core)
  --view wild           Serverless in the Wild's view instead: one point per setting (fixed keep-alive
                        5..120 min, hybrid, IceBreaker, GD) at one memory size (default ${WILD_MEMORY}),
                        cold-start % of the 75th-percentile app against wasted memory normalised to
                        the 10-minute keep-alive's
  --out DIR             write DIR/sweep.json and DIR/sweep.html
  and every option of thaw sim but --policy (each server gets each --memory size)`;

export async function sweepCommand(argv: string[]): Promise<number> {
  const { values } = parseOptions(argv, SWEEP_OPTIONS, 'sim sweep');
  const source = traceSourceFrom(values);
  const policies = (values.policies ?? values.policy ?? DEFAULT_SWEEP_POLICIES).split(',').map((p) => p.trim()).filter(Boolean);
  const memoriesMb = parseMemoryList(values.memory ?? DEFAULT_SWEEP_MEMORY);
  const workers = numberOption(values.workers, '--workers', availableParallelism(), (n) => Number.isInteger(n) && n >= 1);
  if (values.view !== undefined && values.view !== 'wild') throw invalidOption('--view', `the only view is 'wild', got '${values.view}'`);
  if (values.view === 'wild') return wildSweep(source, values, workers);
  if (values.compat) {
    refuseWithCompat(values);
    return runCompatSweep(source, policies, memoriesMb, workers, values);
  }
  policies.forEach(checkPolicy);
  const base = runSpecFrom(values);

  // Open the trace here too: it validates it before any worker starts, gives the total for the
  // progress bar, and feeds the hit-ratio curve shown beside the sweep.
  const trace = openTraceSource(source);
  const progress = createProgress({ total: trace.invocationCount * policies.length * memoriesMb.length, label: 'sweep' });
  const sweep = await runSweep({ trace: source, policies: policies.map((p) => p.toLowerCase()), memoriesMb, base, workers, onProgress: (done) => progress.update(done) });
  progress.finish();
  if (values.json) print(JSON.stringify(sweep));
  else print(sweepTable(sweep));
  if (values.out) {
    const curve = computeCurves(trace, { sampleRate: null });
    for (const path of writeOutputs({ json: false, outDir: values.out }, 'sweep', sweep, () => renderSweepReport(sweep, { curve }))) say(`wrote ${path}`);
  }
  return 0;
}
