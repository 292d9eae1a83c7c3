// `thaw curve`: the hit-ratio curve of a trace from reuse distances, exact and SHARDS-sampled, and
// the cache size for a target hit ratio.

import { invalidOption } from '../../core/errors.ts';
import { computeCurves } from '../../policies/sizing/curve.ts';
import { SHARDS_DEFAULTS } from '../../policies/sizing/shards.ts';
import { renderCurveReport } from '../../sim/report/html.ts';
import { curveTable } from '../../sim/report/summaries.ts';
import { openTraceSource } from '../../sim/trace-source.ts';
import { numberOption, parseOptions } from '../args.ts';
import { print, say, writeOutputs } from '../output.ts';
import { TRACE_HELP, TRACE_OPTIONS, traceSourceFrom } from '../trace-options.ts';

const CURVE_OPTIONS = {
  ...TRACE_OPTIONS,
  target: { type: 'string' },
  'sample-rate': { type: 'string' },
  'sample-modulus': { type: 'string' },
  'sample-seed': { type: 'string' },
  'no-exact': { type: 'boolean' },
  'no-sampled': { type: 'boolean' },
  json: { type: 'boolean' },
  out: { type: 'string' },
} as const;

export const CURVE_HELP = `thaw curve [options]          hit-ratio curve from reuse distances
  --target R            hit ratio to size for (default 0.9)
  --sample-rate R       SHARDS sampling rate (default ${SHARDS_DEFAULTS.rate})
  --sample-modulus P    SHARDS hash modulus (default ${SHARDS_DEFAULTS.modulus})
  --sample-seed N       SHARDS hash seed (default ${SHARDS_DEFAULTS.seed})
  --no-exact            skip the exact curve      --no-sampled   skip the sampled curve
  --json                print the result as JSON  --out DIR      write DIR/curve.json and .html
${TRACE_HELP}`;

export async function curveCommand(argv: string[]): Promise<number> {
  const { values } = parseOptions(argv, CURVE_OPTIONS, 'curve');
  if (values.compat) throw invalidOption('--compat', 'applies to thaw sim and thaw sim sweep, not to curves');
  const trace = openTraceSource(traceSourceFrom(values));
  const curve = computeCurves(trace, {
    exact: !values['no-exact'],
    sampleRate: values['no-sampled'] ? null : numberOption(values['sample-rate'], '--sample-rate', SHARDS_DEFAULTS.rate, (n) => n > 0 && n <= 1),
    sampleModulus: numberOption(values['sample-modulus'], '--sample-modulus', SHARDS_DEFAULTS.modulus, (n) => Number.isInteger(n) && n > 0),
    seed: numberOption(values['sample-seed'], '--sample-seed', SHARDS_DEFAULTS.seed, Number.isInteger),
    target: numberOption(values.target, '--target', 0.9, (n) => n > 0 && n <= 1),
  });
  if (values.json) print(JSON.stringify(curve));
  else print(curveTable(curve));
  for (const path of writeOutputs({ json: false, outDir: values.out }, 'curve', curve, () => renderCurveReport(curve))) say(`wrote ${path}`);
  return 0;
}
