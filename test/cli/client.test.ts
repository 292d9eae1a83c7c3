// The client commands against a real thaw serve, as a user runs them: --json everywhere, reading
// an async invocation, following logs, input checked before anything changes; and how they fail —
// one line saying what to do, the exit code of the error's class (the same in every command), no
// stack trace unless --debug is given.

import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { createInterface } from 'node:readline';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { BIN, E2E_FIXTURES, EXAMPLES, ThawServer } from '../e2e/harness.ts';

function thaw(args: string[]): Promise<{ status: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [BIN, ...args], { encoding: 'utf8' }, (error, stdout, stderr) => {
      resolve({ status: error ? Number((error as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
  });
}

const STACK = /^\s+at /m;

async function listen(server: Server): Promise<string> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

describe('thaw client commands', { timeout: 180_000 }, () => {
  let server: ThawServer;
  before(async () => {
    server = await ThawServer.start(['--isolation', 'process', '--max-attempts', '1']);
    assert.equal((await server.deploy(join(EXAMPLES, 'hello'), { name: 'hello' })).status, 201);
    assert.equal((await server.deploy(join(E2E_FIXTURES, 'faulty'), { name: 'faulty' })).status, 201);
  });
  after(() => server?.stop());

  const cli = (...args: string[]) => thaw([...args, '--url', server.url]);

  it('--json on every client command prints JSON on stdout', async () => {
    await cli('invoke', 'hello');
    for (const args of [['ls'], ['stats'], ['stats', 'hello'], ['logs', 'hello'], ['alias', 'hello'], ['dlq', 'ls'], ['invoke', 'hello'], ['evict', 'hello']]) {
      const r = await cli(...args, '--json');
      assert.equal(r.status, 0, `${args.join(' ')}: ${r.stderr}`);
      assert.doesNotThrow(() => JSON.parse(r.stdout), `${args.join(' ')} --json: ${r.stdout}`);
    }
    assert.deepEqual(JSON.parse((await cli('ls', '--json')).stdout).functions.map((f: { name: string }) => f.name).sort(), ['faulty', 'hello']);
    assert.equal(JSON.parse((await cli('invoke', 'hello', '--json')).stdout).version, 1);
  });

  it('thaw invocation ID --wait reads an async invocation once it is final', async () => {
    const queued = await cli('invoke', 'hello', '--async', '--data', '{"name":"async"}', '--json');
    assert.equal(queued.status, 0, queued.stderr);
    const { id } = JSON.parse(queued.stdout);
    const r = await cli('invocation', id, '--wait', '--json');
    assert.equal(r.status, 0, r.stderr);
    const record = JSON.parse(r.stdout);
    assert.deepEqual([record.id, record.status, record.mode], [id, 'succeeded', 'async']);
    assert.match(JSON.stringify(record.result), /async/);
    const text = await cli('invocation', id);
    assert.match(text.stdout, new RegExp(`invocation ${id}: hello v1, async, succeeded`));
    const failed = JSON.parse((await cli('invoke', 'faulty', '--async', '--data', '{"action":"throw"}', '--json')).stdout);
    assert.equal((await cli('invocation', failed.id, '--wait')).status, 1, 'a failed invocation exits as thaw invoke does');
    assert.equal((await cli('invocation', 'nosuch')).status, 3);
  });

  it('thaw logs NAME --follow prints each invocation as it finishes', async () => {
    const follow = spawn(process.execPath, [BIN, 'logs', 'faulty', '--follow', '--json', '--limit', '1', '--interval', '100ms', '--url', server.url], { stdio: ['ignore', 'pipe', 'pipe'] });
    try {
      const lines = createInterface({ input: follow.stdout! });
      const seen: string[] = [];
      const marker = `follow-${process.pid}`;
      const found = new Promise<void>((resolve) => {
        lines.on('line', (line) => {
          seen.push(line);
          if (JSON.parse(line).stdout?.includes(marker)) resolve();
        });
      });
      // Finished before the first answer or after it, the invocation is printed once.
      await cli('invoke', 'faulty', '--data', JSON.stringify({ action: marker }));
      await found;
      assert.ok(seen.every((l) => ['succeeded', 'failed'].includes(JSON.parse(l).status)), 'only final invocations');
      assert.equal(new Set(seen.map((l) => JSON.parse(l).id)).size, seen.length, 'each once');
    } finally {
      follow.kill('SIGINT');
    }
  });

  it('a bad option changes nothing: deploy --schedule with a bad cron deploys no version', async () => {
    const before = JSON.parse((await cli('ls', '--json')).stdout).functions.find((f: { name: string }) => f.name === 'hello');
    for (const args of [['--schedule', 'every minute'], ['--memory', '1TB'], ['--start', 'warm'], ['--env', 'novalue'], ['--schedule', '* * * * *', '--schedule-payload', '{']]) {
      const r = await cli('deploy', join(EXAMPLES, 'hello'), '--name', 'hello', ...args);
      assert.equal(r.status, 2, `${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, /^thaw: .*\n$/);
    }
    const after = JSON.parse((await cli('ls', '--json')).stdout).functions.find((f: { name: string }) => f.name === 'hello');
    assert.equal(after.latestVersion, before.latestVersion);
    assert.equal((await cli('invoke', 'hello', '--data', '{')).status, 2, 'bad JSON is refused before the request');
  });

  it('a function that does not exist is exit 3 in every command', async () => {
    for (const args of [['invoke', 'nosuch'], ['stats', 'nosuch'], ['logs', 'nosuch'], ['rm', 'nosuch'], ['evict', 'nosuch']]) {
      const r = await thaw([...args, '--url', server.url]);
      assert.equal(r.status, 3, `${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, /^thaw: .*nosuch.*\n$/, args.join(' '));
    }
  });

  it('a function that throws is exit 1, with its kind and message', async () => {
    const r = await thaw(['invoke', 'faulty', '--data', '{"action":"throw"}', '--url', server.url]);
    assert.equal(r.status, 1, r.stderr);
    assert.match(r.stderr, /^thaw: error: .*asked to throw/);
    assert.doesNotMatch(r.stderr, STACK);
  });

  it('bad input is exit 2', async () => {
    assert.equal((await thaw(['launch'])).status, 2);
    assert.equal((await thaw(['ls', '--nope'])).status, 2);
  });

  it('a busy port is one line saying what to do, exit 6', async () => {
    const port = new URL(server.url).port;
    const r = await thaw(['serve', '--port', port, '--isolation', 'process', '--data-dir', mkdtempSync(join(tmpdir(), 'thaw-busy-'))]);
    assert.equal(r.status, 6, r.stderr);
    assert.match(r.stderr, new RegExp(`thaw: 127\\.0\\.0\\.1:${port} is already in use — stop the other process or choose another --port\\n$`));
    assert.doesNotMatch(r.stderr, STACK);
  });

  it('a data directory thaw may not write is one line saying what to do, exit 5', async () => {
    const r = await thaw(['serve', '--port', '0', '--isolation', 'process', '--data-dir', '/sys/thaw-cannot-write-here']);
    assert.equal(r.status, 5, r.stderr);
    assert.match(r.stderr, /thaw: cannot open the thaw database in \/sys\/thaw-cannot-write-here: .* — run as a user that may, or choose another --data-dir or --port\n$/);
    assert.doesNotMatch(r.stderr, STACK);
  });

  it('no server at the URL is one line, exit 6', async () => {
    const closed = createServer();
    const url = await listen(closed);
    await new Promise((resolve) => closed.close(resolve));
    const r = await thaw(['ls', '--url', url]);
    assert.equal(r.status, 6);
    assert.match(r.stderr, new RegExp(`^thaw: cannot reach thaw at ${url} \\(.*\\) — start it with 'thaw serve', or pass --url URL \\(or set \\$THAW_URL\\)\\n$`));
  });

  it('a server that is not thaw is named as such, exit 6; --debug adds the stack', async () => {
    const other = createServer((_req, res) => res.writeHead(501, { 'content-type': 'text/plain' }).end('Not Implemented'));
    const url = await listen(other);
    try {
      const r = await thaw(['ls', '--url', url]);
      assert.equal(r.status, 6);
      assert.match(r.stderr, /^thaw: .* answered HTTP 501 Not Implemented .*not as thaw does — check --url/);
      assert.doesNotMatch(r.stderr, STACK);
      const debug = await thaw(['ls', '--url', url, '--debug']);
      assert.equal(debug.status, 6);
      assert.match(debug.stderr, STACK);
    } finally {
      other.close();
    }
  });
});
