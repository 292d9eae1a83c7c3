// The compatibility suite: real functions on widely used npm packages of different kinds — native
// addons (sharp, better-sqlite3), data files (pdfkit, moment-timezone), run-time requires and
// workers (jsdom), large pure-JavaScript frameworks (express through a handler adapter, lodash,
// zod), an ESM-only package (nanoid) — installed from the registry at test time, deployed to a real
// `thaw serve` (its sandboxes), invoked and checked. For each it records the layout the deploy chose
// and why, and which start paths served it: a cold start, a V8 snapshot restore (or the snapshot's
// recorded fallback), a SOCK zygote (the function made popular by cold starts until the zygote tree
// gives it a set of its own, or the reason it does not), and a microVM (a server with
// `--isolation microvm`, where QEMU exists). It prints the table (the README's) and writes it as
// JSON to $THAW_COMPAT_OUT (default: <tmp>/thaw-compat.json).
//
// npm's cache lives in $THAW_COMPAT_CACHE (default <tmp>/thaw-compat-npm-cache): later runs download
// nothing. better-sqlite3 has no prebuilt binary reachable here and compiles from source at deploy
// (about two minutes on two cores): the suite's longest step. Skipped, saying why, without the registry.

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import { request as httpRequest } from 'node:http';
import { packFolder } from '../../src/cli/commands/client.ts';
import { microVmUnavailable } from '../../src/platform/sandbox/microvm/backend.ts';
import { ThawServer } from '../e2e/harness.ts';

const FUNCTIONS = fileURLToPath(new URL('./functions', import.meta.url));
const CACHE = process.env.THAW_COMPAT_CACHE || join(tmpdir(), 'thaw-compat-npm-cache');
const OUT = process.env.THAW_COMPAT_OUT || join(tmpdir(), 'thaw-compat.json');

interface Case {
  name: string;
  kind: string;
  packages: string;
  event: unknown;
  expect: unknown;
}

const CASES: Case[] = [
  { name: 'compat-sharp', kind: 'native addon (prebuilt, optional platform package)', packages: 'sharp 0.34.4', event: { size: 64 }, expect: { width: 16, height: 16, format: 'png' } },
  { name: 'compat-sqlite', kind: 'native addon (node-gyp build)', packages: 'better-sqlite3 12.6.2', event: { values: [4, 5, 6] }, expect: { total: 15 } },
  { name: 'compat-pdfkit', kind: 'data files next to its modules', packages: 'pdfkit 0.17.1', event: { text: 'compat' }, expect: { header: '%PDF-', bytes: true } },
  { name: 'compat-moment-timezone', kind: 'data file (required JSON)', packages: 'moment-timezone 0.6.0', event: { zone: 'Asia/Tokyo' }, expect: { local: '2026-06-01T21:00:00+09:00' } },
  { name: 'compat-jsdom', kind: 'run-time require, worker file', packages: 'jsdom 26.1.0', event: {}, expect: { items: 2, text: 'hi' } },
  { name: 'compat-express', kind: 'framework via a handler adapter', packages: 'express 5.1.0', event: { path: '/hello/thaw?q=1' }, expect: { status: 200, type: 'application/json; charset=utf-8', body: { hello: 'thaw', q: '1' } } },
  { name: 'compat-lodash', kind: 'large pure JavaScript', packages: 'lodash 4.17.21', event: { values: [1, 2, 3] }, expect: { chunks: [[1, 2], [3]], sum: 6 } },
  { name: 'compat-zod', kind: 'pure JavaScript (validation)', packages: 'zod 4.1.12', event: { id: 'x', qty: 0 }, expect: { ok: false, issues: ['qty'] } },
  { name: 'compat-nanoid', kind: 'ESM-only package, ESM function', packages: 'nanoid 5.1.6', event: {}, expect: { length: 10, alphabetOk: true } },
];

interface Row {
  function: string;
  packages: string;
  kind: string;
  layout: string;
  layoutReason: string;
  cold: string;
  snapshot: string;
  snapshotStatus?: string;
  zygote: string;
  microvm: string;
}

const rows = new Map<string, Row>();

function rowOf(c: Case): Row {
  let row = rows.get(c.name);
  if (!row) {
    row = { function: c.name, packages: c.packages, kind: c.kind, layout: '', layoutReason: '', cold: 'not tried', snapshot: 'not tried', zygote: 'not tried', microvm: 'not tried' };
    rows.set(c.name, row);
  }
  return row;
}

after(() => {
  if (rows.size === 0) return;
  const list = CASES.flatMap((c) => rows.get(c.name) ?? []);
  writeFileSync(OUT, `${JSON.stringify({ node: process.version, rows: list }, null, 2)}\n`);
  const table = ['| function | packages | kind | layout | cold | V8 snapshot | zygote | microVM |', '|---|---|---|---|---|---|---|---|'];
  for (const r of list) table.push(`| ${r.function} | ${r.packages} | ${r.kind} | ${r.layout} | ${r.cold} | ${r.snapshot} | ${r.zygote} | ${r.microvm} |`);
  console.log(`\n${table.join('\n')}\n\n(written to ${OUT})`);
});

/**
 * POST /functions without fetch's 300 s limit on the answer: a deploy that compiles a native addon
 * (better-sqlite3) can take longer on a loaded machine.
 */
function deployUnhurried(thaw: ThawServer, dir: string, settings: Record<string, unknown>): Promise<{ status: number; body: any }> {
  const body = JSON.stringify({ files: packFolder(dir), settings });
  return new Promise((resolve, reject) => {
    const req = httpRequest(`${thaw.url}/functions`, { method: 'POST', headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (text += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

function registryUnreachable(): string | undefined {
  try {
    execFileSync('npm', ['view', 'lodash@4.17.21', 'version', '--cache', CACHE], { stdio: 'pipe', timeout: 30_000 });
    return undefined;
  } catch (err) {
    return `the npm registry is not reachable: ${(err as Error).message.split('\n')[0]}`;
  }
}

const unreachable = registryUnreachable();

/** The function's own dependencies, from its package.json. */
function dependenciesOf(c: Case): string[] {
  return Object.keys(JSON.parse(readFileSync(join(FUNCTIONS, c.name, 'package.json'), 'utf8')).dependencies ?? {});
}

/** The zygote sets holding any of `packages`. */
async function zygoteSetsOf(thaw: ThawServer, packages: string[]): Promise<any[]> {
  const sets = (await thaw.stats()).zygotes?.sets ?? [];
  return sets.filter((s: any) => packages.some((p) => p in s.packages));
}

/**
 * Deploys `c` with `start: zygote` and makes it popular: cold starts (each followed by an eviction)
 * until the zygote tree plans a set of its packages, then waits for a zygote of that set (bounded)
 * and invokes from it. Says "yes", or why the zygote path does not serve the package.
 */
async function tryZygote(thaw: ThawServer, c: Case, name: string): Promise<string> {
  const deployed = await deployUnhurried(thaw, join(FUNCTIONS, c.name), { name, start: 'zygote' });
  assert.equal(deployed.status, 201, JSON.stringify(deployed.body));
  const packages = dependenciesOf(c);
  let sets: any[] = [];
  for (let i = 0; i < 20 && sets.length === 0; i++) {
    const cold = await thaw.invoke(name, c.event);
    assert.equal(cold.status, 200, JSON.stringify(cold.body));
    assert.deepEqual(cold.body, c.expect);
    await thaw.request('DELETE', `/functions/${name}/instances?wait=1`);
    sets = await zygoteSetsOf(thaw, packages);
  }
  if (sets.length === 0) return 'no: the zygote tree planned no set for it';
  // Bounded at 15 minutes: a set's install builds its native addons (better-sqlite3: minutes under load).
  for (let i = 0; i < 9000; i++) {
    sets = await zygoteSetsOf(thaw, packages);
    if (sets.some((s) => s.ready > 0)) break;
    const disabled = sets.find((s) => s.disabled)?.disabled;
    if (disabled) return `no: ${disabled}`;
    await delay(100);
  }
  if (!sets.some((s) => s.ready > 0)) return `no: no zygote became ready in 15 minutes (${JSON.stringify(sets.map((s) => s.counts))})`;
  const out = await thaw.invoke(name, c.event);
  assert.equal(out.status, 200, JSON.stringify(out.body));
  assert.deepEqual(out.body, c.expect);
  const kind = out.headers.get('x-thaw-start-kind');
  if (kind === 'zygote') return 'yes';
  const zygotes = (await thaw.stats()).zygotes;
  return `no: started ${kind} (${zygotes.variants.failed} variant bundle(s) failed)`;
}

/** Polls a function's snapshot status until it is no longer building (bounded). */
async function settledSnapshot(thaw: ThawServer, name: string): Promise<string> {
  for (let i = 0; i < 1200; i++) {
    const status = (await thaw.request('GET', `/functions/${name}`)).body.snapshotStatus as string | null;
    if (status && status !== 'building' && !status.startsWith('queued')) return status;
    await delay(100);
  }
  throw new Error(`${name}: snapshot still building after 120 s`);
}

// One data dir for both servers: the microVM server serves the versions the first one deployed, so
// no package is installed twice (better-sqlite3's build alone takes minutes).
const DATA_DIR = mkdtempSync(join(tmpdir(), 'thaw-compat-'));

describe('compatibility suite: real npm packages', { skip: unreachable ?? false, timeout: 60 * 60_000 }, () => {
  let thaw: ThawServer;

  before(async () => {
    thaw = await ThawServer.start(['--pause-after', '0'], DATA_DIR, { ...process.env, npm_config_cache: CACHE });
  });

  after(async () => {
    await thaw?.stop();
  });

  for (const c of CASES) {
    it(`${c.packages}: deploys, runs, and says which start paths serve it`, async () => {
      // 120 s: the microVM server below runs these versions under QEMU's software emulation, 10–20× slower.
      const deployed = await deployUnhurried(thaw, join(FUNCTIONS, c.name), { start: 'snapshot', timeoutMs: 120_000 });
      assert.equal(deployed.status, 201, JSON.stringify(deployed.body));
      const version = deployed.body.version;
      const row = rowOf(c);
      Object.assign(row, { layout: version.layout, layoutReason: version.layoutReason, cold: 'fails' });

      const snapshot = await settledSnapshot(thaw, c.name);
      const first = await thaw.invoke(c.name, c.event);
      assert.equal(first.status, 200, JSON.stringify(first.body));
      assert.deepEqual(first.body, c.expect);
      const firstKind = first.headers.get('x-thaw-start-kind');
      if (snapshot.startsWith('ready')) {
        assert.equal(firstKind, 'snapshot');
        row.snapshot = 'yes';
        // And cold: a new version that prefers cold starts (pure JavaScript: its install is cached, quick).
        const coldVersion = await thaw.deploy(join(FUNCTIONS, c.name), { start: 'cold', timeoutMs: 120_000 });
        assert.equal(coldVersion.status, 201, JSON.stringify(coldVersion.body));
        const cold = await thaw.invoke(c.name, c.event);
        assert.equal(cold.status, 200, JSON.stringify(cold.body));
        assert.deepEqual(cold.body, c.expect);
        assert.equal(cold.headers.get('x-thaw-start-kind'), 'cold');
        row.cold = `yes (${coldVersion.body.version.layout})`;
      } else {
        assert.equal(firstKind, 'cold', `no snapshot (${snapshot}): a cold start`);
        row.cold = `yes (${version.layout})`;
        row.snapshotStatus = snapshot;
        row.snapshot = version.layout === 'installed' ? 'no: installed layout' : `no: ${snapshot.replace(/^fallback: /, '')}`;
      }
      // The layout is what the deploy found: bundles for pure JavaScript, the installed tree where a bundle would break.
      assert.equal(version.layout, /native addon|data files next|run-time require|framework/.test(c.kind) ? 'installed' : 'bundle', version.layoutReason);

      // A zygote, under a second name (the microVM server below serves this one): the result must
      // be the same whichever way it started. Removed after, so its set leaves the zygote tree and
      // the next package's has room (at most 8 sets).
      row.zygote = 'fails';
      row.zygote = await tryZygote(thaw, c, `${c.name}-zygote`);
      assert.equal((await thaw.request('DELETE', `/functions/${c.name}-zygote`)).status, 200);
    });
  }
});

const noMicroVm = unreachable ?? microVmUnavailable();

describe('compatibility suite: real npm packages in microVMs', { skip: noMicroVm ?? false, timeout: 30 * 60_000 }, () => {
  let thaw: ThawServer;

  before(async () => {
    // The guest image is the same for every run on a machine (see test/platform/sandbox/microvm).
    process.env.THAW_VM_CACHE ||= join(tmpdir(), 'thaw-vm-test-cache');
    thaw = await ThawServer.start(['--isolation', 'microvm', '--pause-after', '0'], DATA_DIR, { ...process.env, npm_config_cache: CACHE });
  });

  after(async () => {
    await thaw?.stop();
  });

  for (const c of CASES) {
    it(`${c.packages}: runs in a microVM from the image's copy of its code`, async () => {
      const row = rowOf(c);
      row.microvm = 'fails';
      const fn = await thaw.request('GET', `/functions/${c.name}`);
      assert.equal(fn.status, 200, `deployed by the first server: ${JSON.stringify(fn.body)}`);
      const out = await thaw.invoke(c.name, c.event);
      assert.equal(out.status, 200, JSON.stringify(out.body));
      assert.deepEqual(out.body, c.expect);
      assert.equal(out.headers.get('x-thaw-start-kind'), 'cold', 'a VM booted for it');
      row.microvm = `yes (${row.layout})`;
      // Its VM stops, so the next package's has the memory.
      await thaw.request('DELETE', `/functions/${c.name}/instances?wait=1`);
    });
  }
});
