// Isolate starts against thaw's cold container starts, and thaw's isolates beside workerd serving the
// same functions directly — every figure beside its baseline, measured in the same run:
//  1. cold starts of examples/hello and examples/deps-heavy over HTTP: each example deployed twice to
//     one `thaw serve`, `--start cold` and `--start isolate`, and once more `--start isolate` to a
//     second `thaw serve --isolate-spares 0` (every isolate start evaluates the bundle); the three
//     scaled to zero and started in turn, the order rotating run by run; time to first response at
//     the client, p50/p95, the ratio cold / isolate, and how many isolate starts took the version's
//     spare (loaded ahead by the host: its import phase is 0 in the record). Goals (issue 15):
//     hello ≥ 15×, deps-heavy ≥ 5×. Before every measured start the bench waits --settle ms (the
//     same for all three), so the background work one start leaves (a spare's refill, a container's
//     teardown) does not land on the next variant's start.
//  2. workerd (npm `workerd`, Cloudflare's runtime, nodejs_compat) serving the same bundles: a warm
//     request to a statically configured worker, and a cold one — a new isolate of the same code per
//     request through its dynamic worker loader — against thaw's warm and cold isolate invocations:
//     thaw's overhead on top = thaw − workerd.
//
//   node --import tsx bench/isolate.ts [--runs 20] [--requests 500] [--settle 3000] [--isolation auto] [--out out/bench/isolate.json]

import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync, writeFileSync, mkdtempSync, rmSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { parseArgs } from 'node:util';

import { stripInlineSourceMap } from '../src/platform/accelerators/isolate/compat.ts';
import { EXAMPLES, ThawServer } from '../test/e2e/harness.ts';
import { printTable, writeJson } from './lib.ts';

const { values: args } = parseArgs({
  options: {
    runs: { type: 'string', default: '20' },
    requests: { type: 'string', default: '500' },
    isolation: { type: 'string', default: 'auto' },
    settle: { type: 'string', default: '3000' },
    out: { type: 'string', default: 'out/bench/isolate.json' },
  },
});
const RUNS = Number(args.runs);
const REQUESTS = Number(args.requests);
const SETTLE_MS = Number(args.settle);
if (!(Number.isInteger(SETTLE_MS) && SETTLE_MS >= 0)) throw new Error('--settle must be an integer ≥ 0 (ms)');
if (!(Number.isInteger(RUNS) && RUNS >= 2)) throw new Error('--runs must be an integer ≥ 2');
if (!(Number.isInteger(REQUESTS) && REQUESTS >= 10)) throw new Error('--requests must be an integer ≥ 10');
const FUNCTIONS = [
  { name: 'hello', event: { name: 'Ada' }, goal: 15 },
  { name: 'deps-heavy', event: { name: 'Ada', email: 'ada@example.com', tags: ['Isolate Start'] }, goal: 5 },
];

const agent = new Agent({ keepAlive: true, maxSockets: 4 });

function post(url: string, body: string): Promise<{ ms: number; status: number; headers: Record<string, string | string[] | undefined>; body: string }> {
  return new Promise((resolvePost, reject) => {
    const start = performance.now();
    const req = request(url, { method: 'POST', agent, headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d) => (text += d));
      res.on('end', () => resolvePost({ ms: performance.now() - start, status: res.statusCode ?? 0, headers: res.headers, body: text }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

function quantile(xs: readonly number[], q: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil(q * s.length) - 1)]!;
}

async function expectOk(r: { status: number; body: string }, what: string): Promise<void> {
  if (r.status !== 200) throw new Error(`${what}: HTTP ${r.status} ${r.body.slice(0, 300)}`);
}

// ------------------------------------------------------------------------------------------ workerd

function workerdBinary(): string {
  const require = createRequire(import.meta.url);
  const pkg = dirname(require.resolve('workerd/package.json'));
  return createRequire(join(pkg, 'package.json')).resolve(`@cloudflare/workerd-${process.platform}-${process.arch === 'x64' ? '64' : process.arch}/bin/workerd`);
}

/** An ES module that serves the CommonJS bundle's handler: POST a JSON event, get its JSON result. */
// workerd refuses random values at global scope (hello draws an instance id at the top level), so
// the bundle's module body is wrapped in a function that the first request runs — the same code,
// loaded at the same moment as in thaw's isolate (its start).
const WRAPPER = `import load from 'bundle.cjs';
let ready;
async function start() {
  const fn = load();
  if (typeof fn.init === 'function') await fn.init();
  return typeof fn.handler === 'function' ? fn.handler : fn.default.handler;
}
export default { async fetch(req) {
  ready ??= start();
  const handler = await ready;
  return Response.json(await handler(await req.json(), {}));
} };`;

/** A host worker: each request names a new isolate id; the loader starts a fresh isolate of the bundle. */
const LOADER_HOST = `export default { async fetch(req, env) {
  const url = new URL(req.url);
  const fn = url.searchParams.get('fn');
  const worker = env.LOADER.get(url.searchParams.get('id'), () => ({
    compatibilityDate: '2025-09-01', compatibilityFlags: ['nodejs_compat'], mainModule: 'main.js',
    modules: { 'main.js': env.WRAPPER, 'bundle.cjs': { cjs: env[fn] } },
  }));
  return worker.getEntrypoint().fetch(req);
} };`;

interface Workerd {
  child: ChildProcess;
  stderr: () => string;
  staticUrl: (fn: string) => string;
  coldUrl: (fn: string, id: string) => string;
  dir: string;
}

async function startWorkerd(bundles: Record<string, string>): Promise<Workerd> {
  const dir = mkdtempSync(join(tmpdir(), 'thaw-workerd-'));
  const basePort = 20000 + Math.floor(Math.random() * 20000);
  // workerd's CommonJS modules have no __filename (thaw's bundles read it for import.meta.url).
  const cjs = (code: string) =>
    `var __filename = '/bundle.cjs', __dirname = '/';\nmodule.exports = function load() { const module = { exports: {} }; (function (exports, module) {\n` +
    `${stripInlineSourceMap(code)}\n}).call(module.exports, module.exports, module); return module.exports; };\n`;
  writeFileSync(join(dir, 'wrapper.js'), WRAPPER);
  writeFileSync(join(dir, 'loader.js'), LOADER_HOST);
  const names = Object.keys(bundles);
  const services: string[] = [];
  const sockets: string[] = [];
  names.forEach((name, i) => {
    writeFileSync(join(dir, `${i}.cjs`), cjs(bundles[name]!));
    services.push(
      `(name = "f${i}", worker = (modules = [(name = "main.js", esModule = embed "wrapper.js"), (name = "bundle.cjs", commonJsModule = embed "${i}.cjs")], compatibilityDate = "2025-09-01", compatibilityFlags = ["nodejs_compat"]))`,
    );
    sockets.push(`(name = "s${i}", address = "127.0.0.1:${basePort + i}", http = (), service = "f${i}")`);
  });
  const bindings = [`(name = "LOADER", workerLoader = ())`, `(name = "WRAPPER", text = embed "wrapper.js")`, ...names.map((n, i) => `(name = "${n}", text = embed "${i}.cjs")`)];
  services.push(`(name = "loader", worker = (modules = [(name = "loader.js", esModule = embed "loader.js")], compatibilityDate = "2025-09-01", compatibilityFlags = ["nodejs_compat", "experimental"], bindings = [${bindings.join(', ')}]))`);
  sockets.push(`(name = "loader", address = "127.0.0.1:${basePort + names.length}", http = (), service = "loader")`);
  writeFileSync(join(dir, 'config.capnp'), `using Workerd = import "/workerd/workerd.capnp";\nconst config :Workerd.Config = (\n  services = [${services.join(',\n    ')}],\n  sockets = [${sockets.join(',\n    ')}]\n);\n`);
  const child = spawn(workerdBinary(), ['serve', '--experimental', 'config.capnp'], { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (d) => (stderr = (stderr + d).slice(-8000)));
  const w: Workerd = {
    child,
    dir,
    stderr: () => stderr,
    staticUrl: (fn) => `http://127.0.0.1:${basePort + names.indexOf(fn)}/`,
    coldUrl: (fn, id) => `http://127.0.0.1:${basePort + names.length}/?fn=${encodeURIComponent(fn)}&id=${encodeURIComponent(id)}`,
  };
  // Ready when it answers (bounded: 30 s).
  for (let i = 0; ; i++) {
    try {
      await post(w.staticUrl(names[0]!), '{}');
      return w;
    } catch (error) {
      if (child.exitCode !== null || i > 600) throw new Error(`workerd did not start: ${stderr || (error as Error).message}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }
}

// ----------------------------------------------------------------------------------------------- main

async function main(): Promise<void> {
  const serveArgs = ['--isolation', args.isolation!, '--pause-after', '0', '--ttl', '10m', '--memory', '8GB'];
  const thaw = await ThawServer.start(serveArgs);
  const noSpares = await ThawServer.start([...serveArgs, '--isolate-spares', '0']);
  let workerd: Workerd | undefined;
  try {
    const bundles: Record<string, string> = {};
    for (const f of FUNCTIONS) {
      for (const start of ['cold', 'isolate']) {
        const r = await thaw.deploy(join(EXAMPLES, f.name), { name: `${f.name}-${start}`, start });
        if (r.status !== 201) throw new Error(`deploy ${f.name} --start ${start}: ${JSON.stringify(r.body)}`);
      }
      const r = await noSpares.deploy(join(EXAMPLES, f.name), { name: `${f.name}-isolate`, start: 'isolate' });
      if (r.status !== 201) throw new Error(`deploy ${f.name} --start isolate (no spares): ${JSON.stringify(r.body)}`);
      const version = (await thaw.request('GET', `/functions/${f.name}-cold`)).body.versions.at(-1);
      bundles[f.name] = readFileSync(resolve(thaw.dataDir, version.codeDir, 'bundle.cjs'), 'utf8');
    }
    const isolation = (await thaw.request('GET', '/healthz')).body.isolation;
    const invoke = (name: string, event: unknown, server = thaw) => post(`${server.url}/functions/${name}/invoke`, JSON.stringify(event));

    // The isolate host is long-running: its own start is not any function's cold start.
    for (const f of FUNCTIONS) {
      await expectOk(await invoke(`${f.name}-isolate`, f.event), `${f.name}-isolate`);
      await expectOk(await invoke(`${f.name}-isolate`, f.event, noSpares), `${f.name}-isolate (no spares)`);
    }

    // 1. Cold starts: container vs isolate, alternating, each after scaling to zero.
    const cold: Record<string, unknown> = {};
    const coldRows: Array<Array<string | number>> = [];
    for (const f of FUNCTIONS) {
      type Variant = 'cold' | 'isolate' | 'isolateNoSpare';
      const variants: Variant[] = ['cold', 'isolate', 'isolateNoSpare'];
      const times: Record<Variant, number[]> = { cold: [], isolate: [], isolateNoSpare: [] };
      let fromSpare = 0;
      for (let i = 0; i < RUNS; i++) {
        for (const variant of [...variants.slice(i % 3), ...variants.slice(0, i % 3)]) {
          const server = variant === 'isolateNoSpare' ? noSpares : thaw;
          const start = variant === 'cold' ? 'cold' : 'isolate';
          await server.advance(11 * 60_000); // past the 10 min keep-alive: the next start is new
          await new Promise((settled) => setTimeout(settled, SETTLE_MS));
          const r = await invoke(`${f.name}-${start}`, f.event, server);
          await expectOk(r, `${f.name}-${variant}`);
          const kind = r.headers['x-thaw-start-kind'];
          if (kind !== start) throw new Error(`${f.name}-${variant}: expected a ${start} start, got ${kind}`);
          times[variant].push(r.ms);
          if (variant === 'isolate') {
            const record = (await thaw.request('GET', `/invocations/${r.headers['x-thaw-invocation-id']}`)).body;
            if (record.importMs === 0) fromSpare += 1;
          }
        }
      }
      const p = (v: Variant, q: number) => quantile(times[v], q);
      const row = {
        coldP50: p('cold', 0.5),
        coldP95: p('cold', 0.95),
        isolateP50: p('isolate', 0.5),
        isolateP95: p('isolate', 0.95),
        ratioP50: p('cold', 0.5) / p('isolate', 0.5),
        fromSpare,
        isolateNoSpareP50: p('isolateNoSpare', 0.5),
        isolateNoSpareP95: p('isolateNoSpare', 0.95),
        ratioNoSpareP50: p('cold', 0.5) / p('isolateNoSpare', 0.5),
        goal: f.goal,
      };
      cold[f.name] = row;
      coldRows.push([
        f.name,
        `${row.coldP50.toFixed(1)} / ${row.coldP95.toFixed(1)}`,
        `${row.isolateP50.toFixed(1)} / ${row.isolateP95.toFixed(1)}`,
        `${row.ratioP50.toFixed(1)}×`,
        `${fromSpare}/${RUNS}`,
        `${row.isolateNoSpareP50.toFixed(1)} / ${row.isolateNoSpareP95.toFixed(1)}`,
        `${row.ratioNoSpareP50.toFixed(1)}×`,
        `≥ ${f.goal}× — ${row.ratioP50 >= f.goal ? 'met' : 'not met'}`,
      ]);
    }
    printTable(
      `Cold starts over HTTP, time to first response, ms (${RUNS} runs each, order rotating, ${SETTLE_MS} ms settle before each; sandboxes: ${isolation.backend})`,
      ['function', 'container p50 / p95', 'isolate p50 / p95', 'container / isolate', 'from a spare', 'isolate, no spares p50 / p95', 'container / no spares', 'goal'],
      coldRows,
    );

    // 2. Beside workerd serving the same bundles.
    workerd = await startWorkerd(bundles);
    const side: Record<string, unknown> = {};
    const sideRows: Array<Array<string | number>> = [];
    for (const f of FUNCTIONS) {
      const body = JSON.stringify(f.event);
      // workerd may refuse a function as it is (it forbids eval and new Function, which ajv uses):
      // then there is nothing to compare, and the table says why.
      const probe = await post(workerd.staticUrl(f.name), body);
      if (probe.status !== 200) {
        const why = workerd.stderr().match(/(?:Error|EvalError|TypeError): ([^\n]{0,120})/)?.[0] ?? `HTTP ${probe.status}`;
        side[f.name] = { workerdError: why };
        sideRows.push([f.name, '—', '—', '—', '—', '—', '—', `workerd cannot serve it: ${why}`]);
        continue;
      }
      const wdCold: number[] = [];
      const thawCold: number[] = [];
      for (let i = 0; i < RUNS; i++) {
        const w = await post(workerd.coldUrl(f.name, `${f.name}-${i}-${Math.random()}`), body);
        await expectOk(w, `workerd cold ${f.name}`);
        wdCold.push(w.ms);
        await thaw.advance(11 * 60_000);
        const t = await invoke(`${f.name}-isolate`, f.event);
        await expectOk(t, `thaw isolate ${f.name}`);
        thawCold.push(t.ms);
      }
      const wdWarm: number[] = [];
      const thawWarm: number[] = [];
      for (let i = 0; i < 50; i++) {
        await post(workerd.staticUrl(f.name), body);
        await invoke(`${f.name}-isolate`, f.event);
      }
      for (let i = 0; i < REQUESTS; i++) {
        const w = await post(workerd.staticUrl(f.name), body);
        await expectOk(w, `workerd warm ${f.name}`);
        wdWarm.push(w.ms);
        const t = await invoke(`${f.name}-isolate`, f.event);
        if (t.headers['x-thaw-start-kind'] !== 'warm') throw new Error(`thaw ${f.name}-isolate: expected warm, got ${t.headers['x-thaw-start-kind']}`);
        thawWarm.push(t.ms);
      }
      const row = {
        workerdColdP50: quantile(wdCold, 0.5),
        thawIsolateColdP50: quantile(thawCold, 0.5),
        workerdWarmP50: quantile(wdWarm, 0.5),
        thawIsolateWarmP50: quantile(thawWarm, 0.5),
      };
      side[f.name] = row;
      sideRows.push([
        f.name,
        row.workerdColdP50.toFixed(1),
        row.thawIsolateColdP50.toFixed(1),
        (row.thawIsolateColdP50 - row.workerdColdP50).toFixed(1),
        row.workerdWarmP50.toFixed(2),
        row.thawIsolateWarmP50.toFixed(2),
        (row.thawIsolateWarmP50 - row.workerdWarmP50).toFixed(2),
        '',
      ]);
    }
    printTable(
      `Beside workerd serving the same bundle over HTTP, p50 ms (cold: ${RUNS} new isolates each; warm: ${REQUESTS} requests, alternating)`,
      ['function', 'workerd cold (loader)', 'thaw isolate cold', 'thaw − workerd', 'workerd warm', 'thaw isolate warm', 'thaw − workerd', 'note'],
      sideRows,
    );
    writeJson(args.out!, { runs: RUNS, requests: REQUESTS, settleMs: SETTLE_MS, isolation, cold, workerd: side });
  } finally {
    workerd?.child.kill('SIGKILL');
    if (workerd) rmSync(workerd.dir, { recursive: true, force: true });
    await thaw.stop();
    await noSpares.stop();
    agent.destroy();
  }
}

await main();
