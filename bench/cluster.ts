// Cluster mode on this machine, each figure beside a baseline measured in the same run:
//  1. sync throughput and latency p50/p99 of warm invocations with 1, 2 and 3 invoker nodes
//     (`thaw serve --cluster`, a real nats-server), as ratios against 1 node; and the embedded
//     single-process mode (no NATS) for what the cluster's hop costs. The load generator spreads
//     its requests over every node's HTTP API and runs on the same cores as the nodes and
//     nats-server: on a 2-core machine more nodes add processes, not cores, so this measures the
//     cluster's overhead and its load spreading, not the scaling a machine per node would give.
//     Every node gets --node-memory (default 8 GB), enough for the instances the load keeps busy
//     at once (up to 6 per function, 24 × 256 MB, when cold starts make the mix uneven). One more
//     row runs 1 node at --thrash-memory (default 4 GB, serve's default budget): there a function
//     needing one instance more than it has evicts another's idle one, which then starts cold in
//     turn, and most requests start cold — the earlier "1 node is 27 % warm" (docs/cluster.md).
//  2. the warm-hit ratio of routing — bounded-load consistent hashing (chbl) against random and
//     round-robin — on a slice of the Azure sample, `thaw replay --url` against a live cluster of
//     --servers nodes started with `--cluster-routing R`, beside the simulator on the same slice
//     (`--servers`, `--placement R`: the same routing code).
//
//   node --import tsx bench/cluster.ts [--requests 2000] [--concurrency 16] [--functions 4] [--nodes 1,2,3]
//        [--node-memory 8GB] [--thrash-memory 4GB|none] [--isolation process]
//        [--replay-functions 40] [--replay-seed 1] [--replay-minutes 10] [--speedup 5] [--servers 3] [--memory 2GB]
//        [--policy ttl] [--routing-only] [--out out/bench/cluster.json]

import { spawn } from 'node:child_process';
import { request, Agent } from 'node:http';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { parseMemory } from '../src/cli/units.ts';
import { sliceTrace } from '../src/cli/commands/replay-run.ts';
import { REPLAY_TIMEOUT_MS } from '../src/cli/commands/replay-sim.ts';
import { ROUTING_POLICIES } from '../src/policies/placement/index.ts';
import { runSimulation } from '../src/sim/run.ts';
import { DEFAULT_TRACE_DIR, openTrace } from '../src/sim/traces/index.ts';
import { startCluster, until } from '../test/helpers/cluster.ts';
import { NatsServer } from '../test/helpers/nats-server.ts';
import { BIN, EXAMPLES, ThawServer } from '../test/e2e/harness.ts';
import { printTable, writeJson } from './lib.ts';

const { values: args } = parseArgs({
  options: {
    requests: { type: 'string', default: '2000' },
    concurrency: { type: 'string', default: '16' },
    functions: { type: 'string', default: '4' },
    nodes: { type: 'string', default: '1,2,3' },
    'node-memory': { type: 'string', default: '8GB' },
    'thrash-memory': { type: 'string', default: '4GB' },
    isolation: { type: 'string', default: 'process' },
    'replay-functions': { type: 'string', default: '40' },
    'replay-minutes': { type: 'string', default: '10' },
    'replay-seed': { type: 'string', default: '1' },
    speedup: { type: 'string', default: '5' },
    servers: { type: 'string', default: '3' },
    memory: { type: 'string', default: '2GB' },
    policy: { type: 'string', default: 'ttl' },
    trace: { type: 'string', default: DEFAULT_TRACE_DIR },
    'routing-only': { type: 'boolean', default: false },
    out: { type: 'string', default: 'out/bench/cluster.json' },
  },
});
const REQUESTS = Number(args.requests);
const CONCURRENCY = Number(args.concurrency);
const FUNCTIONS = Array.from({ length: Number(args.functions) }, (_, i) => `hello-${i}`);
const NODE_COUNTS = args.nodes!.split(',').map(Number);
const NODE_MEMORY = `${parseMemory(args['node-memory']!)}MB`;
const THRASH_MEMORY = args['thrash-memory'] === 'none' ? undefined : `${parseMemory(args['thrash-memory']!)}MB`;

// ------------------------------------------------------------------ 1. sync throughput

const agent = new Agent({ keepAlive: true, maxSockets: 256 });

function post(url: string, body: string): Promise<{ ms: number; status: number; body: string; startKind: string }> {
  return new Promise((resolve, reject) => {
    const start = performance.now();
    const req = request(url, { method: 'POST', agent, headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d) => (text += d));
      res.on('end', () => resolve({ ms: performance.now() - start, status: res.statusCode ?? 0, body: text, startKind: String(res.headers['x-thaw-start-kind']) }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

function quantile(xs: number[], q: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))]!;
}

/** `total` requests, `concurrency` in flight, request i to node i mod n and function i mod f. */
async function load(urls: string[], total: number, concurrency: number): Promise<{ latencies: number[]; perSecond: number; startKinds: Record<string, number> }> {
  const latencies: number[] = [];
  const startKinds: Record<string, number> = {};
  let next = 0;
  const start = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      for (let i = next++; i < total; i = next++) {
        const url = `${urls[i % urls.length]}/functions/${FUNCTIONS[i % FUNCTIONS.length]}/invoke`;
        const r = await post(url, '{"name":"bench"}');
        if (r.status !== 200) throw new Error(`HTTP ${r.status} from ${url}: ${r.body}`);
        latencies.push(r.ms);
        startKinds[r.startKind] = (startKinds[r.startKind] ?? 0) + 1;
      }
    }),
  );
  return { latencies, perSecond: (total / (performance.now() - start)) * 1000, startKinds };
}

async function deployAll(nodes: ThawServer[]): Promise<void> {
  for (const name of FUNCTIONS) {
    const res = await nodes[0]!.deploy(join(EXAMPLES, 'hello'), { name });
    if (res.status !== 201) throw new Error(`deploy ${name}: ${res.status} ${JSON.stringify(res.body)}`);
  }
  for (const node of nodes) for (const name of FUNCTIONS) await until(async () => (await node.request('GET', `/functions/${name}`)).status === 200, 60_000, `${name} on every node`);
}

interface Measured {
  setup: string;
  nodes: number;
  memory: string;
  perSecond: number;
  p50: number;
  p99: number;
  /** Share of the measured invocations that found a warm instance. */
  warm: number;
  /** Start kinds of the measured invocations (x-thaw-start-kind). */
  startKinds: Record<string, number>;
  /** Where the invocations ran (cluster records), node → count. */
  ranOn?: Record<string, number>;
}

async function measure(setup: string, nodes: ThawServer[], memory: string, clustered: boolean): Promise<Measured> {
  await deployAll(nodes);
  const urls = nodes.map((n) => n.url);
  await load(urls, Math.min(REQUESTS, 20 * FUNCTIONS.length * nodes.length), CONCURRENCY); // warm up: instances on their home nodes
  const { latencies, perSecond, startKinds } = await load(urls, REQUESTS, CONCURRENCY);
  const measured: Measured = { setup, nodes: nodes.length, memory, perSecond, p50: quantile(latencies, 0.5), p99: quantile(latencies, 0.99), warm: (startKinds.warm ?? 0) / REQUESTS, startKinds };
  if (clustered) {
    const ranOn: Record<string, number> = {};
    for (const name of FUNCTIONS) {
      for (const record of (await nodes[0]!.request('GET', `/functions/${name}/invocations?limit=1000`)).body.invocations) ranOn[record.node] = (ranOn[record.node] ?? 0) + 1;
    }
    measured.ranOn = ranOn;
  }
  return measured;
}

async function measureCluster(nats: NatsServer, count: number, memory: string, setup: string): Promise<Measured> {
  const { nodes } = await startCluster(nats, count, ['--isolation', args.isolation!, '--memory', memory]);
  try {
    return await measure(setup, nodes, memory, true);
  } finally {
    await Promise.all(nodes.map((n) => n.stop()));
  }
}

const sync: Measured[] = [];
const nats = await NatsServer.start();
try {
  if (!args['routing-only']) {
    const single = await ThawServer.start(['--isolation', args.isolation!, '--memory', NODE_MEMORY]);
    try {
      sync.push(await measure('embedded (no cluster)', [single], NODE_MEMORY, false));
    } finally {
      await single.stop();
    }
    for (const count of NODE_COUNTS) sync.push(await measureCluster(nats, count, NODE_MEMORY, `cluster, ${count} node${count > 1 ? 's' : ''}`));
    if (THRASH_MEMORY) sync.push(await measureCluster(nats, 1, THRASH_MEMORY, `cluster, 1 node at ${args['thrash-memory']}`));
    const base = sync.find((m) => m.setup === 'cluster, 1 node') ?? sync[0]!;
    printTable(
      `sync invocations of ${FUNCTIONS.length} functions, ${REQUESTS} requests, concurrency ${CONCURRENCY}, --isolation ${args.isolation} (load generator, nats-server and nodes share the cores)`,
      ['setup', 'memory/node', 'req/s', '× 1 node', 'p50 ms', 'p99 ms', 'p99 × 1 node', 'warm', 'start kinds', 'ran on (last 1000 per function)'],
      sync.map((m) => [
        m.setup, m.memory, m.perSecond.toFixed(0), (m.perSecond / base.perSecond).toFixed(2), m.p50.toFixed(1), m.p99.toFixed(1), (m.p99 / base.p99).toFixed(2), m.warm.toFixed(3),
        Object.entries(m.startKinds).sort().map(([k, c]) => `${k} ${c}`).join(', '),
        m.ranOn ? Object.entries(m.ranOn).sort().map(([n, c]) => `${n} ${c}`).join(', ') : '-',
      ]),
    );
  }

  // ---------------------------------------------------------------- 2. routing on a replayed slice

  const SERVERS = Number(args.servers);
  const MEMORY_MB = parseMemory(args.memory!);
  const replayArgs = ['--functions', args['replay-functions']!, '--seed', args['replay-seed']!, '--minutes', args['replay-minutes']!, '--speedup', args.speedup!, '--policy', args.policy!, '--memory', `${MEMORY_MB}MB`, '--trace', args.trace!];
  const slice = sliceTrace(openTrace(args.trace!), { functions: Number(args['replay-functions']), seed: Number(args['replay-seed']), minutes: Number(args['replay-minutes']) });
  const routing = [];
  for (const router of ROUTING_POLICIES) {
    const sim = runSimulation(slice.trace, { policy: args.policy!, memoryMb: MEMORY_MB, servers: SERVERS, placement: router, unplaceable: 'queue', queueTimeoutMs: REPLAY_TIMEOUT_MS }).summary;
    const { nodes } = await startCluster(nats, SERVERS, ['--isolation', args.isolation!, '--memory', `${MEMORY_MB}MB`, '--keep-alive', args.policy!, '--clock', 'wall', '--time-scale', args.speedup!, '--pause-after', '0', '--cluster-routing', router]);
    try {
      const replayed = await thawReplay([...replayArgs, '--url', nodes[0]!.url]);
      const p = replayed.platform;
      const ranOn: Record<string, number> = {};
      for (const id of replayed.slice.functions) {
        const listed = await nodes[0]!.request('GET', `/functions/${id}/invocations?limit=1000`).catch(() => undefined);
        if (!listed) ranOn.unread = (ranOn.unread ?? 0) + 1; // functions whose records could not be listed
        for (const record of listed?.body.invocations ?? []) ranOn[record.node] = (ranOn[record.node] ?? 0) + 1;
      }
      routing.push({
        router,
        platform: { warmHitRatio: p.warm / Math.max(1, p.warm + p.cold), warm: p.warm, cold: p.cold, dropped: p.dropped, failed: p.failed, ranOn },
        simulator: { warmHitRatio: sim.warm / Math.max(1, sim.warm + sim.cold), warm: sim.warm, cold: sim.cold, dropped: sim.dropped, spread: sim.loadSpread?.maxOverMeanInvocations },
      });
    } finally {
      await Promise.all(nodes.map((n) => n.stop()));
    }
  }
  const chbl = routing.find((r) => r.router === 'chbl')!;
  printTable(
    `routing: ${slice.trace.name} (${slice.arrivals.length} invocations), thaw replay --url against ${SERVERS} nodes × ${args.memory} (--speedup ${args.speedup}), beside the simulator (--servers ${SERVERS} --placement R), ${args.policy} keep-alive`,
    ['router', 'platform warm-hit', '× chbl', 'cold', 'dropped', 'failed', 'ran on', 'simulator warm-hit', '× chbl', 'cold', 'dropped', 'spread'],
    routing.map((r) => [
      r.router, r.platform.warmHitRatio.toFixed(3), (r.platform.warmHitRatio / chbl.platform.warmHitRatio).toFixed(3), r.platform.cold, r.platform.dropped, r.platform.failed,
      Object.entries(r.platform.ranOn).sort().map(([n, c]) => `${n} ${c}`).join(', '),
      r.simulator.warmHitRatio.toFixed(3), (r.simulator.warmHitRatio / chbl.simulator.warmHitRatio).toFixed(3), r.simulator.cold, r.simulator.dropped, r.simulator.spread?.toFixed(2) ?? '-',
    ]),
  );
  writeJson(args.out!, {
    requests: REQUESTS, concurrency: CONCURRENCY, functions: FUNCTIONS.length, isolation: args.isolation, nodeMemory: NODE_MEMORY, thrashMemory: THRASH_MEMORY, sync, baseline: 'cluster, 1 node',
    routing: { trace: slice.trace.name, invocations: slice.arrivals.length, servers: SERVERS, memory: args.memory, policy: args.policy, speedup: Number(args.speedup), command: `thaw replay ${replayArgs.join(' ')} --url NODE`, results: routing },
    note: "the load generator, nats-server and every node share this machine's cores",
  });
} finally {
  await nats.stop();
}

/** `thaw replay ... --json`, the CLI itself, against a running server. */
function thawReplay(argv: string[]): Promise<any> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, 'replay', ...argv, '--json'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (err += d));
    child.on('exit', (code) => (code === 0 ? resolve(JSON.parse(out)) : reject(new Error(`thaw replay exited ${code}: ${err.slice(-2000)}`))));
  });
}
