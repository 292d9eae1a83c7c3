// The warm path's baselines (bench/platform.ts): a bare node:http server answering hello's JSON, and
// the relay (bench/relay.ts). Either runs in the caller's process or in a process of its own, as
// thaw's server runs: a server in the load generator's own process shares its event loop, so a
// request costs no process wake-up at all between client and server; a server in a process of its
// own pays two per request, as thaw does and as anyone's deployed server does. Both are measured.
//
//   node --import tsx bench/baseline-server.ts bare|relay   prints its URL, serves until stdin ends

import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { relayServer } from './relay.ts';

export type BaselineKind = 'bare' | 'relay';

export interface BaselineServer {
  url: string;
  /** The process serving it: this one (in-process) or its own. */
  pid: number;
  close: () => void;
}

/** The relay's children: as many as the load's highest concurrency, one request at a time each. */
const RELAY_CHILDREN = 32;

export async function bareServer(): Promise<BaselineServer> {
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (d) => (body += d));
    req.on('end', () => {
      const text = JSON.stringify({ message: `Hello, ${JSON.parse(body).name}!` });
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
      res.end(text);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/`, pid: process.pid, close: () => server.close() };
}

export async function baselineInProcess(kind: BaselineKind): Promise<BaselineServer> {
  if (kind === 'bare') return bareServer();
  return { ...(await relayServer(RELAY_CHILDREN)), pid: process.pid };
}

/** A baseline in a process of its own (this file run with tsx), once it prints its URL. */
export function baselineProcess(kind: BaselineKind): Promise<BaselineServer> {
  const child: ChildProcess = spawn(process.execPath, ['--import', 'tsx', fileURLToPath(import.meta.url), kind], { stdio: ['pipe', 'pipe', 'inherit'] });
  return new Promise((resolve, reject) => {
    let out = '';
    child.on('error', reject);
    child.on('exit', (code, signal) => reject(new Error(`the ${kind} baseline exited before serving (${signal ?? `exit ${code}`})`)));
    child.stdout!.setEncoding('utf8');
    child.stdout!.on('data', (d: string) => {
      out += d;
      const nl = out.indexOf('\n');
      if (nl < 0) return;
      child.removeAllListeners('exit');
      resolve({ url: out.slice(0, nl), pid: child.pid!, close: () => child.stdin!.end() });
    });
  });
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const kind = process.argv[2];
  if (kind !== 'bare' && kind !== 'relay') {
    process.stderr.write('usage: baseline-server.ts bare|relay\n');
    process.exit(2);
  }
  const server = await baselineInProcess(kind);
  process.stdout.write(`${server.url}\n`);
  process.stdin.resume();
  process.stdin.on('end', () => {
    server.close();
    process.exit(0);
  });
}
