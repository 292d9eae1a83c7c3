// Where a warm invocation's CPU goes: CPU time per request of thaw's server, its instances (the
// agents) and the load generator, for warm `hello` at concurrency 1 and 32, beside a bare node:http
// server in a process of its own (bench/baseline-server.ts) loaded by the same client in the same
// run. On two cores the sum of these is what bounds throughput at 32, and the chain client →
// server → agent → server → client is what bounds it at 1: a cut in either shows here first.
//
//   node --import tsx bench/warm-cpu.ts [--requests 6000] [--isolation auto|container|process] [--start cold|isolate|...] [--out out/bench/warm-cpu.json]
//
// CPU from /proc/PID/stat (user + system, clock ticks of 10 ms), summed over every process that ran.

import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { EXAMPLES, ThawServer } from '../test/e2e/harness.ts';
import { baselineProcess } from './baseline-server.ts';
import { idleCpusInWords, printTable, writeJson } from './lib.ts';
import { load } from './warm-load.ts';

const { values: args } = parseArgs({ options: { requests: { type: 'string', default: '6000' }, isolation: { type: 'string', default: 'auto' }, start: { type: 'string', default: 'cold' }, out: { type: 'string', default: 'out/bench/warm-cpu.json' } } });
const REQUESTS = Number(args.requests);

/** CPU ms of every process now, by pid, with what it runs. */
function processes(): Map<number, { what: string; cpuMs: number }> {
  const out = new Map<number, { what: string; cpuMs: number }>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      out.set(Number(entry), { what: readFileSync(`/proc/${entry}/cmdline`, 'utf8').replaceAll('\0', ' '), cpuMs: (Number(fields[11]) + Number(fields[12])) * 10 });
    } catch {
      // exited meanwhile
    }
  }
  return out;
}

/** CPU ms per request of each group of processes during `run`: the server, its agents, the client, the rest. */
async function cpuPerRequest(run: () => Promise<number>, n: number, serverPid: number): Promise<{ perSecond: number; server: number; agents: number; client: number; other: number }> {
  const before = processes();
  const mine = process.cpuUsage();
  const perSecond = await run();
  const after = processes();
  const used = process.cpuUsage(mine);
  const sums = { server: 0, agents: 0, other: 0 };
  for (const [pid, p] of after) {
    if (pid === process.pid) continue;
    const ms = p.cpuMs - (before.get(pid)?.cpuMs ?? 0);
    if (pid === serverPid) sums.server += ms;
    else if (p.what.includes('agent')) sums.agents += ms;
    else sums.other += ms;
  }
  return { perSecond, server: sums.server / n, agents: sums.agents / n, client: (used.user + used.system) / 1000 / n, other: sums.other / n };
}

async function main(): Promise<void> {
  const thaw = await ThawServer.start(['--isolation', args.isolation!, '--pause-after', '0', '--ttl', '10m', '--memory', '4GB'], undefined, { ...process.env, THAW_FROM_SOURCE: '0' });
  const bare = await baselineProcess('bare');
  try {
    const deployed = await thaw.deploy(join(EXAMPLES, 'hello'), { name: 'hello', maxConcurrency: 64, start: args.start });
    if (deployed.status !== 201) throw new Error(`deploy hello: ${JSON.stringify(deployed.body)}`);
    const helloUrl = `${thaw.url}/functions/hello/invoke`;
    const rows: Array<Array<string | number>> = [];
    const json: Record<string, unknown> = {};
    for (const concurrency of [1, 32]) {
      await load(helloUrl, 300, concurrency); // instances for this concurrency, JIT
      await load(bare.url, 300, concurrency);
      const b = await cpuPerRequest(() => load(bare.url, REQUESTS, concurrency), REQUESTS, bare.pid);
      const t = await cpuPerRequest(() => load(helloUrl, REQUESTS, concurrency), REQUESTS, thaw.process.pid!);
      json[`c${concurrency}`] = { bare: b, thaw: t, thawOverBare: t.perSecond / b.perSecond, serverOverBareServer: t.server / b.server };
      rows.push([concurrency, Math.round(b.perSecond), b.server.toFixed(3), b.client.toFixed(3), Math.round(t.perSecond), (t.perSecond / b.perSecond).toFixed(2), t.server.toFixed(3), t.agents.toFixed(3), t.client.toFixed(3), t.other.toFixed(3), (t.server / b.server).toFixed(2)]);
    }
    printTable(
      `CPU per warm request (ms; ${REQUESTS} requests each, bare first, then thaw, in one run; ${idleCpusInWords()})`,
      ['c', 'bare req/s', 'bare server', 'bare client', 'thaw req/s', 'thaw/bare', 'thaw server', 'agents', 'thaw client', 'other', 'server/bare server'],
      rows,
    );
    writeJson(args.out!, json);
  } finally {
    bare.close();
    await thaw.stop();
  }
}

await main();
