// `--compat faascache`: runs FaaSCache's reference simulator semantics (src/sim/compat) instead of
// thaw's own, on a trace built exactly as the reference built it.

import { simulateFaasCache, type FaasCacheResult } from '../../sim/compat/faascache.ts';
import { toFaasCachePolicy } from '../../sim/compat/policies.ts';
import { renderSweepReport } from '../../sim/report/html.ts';
import { sweepTable } from '../../sim/report/summaries.ts';
import { formatTable } from '../../sim/report/table.ts';
import { runSweep } from '../../sim/sweep.ts';
import { openTraceSource, type TraceSource } from '../../sim/trace-source.ts';
import { print, say, writeOutputs } from '../output.ts';
import { createProgress } from '../progress.ts';
import { DEFAULT_SIM_MEMORY } from '../trace-options.ts';
import { parseMemory } from '../units.ts';

interface CompatValues {
  policy?: string;
  memory?: string;
  json?: boolean;
  out?: string;
}

export function compatTable(r: FaasCacheResult): string {
  const rows: Array<[string, string | number]> = [
    ['invocations', r.invocations],
    ['hits (warm)', r.hits],
    ['misses (cold)', r.misses],
    ['drops (capacity misses)', r.drops],
    ['evictions (incl. TTL purges)', r.evictions],
    ['cold-start overhead %', r.coldStartOverheadPct === null ? '—' : r.coldStartOverheadPct.toFixed(3)],
    // The reference's own figures, printed in full: they are compared number for number.
    ['reference wted_increase', r.reference ? String(r.reference.wted_increase) : '—'],
    ['reference wted_eat (ms)', r.reference ? String(r.reference.wted_eat) : '—'],
    ['reference server_cold (ms)', r.reference ? String(r.reference.server_cold) : '—'],
  ];
  return `FaaSCache reference semantics: ${r.policy} on ${r.memoryMb} MB — trace ${r.trace.name}: ${r.trace.functions} functions\n${formatTable(['metric', 'value'], rows)}`;
}

export function runCompatSim(source: TraceSource, values: CompatValues): number {
  const policy = toFaasCachePolicy(values.policy ?? 'gd');
  const trace = openTraceSource(source);
  const result = simulateFaasCache(trace, { policy, memoryMb: parseMemory(values.memory ?? DEFAULT_SIM_MEMORY) });
  print(values.json ? JSON.stringify(result) : compatTable(result));
  return 0;
}

export async function runCompatSweep(source: TraceSource, policies: string[], memoriesMb: number[], workers: number, values: CompatValues): Promise<number> {
  policies.forEach(toFaasCachePolicy);
  const trace = openTraceSource(source);
  const progress = createProgress({ total: trace.invocationCount * policies.length * memoriesMb.length, label: 'faascache sweep' });
  const sweep = await runSweep({
    trace: source,
    policies,
    memoriesMb,
    base: { compat: 'faascache' },
    workers,
    onProgress: (done) => progress.update(done),
  });
  progress.finish();
  if (values.json) print(JSON.stringify(sweep));
  else print(sweepTable(sweep));
  if (values.out) for (const path of writeOutputs({ json: false, outDir: values.out }, 'sweep', sweep, () => renderSweepReport(sweep))) say(`wrote ${path}`);
  return 0;
}
