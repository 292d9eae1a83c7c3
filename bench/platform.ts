// Platform speed on loopback, each figure beside a baseline measured in the same run:
//  1. warm invocations of `hello` over HTTP at concurrency 1 and 32: latency p50/p99, throughput,
//     and the platform's overhead (latency − the function's own execution time); beside it the same
//     code deployed as `hello-shared` with instanceConcurrency 32 (one instance serves up to 32 at
//     once, as Knative's containerConcurrency or Cloud Run's concurrency), and as `hello-capped`
//     with at most two instances per CPU (maxConcurrency: the rest wait for one), and by a second
//     thaw serve with --concurrency-limit adaptive (the limit learnt from delays); baseline: a bare
//     node:http server answering the same JSON on the same machine (the HTTP floor) in a process of
//     its own, as thaw's server (and, for the earlier rounds' figures, in the load generator's own
//     process: no process wake-up between client and server), and a relay in a process of its own:
//     the same server handing each request to one of 32 child processes over a socketpair, one at
//     a time per child as a thaw instance serves (the floor with one process hop, bench/relay.ts;
//     `relay − bare p50` is what that hop adds to a request: the floor under the platform overhead);
//  2. cold starts of every example, phase by phase; baseline: spawning `node` that loads the same
//     bundle and runs init() and the handler directly, timed from spawn to its answer.
//
//   node --import tsx bench/platform.ts [--requests 2000] [--rounds 5] [--colds 5] [--out out/bench/platform.json]
//     [--warm-only] [--cpu-prof DIR] [--source] [--before DIR]
//
// --before DIR: a second thaw, from another checkout (its bin/thaw.js and dist/), served side by side
// and loaded in the same interleaved rounds: before/after ratios from one run, on the same load.

import { request, Agent } from 'node:http';
import { readdirSync, readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { EXAMPLES, ServerGroup } from '../test/e2e/harness.ts';
import { topSelfTime, type SelfTimeEntry } from './cpu-profile.ts';
import { directNodeStart, idleCpusInWords, median, printTable, writeJson } from './lib.ts';
import { baselineInProcess, baselineProcess } from './baseline-server.ts';

const { values: args } = parseArgs({
  options: {
    requests: { type: 'string', default: '2000' },
    rounds: { type: 'string', default: '5' },
    colds: { type: 'string', default: '5' },
    isolation: { type: 'string', default: 'auto' },
    out: { type: 'string', default: 'out/bench/platform.json' },
    // --warm-only: part 1 alone (the warm path's goal: thaw ≥ 0.5× bare, overhead p50 ≤ 0.1 ms).
    'warm-only': { type: 'boolean', default: false },
    // --source: thaw serve from src/ through tsx (default: dist/, what `thaw serve` runs; npm run build).
    source: { type: 'boolean', default: false },
    // --cpu-prof DIR: profile the server (node --cpu-prof); prints its top self-time entries during the warm load.
    'cpu-prof': { type: 'string' },
    // --before DIR: a checkout of an earlier thaw, measured in the same rounds (warm part only).
    before: { type: 'string' },
  },
});
const REQUESTS = Number(args.requests);
const ROUNDS = Number(args.rounds);
const COLDS = Number(args.colds);
const EXAMPLE_NAMES = ['hello', 'ts-hello', 'init-heavy', 'deps-heavy'];
/** hello-capped's instances at most (maxConcurrency): two per CPU. */
const CAPPED_INSTANCES = 2 * availableParallelism();

const agent = new Agent({ keepAlive: true, maxSockets: 64 });

function post(url: string, body: string): Promise<{ ms: number; status: number; headers: Record<string, string | string[] | undefined>; body: string }> {
  return new Promise((resolve, reject) => {
    const start = performance.now();
    const req = request(url, { method: 'POST', agent, headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d) => (text += d));
      res.on('end', () => resolve({ ms: performance.now() - start, status: res.statusCode ?? 0, headers: res.headers, body: text }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

function quantile(xs: number[], q: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))]!;
}

/** `total` requests with `concurrency` in flight; latencies and requests per second. */
async function load(url: string, total: number, concurrency: number): Promise<{ latencies: number[]; perSecond: number }> {
  const latencies: number[] = [];
  let next = 0;
  const start = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next++ < total) {
        const r = await post(url, '{"name":"bench"}');
        if (r.status !== 200) throw new Error(`HTTP ${r.status}: ${r.body}`);
        latencies.push(r.ms);
      }
    }),
  );
  return { latencies, perSecond: (total / (performance.now() - start)) * 1000 };
}

function emptyLoad(): { latencies: number[]; perSecond: number[] } {
  return { latencies: [], perSecond: [] };
}
function add(into: { latencies: number[]; perSecond: number[] }, run: { latencies: number[]; perSecond: number }): void {
  into.latencies.push(...run.latencies);
  into.perSecond.push(run.perSecond);
}

/** CPU time (user + system, all threads) a process has used, ms (/proc/PID/stat, in clock ticks of 10 ms). */
function cpuMs(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(fields[11]) + Number(fields[12])) * 10;
}

function monotonicUs(): number {
  return Number(process.hrtime.bigint() / 1000n);
}

/** The server's top self-time entries during the warm loads (its profile is written when it exits). */
function printProfile(dir: string, pid: number, windows: Array<[number, number]>): SelfTimeEntry[] {
  const file = readdirSync(dir).find((f) => f.includes(`.${pid}.`) && f.endsWith('.cpuprofile'));
  if (!file) throw new Error(`no CPU profile of the server (pid ${pid}) in ${dir}`);
  const [from, to] = [windows[0]![0], windows.at(-1)![1]];
  const { entries, busyMs, idleMs } = topSelfTime(join(dir, file), 20, from, to);
  printTable(
    `The server's self time during the warm loads (${join(dir, file)}; busy ${busyMs.toFixed(0)} ms, idle ${idleMs.toFixed(0)} ms)`,
    ['self %', 'self ms', 'function'],
    entries.map((e) => [e.percent.toFixed(1), e.ms.toFixed(0), e.name]),
  );
  return entries;
}

async function main(): Promise<void> {
  // The harness sets THAW_FROM_SOURCE=1 for tests; a benchmark measures dist/ unless --source.
  const env: NodeJS.ProcessEnv = { ...process.env, THAW_FROM_SOURCE: args.source ? '1' : '0' };
  const profileDir = args['cpu-prof'] && resolve(args['cpu-prof']);
  const loadWindows: Array<[number, number]> = []; // monotonic µs of thaw's warm loads, for the profile
  // Memory for hello's 32 instances at concurrency 32 and hello-shared's beside them: neither evicts the other's.
  const serveArgs = ['--isolation', args.isolation!, '--pause-after', '0', '--ttl', '10m', '--memory', '12GB'];
  const servers = new ServerGroup();
  try {
    const thaw = await servers.start(serveArgs, undefined, env, profileDir ? ['--cpu-prof', `--cpu-prof-dir=${profileDir}`] : []);
    const adaptive = await servers.start([...serveArgs, '--concurrency-limit', 'adaptive'], undefined, env);
    const before = args.before ? await servers.start(serveArgs, undefined, env, [], join(resolve(args.before), 'bin', 'thaw.js')) : undefined;
    if (before) {
      const r = await before.deploy(join(EXAMPLES, 'hello'), { name: 'hello', maxConcurrency: 64 });
      if (r.status !== 201) throw new Error(`deploy hello (before): ${JSON.stringify(r.body)}`);
    }
    for (const name of EXAMPLE_NAMES) {
      // hello may run 64 at once, so concurrency 32 measures the platform, not its concurrency limit.
      const r = await thaw.deploy(join(EXAMPLES, name), name === 'hello' ? { name, maxConcurrency: 64 } : { name });
      if (r.status !== 201) throw new Error(`deploy ${name}: ${JSON.stringify(r.body)}`);
    }
    const adaptiveDeploy = await adaptive.deploy(join(EXAMPLES, 'hello'), { name: 'hello', maxConcurrency: 64 });
    if (adaptiveDeploy.status !== 201) throw new Error(`deploy hello (adaptive): ${JSON.stringify(adaptiveDeploy.body)}`);
    const shared = await thaw.deploy(join(EXAMPLES, 'hello'), { name: 'hello-shared', maxConcurrency: 64, instanceConcurrency: 32 });
    if (shared.status !== 201) throw new Error(`deploy hello-shared: ${JSON.stringify(shared.body)}`);
    // One invocation per instance as hello, but at most two instances per CPU: further requests wait
    // for one (in the invoker's queue) instead of each waking a process of its own.
    const capped = await thaw.deploy(join(EXAMPLES, 'hello'), { name: 'hello-capped', maxConcurrency: CAPPED_INSTANCES });
    if (capped.status !== 201) throw new Error(`deploy hello-capped: ${JSON.stringify(capped.body)}`);
    const isolation = (await thaw.request('GET', '/healthz')).body.isolation;

    // 1. Warm invocations.
    // The baselines (bench/baseline-server.ts): bare node:http and the relay (the floor with one
    // process hop) in processes of their own, as thaw's server; bare also in this process.
    const bareInClient = await baselineInProcess('bare');
    const bare = await baselineProcess('bare');
    const relay = await baselineProcess('relay');
    const helloUrl = `${thaw.url}/functions/hello/invoke`;
    const sharedUrl = `${thaw.url}/functions/hello-shared/invoke`;
    const cappedUrl = `${thaw.url}/functions/hello-capped/invoke`;
    const adaptiveUrl = `${adaptive.url}/functions/hello/invoke`;
    const beforeUrl = before && `${before.url}/functions/hello/invoke`;
    await load(helloUrl, 200, 32); // warm up: instances for concurrency 32, JIT
    await load(sharedUrl, 200, 32);
    await load(cappedUrl, 200, 32);
    await load(adaptiveUrl, 2000, 32); // and the adaptive limit's first windows
    if (beforeUrl) await load(beforeUrl, 200, 32);
    for (const b of [bareInClient, bare, relay]) await load(b.url, 200, 32);
    const warmRows: Array<Array<string | number>> = [];
    const warm: Record<string, unknown> = {};
    for (const concurrency of [1, 32]) {
      // Interleaved rounds (bare, relay, thaw, again): the machine's load drifts, and a ratio is
      // taken within each round, the medians reported.
      const serverCpuMs: number[] = []; // the server process's CPU time (user + system) per request
      const sharedCpuMs: number[] = []; // the same, serving hello-shared
      const beforeCpuMs: number[] = []; // the same of the --before server
      const bareCpuMs: number[] = []; // the same of the bare server
      const relayCpuMs: number[] = []; // the same of the relay's server (its children not counted)
      const baseInClient = emptyLoad();
      const base = emptyLoad();
      const hop = emptyLoad();
      const t = emptyLoad();
      const earlier = emptyLoad();
      const sh = emptyLoad();
      const cap = emptyLoad();
      const adapt = emptyLoad();
      for (let round = 0; round < ROUNDS; round++) {
        const n = Math.ceil(REQUESTS / ROUNDS);
        add(baseInClient, await load(bareInClient.url, n, concurrency));
        const cpuBare = cpuMs(bare.pid);
        add(base, await load(bare.url, n, concurrency));
        bareCpuMs.push((cpuMs(bare.pid) - cpuBare) / n);
        const cpuRelay = cpuMs(relay.pid);
        add(hop, await load(relay.url, n, concurrency));
        relayCpuMs.push((cpuMs(relay.pid) - cpuRelay) / n);
        if (beforeUrl) {
          const cpuBefore = cpuMs(before!.process.pid!);
          add(earlier, await load(beforeUrl, n, concurrency));
          beforeCpuMs.push((cpuMs(before!.process.pid!) - cpuBefore) / n);
        }
        const from = monotonicUs();
        const cpuBefore = cpuMs(thaw.process.pid!);
        add(t, await load(helloUrl, n, concurrency));
        serverCpuMs.push((cpuMs(thaw.process.pid!) - cpuBefore) / n);
        loadWindows.push([from, monotonicUs()]);
        const cpuShared = cpuMs(thaw.process.pid!);
        add(sh, await load(sharedUrl, n, concurrency));
        sharedCpuMs.push((cpuMs(thaw.process.pid!) - cpuShared) / n);
        add(cap, await load(cappedUrl, n, concurrency));
        add(adapt, await load(adaptiveUrl, n, concurrency));
      }
      const sharedRecords = (await thaw.request('GET', `/functions/hello-shared/invocations?limit=1000`)).body.invocations as Array<{ totalMs: number; execMs: number; startKind: string; instanceId?: string }>;
      const sharedWarm = sharedRecords.filter((r) => r.startKind === 'warm');
      const records = (await thaw.request('GET', `/functions/hello/invocations?limit=1000`)).body.invocations as Array<{ totalMs: number; execMs: number; startKind: string }>;
      const recent = records.filter((r) => r.startKind === 'warm').slice(0, Math.min(REQUESTS, 1000));
      const overhead = recent.map((r) => r.totalMs - r.execMs);
      const adaptiveRecords = (await adaptive.request('GET', `/functions/hello/invocations?limit=1000`)).body.invocations as Array<{ totalMs: number; execMs: number; startKind: string; instanceId?: string }>;
      const beforeRecords = before ? ((await before.request('GET', `/functions/hello/invocations?limit=1000`)).body.invocations as typeof records).filter((r) => r.startKind === 'warm') : [];
      const row = {
        concurrency,
        bareP50: quantile(base.latencies, 0.5),
        bareP99: quantile(base.latencies, 0.99),
        bareRps: median(base.perSecond),
        bareServerCpuMsPerRequest: median(bareCpuMs),
        bareInClientRps: median(baseInClient.perSecond),
        thawOverBareInClient: median(t.perSecond.map((r, i) => r / baseInClient.perSecond[i]!)),
        relayP50: quantile(hop.latencies, 0.5),
        relayRps: median(hop.perSecond),
        relayServerCpuMsPerRequest: median(relayCpuMs),
        relayOverBare: median(hop.perSecond.map((r, i) => r / base.perSecond[i]!)),
        // What one process hop adds to a request, with no platform around it: the floor under the
        // platform overhead of anything that runs its function in a process of its own.
        relayOverheadP50: quantile(hop.latencies, 0.5) - quantile(base.latencies, 0.5),
        thawOverBare: median(t.perSecond.map((r, i) => r / base.perSecond[i]!)),
        thawOverRelay: median(t.perSecond.map((r, i) => r / hop.perSecond[i]!)),
        thawP50: quantile(t.latencies, 0.5),
        thawP99: quantile(t.latencies, 0.99),
        thawRps: median(t.perSecond),
        httpOverP50: quantile(t.latencies, 0.5) - quantile(base.latencies, 0.5),
        platformOverheadP50: quantile(overhead, 0.5),
        execP50: quantile(recent.map((r) => r.execMs), 0.5),
        serverCpuMsPerRequest: median(serverCpuMs),
        sharedP50: quantile(sh.latencies, 0.5),
        sharedP99: quantile(sh.latencies, 0.99),
        sharedRps: median(sh.perSecond),
        sharedOverBare: median(sh.perSecond.map((r, i) => r / base.perSecond[i]!)),
        sharedOverThaw: median(sh.perSecond.map((r, i) => r / t.perSecond[i]!)),
        sharedPlatformOverheadP50: quantile(sharedWarm.map((r) => r.totalMs - r.execMs), 0.5),
        sharedServerCpuMsPerRequest: median(sharedCpuMs),
        sharedInstances: new Set(sharedRecords.map((r) => r.instanceId)).size,
        cappedInstances: CAPPED_INSTANCES,
        cappedRps: median(cap.perSecond),
        cappedOverBare: median(cap.perSecond.map((r, i) => r / base.perSecond[i]!)),
        adaptiveRps: median(adapt.perSecond),
        adaptiveOverBare: median(adapt.perSecond.map((r, i) => r / base.perSecond[i]!)),
        adaptivePlatformOverheadP50: quantile(adaptiveRecords.filter((r) => r.startKind === 'warm').map((r) => r.totalMs - r.execMs), 0.5),
        // Instances that served the last 1000 invocations: the limit's choice shows in how few.
        adaptiveInstances: new Set(adaptiveRecords.map((r) => r.instanceId)).size,
        ...(before
          ? {
              beforeOverBare: median(earlier.perSecond.map((r, i) => r / base.perSecond[i]!)),
              beforeP50: quantile(earlier.latencies, 0.5),
              beforePlatformOverheadP50: quantile(beforeRecords.map((r) => r.totalMs - r.execMs), 0.5),
              afterOverBefore: median(t.perSecond.map((r, i) => r / earlier.perSecond[i]!)),
              beforeServerCpuMsPerRequest: median(beforeCpuMs),
            }
          : {}),
      };
      warm[`c${concurrency}`] = row;
      warmRows.push([
        concurrency,
        `${row.bareP50.toFixed(2)} / ${row.bareP99.toFixed(2)}`,
        Math.round(row.bareRps),
        row.bareServerCpuMsPerRequest.toFixed(3),
        Math.round(row.bareInClientRps),
        `${row.relayP50.toFixed(2)}`,
        Math.round(row.relayRps),
        row.relayServerCpuMsPerRequest.toFixed(3),
        row.relayOverBare.toFixed(2),
        row.relayOverheadP50.toFixed(3),
        `${row.thawP50.toFixed(2)} / ${row.thawP99.toFixed(2)}`,
        Math.round(row.thawRps),
        row.thawOverBare.toFixed(2),
        row.thawOverRelay.toFixed(2),
        row.thawOverBareInClient.toFixed(2),
        row.httpOverP50.toFixed(2),
        row.platformOverheadP50.toFixed(3),
        row.serverCpuMsPerRequest.toFixed(3),
        `${row.sharedP50.toFixed(2)} / ${row.sharedP99.toFixed(2)}`,
        Math.round(row.sharedRps),
        row.sharedOverBare.toFixed(2),
        row.sharedOverThaw.toFixed(2),
        row.sharedPlatformOverheadP50.toFixed(3),
        row.sharedServerCpuMsPerRequest.toFixed(3),
        row.sharedInstances,
        Math.round(row.cappedRps),
        row.cappedOverBare.toFixed(2),
        Math.round(row.adaptiveRps),
        row.adaptiveOverBare.toFixed(2),
        row.adaptivePlatformOverheadP50.toFixed(3),
        row.adaptiveInstances,
        ...(before ? [row.beforeOverBare!.toFixed(2), row.beforePlatformOverheadP50!.toFixed(3), row.beforeServerCpuMsPerRequest!.toFixed(3), row.afterOverBefore!.toFixed(2)] : []),
      ]);
    }
    for (const b of [bareInClient, bare, relay]) b.close();
    printTable(
      `Warm invocations of hello over HTTP on loopback (${REQUESTS} requests each, in ${ROUNDS} interleaved rounds; req/s and ratios: medians of the rounds; bare and relay each in a process of its own, 'bare in client' in this one; sandboxes: ${isolation.backend}; ${idleCpusInWords()})`,
      ['c', 'bare p50/p99 ms', 'bare req/s', 'bare server CPU ms/req', 'bare in client req/s', 'relay p50 ms', 'relay req/s', 'relay server CPU ms/req', 'relay/bare', 'relay − bare p50 ms (the hop)', 'thaw p50/p99 ms', 'thaw req/s', 'thaw/bare', 'thaw/relay', 'thaw/bare in client', 'thaw − bare p50 ms', 'platform overhead p50 ms', 'server CPU ms/req', 'shared p50/p99 ms', 'shared req/s', 'shared/bare', 'shared/thaw', 'shared: overhead p50 ms', 'shared: server CPU ms/req', 'shared: instances', `capped (≤ ${CAPPED_INSTANCES} instances) req/s`, 'capped/bare', 'adaptive req/s', 'adaptive/bare', 'adaptive: overhead p50 ms', 'adaptive: instances used', ...(before ? ['before/bare', 'before: overhead p50 ms', 'before: server CPU ms/req', 'thaw/before'] : [])],
      warmRows,
    );

    if (args['warm-only']) {
      await before?.stop();
      await adaptive.stop();
      await thaw.stop();
      const profile = profileDir ? printProfile(profileDir, thaw.process.pid!, loadWindows) : undefined;
      writeJson(args.out!, { requests: REQUESTS, isolation, warm, profile });
      return;
    }
    // 2. Cold starts, phase by phase, against spawning node on the same bundle.
    const coldRows: Array<Array<string | number>> = [];
    const cold: Record<string, unknown> = {};
    for (const name of EXAMPLE_NAMES) {
      const version = (await thaw.request('GET', `/functions/${name}`)).body.versions.at(-1);
      const bundle = resolve(thaw.dataDir, version.codeDir, 'bundle.cjs');
      const direct: number[] = [];
      const totals: number[] = [];
      const phases: Record<string, number[]> = { sandboxMs: [], runtimeBootMs: [], importMs: [], initMs: [], execMs: [], platformMs: [] };
      for (let i = 0; i < COLDS; i++) {
        direct.push(await directNodeStart(bundle));
        await thaw.advance(11 * 60_000); // scale to zero: the next start is cold
        const r = await post(`${thaw.url}/functions/${name}/invoke`, '{"name":"bench"}');
        if (r.headers['x-thaw-start-kind'] !== 'cold') throw new Error(`${name}: expected a cold start, got ${r.headers['x-thaw-start-kind']}`);
        const record = (await thaw.request('GET', `/invocations/${r.headers['x-thaw-invocation-id']}`)).body;
        totals.push(r.ms);
        for (const p of Object.keys(phases)) phases[p]!.push(record[p]);
      }
      const p = Object.fromEntries(Object.entries(phases).map(([k, v]) => [k, median(v)]));
      const row = { directMs: median(direct), thawMs: median(totals), phases: p, overheadMs: median(totals) - median(direct) };
      cold[name] = row;
      coldRows.push([name, row.directMs.toFixed(1), row.thawMs.toFixed(1), p.sandboxMs!.toFixed(1), p.runtimeBootMs!.toFixed(1), p.importMs!.toFixed(1), p.initMs!.toFixed(1), p.execMs!.toFixed(1), p.platformMs!.toFixed(1), row.overheadMs.toFixed(1)]);
    }
    printTable(
      `Cold starts (median of ${COLDS}), ms; baseline: spawn node, require the bundle, init(), handler()`,
      ['function', 'node direct', 'thaw total', 'sandbox', 'runtime boot', 'import', 'init', 'exec', 'platform', 'thaw − direct'],
      coldRows,
    );
    writeJson(args.out!, { requests: REQUESTS, colds: COLDS, isolation, warm, cold });
  } finally {
    await servers.stopAll();
    agent.destroy();
  }
}

await main();
