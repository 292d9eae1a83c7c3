// What bundling buys: the cold start of each example deployed both ways — as one esbuild bundle and
// in the installed layout (its own code and node_modules loaded by Node's resolution, see
// src/platform/deploy/layout.ts) — in the same sandboxes, alternating, in one run. Time to first
// response (sandbox start + the first invocation) and the import phase alone, p50 / p95, and the
// ratio installed / bundle of the p50s.
//
//   node --import tsx bench/layout.ts [--runs 10] [--isolation auto|container|process] [--out out/bench/layout.json]

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { deployFunction } from '../src/platform/deploy/index.ts';
import { toDeployed, type DeployedFunction } from '../src/platform/function.ts';
import { createSandboxBackend, type IsolationMode } from '../src/platform/sandbox/index.ts';
import { Store } from '../src/platform/store/index.ts';
import { sandboxSpecFor } from '../src/platform/invoker/sandbox-spec.ts';
import { median, printTable, writeJson } from './lib.ts';

const { values: args } = parseArgs({
  options: {
    runs: { type: 'string', default: '10' },
    isolation: { type: 'string', default: 'auto' },
    out: { type: 'string', default: 'out/bench/layout.json' },
  },
});
const RUNS = Number(args.runs);
const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const EXAMPLES = ['hello', 'ts-hello', 'init-heavy', 'deps-heavy'];
const LAYOUTS = ['bundle', 'installed'] as const;

function p95(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(0.95 * s.length))]!;
}

const dataDir = mkdtempSync(join(tmpdir(), 'thaw-bench-layout-'));
const store = Store.open(dataDir, { synchronous: 'normal' });
const backend = await createSandboxBackend({ isolation: args.isolation as IsolationMode, dataDir });
type Sample = { firstMs: number[]; importMs: number[] };
const results: Record<string, Record<(typeof LAYOUTS)[number], Sample & { bundleBytes: number }>> = {};
let counter = 0;

async function coldStart(fn: DeployedFunction): Promise<{ firstMs: number; importMs: number }> {
  const t0 = performance.now();
  const sandbox = backend.create(sandboxSpecFor(fn, `bench-layout-${process.pid}-${++counter}`));
  try {
    const timings = await sandbox.start();
    const out = await sandbox.invoke({}, { invocationId: 'bench', functionName: fn.name, version: fn.version, memoryMb: fn.memoryMb, deadlineMs: Date.now() + 60_000 }, 60_000);
    if (!out.ok) throw new Error(`${fn.name}: ${JSON.stringify(out.error)}`);
    return { firstMs: performance.now() - t0, importMs: timings.importMs };
  } finally {
    await sandbox.destroy();
  }
}

try {
  for (const name of EXAMPLES) {
    const fns: Record<string, DeployedFunction> = {};
    results[name] = {} as (typeof results)[string];
    for (const layout of LAYOUTS) {
      const r = await deployFunction(store, join(ROOT, 'examples', name), { name: `${name}-${layout}`, bundle: layout === 'bundle' ? undefined : false });
      if (r.version.layout !== layout) throw new Error(`${name}: deployed as ${r.version.layout}, not ${layout} (${r.version.layoutReason})`);
      fns[layout] = toDeployed(r.version);
      results[name][layout] = { firstMs: [], importMs: [], bundleBytes: r.version.bundleBytes };
      await coldStart(fns[layout]); // the page cache warm for both alike
    }
    for (let i = 0; i < RUNS; i++) {
      // Alternating, so both layouts see the same machine.
      for (const layout of i % 2 === 0 ? LAYOUTS : [...LAYOUTS].reverse()) {
        const s = await coldStart(fns[layout]!);
        results[name][layout].firstMs.push(s.firstMs);
        results[name][layout].importMs.push(s.importMs);
      }
    }
  }
} finally {
  store.close();
  rmSync(dataDir, { recursive: true, force: true });
}

const fmt = (xs: number[]) => `${median(xs).toFixed(1)} / ${p95(xs).toFixed(1)}`;
const rows = EXAMPLES.map((name) => {
  const b = results[name]!.bundle;
  const i = results[name]!.installed;
  return [name, fmt(b.firstMs), fmt(i.firstMs), (median(i.firstMs) / median(b.firstMs)).toFixed(2), fmt(b.importMs), fmt(i.importMs), (median(i.importMs) / Math.max(0.01, median(b.importMs))).toFixed(2)];
});
printTable(
  `Cold start, bundle vs installed layout, p50 / p95 ms (${RUNS} runs each, ${backend.isolation.backend} sandboxes)`,
  ['function', 'first response: bundle', 'installed', 'ratio', 'import: bundle', 'installed', 'ratio'],
  rows,
);
writeJson(args.out!, { runs: RUNS, isolation: backend.isolation.backend, results });
