// What a function's own network namespace (src/platform/sandbox/netns.ts) costs a cold start, against
// a baseline measured in the same run. Lean containers of `examples/hello`, one cold start (start()
// and the first invocation: the time to a first response) per variant per round, the variants
// interleaved so they see the same machine:
//   no network      the function may not use the network: bwrap's empty namespace (the baseline)
//   host network    the function shares the host's namespace (thaw before namespaces; the fallback)
//   netns on demand its own namespace, made during the start (ip netns add, the blocks, pasta)
//   netns pooled    its own namespace, taken from a pool filled ahead of need
// Also: the namespace's setup alone, and the memory its pasta holds (proportional set size).
//
//   node --import tsx bench/netns.ts [--runs 20] [--out out/bench/netns.json]

import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { deployFunction } from '../src/platform/deploy/index.ts';
import { toDeployed } from '../src/platform/function.ts';
import { ensureAgentBundle } from '../src/platform/sandbox/agent-bundle.ts';
import { detectLeanContainers, type LeanContainerDetection } from '../src/platform/sandbox/bubblewrap.ts';
import { LeanContainerBackend } from '../src/platform/sandbox/lean-container.ts';
import { detectCgroups } from '../src/platform/sandbox/cgroups.ts';
import { detectNetworkNamespaces, NetworkNamespaces } from '../src/platform/sandbox/netns.ts';
import { Store } from '../src/platform/store/index.ts';
import { median, printTable, writeJson } from './lib.ts';

const { values: args } = parseArgs({
  options: {
    runs: { type: 'string', default: '20' },
    out: { type: 'string', default: 'out/bench/netns.json' },
  },
});
const RUNS = Number(args.runs);
const HELLO = resolve(import.meta.dirname, '../examples/hello');

const [container, network, cgroups] = await Promise.all([detectLeanContainers(), detectNetworkNamespaces(), detectCgroups()]);
if (!container.ok) throw new Error(`lean containers are unavailable here: ${container.reason}`);
if (!network.ok) throw new Error(`network namespaces are unavailable here: ${network.reason}${network.install ? ` (${network.install})` : ''}`);

const dataDir = mkdtempSync(join(tmpdir(), 'thaw-bench-netns-'));
const store = Store.open(dataDir, { synchronous: 'normal' });
const agent = await ensureAgentBundle(dataDir);
const fn = toDeployed((await deployFunction(store, HELLO, { name: 'hello' })).version);
const onDemand = new NetworkNamespaces(network.tools, { poolSize: 0 });
const pooled = new NetworkNamespaces(network.tools, { poolSize: 1 });
const backend = (networks: NetworkNamespaces | null) =>
  new LeanContainerBackend({ agentPath: agent.path, cgroups: cgroups.driver, runAs: { uid: 65534, gid: 65534 }, detection: container as LeanContainerDetection & { ok: true }, networks });

interface Variant {
  name: string;
  network: boolean;
  backend: LeanContainerBackend;
  coldMs: number[];
}
const variants: Variant[] = [
  { name: 'no network', network: false, backend: backend(null), coldMs: [] },
  { name: 'host network', network: true, backend: backend(null), coldMs: [] },
  { name: 'netns on demand', network: true, backend: backend(onDemand), coldMs: [] },
  { name: 'netns pooled', network: true, backend: backend(pooled), coldMs: [] },
];

let n = 0;
async function coldStart(v: Variant): Promise<number> {
  const sandbox = v.backend.create({ instanceId: `bench-netns-${process.pid}-${++n}`, functionName: 'hello', version: fn.version, codeDir: fn.codeDir, memoryMb: fn.memoryMb, env: fn.env, network: v.network });
  const t0 = performance.now();
  try {
    await sandbox.start();
    const out = await sandbox.invoke({}, { invocationId: `bench-${n}`, functionName: 'hello', version: fn.version, memoryMb: fn.memoryMb, deadlineMs: Date.now() + 30_000 }, 30_000);
    if (!out.ok) throw new Error(`hello failed: ${JSON.stringify(out.error)}`);
    return performance.now() - t0;
  } finally {
    await sandbox.destroy();
    // The pool refills after a start (see BubblewrapLauncher.afterStart): not during the next variant's.
    await pooled.filled();
  }
}

// Setup alone, and pasta's memory, on namespaces made outside any sandbox.
const setupMs: number[] = [];
const pastaPssKb: number[] = [];
for (let i = 0; i < Math.min(RUNS, 10); i++) {
  const ns = await onDemand.acquire();
  setupMs.push(ns.setupMs);
  const pss = /^Pss:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${ns.pastaPid}/smaps_rollup`, 'utf8'));
  if (pss) pastaPssKb.push(Number(pss[1]));
  await onDemand.release(ns);
}

try {
  for (const v of variants) await coldStart(v); // a first start of each warms the page cache
  for (let round = 0; round < RUNS; round++) {
    // Rotate the order so no variant always runs first or last in a round.
    for (let i = 0; i < variants.length; i++) {
      const v = variants[(round + i) % variants.length]!;
      v.coldMs.push(await coldStart(v));
    }
  }
} finally {
  await Promise.all([onDemand.close(), pooled.close()]);
  store.close();
  rmSync(dataDir, { recursive: true, force: true });
}

const p95 = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(0.95 * xs.length))]!;
const base = median(variants[0]!.coldMs);
const rows = variants.map((v) => [v.name, median(v.coldMs).toFixed(1), p95(v.coldMs).toFixed(1), (median(v.coldMs) / base).toFixed(2)]);
printTable(`cold start of hello in a lean container (start + first invocation), ${RUNS} rounds`, ['variant', 'p50 ms', 'p95 ms', 'p50 / no network'], rows);
printTable('a network namespace alone', ['what', 'p50', 'p95'], [
  ['setup (ip netns add, blocks, pasta), ms', median(setupMs).toFixed(1), p95(setupMs).toFixed(1)],
  ['pasta memory (PSS), MB', (median(pastaPssKb) / 1024).toFixed(1), (p95(pastaPssKb) / 1024).toFixed(1)],
]);
writeJson(args.out!, {
  runs: RUNS,
  variants: Object.fromEntries(variants.map((v) => [v.name, { coldMs: v.coldMs, p50: median(v.coldMs), p95: p95(v.coldMs), ratio: median(v.coldMs) / base }])),
  setupMs,
  pastaPssKb,
});
