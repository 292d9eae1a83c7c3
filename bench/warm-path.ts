// Where a warm invocation's time goes inside thaw's server: warm `hello` at concurrency 1, each
// stage timed from the HTTP request event to the answer's res.end by a probe loaded into the server
// (bench/warm-path-probe.mjs: it wraps the methods the invocation passes through, thaw's code is
// unchanged). Stage medians, µs, over every invocation of every round. With --before DIR, a second
// thaw from another checkout (its dist/) is probed in the same interleaved rounds: each stage's
// before and after, on the same load. The profile a cut in the warm path starts from (and shows in).
//
//   node --import tsx bench/warm-path.ts [--requests 3000] [--rounds 5] [--isolation auto] [--before DIR] [--out out/bench/warm-path.json]

import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { EXAMPLES, ServerGroup, ThawServer } from '../test/e2e/harness.ts';
import { idleCpusInWords, median, printTable, writeJson } from './lib.ts';
import { load } from './warm-load.ts';

const { values: args } = parseArgs({
  options: {
    requests: { type: 'string', default: '3000' },
    rounds: { type: 'string', default: '5' },
    isolation: { type: 'string', default: 'auto' },
    before: { type: 'string' },
    out: { type: 'string', default: 'out/bench/warm-path.json' },
  },
});
const REQUESTS = Number(args.requests);
const ROUNDS = Number(args.rounds);
const ROOT = fileURLToPath(new URL('..', import.meta.url));
const PROBE = fileURLToPath(new URL('./warm-path-probe.mjs', import.meta.url));

/** The points the probe marks, in the order an invocation reaches them. */
const POINTS = [
  'platform.invokeSync (routed, body read)',
  'invoker.invoke',
  'sandbox invoke (instance taken)',
  "agent's result arrives",
  'sandbox invoke resolved (logs cut)',
  'invoker.invoke resolved (instance released)',
  'platform.invokeSync resolved (recorded)',
  'res.end called',
  'res.end returned (answer written)',
];

interface Probed {
  label: string;
  server: ThawServer;
  url: string;
  outFile: string;
  samples: Map<string, number[]>;
}

async function probed(group: ServerGroup, label: string, checkout: string, dir: string): Promise<Probed> {
  if (!existsSync(join(checkout, 'dist', 'platform', 'platform.js'))) throw new Error(`${checkout} has no dist/: run npm run build there first (the probe wraps the compiled code)`);
  const outFile = join(dir, `${label}.json`);
  const env = { ...process.env, THAW_FROM_SOURCE: '0', THAW_PROBE_DIST: join(checkout, 'dist'), THAW_PROBE_OUT: outFile };
  const server = await group.start(['--isolation', args.isolation!, '--pause-after', '0', '--ttl', '10m'], undefined, env, ['--import', PROBE], join(checkout, 'bin', 'thaw.js'));
  const deployed = await server.deploy(join(EXAMPLES, 'hello'), { name: 'hello' });
  if (deployed.status !== 201) throw new Error(`deploy hello (${label}): ${JSON.stringify(deployed.body)}`);
  return { label, server, url: `${server.url}/functions/hello/invoke`, outFile, samples: new Map() };
}

/** The probe's samples since its last reset: it writes them on SIGUSR2. */
async function collect(p: Probed): Promise<void> {
  rmSync(p.outFile, { force: true });
  p.server.process.kill('SIGUSR2');
  let text: string | undefined;
  for (let tries = 0; text === undefined; tries++) {
    try {
      text = readFileSync(p.outFile, 'utf8');
    } catch {
      if (tries > 200) throw new Error(`the probe of ${p.label} wrote nothing to ${p.outFile}`);
      await new Promise((r) => setTimeout(r, 10));
    }
  }
  for (const [point, values] of Object.entries(JSON.parse(text) as Record<string, number[]>)) p.samples.set(point, [...(p.samples.get(point) ?? []), ...values]);
}

/** Median µs since the request event at each point, and the stage that ends there. */
function profile(p: Probed): Array<{ point: string; sinceRequestUs: number; stageUs: number }> {
  let previous = 0;
  return POINTS.map((point) => {
    const values = p.samples.get(point);
    if (!values?.length) throw new Error(`the probe of ${p.label} never reached '${point}'`);
    const sinceRequestUs = median(values);
    const stageUs = sinceRequestUs - previous;
    previous = sinceRequestUs;
    return { point, sinceRequestUs, stageUs };
  });
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'thaw-warm-path-'));
  const group = new ServerGroup();
  try {
    const servers = [await probed(group, 'after', ROOT, dir), ...(args.before ? [await probed(group, 'before', resolve(args.before), dir)] : [])];
    for (const s of servers) await load(s.url, 1000, 1); // JIT, then forget it
    for (const s of servers) s.server.process.kill('SIGUSR1');
    const perSecond = new Map<string, number[]>(servers.map((s) => [s.label, []]));
    for (let round = 0; round < ROUNDS; round++) {
      for (const s of servers) perSecond.get(s.label)!.push(await load(s.url, Math.ceil(REQUESTS / ROUNDS), 1));
    }
    for (const s of servers) await collect(s);
    const [after, before] = servers.map(profile);
    const rows = after!.map((a, i) => {
      const b = before?.[i];
      return [a.point, a.sinceRequestUs.toFixed(1), a.stageUs.toFixed(1), ...(b ? [b.sinceRequestUs.toFixed(1), b.stageUs.toFixed(1), (a.stageUs - b.stageUs).toFixed(1)] : [])];
    });
    const rps = (label: string) => Math.round(median(perSecond.get(label)!));
    rows.push(['req/s (median of the rounds)', String(rps('after')), '', ...(before ? [String(rps('before')), '', ''] : [])]);
    printTable(
      `A warm invocation of hello inside thaw's server, concurrency 1 (${REQUESTS} requests in ${ROUNDS} rounds; µs, medians; "stage": from the point above to this one; the agent's round trip ends at "agent's result arrives"; ${idleCpusInWords()})`,
      ['point', 'µs since request', 'stage µs', ...(before ? ['before: since request', 'before: stage', 'stage − before'] : [])],
      rows,
    );
    writeJson(args.out!, { requests: REQUESTS, rounds: ROUNDS, after, before, perSecond: Object.fromEntries(perSecond) });
  } finally {
    await group.stopAll();
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
