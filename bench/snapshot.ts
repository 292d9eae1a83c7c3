// Cold start vs snapshot restore, per example: time to first response (create the sandbox → start
// → first invocation answered), p50/p95 over repeated runs, alternating cold and restore so both
// see the same machine; the snapshot's size and build time. Each example is deployed into a
// temporary data dir (npm install, esbuild, verify: the real deploy), its snapshot built by the
// real start path, and every instance runs in the real sandbox backend (lean containers by default).
// test/fixtures/functions/snap-init-cpu is added: an init-heavy function whose initialised state
// is small (init computes, keeps little), the case snapshots are made for.
//
//   node --import tsx bench/snapshot.ts [--runs 15] [--isolation auto|container|process] [--out out/bench/snapshot.json]

import { cpSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';

import { deployFunction } from '../src/platform/deploy/index.ts';
import { toDeployed, type DeployedFunction } from '../src/platform/function.ts';
import { createSandboxBackend, type IsolationMode } from '../src/platform/sandbox/index.ts';
import type { Sandbox, SandboxSpec, StartTimings } from '../src/platform/sandbox/types.ts';
import { SnapshotStartPath, type SnapshotSandbox } from '../src/platform/accelerators/v8-snapshot/index.ts';
import { Store } from '../src/platform/store/index.ts';
import { sandboxSpecFor } from '../src/platform/invoker/sandbox-spec.ts';
import { printTable, writeJson } from './lib.ts';

const { values: args } = parseArgs({
  options: {
    runs: { type: 'string', default: '15' },
    isolation: { type: 'string', default: 'auto' },
    out: { type: 'string', default: 'out/bench/snapshot.json' },
    only: { type: 'string' },
  },
});
const RUNS = Number(args.runs);
const ROOT = resolve(import.meta.dirname, '..');
const EXAMPLES = ['hello', 'ts-hello', 'init-heavy', 'deps-heavy'];
const PAYLOADS: Record<string, unknown> = { 'init-heavy': { n: 1000003 }, 'snap-init-cpu': { n: 1000 }, hello: { name: 'bench' }, 'ts-hello': { name: 'bench' } };

function quantile(xs: number[], q: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))]!;
}

/** A function folder for the fixture snap-init-cpu (a bundle.cjs only): a package deploy accepts. */
function fixturePackage(): string {
  const dir = mkdtempSync(join(tmpdir(), 'thaw-bench-fixture-'));
  cpSync(join(ROOT, 'test/fixtures/functions/snap-init-cpu/bundle.cjs'), join(dir, 'index.js'));
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: 'snap-init-cpu', version: '1.0.0', main: 'index.js' }));
  return dir;
}

interface Run {
  firstResponseMs: number;
  timings: StartTimings;
  kind: string;
}

let counter = 0;
function specOf(fn: DeployedFunction): SandboxSpec {
  counter += 1;
  return sandboxSpecFor(fn, `bench-${fn.name}-${process.pid}-${counter}`);
}

async function firstResponse(make: () => Sandbox, fn: DeployedFunction): Promise<Run> {
  const t0 = performance.now();
  const sb = make();
  try {
    const timings = await sb.start();
    const out = await sb.invoke(PAYLOADS[fn.name] ?? {}, { invocationId: `b${counter}`, functionName: fn.name, version: fn.version, memoryMb: fn.memoryMb, deadlineMs: Date.now() + 30_000 }, 30_000);
    if (!out.ok) throw new Error(`${fn.name}: ${JSON.stringify(out.error)}`);
    return { firstResponseMs: performance.now() - t0, timings, kind: (sb as Partial<SnapshotSandbox>).startKind ?? 'cold' };
  } finally {
    await sb.destroy();
  }
}

const dataDir = mkdtempSync(join(tmpdir(), 'thaw-bench-snapshot-'));
const store = Store.open(dataDir, { synchronous: 'normal' });
const backend = await createSandboxBackend({ isolation: args.isolation as IsolationMode, dataDir });
const path = new SnapshotStartPath({ backend, dataDir, status: store.functions, onWarning: (m) => process.stderr.write(`warning: ${m}\n`) });
process.stdout.write(`isolation: ${backend.name}; ${RUNS} runs of each, cold and restore alternating\n`);

const rows: Array<Array<string | number>> = [];
const results: Record<string, unknown>[] = [];
const names = [...EXAMPLES, 'snap-init-cpu'].filter((n) => !args.only || args.only.split(',').includes(n));
try {
  for (const name of names) {
    const source = name === 'snap-init-cpu' ? fixturePackage() : join(ROOT, 'examples', name);
    let fn: DeployedFunction;
    try {
      fn = toDeployed((await deployFunction(store, source, { name })).version);
    } catch (error) {
      process.stdout.write(`${name}: not deployed (${(error as Error).message.split('\n')[0]}); skipped\n`);
      results.push({ name, skipped: (error as Error).message });
      continue;
    }
    const state = await path.requestBuild(fn);
    const status = store.functions.getVersion(name, fn.version)?.snapshotStatus ?? '';
    if (state.state !== 'ready') {
      process.stdout.write(`${name}: ${status}\n`);
      results.push({ name, status });
      rows.push([name, '-', '-', '-', '-', '-', '-', '-', status]);
      continue;
    }
    const m = state.manifest;
    await firstResponse(() => backend.create(specOf(fn)), fn); // warm the page cache and the code
    await firstResponse(() => path.create(fn, specOf(fn)), fn);
    const cold: Run[] = [];
    const snap: Run[] = [];
    for (let i = 0; i < RUNS; i++) {
      cold.push(await firstResponse(() => backend.create(specOf(fn)), fn));
      snap.push(await firstResponse(() => path.create(fn, specOf(fn)), fn));
    }
    if (snap.some((r) => r.kind !== 'snapshot')) throw new Error(`${name}: a restore fell back to cold`);
    const c = cold.map((r) => r.firstResponseMs);
    const s = snap.map((r) => r.firstResponseMs);
    const med = (xs: number[]) => quantile(xs, 0.5);
    const coldLoad = med(cold.map((r) => r.timings.runtimeBootMs + (r.timings.agentSetupMs ?? 0) + r.timings.importMs + r.timings.initMs));
    const restoreLoad = med(snap.map((r) => r.timings.runtimeBootMs + (r.timings.agentSetupMs ?? 0) + r.timings.importMs + r.timings.initMs));
    const speedup = med(c) / med(s);
    rows.push([
      name,
      `${(m.bytes / 2 ** 20).toFixed(1)} MiB`,
      Math.round(m.buildMs),
      med(c).toFixed(1),
      quantile(c, 0.95).toFixed(1),
      med(s).toFixed(1),
      quantile(s, 0.95).toFixed(1),
      `${speedup.toFixed(2)}x`,
      `boot+import+init ${coldLoad.toFixed(0)} → restore ${restoreLoad.toFixed(0)} ms`,
    ]);
    results.push({
      name,
      status,
      memoryMb: fn.memoryMb,
      blobBytes: m.bytes,
      buildMs: m.buildMs,
      buildReport: m.report,
      coldMs: { p50: med(c), p95: quantile(c, 0.95), runs: c },
      snapshotMs: { p50: med(s), p95: quantile(s, 0.95), runs: s },
      speedupP50: speedup,
      coldPhasesP50: {
        sandboxMs: med(cold.map((r) => r.timings.sandboxMs)),
        runtimeBootMs: med(cold.map((r) => r.timings.runtimeBootMs + (r.timings.agentSetupMs ?? 0))),
        importMs: med(cold.map((r) => r.timings.importMs)),
        initMs: med(cold.map((r) => r.timings.initMs)),
      },
      snapshotPhasesP50: {
        sandboxMs: med(snap.map((r) => r.timings.sandboxMs)),
        runtimeBootMs: med(snap.map((r) => r.timings.runtimeBootMs + (r.timings.agentSetupMs ?? 0))),
        importMs: med(snap.map((r) => r.timings.importMs)),
        initMs: med(snap.map((r) => r.timings.initMs)),
      },
    });
    if (name === 'snap-init-cpu') rmSync(source, { recursive: true, force: true });
  }
  printTable(
    `Cold start vs snapshot restore: time to first response, ms (${backend.name}, ${RUNS} runs each)`,
    ['function', 'snapshot', 'build ms', 'cold p50', 'cold p95', 'restore p50', 'restore p95', 'speed-up p50', 'where the time goes (p50)'],
    rows,
  );
  const initHeavy = results.find((r) => r.name === 'init-heavy') as { speedupP50?: number } | undefined;
  const goal = initHeavy?.speedupP50 === undefined ? 'not measured' : initHeavy.speedupP50 >= 2 ? 'met' : 'NOT met';
  process.stdout.write(`\ngoal (init-heavy restore ≥ 2× faster than cold, p50): ${goal}\n`);
  writeJson(args.out!, { isolation: backend.name, runs: RUNS, goal: { initHeavySpeedupP50: initHeavy?.speedupP50 ?? null, met: goal === 'met' }, results });
} finally {
  await path.close();
  store.close();
  rmSync(dataDir, { recursive: true, force: true });
}
