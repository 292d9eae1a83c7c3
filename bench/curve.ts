// Benchmark of the hit-ratio curves (src/policies/sizing) on the Azure 2019 invitro sample:
// exact reuse distances vs SHARDS at R = 0.1 (plain and SHARDS_adj), plus the dynamic sizing
// controller's per-invocation cost. Prints a table and writes out/bench/curve.json.
//
//   node --import tsx bench/curve.ts [--dir data/traces/azure2019/invitro_sample_500fn_8h] [--repeat 3] [--out out/bench/curve.json]

import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { parseArgs } from 'node:util';

import type { Trace } from '../src/core/trace.ts';
import { computeCurves, type CurveOptions } from '../src/policies/sizing/curve.ts';
import { DynamicSizingController } from '../src/policies/sizing/controller.ts';
import { curveError } from '../src/policies/sizing/hit-ratio-curve.ts';
import type { CurveResult } from '../src/sim/result.ts';
import { readAzure2019Dir } from '../src/sim/traces/azure2019.ts';

const { values: args } = parseArgs({
  options: {
    dir: { type: 'string', default: 'data/traces/azure2019/invitro_sample_500fn_8h' },
    repeat: { type: 'string', default: '3' },
    out: { type: 'string', default: 'out/bench/curve.json' },
    target: { type: 'string', default: '0.9' },
  },
});
const repeat = Math.max(1, Number(args.repeat));
const target = Number(args.target);

interface Row {
  method: string;
  /** Median wall time over the repeats, ms. */
  ms: number;
  invocationsPerSec: number;
  sizeForTargetMb?: number | null;
  kneeMb?: number;
  meanAbsError?: number;
  maxAbsError?: number;
  sampledInvocations?: number;
}

function median(xs: number[]): number {
  const sorted = [...xs].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
}

function timed<T>(run: () => T): { result: T; ms: number } {
  const times: number[] = [];
  let result: T | undefined;
  for (let i = 0; i < repeat; i++) {
    const start = performance.now();
    result = run();
    times.push(performance.now() - start);
  }
  return { result: result as T, ms: median(times) };
}

function streamOnly(trace: Trace): number {
  let checksum = 0;
  for (const batch of trace.batches()) for (let i = 0; i < batch.length; i++) checksum += batch.fn[i];
  return checksum;
}

function driveController(trace: Trace): DynamicSizingController {
  // 'curve' mode: no simulator here to report cold starts; this measures the controller's own cost.
  const controller = new DynamicSizingController({ missSpeed: 'curve' }, trace.functions);
  for (const batch of trace.batches()) {
    for (let i = 0; i < batch.length; i++) controller.observe(batch.fn[i], batch.time[i], false);
  }
  return controller;
}

const loadStart = performance.now();
const trace = readAzure2019Dir(args.dir);
const loadMs = performance.now() - loadStart;
const n = trace.invocationCount;
const perSec = (ms: number) => Math.round((n * 1000) / ms);

// One untimed pass first, so that the baseline does not pay for compiling the reader's generator.
streamOnly(trace);
const rows: Row[] = [];
const stream = timed(() => streamOnly(trace));
rows.push({ method: 'stream the trace only (baseline)', ms: stream.ms, invocationsPerSec: perSec(stream.ms) });

const run = (options: CurveOptions) => timed(() => computeCurves(trace, { target, ...options }));
const exact = run({ exact: true, sampleRate: null });
const exactCurve = exact.result.exact!;
rows.push({
  method: 'exact (Fenwick, O(N log M))',
  ms: exact.ms,
  invocationsPerSec: perSec(exact.ms),
  sizeForTargetMb: exact.result.sizeForTargetMb.exact,
  kneeMb: exact.result.kneeMb.exact,
});

const sampledRuns: Array<[string, CurveOptions]> = [
  ['SHARDS R=0.1', { exact: false, sampleRate: 0.1 }],
  ['SHARDS_adj R=0.1', { exact: false, sampleRate: 0.1, adjust: true }],
];
const sampledResults: Record<string, CurveResult> = {};
for (const [method, options] of sampledRuns) {
  const sampled = run(options);
  const curve = sampled.result.sampled!;
  const error = curveError(exactCurve, curve);
  sampledResults[method] = sampled.result;
  rows.push({
    method,
    ms: sampled.ms,
    invocationsPerSec: perSec(sampled.ms),
    sizeForTargetMb: sampled.result.sizeForTargetMb.sampled,
    kneeMb: sampled.result.kneeMb.sampled,
    meanAbsError: error.meanAbs,
    maxAbsError: error.maxAbs,
    sampledInvocations: curve.sampledInvocations,
  });
}

const controller = timed(() => driveController(trace));
rows.push({ method: 'dynamic sizing controller observe()', ms: controller.ms, invocationsPerSec: perSec(controller.ms) });

const fmt = (x: number | null | undefined, digits = 0) => (x === undefined ? '' : x === null ? 'never' : x.toFixed(digits));
console.log(`trace ${trace.name}: ${trace.functions.length} functions, ${n} invocations, loaded in ${loadMs.toFixed(0)} ms; median of ${repeat} runs`);
console.table(
  rows.map((r) => ({
    method: r.method,
    'time ms': fmt(r.ms),
    'invocations/s': r.invocationsPerSec.toLocaleString('en'),
    [`size for ${target * 100} % (MB)`]: fmt(r.sizeForTargetMb),
    'knee (MB)': fmt(r.kneeMb),
    'mean |err|': fmt(r.meanAbsError, 4),
    'max |err|': fmt(r.maxAbsError, 4),
    'sampled inv.': r.sampledInvocations ?? '',
  })),
);
const resizes = controller.result.history();
console.log(`controller (curve mode): ${resizes.length} resizes, mean capacity ${controller.result.meanCapacityMb(trace.spanMs).toFixed(0)} MB`);

mkdirSync(dirname(args.out), { recursive: true });
writeFileSync(
  args.out,
  JSON.stringify(
    {
      node: process.version,
      trace: { name: trace.name, functions: trace.functions.length, invocations: n, spanMs: trace.spanMs, loadMs },
      repeat,
      rows,
      curves: { exact: exact.result, ...sampledResults },
      controller: { resizes, meanCapacityMb: controller.result.meanCapacityMb(trace.spanMs) },
    },
    null,
    2,
  ) + '\n',
);
console.log(`wrote ${args.out}`);
