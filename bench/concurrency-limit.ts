// The adaptive concurrency limit (`thaw serve --concurrency-limit adaptive`,
// src/platform/invoker/concurrency-limit.ts) against the fixed one, at a concurrency the CPUs cannot
// serve in parallel: two thaw servers of the same checkout, one per mode, each with warm `hello`
// (maxConcurrency 64: as many instances as requests in flight), and on the fixed one `hello-capped`
// (maxConcurrency two per CPU: the hand-picked limit); baseline: a bare node:http server answering
// the same JSON in a process of its own. Interleaved rounds, in an order rotated each round; req/s
// and ratios are the medians of the rounds.
//
//   node --import tsx bench/concurrency-limit.ts [--rounds 10] [--requests 2000] [--concurrency 32]
//     [--out out/bench/concurrency-limit.json]

import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { EXAMPLES, ServerGroup } from '../test/e2e/harness.ts';
import { baselineProcess } from './baseline-server.ts';
import { idleCpusInWords, median, printTable, writeJson } from './lib.ts';
import { load } from './warm-load.ts';

const { values: args } = parseArgs({
  options: {
    rounds: { type: 'string', default: '10' },
    requests: { type: 'string', default: '2000' },
    concurrency: { type: 'string', default: '32' },
    out: { type: 'string', default: 'out/bench/concurrency-limit.json' },
  },
});
const ROUNDS = Number(args.rounds);
const REQUESTS = Number(args.requests);
const CONCURRENCY = Number(args.concurrency);
const CAPPED = 2 * availableParallelism();

async function main(): Promise<void> {
  const env = { ...process.env, THAW_FROM_SOURCE: '0' };
  const serveArgs = ['--pause-after', '0', '--ttl', '10m', '--memory', '12GB'];
  const servers = new ServerGroup();
  const bare = await baselineProcess('bare');
  try {
    const fixed = await servers.start(serveArgs, undefined, env);
    const adaptive = await servers.start([...serveArgs, '--concurrency-limit', 'adaptive'], undefined, env);
    for (const [server, name, maxConcurrency] of [[fixed, 'hello', 64], [fixed, 'hello-capped', CAPPED], [adaptive, 'hello', 64]] as const) {
      const r = await server.deploy(join(EXAMPLES, 'hello'), { name, maxConcurrency });
      if (r.status !== 201) throw new Error(`deploy ${name}: ${JSON.stringify(r.body)}`);
    }
    const variants = [
      { label: 'bare node:http', server: undefined, url: bare.url, name: '' },
      { label: 'fixed (maxConcurrency 64)', server: fixed, url: `${fixed.url}/functions/hello/invoke`, name: 'hello' },
      { label: `fixed, capped (maxConcurrency ${CAPPED})`, server: fixed, url: `${fixed.url}/functions/hello-capped/invoke`, name: 'hello-capped' },
      { label: 'adaptive (maxConcurrency 64)', server: adaptive, url: `${adaptive.url}/functions/hello/invoke`, name: 'hello' },
    ];
    // Warm up: instances for the concurrency, JIT, and the adaptive limit's first windows and probe.
    for (const v of variants) await load(v.url, 2000, CONCURRENCY);
    const perSecond = variants.map((): number[] => []);
    for (let round = 0; round < ROUNDS; round++) {
      for (let k = 0; k < variants.length; k++) {
        const i = (round + k) % variants.length;
        perSecond[i]!.push(await load(variants[i]!.url, REQUESTS, CONCURRENCY));
      }
    }
    const over = (i: number, j: number) => median(perSecond[i]!.map((r, round) => r / perSecond[j]![round]!));
    const rows: Array<Array<string | number>> = [];
    const json: Record<string, unknown>[] = [];
    for (let i = 0; i < variants.length; i++) {
      const v = variants[i]!;
      let instancesUsed: number | undefined;
      let limit: number | undefined;
      if (v.server) {
        const records = (await v.server.request('GET', `/functions/${v.name}/invocations?limit=1000`)).body.invocations as Array<{ instanceId?: string }>;
        instancesUsed = new Set(records.map((r) => r.instanceId)).size;
        const stats = await v.server.stats();
        limit = (stats.functions as Array<{ functionName: string; concurrencyLimit?: number }>).find((f) => f.functionName === v.name)?.concurrencyLimit;
      }
      const row = { variant: v.label, perSecond: median(perSecond[i]!), overBare: over(i, 0), overFixed: i === 0 ? undefined : over(i, 1), instancesUsed, limitAtEnd: limit };
      json.push(row);
      rows.push([v.label, Math.round(row.perSecond), row.overBare.toFixed(2), row.overFixed?.toFixed(2) ?? '', instancesUsed ?? '', limit ?? '']);
    }
    printTable(
      `Warm hello at concurrency ${CONCURRENCY} (${ROUNDS} interleaved rounds of ${REQUESTS} requests; req/s and ratios: medians of the rounds; ${idleCpusInWords()})`,
      ['variant', 'req/s', '/bare', '/fixed', 'instances that served the last 1000', 'adaptive limit at the end'],
      rows,
    );
    writeJson(args.out!, { concurrency: CONCURRENCY, rounds: ROUNDS, requests: REQUESTS, variants: json });
  } finally {
    bare.close();
    await servers.stopAll();
  }
}

await main();
