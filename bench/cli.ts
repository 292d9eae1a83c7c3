// What the thaw command costs, as ratios against baselines measured in the same run:
//   help    `thaw --help` (bin/thaw.js running dist/, no TypeScript loader)  vs  `node -e 0`
//   invoke  `thaw invoke hello` of a warm function                           vs  the same request by curl
// The pairs run in turn (A B A B …) so both see the same machine; each pair gives a ratio and the
// median ratio is the figure. Goal (issue 13): both within 3×. The invoke pair needs curl and a
// real thaw serve, which this starts (pause-after 0, so every measured invocation is warm). A third
// pair, `node -e 0` vs the same curl, is the floor of the invoke ratio for any command run by node.
//
//   npm run build && node --import tsx bench/cli.ts [--runs 20] [--isolation auto] [--out out/bench/cli.json]

import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import { packFolder } from '../src/cli/commands/client.ts';
import { median, printTable, writeJson } from './lib.ts';

const { values: args } = parseArgs({
  options: {
    runs: { type: 'string', default: '20' },
    isolation: { type: 'string', default: 'auto' },
    out: { type: 'string', default: 'out/bench/cli.json' },
  },
});
const RUNS = Number(args.runs);
const ROOT = resolve(import.meta.dirname, '..');
const BIN = join(ROOT, 'bin', 'thaw.js');
if (!existsSync(join(ROOT, 'dist', 'cli', 'main.js'))) {
  process.stderr.write("bench/cli.ts: dist/ is not built: run 'npm run build' first\n");
  process.exit(6);
}
if (spawnSync('curl', ['--version']).status !== 0) {
  process.stderr.write('bench/cli.ts: needs curl (apt-get install curl)\n');
  process.exit(6);
}
// The installed command as a user runs it: dist/, never the sources through tsx.
const env = { ...process.env };
delete env.THAW_FROM_SOURCE;

/** Wall time of one run of a command, ms; fails loudly when it does not exit 0. */
function time(command: string, argv: string[]): number {
  const start = performance.now();
  const r = spawnSync(command, argv, { env, stdio: ['ignore', 'ignore', 'pipe'] });
  const ms = performance.now() - start;
  if (r.status !== 0) throw new Error(`${command} ${argv.join(' ')} exited ${r.status}: ${r.stderr}`);
  return ms;
}

interface Pair {
  name: string;
  a: string;
  b: string;
  aMs: number;
  bMs: number;
  ratio: number;
  ratioMin: number;
  ratioMax: number;
}

function pair(name: string, a: [string, string[]], b: [string, string[]]): Pair {
  time(...a); // warm-up: file-system caches, the instance
  time(...b);
  const as: number[] = [];
  const bs: number[] = [];
  const ratios: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    const ta = time(...a);
    const tb = time(...b);
    as.push(ta);
    bs.push(tb);
    ratios.push(ta / tb);
  }
  return { name, a: [a[0], ...a[1]].join(' '), b: [b[0], ...b[1]].join(' '), aMs: median(as), bMs: median(bs), ratio: median(ratios), ratioMin: Math.min(...ratios), ratioMax: Math.max(...ratios) };
}

const help = pair('thaw --help vs node -e 0', [process.execPath, [BIN, '--help']], [process.execPath, ['-e', '0']]);

// A real thaw serve with hello deployed and warm.
const dataDir = mkdtempSync(join(tmpdir(), 'thaw-bench-cli-'));
const server = spawn(process.execPath, [BIN, 'serve', '--port', '0', '--data-dir', dataDir, '--isolation', args.isolation, '--pause-after', '0'], { env, stdio: ['ignore', 'pipe', 'pipe'] });
let serverLog = '';
server.stderr!.on('data', (d) => (serverLog += d));
const url = await new Promise<string>((resolveUrl, reject) => {
  createInterface({ input: server.stdout! }).once('line', (line) => resolveUrl(line.trim()));
  server.once('exit', (code) => reject(new Error(`thaw serve exited ${code}:\n${serverLog}`)));
});
let invoke: Pair;
let floor: Pair;
try {
  const deployed = await fetch(`${url}/functions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ files: packFolder(join(ROOT, 'examples', 'hello')), settings: { name: 'hello' } }) });
  if (deployed.status !== 201) throw new Error(`deploy: HTTP ${deployed.status} ${await deployed.text()}`);
  const curl: [string, string[]] = ['curl', ['-sf', '-X', 'POST', '-H', 'content-type: application/json', '-d', '{}', `${url}/functions/hello/invoke`]];
  // The floor of any command written for Node: node's own start against curl's.
  floor = pair('node -e 0 vs curl (the floor)', [process.execPath, ['-e', '0']], curl);
  invoke = pair(
    'thaw invoke (warm) vs curl',
    [process.execPath, [BIN, 'invoke', 'hello', '--url', url]],
    curl,
  );
} finally {
  server.kill('SIGTERM');
  await new Promise((r) => server.once('exit', r));
  rmSync(dataDir, { recursive: true, force: true });
}

const rows = [help, invoke, floor].map((p) => [p.name, p.aMs.toFixed(1), p.bMs.toFixed(1), `${p.ratio.toFixed(2)}×`, `${p.ratioMin.toFixed(2)}–${p.ratioMax.toFixed(2)}`, p.ratio <= 3 ? 'yes' : 'no']);
printTable(`the thaw command against its baselines (${RUNS} pairs each, medians; goal ≤ 3×)`, ['pair (A vs B)', 'A ms', 'B ms', 'ratio A/B', 'ratio range', 'within 3×'], rows);
writeJson(args.out, { runs: RUNS, isolation: args.isolation, pairs: [help, invoke, floor] });
