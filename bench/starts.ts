// Every start kind of every example, in one table: cold and snapshot (bench/snapshot.ts), cold and
// zygote (bench/zygote.ts, deps-heavy: the example with packages to share), and warm and resumed
// (measured here: an invocation of a running instance, and of a paused one that is thawed first).
// Time to first response, p50/p95. With --export FILE it writes the calibration file that
// `thaw sim --start-costs FILE --start-path snapshot|zygote|resumed|warm` reads.
//
//   node --import tsx bench/starts.ts [--runs 10] [--export out/start-costs.json]   (or: thaw bench starts)

import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { deployFunction } from '../src/platform/deploy/index.ts';
import { toDeployed } from '../src/platform/function.ts';
import { createSandboxBackend, type IsolationMode } from '../src/platform/sandbox/index.ts';
import { Store } from '../src/platform/store/index.ts';
import type { StartCosts } from '../src/sim/calibration.ts';
import { printTable, writeJson } from './lib.ts';

const { values: args } = parseArgs({
  options: {
    runs: { type: 'string', default: '10' },
    isolation: { type: 'string', default: 'auto' },
    export: { type: 'string' },
    out: { type: 'string', default: 'out/bench/starts.json' },
  },
});
const RUNS = Number(args.runs);
const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const EXAMPLES = ['hello', 'ts-hello', 'init-heavy', 'deps-heavy'];

function quantile(xs: number[], q: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))]!;
}

function runBench(script: string, out: string): any {
  execFileSync(process.execPath, ['--import', 'tsx', join(ROOT, 'bench', script), '--runs', String(RUNS), '--isolation', args.isolation!, '--out', out], { stdio: ['ignore', 'inherit', 'inherit'] });
  return JSON.parse(readFileSync(out, 'utf8'));
}

/** Warm and resumed invocations of each example: p50/p95 of the invocation round trip, ms. */
async function warmAndResumed(): Promise<Record<string, { warm: number[]; resumed: number[]; idleMb: number }>> {
  const dataDir = mkdtempSync(join(tmpdir(), 'thaw-bench-starts-'));
  const store = Store.open(dataDir, { synchronous: 'normal' });
  const backend = await createSandboxBackend({ isolation: args.isolation as IsolationMode, dataDir });
  const result: Record<string, { warm: number[]; resumed: number[]; idleMb: number }> = {};
  try {
    for (const name of EXAMPLES) {
      const fn = toDeployed((await deployFunction(store, join(ROOT, 'examples', name), { name })).version);
      const sandbox = backend.create({ instanceId: `bench-starts-${name}-${process.pid}`, functionName: name, version: fn.version, codeDir: fn.codeDir, memoryMb: fn.memoryMb, env: fn.env, network: fn.network });
      await sandbox.start();
      const invoke = async (): Promise<number> => {
        const t0 = performance.now();
        const out = await sandbox.invoke({}, { invocationId: 'bench', functionName: name, version: fn.version, memoryMb: fn.memoryMb, deadlineMs: Date.now() + 30_000 }, 30_000);
        if (!out.ok) throw new Error(`${name}: ${JSON.stringify(out.error)}`);
        return performance.now() - t0;
      };
      await invoke();
      const warm: number[] = [];
      const resumed: number[] = [];
      for (let i = 0; i < RUNS; i++) {
        warm.push(await invoke());
        await sandbox.pause();
        const t0 = performance.now();
        await sandbox.resume();
        resumed.push(performance.now() - t0 + (await invoke()));
      }
      const idleMb = await sandbox.memoryUsageMb(); // resident memory of an idle instance
      await sandbox.destroy();
      result[name] = { warm, resumed, idleMb };
    }
  } finally {
    store.close();
  }
  return result;
}

const snapshot = runBench('snapshot.ts', 'out/bench/snapshot.json');
const zygote = runBench('zygote.ts', 'out/bench/zygote.json');
const running = await warmAndResumed();

const functions: StartCosts['functions'] = {};
const rows: Array<Array<string | number>> = [];
const fmt = (p50?: number, p95?: number) => (p50 === undefined ? '—' : `${p50.toFixed(1)} / ${p95!.toFixed(1)}`);
for (const name of EXAMPLES) {
  const s = snapshot.results.find((r: any) => r.name === name);
  const z = zygote.example === name ? zygote : undefined;
  const w = running[name]!;
  const costs: Partial<Record<'cold' | 'snapshot' | 'zygote' | 'warm' | 'resumed', number>> = {
    cold: s?.coldMs?.p50 ?? z?.cold?.p50,
    snapshot: s?.snapshotMs?.p50,
    zygote: z?.zygote?.p50,
    warm: quantile(w.warm, 0.5),
    resumed: quantile(w.resumed, 0.5),
  };
  functions[name] = Object.fromEntries(Object.entries(costs).filter(([, v]) => v !== undefined));
  rows.push([
    name,
    fmt(s?.coldMs?.p50, s?.coldMs?.p95),
    s?.snapshotMs ? fmt(s.snapshotMs.p50, s.snapshotMs.p95) : (s?.status ?? '—'),
    z ? fmt(z.zygote.p50, z.zygote.p95) : '— (no packages to share)',
    fmt(quantile(w.resumed, 0.5), quantile(w.resumed, 0.95)),
    fmt(quantile(w.warm, 0.5), quantile(w.warm, 0.95)),
    (quantile(w.resumed, 0.5) / quantile(w.warm, 0.5)).toFixed(2),
    `${w.idleMb.toFixed(0)} MB`,
    s?.blobBytes ? `${(s.blobBytes / 2 ** 20).toFixed(1)} MiB / ${Math.round(s.buildMs)} ms` : '—',
  ]);
}
printTable(
  `Time to first response by start kind, p50 / p95 ms (${RUNS} runs each)`,
  ['function', 'cold', 'snapshot', 'zygote', 'resumed', 'warm', 'resumed/warm', 'idle instance', 'snapshot size / build'],
  rows,
);
if (zygote.memory) {
  process.stdout.write(`zygote (${zygote.example}'s packages): ${zygote.memory.zygoteCgroupMb.toFixed(0)} MB cgroup / ${zygote.memory.zygoteRssMb.toFixed(0)} MB RSS, against ${zygote.memory.coldInstanceCgroupMb.toFixed(0)} / ${zygote.memory.coldInstanceRssMb.toFixed(0)} MB for a cold instance\n`);
}

const calibration: StartCosts = { version: 1, source: `bench/starts.ts, ${RUNS} runs, ${new Date().toISOString()}`, functions };
if (args.export) {
  mkdirSync(dirname(resolve(args.export)), { recursive: true });
  writeFileSync(args.export, JSON.stringify(calibration, null, 2) + '\n');
  process.stdout.write(`\nwrote ${args.export} (thaw sim --start-costs ${args.export} --start-path snapshot)\n`);
}
writeJson(args.out!, { runs: RUNS, calibration, snapshot: snapshot.results, zygote, running });
