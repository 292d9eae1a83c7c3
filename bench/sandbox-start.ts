// A cold sandbox start of `hello` (start() and its first invocation) in every sandbox backend this
// machine offers, beside its baseline measured in the same run, interleaved: spawning `node` that
// requires the same bundle, runs init() and the handler (bench/lib.ts directNodeStart). The ratio
// is issue 15's goal for cold starts (within 1.3× of spawning node directly); the phases say where
// thaw's part goes: the sandbox phase (of it, creating the cgroup), the runtime's boot, the import.
// `container (stem)` starts each instance in a stem (stem-pool.ts: a container and cgroup made
// ahead); the pool refills between runs (as it does in the background between cold starts).
//
//   node --import tsx bench/sandbox-start.ts [--runs 11] [--out out/bench/sandbox-start.json]

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

import { createSandboxBackend, detectIsolation, type IsolationMode } from '../src/platform/sandbox/index.ts';
import type { LeanContainerBackend } from '../src/platform/sandbox/lean-container.ts';
import type { SandboxBackend, StartTimings } from '../src/platform/sandbox/types.ts';
import { directNodeStart, median, printTable, writeJson } from './lib.ts';

const { values: args } = parseArgs({
  options: {
    runs: { type: 'string', default: '11' },
    out: { type: 'string', default: 'out/bench/sandbox-start.json' },
  },
});
const RUNS = Number(args.runs);
const CODE_DIR = resolve(fileURLToPath(new URL('../test/fixtures/functions/hello', import.meta.url)));

interface Sample {
  totalMs: number;
  timings: StartTimings;
}

let seq = 0;
async function coldStart(backend: SandboxBackend): Promise<Sample> {
  await (backend as Partial<LeanContainerBackend>).stems?.filled();
  seq += 1;
  const id = `bench-start-${process.pid}-${seq}`;
  const sandbox = backend.create({ instanceId: id, functionName: 'hello', version: 1, codeDir: CODE_DIR, memoryMb: 128, env: {}, network: false });
  const t0 = performance.now();
  try {
    const timings = await sandbox.start();
    const out = await sandbox.invoke({ name: 'bench' }, { invocationId: id, functionName: 'hello', version: 1, memoryMb: 128, deadlineMs: Date.now() + 30_000 }, 30_000);
    if (!out.ok) throw new Error(`hello failed: ${JSON.stringify(out.error)}`);
    return { totalMs: performance.now() - t0, timings };
  } finally {
    await sandbox.destroy();
    // The refill this start triggered must not overlap the next measurement (of any row).
    await (backend as Partial<LeanContainerBackend>).stems?.filled();
  }
}

async function main(): Promise<void> {
  const dataDir = mkdtempSync(join(tmpdir(), 'thaw-bench-start-'));
  try {
    const detected = await detectIsolation();
    const modes: IsolationMode[] = ['process', ...(detected.container.ok && detected.cgroups.driver ? (['container'] as const) : [])];
    const backends = await Promise.all(modes.map((isolation) => createSandboxBackend({ isolation, dataDir })));
    const labels = backends.map((b) => b.name);
    if (modes.includes('container')) {
      backends.push(await createSandboxBackend({ isolation: 'container', dataDir, stemPoolSize: 1 }));
      labels.push('container (stem)');
    }
    const direct: number[] = [];
    const samples = backends.map(() => [] as Sample[]);
    // One warm-up of each (the agent bundle, page cache), then interleaved runs.
    await directNodeStart(join(CODE_DIR, 'bundle.cjs'));
    for (const b of backends) await coldStart(b);
    for (let run = 0; run < RUNS; run++) {
      direct.push(await directNodeStart(join(CODE_DIR, 'bundle.cjs')));
      for (const [i, b] of backends.entries()) samples[i]!.push(await coldStart(b));
    }
    const directMs = median(direct);
    const results = backends.map((b, i) => {
      const s = samples[i]!;
      const phase = (f: (t: StartTimings) => number) => median(s.map((x) => f(x.timings)));
      return {
        backend: labels[i]!,
        totalMs: median(s.map((x) => x.totalMs)),
        ratio: median(s.map((x) => x.totalMs)) / directMs,
        sandboxMs: phase((t) => t.sandboxMs),
        cgroupMs: phase((t) => t.cgroupMs ?? 0),
        runtimeBootMs: phase((t) => t.runtimeBootMs),
        agentSetupMs: phase((t) => t.agentSetupMs ?? 0),
        importMs: phase((t) => t.importMs),
        initMs: phase((t) => t.initMs),
        // What the phases do not cover: the ready message's way back, the first invocation, the logs.
        restMs: median(s.map((x) => x.totalMs - x.timings.sandboxMs - x.timings.runtimeBootMs - (x.timings.agentSetupMs ?? 0) - x.timings.importMs - x.timings.initMs)),
      };
    });
    printTable(
      `Cold start of hello, start() + first invocation (median of ${RUNS}, interleaved), ms; baseline: spawn node, require the bundle, init(), handler(): ${directMs.toFixed(1)} ms`,
      ['backend', 'thaw', 'thaw / node direct', 'sandbox phase', 'of it: cgroup create', 'runtime boot', 'agent setup', 'import', 'init', 'rest'],
      results.map((r) => [r.backend, r.totalMs.toFixed(1), `${r.ratio.toFixed(2)}×`, r.sandboxMs.toFixed(1), r.cgroupMs.toFixed(1), r.runtimeBootMs.toFixed(1), r.agentSetupMs.toFixed(1), r.importMs.toFixed(1), r.initMs.toFixed(1), r.restMs.toFixed(1)]),
    );
    writeJson(args.out!, { runs: RUNS, directMs, results });
    await Promise.all(backends.map((b) => b.close?.()));
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
  }
}

await main();
