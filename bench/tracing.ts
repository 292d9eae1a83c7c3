// What tracing costs a warm invocation, in one process, against a baseline measured in the same run:
//   baseline  what Platform.invokeSync does without its tracing branch: invoker.invoke + one record
//   off       Platform.invokeSync with tracing off (no --otlp): the platform holds no Tracing
//   on        Platform.invokeSync with --otlp: spans of the invocation and its phases, batched and
//             exported over OTLP/HTTP to a receiver in this process on loopback
// Warm invocations of `hello` (no HTTP in front, so tracing's share is as large as it gets), in
// interleaved rounds so the three see the same machine. The goal: off costs nothing (ratio ≈ 1).
//
//   node --import tsx bench/tracing.ts [--invocations 3000] [--isolation auto|container|process] [--out out/bench/tracing.json]

import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { toDeployed } from '../src/platform/function.ts';
import { Platform } from '../src/platform/platform.ts';
import type { IsolationMode } from '../src/platform/sandbox/index.ts';
import { median, printTable, writeJson } from './lib.ts';

const { values: args } = parseArgs({
  options: {
    invocations: { type: 'string', default: '3000' },
    isolation: { type: 'string', default: 'auto' },
    out: { type: 'string', default: 'out/bench/tracing.json' },
  },
});
const N = Number(args.invocations);
const ROUND = 100;
const HELLO = resolve(import.meta.dirname, '../examples/hello');

// An OTLP/HTTP receiver: counts the spans it is sent.
let spansReceived = 0;
const receiver = createServer((req, res) => {
  const chunks: Buffer[] = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', () => {
    for (const rs of JSON.parse(Buffer.concat(chunks).toString('utf8')).resourceSpans ?? []) for (const ss of rs.scopeSpans ?? []) spansReceived += ss.spans.length;
    res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
  });
});
receiver.listen(0, '127.0.0.1');
await once(receiver, 'listening');

const dirs: string[] = [];
async function open(otlpUrl?: string): Promise<Platform> {
  const dataDir = mkdtempSync(join(tmpdir(), 'thaw-bench-tracing-'));
  dirs.push(dataDir);
  const platform = await Platform.open({ dataDir, isolation: args.isolation as IsolationMode, pauseAfterMs: Infinity, otlpUrl });
  await platform.deploy({ dir: HELLO }, { name: 'hello' });
  await platform.invokeSync('hello', {}); // the cold start: every measured invocation is warm
  return platform;
}

const bare = await open();
const off = await open();
const on = await open(`http://127.0.0.1:${(receiver.address() as AddressInfo).port}`);
const helloOfBare = toDeployed(bare.store.functions.requireVersion('hello', 'latest'));

const variants: Array<{ name: string; what: string; invoke: () => Promise<unknown>; times: number[] }> = [
  {
    name: 'baseline',
    what: 'invoker + record, no tracing code',
    times: [],
    invoke: async () => {
      const createdAt = Date.now();
      const id = bare.store.invocations.newId();
      const report = await bare.invoker.invoke(helloOfBare, { name: 'bench' }, id);
      bare.store.invocations.record({ id, functionName: 'hello', version: helloOfBare.version, mode: 'sync', createdAt, startedAt: createdAt }, { status: report.ok ? 'succeeded' : 'failed', startKind: report.startKind, timings: report.phases, totalMs: report.totalMs, result: report.value });
    },
  },
  { name: 'off', what: 'invokeSync, tracing off', times: [], invoke: () => off.invokeSync('hello', { name: 'bench' }) },
  { name: 'on', what: 'invokeSync, OTLP export on', times: [], invoke: () => on.invokeSync('hello', { name: 'bench' }) },
];

for (let done = 0; done < N; done += ROUND) {
  for (const variant of variants) {
    for (let i = 0; i < ROUND; i++) {
      const start = performance.now();
      await variant.invoke();
      variant.times.push(performance.now() - start);
    }
  }
}
await on.close(); // flushes the last spans
await Promise.all([bare.close(), off.close()]);
receiver.close();
for (const dir of dirs) rmSync(dir, { recursive: true, force: true });

const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
const p = (xs: number[], q: number) => [...xs].sort((a, b) => a - b)[Math.floor(q * (xs.length - 1))]!;
const base = variants[0]!;
const rows = variants.map((v) => ({
  variant: v.name,
  what: v.what,
  invocations: v.times.length,
  p50Ms: median(v.times),
  p99Ms: p(v.times, 0.99),
  meanMs: mean(v.times),
  meanRatioToBaseline: mean(v.times) / mean(base.times),
  p50RatioToBaseline: median(v.times) / median(base.times),
}));
printTable(
  `warm invocations of hello, ${args.isolation} isolation, ${N} per variant in interleaved rounds of ${ROUND}`,
  ['variant', 'what', 'p50 ms', 'p99 ms', 'mean ms', 'mean / baseline', 'p50 / baseline'],
  rows.map((r) => [r.variant, r.what, r.p50Ms.toFixed(3), r.p99Ms.toFixed(3), r.meanMs.toFixed(3), r.meanRatioToBaseline.toFixed(3), r.p50RatioToBaseline.toFixed(3)]),
);
process.stdout.write(`spans received by the OTLP receiver: ${spansReceived} (${(spansReceived / (N + 1)).toFixed(2)} per traced invocation)\n`);
writeJson(args.out!, { invocations: N, round: ROUND, isolation: args.isolation, rows, spansReceived });
