// How the thaw command fails, as a user sees it: one line saying what to do, the exit code of the
// error's class (the same in every command), and no stack trace unless --debug is given.

import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
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

describe('thaw CLI errors', { timeout: 120_000 }, () => {
  let server: ThawServer;
  before(async () => {
    server = await ThawServer.start(['--isolation', 'process']);
    assert.equal((await server.deploy(join(EXAMPLES, 'hello'), { name: 'hello' })).status, 201);
    assert.equal((await server.deploy(join(E2E_FIXTURES, 'faulty'), { name: 'faulty' })).status, 201);
  });
  after(() => server?.stop());

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
    assert.equal((await thaw(['invoke', 'hello', '--data', '{', '--url', server.url])).status, 2);
    assert.equal((await thaw(['ls', '--nope'])).status, 2);
  });

  it('a busy port is one line saying what to do, exit 6', async () => {
    const port = new URL(server.url).port;
    const r = await thaw(['serve', '--port', port, '--isolation', 'process', '--data-dir', mkdtempSync(join(tmpdir(), 'thaw-busy-'))]);
    assert.equal(r.status, 6, r.stderr);
    assert.match(r.stderr, new RegExp(`thaw: 127\\.0\\.0\\.1:${port} is already in use — stop the other process or choose another --port\\n$`));
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
