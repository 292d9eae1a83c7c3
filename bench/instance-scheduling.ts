// Instances under SCHED_BATCH against the default policy (src/platform/sandbox/scheduling.ts): warm
// `hello` at concurrency 1 and 32 through one thaw server, the same instances switched between the
// two policies (chrt -a -p on every task of every instance) between interleaved rounds, so the
// ratio compares like with like: one server, one set of instances, the same load generator.
//
//   node --import tsx bench/instance-scheduling.ts [--rounds 8] [--requests 2000] [--out out/bench/instance-scheduling.json]

import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { EXAMPLES, ThawServer } from '../test/e2e/harness.ts';
import { median, printTable, writeJson } from './lib.ts';
import { load } from './warm-load.ts';

const { values: args } = parseArgs({
  options: { rounds: { type: 'string', default: '8' }, requests: { type: 'string', default: '2000' }, out: { type: 'string', default: 'out/bench/instance-scheduling.json' } },
});
const ROUNDS = Number(args.rounds);
const REQUESTS = Number(args.requests);

/** The pids of the server's instances (node running the bundled agent). */
function instancePids(): number[] {
  return readdirSync('/proc')
    .filter((entry) => /^\d+$/.test(entry))
    .filter((entry) => {
      try {
        return readFileSync(`/proc/${entry}/cmdline`, 'utf8').includes('agent.cjs');
      } catch {
        return false;
      }
    })
    .map(Number);
}

/** Every task of every instance under `policy` (-b batch, -o other). */
function setPolicy(policy: '-b' | '-o'): void {
  for (const pid of instancePids()) {
    try {
      execFileSync('chrt', ['-a', policy, '-p', '0', String(pid)], { stdio: 'ignore' });
    } catch {
      // exited meanwhile
    }
  }
}

async function main(): Promise<void> {
  const thaw = await ThawServer.start(['--pause-after', '0', '--ttl', '10m', '--memory', '4GB'], undefined, { ...process.env, THAW_FROM_SOURCE: '0' });
  try {
    const deployed = await thaw.deploy(join(EXAMPLES, 'hello'), { name: 'hello', maxConcurrency: 64 });
    if (deployed.status !== 201) throw new Error(`deploy hello: ${JSON.stringify(deployed.body)}`);
    const url = `${thaw.url}/functions/hello/invoke`;
    await load(url, 500, 32); // instances for concurrency 32, JIT
    const rows: Array<Array<string | number>> = [];
    const json: Record<string, unknown> = {};
    for (const concurrency of [1, 32]) {
      await load(url, 300, concurrency);
      const other: number[] = [];
      const batch: number[] = [];
      for (let round = 0; round < ROUNDS; round++) {
        setPolicy('-o');
        other.push(await load(url, REQUESTS, concurrency));
        setPolicy('-b');
        batch.push(await load(url, REQUESTS, concurrency));
      }
      const ratios = batch.map((b, i) => b / other[i]!);
      json[`c${concurrency}`] = { other, batch, batchOverOther: median(ratios) };
      rows.push([concurrency, Math.round(median(other)), Math.round(median(batch)), median(ratios).toFixed(2), `${Math.min(...ratios).toFixed(2)}–${Math.max(...ratios).toFixed(2)}`]);
    }
    printTable(
      `Warm hello, instances under the default policy (SCHED_OTHER) and SCHED_BATCH (${ROUNDS} interleaved rounds of ${REQUESTS} requests; req/s medians)`,
      ['c', 'other req/s', 'batch req/s', 'batch/other (median of rounds)', 'range'],
      rows,
    );
    writeJson(args.out!, json);
  } finally {
    await thaw.stop();
  }
}

await main();
