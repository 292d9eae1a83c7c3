// MicroVM starts, for the examples: cold boot vs restores from a VM snapshot, lazy (QEMU's own
// on-demand paging: 2 MiB reads), lazy-4k (the same with 4 KiB faults, a fairer baseline for the
// byte count), REAP and FaaSnap, with the snapshot's files evicted from the page cache before
// every start. Per mode, p50 over the runs: time to first response (QEMU spawned → the first
// invocation answered), time to the guest running, bytes read from the snapshot, major faults,
// the first invocation's execution time inside the guest, and QEMU's resident set after it (its
// anonymous part: what the instance holds alone; the rest is shared page cache and QEMU's binary). Also REAP's record phase (the first
// restore, recording the working set) and the working set's drift over later invocations.
// Goals, as ratios in the same run: REAP and FaaSnap read >= 3x fewer bytes than lazy and answer
// first sooner; FaaSnap at least as fast as REAP.
//
// With --export FILE it writes the start costs `thaw sim --start-costs FILE --start-path snapshot`
// reads: per example, the p50 cold boot and the p50 restore in --export-mode (default faasnap).
//
//   node --import tsx bench/vm-restore.ts [--runs 5] [--examples hello,init-heavy] [--out out/bench/vm-restore.json]
//                                         [--export out/vm-start-costs.json] [--export-mode lazy|reap|faasnap]

import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

import { deployFunction } from '../src/platform/deploy/index.ts';
import { toDeployed } from '../src/platform/function.ts';
import { MicroVmBackend, microVmUnavailable } from '../src/platform/sandbox/microvm/backend.ts';
import { type GuestRamAdvice, type MicroVmSandbox, RESTORE_MODES, type RestoreMode, type VmLaunch } from '../src/platform/sandbox/microvm/sandbox.ts';
import { dropFromPageCache } from '../src/platform/sandbox/microvm/vmtool.ts';
import type { SandboxSpec } from '../src/platform/sandbox/types.ts';
import { Store } from '../src/platform/store/index.ts';
import type { StartCosts } from '../src/sim/calibration.ts';
import { median, printTable, writeJson } from './lib.ts';

const { values: args } = parseArgs({
  options: {
    runs: { type: 'string', default: '5' },
    examples: { type: 'string', default: 'hello,ts-hello,init-heavy,deps-heavy' },
    drift: { type: 'string', default: '5' },
    out: { type: 'string', default: 'out/bench/vm-restore.json' },
    export: { type: 'string' },
    'export-mode': { type: 'string', default: 'faasnap' },
  },
});
const EXPORT_MODE = args['export-mode'] as RestoreMode;
if (!RESTORE_MODES.includes(EXPORT_MODE)) {
  process.stderr.write(`bench/vm-restore: --export-mode must be one of ${RESTORE_MODES.join(', ')}\n`);
  process.exit(2);
}
const RUNS = Number(args.runs);
const DRIFT = Number(args.drift);
const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');

const unavailable = microVmUnavailable();
if (unavailable) {
  process.stderr.write(`bench/vm-restore: ${unavailable}\n`);
  process.exit(2);
}

const dataDir = mkdtempSync(join(tmpdir(), 'thaw-bench-vm-'));
const store = Store.open(dataDir, { synchronous: 'normal' });
const backend = await MicroVmBackend.create({ dataDir, cacheDir: (process.env.THAW_VM_CACHE || undefined) ?? join(tmpdir(), 'thaw-vm-test-cache'), dropPageCache: true, log: (l) => process.stdout.write(`${l}\n`) });
process.stdout.write(`accelerator: ${backend.qemu.accel} (${backend.qemu.accelReason})\n`);

interface Sample {
  firstResponseMs: number;
  runningMs: number;
  bytesRead: number;
  majorFaults: number;
  execMs: number;
  /** QEMU's resident set after the first response, and its anonymous (private) part, MB. */
  rssMb: number;
  anonMb: number;
}

type Row = 'cold boot' | 'lazy' | 'lazy-4k' | 'reap' | 'faasnap';
const MODES: { row: Row; mode: RestoreMode; advice: GuestRamAdvice }[] = [
  { row: 'lazy', mode: 'lazy', advice: 'hugepage' },
  { row: 'lazy-4k', mode: 'lazy', advice: 'random' },
  { row: 'reap', mode: 'reap', advice: 'random' },
  { row: 'faasnap', mode: 'faasnap', advice: 'random' },
];

let seq = 0;
async function measure(spec: SandboxSpec, launch: VmLaunch, payload: unknown): Promise<{ sample: Sample; vm: MicroVmSandbox }> {
  const vm = backend.createWith({ ...spec, instanceId: `bench-vm-${process.pid}-${seq++}` }, launch);
  const t0 = performance.now();
  await vm.start();
  const out = await vm.invoke(payload, { invocationId: `b${seq}`, functionName: spec.functionName, version: spec.version, memoryMb: spec.memoryMb, deadlineMs: Date.now() + 120_000 }, 120_000);
  const firstResponseMs = performance.now() - t0;
  if (!out.ok) throw new Error(`${spec.functionName}: ${JSON.stringify(out.error)}`);
  const counters = launch.kind === 'restore' ? await vm.restoreCounters() : undefined;
  const status = readFileSync(`/proc/${vm.pid}/status`, 'utf8');
  const kb = (key: string) => Number(new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? Number.NaN);
  return {
    vm,
    sample: {
      firstResponseMs,
      runningMs: vm.restoreReport?.timeToRunningMs ?? Number.NaN,
      bytesRead: counters?.bytesRead ?? Number.NaN,
      majorFaults: counters?.majorFaults ?? Number.NaN,
      execMs: out.durationMs,
      rssMb: kb('VmRSS') / 1024,
      anonMb: kb('RssAnon') / 1024,
    },
  };
}

function p50(samples: Sample[]): Sample {
  const pick = (k: keyof Sample) => median(samples.map((s) => s[k]));
  return {
    firstResponseMs: pick('firstResponseMs'),
    runningMs: pick('runningMs'),
    bytesRead: pick('bytesRead'),
    majorFaults: pick('majorFaults'),
    execMs: pick('execMs'),
    rssMb: pick('rssMb'),
    anonMb: pick('anonMb'),
  };
}

const MB = 1024 * 1024;
const results: Record<string, unknown>[] = [];
const rows: Array<Array<string | number>> = [];
for (const name of (args.examples ?? '').split(',').filter(Boolean)) {
  const fn = toDeployed((await deployFunction(store, join(ROOT, 'examples', name), { name })).version);
  const spec: SandboxSpec = { instanceId: `bench-${name}`, functionName: name, version: fn.version, codeDir: fn.codeDir, memoryMb: fn.memoryMb, env: fn.env, network: fn.network };
  const payload = { name: 'bench' };
  process.stdout.write(`${name}: cold boots…\n`);
  const bySample: Record<Row, Sample[]> = { 'cold boot': [], lazy: [], 'lazy-4k': [], reap: [], faasnap: [] };
  const initrd = await backend.initrd(spec);
  for (let i = 0; i < RUNS; i++) {
    await dropFromPageCache(backend.tools, [initrd, backend.image.kernel]);
    const { sample, vm } = await measure(spec, { kind: 'boot' }, payload);
    bySample['cold boot'].push(sample);
    await vm.destroy();
  }
  process.stdout.write(`${name}: snapshot…\n`);
  const snap = await backend.buildSnapshot(spec);

  // REAP's record phase: the first reap restore records the working set.
  const recordLaunch = await backend.restoreLaunch(snap, 'reap');
  const rec = await measure(spec, recordLaunch, payload);
  const recordWriteStart = performance.now();
  await rec.vm.workingSetSaved;
  const recordWriteMs = performance.now() - recordWriteStart;
  // Drift: pages first touched by later invocations of the recording VM (same and new payloads).
  for (let i = 0; i < DRIFT; i++) {
    await rec.vm.invoke(i % 2 === 0 ? payload : { name: `other-${i}` }, { invocationId: `d${i}`, functionName: name, version: fn.version, memoryMb: fn.memoryMb, deadlineMs: Date.now() + 60_000 }, 60_000);
  }
  const drift = [...rec.vm.driftPages];
  await rec.vm.destroy();
  const recorded = (await backend.store.load(name, fn.version, fn.memoryMb))!;
  const ws = recorded.workingSet!;

  for (let i = 0; i < RUNS; i++) {
    for (const m of MODES) {
      const launch = await backend.restoreLaunch(recorded, m.mode);
      if (launch.kind !== 'restore') throw new Error('expected a restore');
      launch.advice = m.advice;
      const { sample, vm } = await measure(spec, launch, payload);
      bySample[m.row].push(sample);
      await vm.destroy();
    }
  }

  const summary = Object.fromEntries(Object.entries(bySample).map(([row, samples]) => [row, p50(samples)])) as Record<Row, Sample>;
  const ratios = {
    bytesLazyOverReap: summary.lazy.bytesRead / summary.reap.bytesRead,
    bytesLazyOverFaasnap: summary.lazy.bytesRead / summary.faasnap.bytesRead,
    firstResponseLazyOverReap: summary.lazy.firstResponseMs / summary.reap.firstResponseMs,
    firstResponseLazyOverFaasnap: summary.lazy.firstResponseMs / summary.faasnap.firstResponseMs,
    firstResponseReapOverFaasnap: summary.reap.firstResponseMs / summary.faasnap.firstResponseMs,
    firstResponseColdOverFaasnap: summary['cold boot'].firstResponseMs / summary.faasnap.firstResponseMs,
  };
  for (const row of ['cold boot', 'lazy', 'lazy-4k', 'reap', 'faasnap'] as Row[]) {
    const s = summary[row];
    rows.push([
      name,
      row,
      s.firstResponseMs.toFixed(0),
      Number.isNaN(s.runningMs) ? '-' : s.runningMs.toFixed(0),
      Number.isNaN(s.bytesRead) ? '-' : (s.bytesRead / MB).toFixed(1),
      Number.isNaN(s.majorFaults) ? '-' : s.majorFaults,
      s.execMs.toFixed(1),
      s.rssMb.toFixed(0),
      s.anonMb.toFixed(0),
    ]);
  }
  const r = rec.sample;
  rows.push([name, 'record (reap #1)', r.firstResponseMs.toFixed(0), r.runningMs.toFixed(0), (r.bytesRead / MB).toFixed(1), r.majorFaults, r.execMs.toFixed(1), r.rssMb.toFixed(0), r.anonMb.toFixed(0)]);
  results.push({
    name,
    memoryMb: fn.memoryMb,
    guestMemoryMb: snap.manifest.guestMemoryMb,
    snapshot: { memoryBytes: snap.manifest.memory.bytes, dataBytes: snap.manifest.memory.dataBytes, stateBytes: snap.manifest.state.bytes, build: snap.manifest.build },
    workingSet: { ...ws.stats, wsFileBytes: ws.ws.bytes, loadsetBytes: ws.loadset.bytes },
    record: { ...rec.sample, writeMs: recordWriteMs, overheadOverLazy4kMs: rec.sample.firstResponseMs - summary['lazy-4k'].firstResponseMs },
    driftPages: drift,
    p50: summary,
    samples: bySample,
    ratios,
  });
}

printTable(
  `microVM starts (p50 of ${RUNS}; page cache of snapshot files dropped before each; ${backend.qemu.accel.toUpperCase()})`,
  ['example', 'start', 'first response ms', 'running ms', 'read MB', 'major faults', 'exec ms', 'RSS MB', 'anon MB'],
  rows,
);
printTable(
  'working sets and ratios (goals: lazy/reap and lazy/faasnap bytes >= 3; first response lazy/x > 1; reap/faasnap >= 1)',
  ['example', 'snapshot data MB', 'ws pages', 'zero pages', 'ws MB', 'drift pages', 'bytes lazy/reap', 'bytes lazy/faasnap', 'first lazy/reap', 'first lazy/faasnap', 'first reap/faasnap', 'cold/faasnap'],
  results.map((r: any) => [
    r.name,
    (r.snapshot.dataBytes / MB).toFixed(0),
    r.workingSet.pages,
    r.workingSet.zeroPages,
    (r.workingSet.wsFileBytes / MB).toFixed(1),
    r.driftPages.join('+'),
    r.ratios.bytesLazyOverReap.toFixed(1),
    r.ratios.bytesLazyOverFaasnap.toFixed(1),
    r.ratios.firstResponseLazyOverReap.toFixed(2),
    r.ratios.firstResponseLazyOverFaasnap.toFixed(2),
    r.ratios.firstResponseReapOverFaasnap.toFixed(2),
    r.ratios.firstResponseColdOverFaasnap.toFixed(1),
  ]),
);
writeJson(args.out!, { runs: RUNS, accel: backend.qemu.accel, accelReason: backend.qemu.accelReason, qemu: backend.qemu.version, results });
if (args.export) {
  const functions: StartCosts['functions'] = {};
  for (const r of results as { name: string; p50: Record<Row, Sample> }[]) {
    functions[r.name] = { cold: r.p50['cold boot'].firstResponseMs, snapshot: r.p50[EXPORT_MODE].firstResponseMs };
  }
  const costs: StartCosts = { version: 1, source: `bench/vm-restore.ts, microVMs on ${backend.qemu.accel}, snapshot = ${EXPORT_MODE} restore, ${RUNS} runs, ${new Date().toISOString()}`, functions };
  mkdirSync(dirname(resolve(args.export)), { recursive: true });
  writeFileSync(args.export, `${JSON.stringify(costs, null, 2)}\n`);
  process.stdout.write(`wrote ${args.export} (thaw sim --start-costs ${args.export} --start-path snapshot)\n`);
}
store.close();
