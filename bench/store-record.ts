// The store's share of a warm invocation, before and after a change, in one run: this checkout's
// store (dist/, so `npm run build` first) beside another checkout's (--before DIR, its dist/ built
// too), each on a Store of its own in a temp dir, in alternating rounds so both see the same load.
//
//   node --import tsx bench/store-record.ts --before DIR [--n 20000] [--rounds 7] [--batch 20] [--out out/bench/store-record.json]
//
// Workloads, CPU µs (user + system) per operation:
//   reads    what the route and platform.resolve read per warm invocation: functions.require() and
//            functions.requireVersion('latest'), then the next task (the warm path reads in its
//            request's task; the cache looks for other connections' commits once per task);
//   record   invocations.record() of a warm `hello` outcome, and flush() every --batch records (a
//            write-behind batch: RECORD_BATCH_MS at ~2,000 req/s), synchronous=FULL as `thaw serve`;
//   warm     both, as one warm invocation does them: reads, newId(), record(), a flush every --batch.
// Ratios: after/before per round, their median (below 1: the change saves CPU).

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import type { Store } from '../src/platform/store/index.ts';
import { median, printTable, writeJson } from './lib.ts';

const { values: args } = parseArgs({
  options: {
    before: { type: 'string' },
    n: { type: 'string', default: '20000' },
    rounds: { type: 'string', default: '7' },
    batch: { type: 'string', default: '20' },
    out: { type: 'string', default: 'out/bench/store-record.json' },
  },
});
if (!args.before) throw new Error('--before DIR: the checkout to compare with (its dist/ built)');
const N = Number(args.n);
const ROUNDS = Number(args.rounds);
const BATCH = Number(args.batch);

interface Side {
  label: string;
  store: Store;
  dir: string;
}

async function open(label: string, checkout: string): Promise<Side> {
  const mod = (await import(pathToFileURL(join(resolve(checkout), 'dist/platform/store/index.js')).href)) as { Store: typeof Store };
  const dir = mkdtempSync(join(tmpdir(), `thaw-store-bench-${label}-`));
  const store = mod.Store.open(dir);
  store.functions.publish('hello', {
    memoryMb: 256, timeoutMs: 30_000, maxConcurrency: 64, env: {}, network: false, provisioned: 0, start: 'cold', language: 'js',
    entry: 'index.js', dependencies: {}, codeDir: 'functions/hello/1', bundlePath: 'functions/hello/1/bundle.cjs', bundleSha256: 'a'.repeat(64), bundleBytes: 100,
  });
  return { label, store, dir };
}

/** A warm `hello` invocation's outcome, as platform.ts's outcomeOf() makes it. */
function outcome(i: number) {
  return {
    status: 'succeeded' as const,
    startKind: 'warm' as const,
    instanceId: 'c0ffee12',
    timings: { queueMs: 0, sandboxMs: 0, runtimeBootMs: 0, importMs: 0, initMs: 0, execMs: 0.021, platformMs: 0.183 },
    totalMs: 0.204,
    result: { message: 'Hello, bench!', invocationsInThisInstance: i, instanceId: 'c0ffee12', version: 1 },
    error: undefined,
    stdout: '',
    stderr: '',
  };
}

const WORKLOADS: Record<string, (store: Store) => Promise<void>> = {
  async reads(store) {
    for (let i = 0; i < N; i++) {
      store.functions.require('hello');
      store.functions.requireVersion('hello', 'latest');
      await null; // the next task
    }
  },
  async record(store) {
    const now = Date.now();
    for (let i = 0; i < N; i++) {
      store.invocations.record({ functionName: 'hello', version: 1, mode: 'sync', createdAt: now, startedAt: now }, outcome(i));
      if (i % BATCH === BATCH - 1) store.invocations.flush();
    }
    store.invocations.flush();
  },
  async warm(store) {
    for (let i = 0; i < N; i++) {
      store.functions.require('hello');
      const fn = store.functions.requireVersion('hello', 'latest');
      const id = store.invocations.newId();
      const now = Date.now();
      await null; // the invocation runs: its record is made in another task
      store.invocations.record({ id, functionName: 'hello', version: fn.version, mode: 'sync', createdAt: now, startedAt: now }, outcome(i));
      if (i % BATCH === BATCH - 1) store.invocations.flush();
      await null;
    }
    store.invocations.flush();
  },
};

/** CPU µs per operation of one run. */
async function measure(side: Side, workload: (store: Store) => Promise<void>): Promise<number> {
  const start = process.cpuUsage();
  await workload(side.store);
  const used = process.cpuUsage(start);
  return (used.user + used.system) / N;
}

async function main(): Promise<void> {
  const after = await open('after', '.');
  const before = await open('before', args.before!);
  const rows: Array<Array<string | number>> = [];
  const json: Record<string, unknown> = { n: N, rounds: ROUNDS, batch: BATCH, before: resolve(args.before!) };
  try {
    for (const [name, workload] of Object.entries(WORKLOADS)) {
      await measure(before, workload); // JIT, page cache
      await measure(after, workload);
      const b: number[] = [];
      const a: number[] = [];
      const ratios: number[] = [];
      for (let round = 0; round < ROUNDS; round++) {
        // Alternating which goes first, so neither always runs on the other's garbage.
        const [x, y] = round % 2 === 0 ? [before, after] : [after, before];
        const first = await measure(x, workload);
        const second = await measure(y, workload);
        const [bu, au] = x === before ? [first, second] : [second, first];
        b.push(bu);
        a.push(au);
        ratios.push(au / bu);
      }
      json[name] = { beforeUs: median(b), afterUs: median(a), afterOverBefore: median(ratios), beforeRounds: b, afterRounds: a };
      rows.push([name, median(b).toFixed(2), median(a).toFixed(2), median(ratios).toFixed(2), `${Math.min(...ratios).toFixed(2)}–${Math.max(...ratios).toFixed(2)}`]);
    }
  } finally {
    for (const side of [before, after]) {
      side.store.close();
      rmSync(side.dir, { recursive: true, force: true });
    }
  }
  printTable(
    `The store's CPU per warm invocation (µs per operation; ${N} each, ${ROUNDS} alternating rounds, a flush every ${BATCH} records; before: ${args.before})`,
    ['workload', 'before µs/op', 'after µs/op', 'after/before', 'range of rounds'],
    rows,
  );
  writeJson(args.out!, json);
}

await main();
