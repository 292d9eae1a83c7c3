// The floor of any platform that runs a function in its own process: a bare node:http server that
// hands each request to one of `children` node processes over a socketpair on fd 3 (newline-
// delimited JSON, as thaw's agents) and answers with what the child says — one request at a time
// per child, as a thaw instance serves. No sandbox, no routing, no records: only the extra process
// hop, its two messages and the two JSON encodings.

import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Socket } from 'node:net';

const CHILD = `
const net = require('node:net');
const channel = new net.Socket({ fd: 3, readable: true, writable: true });
let rest = '';
channel.setEncoding('utf8');
channel.on('data', (chunk) => {
  const text = rest + chunk;
  let start = 0, nl;
  while ((nl = text.indexOf('\\n', start)) >= 0) {
    const msg = JSON.parse(text.slice(start, nl));
    start = nl + 1;
    channel.write(JSON.stringify({ id: msg.id, value: { message: 'Hello, ' + msg.payload.name + '!' } }) + '\\n');
  }
  rest = text.slice(start);
});
channel.on('end', () => process.exit(0));
`;

interface Child {
  process: ChildProcess;
  channel: Socket;
  answer?: (value: unknown) => void;
}

export async function relayServer(children: number): Promise<{ url: string; close: () => void }> {
  const pool: Child[] = [];
  const idle: Child[] = [];
  const waiting: Array<(child: Child) => void> = [];
  const release = (child: Child) => {
    const next = waiting.shift();
    if (next) next(child);
    else idle.push(child);
  };
  for (let i = 0; i < children; i++) {
    const proc = spawn(process.execPath, ['-e', CHILD], { stdio: ['ignore', 'ignore', 'inherit', 'pipe'], env: { PATH: process.env.PATH } });
    const child: Child = { process: proc, channel: proc.stdio[3] as Socket };
    let rest = '';
    child.channel.setEncoding('utf8');
    child.channel.on('data', (chunk: string) => {
      const text = rest + chunk;
      let start = 0;
      let nl: number;
      while ((nl = text.indexOf('\n', start)) >= 0) {
        const msg = JSON.parse(text.slice(start, nl)) as { value: unknown };
        start = nl + 1;
        const answer = child.answer!;
        child.answer = undefined;
        answer(msg.value);
      }
      rest = text.slice(start);
    });
    pool.push(child);
    idle.push(child);
  }
  let nextId = 0;
  const server = createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (d: string) => (body += d));
    req.on('end', () => {
      const payload = JSON.parse(body) as unknown;
      const run = (child: Child) => {
        child.answer = (value) => {
          release(child);
          const text = JSON.stringify(value);
          res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
          res.end(text);
        };
        child.channel.write(`${JSON.stringify({ type: 'invoke', id: String(nextId++), payload })}\n`);
      };
      const child = idle.pop();
      if (child) run(child);
      else waiting.push(run);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/`,
    close: () => {
      server.close();
      for (const child of pool) {
        child.channel.end();
        child.process.kill();
      }
    },
  };
}
