// Arrival generation throughput of the Azure 2019 reader on the bundled 500-function sample
// (3,037,835 arrivals after the ≥ 2 filter), against a naive baseline that materialises every
// arrival and stable-sorts them with a comparator, as the FaaSCache reference does.
//
//   node --import tsx bench/traces.ts [--reps N]
//
// Prints a table and writes out/bench/traces.json. Every pass reads every arrival (a checksum), as
// a simulator would, so the numbers include the consumer's loop.

import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { readAzure2019Dir, type Azure2019Trace } from '../src/sim/traces/azure2019.ts';
import { DEFAULT_TRACE_DIR } from '../src/sim/traces/index.ts';
import { naiveEvenArrivals, type MinuteSpacing } from '../src/sim/traces/minute-counts.ts';

const repsArg = process.argv.indexOf('--reps');
const REPS = repsArg > 0 ? Number(process.argv[repsArg + 1]) : 10;
const NAIVE_REPS = Math.max(1, Math.min(3, REPS));

interface Row {
  what: string;
  reps: number;
  medianMs: number;
  bestMs: number;
  arrivalsPerSec: number;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/** Times `run` `reps` times after one warm-up pass; the throughput is taken from the median. */
function measure(what: string, reps: number, arrivals: number, run: () => number): Row {
  let sink = run();
  const times: number[] = [];
  for (let r = 0; r < reps; r++) {
    const start = performance.now();
    sink += run();
    times.push(performance.now() - start);
  }
  if (sink === 42.4242) console.log('unlikely'); // keeps the checksum alive
  const medianMs = median(times);
  return { what, reps, medianMs, bestMs: Math.min(...times), arrivalsPerSec: arrivals / (medianMs / 1000) };
}

function consumeStream(trace: Azure2019Trace): number {
  let checksum = 0;
  for (const batch of trace.batches()) {
    const { fn, time } = batch;
    for (let i = 0; i < batch.length; i++) checksum += fn[i]! + time[i]! * 1e-9;
  }
  return checksum;
}

function consumeNaive(trace: Azure2019Trace): number {
  const { fn, time } = naiveEvenArrivals(trace.counts);
  let checksum = 0;
  for (let i = 0; i < fn.length; i++) checksum += fn[i]! + time[i]! * 1e-9;
  return checksum;
}

function sameStream(trace: Azure2019Trace): boolean {
  const expected = naiveEvenArrivals(trace.counts);
  let n = 0;
  for (const batch of trace.batches()) {
    for (let i = 0; i < batch.length; i++, n++) if (batch.fn[i] !== expected.fn[n] || !Object.is(batch.time[i], expected.time[n])) return false;
  }
  return n === expected.fn.length;
}

const loadTimes: number[] = [];
let trace!: Azure2019Trace;
for (let r = 0; r < 5; r++) {
  const start = performance.now();
  trace = readAzure2019Dir(DEFAULT_TRACE_DIR);
  loadTimes.push(performance.now() - start);
}
const arrivals = trace.invocationCount;

const rows: Row[] = [];
for (const spacing of ['even', 'start', 'random'] as MinuteSpacing[]) {
  const variant = spacing === 'even' ? trace : readAzure2019Dir(DEFAULT_TRACE_DIR, { spacing, seed: 1 });
  rows.push(measure(`stream, spacing ${spacing}`, REPS, arrivals, () => consumeStream(variant)));
}
rows.push(measure('naive: materialise + comparator sort (even)', NAIVE_REPS, arrivals, () => consumeNaive(trace)));
const identical = sameStream(trace);

const fast = rows[0]!;
const naive = rows.at(-1)!;
console.log(`trace: ${trace.name}, ${trace.functions.length} functions, ${arrivals.toLocaleString('en')} arrivals; load ${median(loadTimes).toFixed(1)} ms (median of 5)`);
console.log('');
console.log(`${'generator'.padEnd(46)} ${'reps'.padStart(4)} ${'median ms'.padStart(10)} ${'best ms'.padStart(9)} ${'M arrivals/s'.padStart(13)}`);
for (const row of rows) {
  console.log(
    `${row.what.padEnd(46)} ${String(row.reps).padStart(4)} ${row.medianMs.toFixed(1).padStart(10)} ${row.bestMs.toFixed(1).padStart(9)} ${(row.arrivalsPerSec / 1e6).toFixed(2).padStart(13)}`,
  );
}
console.log('');
console.log(`even stream vs naive: ${(fast.arrivalsPerSec / naive.arrivalsPerSec).toFixed(1)}× faster; identical output: ${identical}`);

const outDir = fileURLToPath(new URL('../out/bench/', import.meta.url));
mkdirSync(outDir, { recursive: true });
const result = {
  bench: 'traces',
  date: new Date().toISOString(),
  node: process.version,
  trace: { name: trace.name, functions: trace.functions.length, arrivals, loadMsMedian: median(loadTimes) },
  rows,
  speedupEvenVsNaive: fast.arrivalsPerSec / naive.arrivalsPerSec,
  identicalToNaive: identical,
};
writeFileSync(join(outDir, 'traces.json'), `${JSON.stringify(result, null, 2)}\n`);
console.log(`wrote ${join(outDir, 'traces.json')}`);
if (!identical) process.exitCode = 1;
