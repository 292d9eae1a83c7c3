// Cluster mode on this machine, each figure beside a baseline measured in the same run:
//  1. sync throughput and latency p50/p99 of warm invocations with 1, 2 and 3 invoker nodes
//     (`thaw serve --cluster`, a real nats-server), as ratios against 1 node; and the embedded
//     single-process mode (no NATS) for what the cluster's hop costs. The load generator spreads
//     its requests over every node's HTTP API and runs on the same cores as the nodes and
//     nats-server: on a 2-core machine more nodes add processes, not cores, so this measures the
//     cluster's overhead and its load spreading, not the scaling a machine per node would give.
//  2. the warm-hit ratio of routing — bounded-load consistent hashing (chbl) against random and
//     round-robin — on a slice of the Azure sample, in the simulator (`thaw sim --placement`, the
//     same routing code the cluster runs). `thaw replay --url` against the live cluster is the
//     core engineer's (issue 11); until it lands the slice is not replayed against the cluster.
//
//   node --import tsx bench/cluster.ts [--requests 2000] [--concurrency 16] [--functions 4] [--nodes 1,2,3]
//        [--isolation process] [--minutes 60] [--memory 16GB] [--policy ttl] [--out out/bench/cluster.json]

import { request, Agent } from 'node:http';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import type { ArrivalBatch, Trace } from '../src/core/trace.ts';
import { parseMemory } from '../src/cli/units.ts';
import { ROUTING_POLICIES } from '../src/policies/placement/index.ts';
import { runSimulation } from '../src/sim/run.ts';
import { DEFAULT_TRACE_DIR, openTrace } from '../src/sim/traces/index.ts';
import { startCluster, until } from '../test/helpers/cluster.ts';
import { NatsServer } from '../test/helpers/nats-server.ts';
import { EXAMPLES, ThawServer } from '../test/e2e/harness.ts';
import { printTable, writeJson } from './lib.ts';

const { values: args } = parseArgs({
  options: {
    requests: { type: 'string', default: '2000' },
    concurrency: { type: 'string', default: '16' },
    functions: { type: 'string', default: '4' },
    nodes: { type: 'string', default: '1,2,3' },
    isolation: { type: 'string', default: 'process' },
    minutes: { type: 'string', default: '60' },
    memory: { type: 'string', default: '16GB' },
    policy: { type: 'string', default: 'ttl' },
    trace: { type: 'string', default: DEFAULT_TRACE_DIR },
    out: { type: 'string', default: 'out/bench/cluster.json' },
  },
});
const REQUESTS = Number(args.requests);
const CONCURRENCY = Number(args.concurrency);
const FUNCTIONS = Array.from({ length: Number(args.functions) }, (_, i) => `hello-${i}`);
const NODE_COUNTS = args.nodes!.split(',').map(Number);

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
async function load(urls: string[], total: number, concurrency: number): Promise<{ latencies: number[]; perSecond: number; warm: number }> {
  const latencies: number[] = [];
  let warm = 0;
  let next = 0;
  const start = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      for (let i = next++; i < total; i = next++) {
        const url = `${urls[i % urls.length]}/functions/${FUNCTIONS[i % FUNCTIONS.length]}/invoke`;
        const r = await post(url, '{"name":"bench"}');
        if (r.status !== 200) throw new Error(`HTTP ${r.status} from ${url}: ${r.body}`);
        latencies.push(r.ms);
        if (r.startKind === 'warm') warm++;
      }
    }),
  );
  return { latencies, perSecond: (total / (performance.now() - start)) * 1000, warm: warm / total };
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
  perSecond: number;
  p50: number;
  p99: number;
  /** Share of the measured invocations that found a warm instance. */
  warm: number;
  /** Where the invocations ran (cluster records), node → count. */
  ranOn?: Record<string, number>;
}

async function measure(setup: string, nodes: ThawServer[], clustered: boolean): Promise<Measured> {
  await deployAll(nodes);
  const urls = nodes.map((n) => n.url);
  await load(urls, Math.min(REQUESTS, 20 * FUNCTIONS.length * nodes.length), CONCURRENCY); // warm up: instances on their home nodes
  const { latencies, perSecond, warm } = await load(urls, REQUESTS, CONCURRENCY);
  const measured: Measured = { setup, nodes: nodes.length, perSecond, p50: quantile(latencies, 0.5), p99: quantile(latencies, 0.99), warm };
  if (clustered) {
    const ranOn: Record<string, number> = {};
    for (const name of FUNCTIONS) {
      for (const record of (await nodes[0]!.request('GET', `/functions/${name}/invocations?limit=1000`)).body.invocations) ranOn[record.node] = (ranOn[record.node] ?? 0) + 1;
    }
    measured.ranOn = ranOn;
  }
  return measured;
}

const sync: Measured[] = [];
{
  const single = await ThawServer.start(['--isolation', args.isolation!]);
  try {
    sync.push(await measure('embedded (no cluster)', [single], false));
  } finally {
    await single.stop();
  }
}
const nats = await NatsServer.start();
try {
  for (const count of NODE_COUNTS) {
    const { nodes } = await startCluster(nats, count, ['--isolation', args.isolation!]);
    try {
      sync.push(await measure(`cluster, ${count} node${count > 1 ? 's' : ''}`, nodes, true));
    } finally {
      await Promise.all(nodes.map((n) => n.stop()));
    }
  }
} finally {
  await nats.stop();
}
const base = sync.find((m) => m.setup.startsWith('cluster') && m.nodes === 1) ?? sync[0]!;
printTable(
  `sync warm invocations of ${FUNCTIONS.length} functions, ${REQUESTS} requests, concurrency ${CONCURRENCY}, --isolation ${args.isolation} (load generator, nats-server and nodes share the cores)`,
  ['setup', 'req/s', '× 1 node', 'p50 ms', 'p99 ms', 'p99 × 1 node', 'warm', 'ran on (last 1000 per function)'],
  sync.map((m) => [
    m.setup, m.perSecond.toFixed(0), (m.perSecond / base.perSecond).toFixed(2), m.p50.toFixed(1), m.p99.toFixed(1), (m.p99 / base.p99).toFixed(2), m.warm.toFixed(3),
    m.ranOn ? Object.entries(m.ranOn).sort().map(([n, c]) => `${n} ${c}`).join(', ') : '-',
  ]),
);

// ------------------------------------------------------------------ 2. routing on a trace slice

/** The first `minutes` of a trace. */
function sliceTrace(trace: Trace, minutes: number): Trace {
  const endMs = minutes * 60_000;
  let count = 0;
  for (const batch of trace.batches()) for (let i = 0; i < batch.length; i++) if (batch.time[i]! < endMs) count++;
  return {
    name: `${trace.name}, first ${minutes} min`,
    functions: trace.functions,
    invocationCount: count,
    spanMs: Math.min(trace.spanMs, endMs),
    *batches(): Iterable<ArrivalBatch> {
      for (const batch of trace.batches()) {
        let n = 0;
        while (n < batch.length && batch.time[n]! < endMs) n++;
        if (n > 0) yield { length: n, fn: batch.fn.slice(0, n), time: batch.time.slice(0, n), ...(batch.duration ? { duration: batch.duration.slice(0, n) } : {}) };
        if (n < batch.length) return;
      }
    },
  };
}

const slice = sliceTrace(openTrace(args.trace!), Number(args.minutes));
const servers = Math.max(...NODE_COUNTS);
const routing = ROUTING_POLICIES.map((placement) => {
  const s = runSimulation(slice, { policy: args.policy!, placement, servers, memoryMb: parseMemory(args.memory!) }).summary;
  return { placement, warmHitRatio: s.warm / s.served, cold: s.cold, dropped: s.dropped, spread: s.loadSpread!.maxOverMeanInvocations };
});
const chbl = routing.find((r) => r.placement === 'chbl')!;
printTable(
  `routing in the simulator: ${slice.name} (${slice.invocationCount} invocations), ${servers} × ${args.memory}, ${args.policy} keep-alive`,
  ['router', 'warm-hit ratio', '× chbl', 'cold', 'dropped', 'spread (max/mean invocations)'],
  routing.map((r) => [r.placement, r.warmHitRatio.toFixed(4), (r.warmHitRatio / chbl.warmHitRatio).toFixed(3), r.cold, r.dropped, r.spread.toFixed(2)]),
);

writeJson(args.out!, {
  requests: REQUESTS, concurrency: CONCURRENCY, functions: FUNCTIONS.length, isolation: args.isolation, sync, baseline: base.setup,
  routing: { trace: slice.name, invocations: slice.invocationCount, servers, memory: args.memory, policy: args.policy, results: routing },
  note: 'the load generator, nats-server and every node share this machine\'s cores; routing is simulated (thaw replay does not exist yet)',
});
