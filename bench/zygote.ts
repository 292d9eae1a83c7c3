// Zygote starts vs cold starts of examples/deps-heavy (eight sizable npm packages imported at the top
// level), on the same sandbox backend, interleaved run by run:
//   cold:   create the sandbox → boot node → import the bundle (all eight packages) → init → first response
//   zygote: take a ready zygote (its sandbox booted and the eight packages imported beforehand) →
//           write the variant bundle into its /code → specialise (load only the function's own code)
//           → first response
// Time to first response = from asking for the sandbox to the handler's result, p50/p95 over the runs.
// The zygote's own start (in the background, between runs: refills) is reported phase by phase, with
// its resident memory. Goal: a zygote start at least 4× faster than a cold start (p50).
//
//   node --import tsx bench/zygote.ts [--runs 30] [--isolation auto|container|process] [--out out/bench/zygote.json]

import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';

import { deployFunction } from '../src/platform/deploy/index.ts';
import { createSandboxBackend, type IsolationMode } from '../src/platform/sandbox/index.ts';
import { sandboxSpecFor } from '../src/platform/invoker/sandbox-spec.ts';
import type { Sandbox, SandboxSpec, StartTimings } from '../src/platform/sandbox/types.ts';
import { Store } from '../src/platform/store/index.ts';
import { ZygoteStartPath, toZygoteFunction, type ZygoteFunction } from '../src/platform/accelerators/zygote/index.ts';
import { median, printTable, writeJson } from './lib.ts';

const { values: args } = parseArgs({
  options: {
    runs: { type: 'string', default: '30' },
    isolation: { type: 'string', default: 'auto' },
    out: { type: 'string', default: 'out/bench/zygote.json' },
  },
});
const RUNS = Number(args.runs);
if (!(Number.isInteger(RUNS) && RUNS >= 2)) throw new Error('--runs must be an integer ≥ 2');
const EXAMPLE = resolve(import.meta.dirname, '..', 'examples', 'deps-heavy');
const EVENT = { name: 'Ada', email: 'ada@example.com', tags: ['Zygote Start', 'bench'] };

function quantile(xs: readonly number[], q: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil(q * s.length) - 1)]!;
}

function vmRssMb(pid: number | undefined): number {
  if (pid === undefined) return 0;
  try {
    const kb = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return kb ? Number(kb[1]) / 1024 : 0;
  } catch {
    return 0;
  }
}

interface Run {
  firstResponseMs: number;
  timings: StartTimings;
  execMs: number;
}

let counter = 0;
function specOf(fn: ZygoteFunction): SandboxSpec {
  counter += 1;
  return sandboxSpecFor(fn, `bench-${fn.name}-${process.pid}-${counter}`);
}

async function firstResponse(make: () => Sandbox, fn: ZygoteFunction): Promise<{ run: Run; sandbox: Sandbox }> {
  const t0 = performance.now();
  const sandbox = make();
  const timings = await sandbox.start();
  const out = await sandbox.invoke(EVENT, { invocationId: `b${counter}`, functionName: fn.name, version: fn.version, memoryMb: fn.memoryMb, deadlineMs: Date.now() + 30_000 }, 30_000);
  const firstResponseMs = performance.now() - t0;
  if (!out.ok || (out.value as { ok?: boolean }).ok !== true) throw new Error(`deps-heavy failed: ${JSON.stringify(out.error ?? out.value)}`);
  return { run: { firstResponseMs, timings, execMs: out.durationMs }, sandbox };
}

const dataDir = mkdtempSync(join(tmpdir(), 'thaw-bench-zygote-'));
const store = Store.open(dataDir, { synchronous: 'normal' });
let path: ZygoteStartPath | undefined;
try {
  const backend = await createSandboxBackend({ isolation: args.isolation as IsolationMode, dataDir });
  process.stdout.write(`deploying examples/deps-heavy (npm install, esbuild) into ${dataDir}; sandboxes: ${backend.name}\n`);
  const deployed = await deployFunction(store, EXAMPLE, { start: 'zygote' });
  const fn = toZygoteFunction(deployed.version);
  // One function: deps-heavy is "popular", so its whole package set earns a zygote of its own.
  path = new ZygoteStartPath({ backend, dataDir, popularity: () => 100, onWarning: (m) => process.stderr.write(`warning: ${m}\n`) });
  path.onDeploy(fn);
  await path.settled();
  const planned = path.plan!.kept.map((n) => Object.keys(n.packages).join(', '));
  process.stdout.write(`zygote set: ${planned.join(' | ')}\n`);
  if (!path.available(fn)) throw new Error('no zygote is ready for deps-heavy');

  // Warm-up (not counted): page cache, JIT of the host side.
  for (const make of [() => backend.create(specOf(fn)), () => path!.create(fn, specOf(fn))]) {
    const { sandbox } = await firstResponse(make, fn);
    await sandbox.destroy();
    await path.settled();
  }

  const cold: Run[] = [];
  const zygote: Run[] = [];
  const zygoteStarts: Array<StartTimings & { totalMs: number }> = [];
  const residentCgroupMb: number[] = [];
  const residentRssMb: number[] = [];
  let fallbacks = 0;
  for (let i = 0; i < RUNS; i++) {
    // A zygote is ready (the refill after the previous run finished): measure it while it waits.
    await path.settled();
    const stats = await path.stats();
    const set = stats.sets[0]!;
    if (set.lastStart) zygoteStarts.push({ ...set.lastStart, totalMs: set.lastStartMs ?? 0 });
    residentCgroupMb.push(...set.residentMb);
    for (const z of path.readyZygotes()) residentRssMb.push(vmRssMb(z.pid));

    const z = await firstResponse(() => path!.create(fn, specOf(fn)), fn);
    if ((z.sandbox as { startedAs?: string }).startedAs !== 'zygote') fallbacks += 1;
    zygote.push(z.run);
    await z.sandbox.destroy();

    const c = await firstResponse(() => backend.create(specOf(fn)), fn);
    cold.push(c.run);
    await c.sandbox.destroy();
  }
  // A cold instance's memory once it has loaded deps-heavy, for comparison.
  const idleCold = await firstResponse(() => backend.create(specOf(fn)), fn);
  const coldInstanceMb = { cgroup: await idleCold.sandbox.memoryUsageMb(), rss: vmRssMb(idleCold.sandbox.pid) };
  await idleCold.sandbox.destroy();

  const summary = (runs: Run[]) => {
    const ttfr = runs.map((r) => r.firstResponseMs);
    const med = (f: (t: StartTimings) => number) => median(runs.map((r) => f(r.timings)));
    return {
      p50: quantile(ttfr, 0.5),
      p95: quantile(ttfr, 0.95),
      mean: ttfr.reduce((s, x) => s + x, 0) / ttfr.length,
      phases: {
        sandboxMs: med((t) => t.sandboxMs),
        runtimeBootMs: med((t) => t.runtimeBootMs + (t.agentSetupMs ?? 0)),
        importMs: med((t) => t.importMs),
        initMs: med((t) => t.initMs),
        execMs: median(runs.map((r) => r.execMs)),
      },
      samples: ttfr,
    };
  };
  const coldSummary = summary(cold);
  const zygoteSummary = summary(zygote);
  const speedupP50 = coldSummary.p50 / zygoteSummary.p50;
  const speedupP95 = coldSummary.p95 / zygoteSummary.p95;
  const f = (x: number) => x.toFixed(1);
  printTable(
    `deps-heavy: time to first response over ${RUNS} runs each, ms (sandboxes: ${backend.name}; phases are medians)`,
    ['start', 'p50', 'p95', 'mean', 'sandbox', 'runtime boot', 'import', 'init', 'exec'],
    [
      ['cold', f(coldSummary.p50), f(coldSummary.p95), f(coldSummary.mean), f(coldSummary.phases.sandboxMs), f(coldSummary.phases.runtimeBootMs), f(coldSummary.phases.importMs), f(coldSummary.phases.initMs), f(coldSummary.phases.execMs)],
      ['zygote', f(zygoteSummary.p50), f(zygoteSummary.p95), f(zygoteSummary.mean), f(zygoteSummary.phases.sandboxMs), f(zygoteSummary.phases.runtimeBootMs), f(zygoteSummary.phases.importMs), f(zygoteSummary.phases.initMs), f(zygoteSummary.phases.execMs)],
    ],
  );
  const zmed = (k: keyof StartTimings | 'totalMs') => median(zygoteStarts.map((t) => (t[k as keyof typeof t] as number | undefined) ?? 0));
  printTable(
    `the zygote's own start (in the background, ${zygoteStarts.length} refills; medians, ms) and memory`,
    ['sandbox', 'runtime boot', 'agent setup', 'import (8 packages)', 'total', 'cgroup MB', 'RSS MB', 'cold instance cgroup / RSS MB'],
    [[f(zmed('sandboxMs')), f(zmed('runtimeBootMs')), f(zmed('agentSetupMs')), f(zmed('importMs')), f(zmed('totalMs')), f(median(residentCgroupMb)), f(median(residentRssMb)), `${f(coldInstanceMb.cgroup)} / ${f(coldInstanceMb.rss)}`]],
  );
  const goal = speedupP50 >= 4;
  process.stdout.write(`\nspeed-up, cold / zygote: p50 ${speedupP50.toFixed(1)}×, p95 ${speedupP95.toFixed(1)}× — goal (≥ 4× at p50): ${goal ? 'met' : 'NOT met'}${fallbacks ? `; ${fallbacks} zygote runs fell back to cold` : ''}\n`);
  writeJson(args.out!, {
    example: 'deps-heavy',
    runs: RUNS,
    isolation: backend.name,
    zygoteSet: path.plan!.kept.map((n) => n.packages),
    cold: coldSummary,
    zygote: zygoteSummary,
    speedup: { p50: speedupP50, p95: speedupP95, goal: '≥ 4× at p50', met: goal },
    zygoteStart: {
      medians: { sandboxMs: zmed('sandboxMs'), runtimeBootMs: zmed('runtimeBootMs'), agentSetupMs: zmed('agentSetupMs'), importMs: zmed('importMs'), totalMs: zmed('totalMs') },
      samples: zygoteStarts,
    },
    memory: { zygoteCgroupMb: median(residentCgroupMb), zygoteRssMb: median(residentRssMb), coldInstanceCgroupMb: coldInstanceMb.cgroup, coldInstanceRssMb: coldInstanceMb.rss, zygoteLimitMb: fn.memoryMb },
    fallbacks,
  });
} finally {
  await path?.close();
  store.close();
  if (path && !path.rootDir.startsWith(dataDir)) rmSync(path.rootDir, { recursive: true, force: true });
  rmSync(dataDir, { recursive: true, force: true });
}
