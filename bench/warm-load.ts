// A minimal load generator for warm-path benchmarks: POST a small JSON body to `url`, `concurrency`
// at a time over keep-alive connections, and report requests per second. No per-request bookkeeping
// beyond the status check, so the client's own CPU per request stays small and comparable between
// the servers it loads in one run.

import { Agent, request } from 'node:http';

const agent = new Agent({ keepAlive: true, maxSockets: 64 });

export function post(url: string, body = '{"name":"bench"}'): Promise<void> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method: 'POST', agent, headers: { 'content-type': 'application/json' } }, (res) => {
      if (res.statusCode !== 200) reject(new Error(`HTTP ${res.statusCode} from ${url}`));
      res.resume();
      res.on('end', resolve);
    });
    req.on('error', reject);
    req.end(body);
  });
}

/** `total` requests, `concurrency` in flight; requests per second. */
export async function load(url: string, total: number, concurrency: number): Promise<number> {
  let next = 0;
  const start = performance.now();
  await Promise.all(Array.from({ length: concurrency }, async () => { while (next++ < total) await post(url); }));
  return (total / (performance.now() - start)) * 1000;
}
