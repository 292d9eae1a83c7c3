// Who may use a thaw: API tokens with an admin and an invoke scope (thaw serve --token-file), and
// where it listens when it has no sandbox (loopback only, unless --isolation process says so).

import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { once } from 'node:events';
import { chmodSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { after, before, describe, it } from 'node:test';
import { packFolder } from '../../src/cli/commands/client.ts';
import { BIN, EXAMPLES, ThawServer } from './harness.ts';

const run = promisify(execFile);
const ADMIN = 'admin-e2e-token-0123456789abcdef';
const INVOKE = 'invoke-e2e-token-0123456789abcdef';
const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

describe('API tokens, end to end', { timeout: 120_000 }, () => {
  let thaw: ThawServer;

  before(async () => {
    const file = join(mkdtempSync(join(tmpdir(), 'thaw-tokens-')), 'tokens');
    writeFileSync(file, `# who may use this thaw\nadmin ${ADMIN}\ninvoke ${INVOKE}\n`);
    chmodSync(file, 0o600);
    thaw = await ThawServer.start(['--token-file', file]);
  });
  after(async () => thaw?.stop());

  it('needs a token for everything but /healthz and the dashboard page; 401 says how to send one', async () => {
    assert.equal((await thaw.request('GET', '/healthz')).status, 200);
    assert.equal((await fetch(`${thaw.url}/`)).status, 200, 'the page itself holds nothing secret');
    for (const [method, path] of [['GET', '/functions'], ['POST', '/functions'], ['GET', '/stats'], ['GET', '/metrics'], ['GET', '/dashboard/state'], ['POST', '/functions/hello/invoke'], ['GET', '/nope']]) {
      const r = await thaw.request(method!, path!, method === 'POST' ? { files: {} } : undefined);
      assert.equal(r.status, 401, `${method} ${path}`);
      assert.equal(r.headers.get('www-authenticate'), 'Bearer realm="thaw"');
      assert.equal(r.body.error.code, 'ERR_UNAUTHORIZED');
    }
    assert.equal((await thaw.request('GET', '/functions', undefined, bearer('not-a-token-0123456789'))).status, 401);
  });

  it('lets an admin token deploy and an invoke token invoke, but not deploy, delete or read logs', async () => {
    const deploy = (token: string) => thaw.request('POST', '/functions', { files: packFolder(join(EXAMPLES, 'hello')), settings: { name: 'hello' } }, bearer(token));
    const refused = await deploy(INVOKE);
    assert.equal(refused.status, 403);
    assert.equal(refused.body.error.code, 'ERR_FORBIDDEN');
    assert.equal((await deploy(ADMIN)).status, 201);
    const invoked = await thaw.request('POST', '/functions/hello/invoke', { name: 'token' }, bearer(INVOKE));
    assert.equal(invoked.status, 200);
    assert.equal((await thaw.request('GET', `/invocations/${invoked.headers.get('x-thaw-invocation-id')}`, undefined, bearer(INVOKE))).status, 200);
    assert.equal((await thaw.request('GET', '/functions', undefined, bearer(INVOKE))).status, 200);
    for (const [method, path] of [['DELETE', '/functions/hello'], ['GET', '/functions/hello/logs'], ['DELETE', '/functions/hello/instances'], ['PUT', '/functions/hello/aliases/prod'], ['GET', '/dead-letters'], ['GET', '/events']]) {
      assert.equal((await thaw.request(method!, path!, method === 'PUT' ? { routes: [{ version: 1, weight: 100 }] } : undefined, bearer(INVOKE))).status, 403, `${method} ${path}`);
    }
    assert.equal((await thaw.request('GET', '/functions/hello/logs', undefined, bearer(ADMIN))).status, 200);
  });

  it('takes the token from thaw --token or $THAW_TOKEN, and the event stream from ?access_token', async () => {
    const cli = (args: string[], env: NodeJS.ProcessEnv = process.env) => run(process.execPath, [BIN, ...args, '--url', thaw.url], { env });
    assert.match((await cli(['ls', '--token', ADMIN])).stdout, /hello/);
    assert.match((await cli(['invoke', 'hello'], { ...process.env, THAW_TOKEN: INVOKE })).stdout, /Hello, world/);
    await assert.rejects(cli(['ls']), (e: { stderr: string }) => /needs an API token/.test(e.stderr));
    const controller = new AbortController();
    const stream = await fetch(`${thaw.url}/events?access_token=${ADMIN}`, { signal: controller.signal });
    assert.equal(stream.status, 200);
    assert.equal(stream.headers.get('content-type'), 'text/event-stream; charset=utf-8');
    controller.abort();
    assert.equal((await fetch(`${thaw.url}/stats?access_token=${ADMIN}`)).status, 401, 'a query token is for the event stream only');
  });
});

describe('without a sandbox', { timeout: 60_000 }, () => {
  // bubblewrap is found on PATH: without it on PATH, --isolation auto falls back to plain processes.
  const noBwrap = { ...process.env, PATH: mkdtempSync(join(tmpdir(), 'thaw-empty-path-')) };

  it('--isolation auto serves on loopback with a loud warning that names the install command', async () => {
    const thaw = await ThawServer.start([], undefined, noBwrap);
    try {
      assert.equal((await thaw.request('GET', '/healthz')).body.isolation.backend, 'process');
      assert.match(thaw.stderr, /PLAIN PROCESSES with no sandbox\. Install bubblewrap \(apt-get install bubblewrap\)/);
    } finally {
      await thaw.stop();
    }
  });

  it('--isolation auto refuses any other address; --isolation process allows it', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'thaw-e2e-'));
    const child = spawn(process.execPath, [BIN, 'serve', '--port', '0', '--data-dir', dataDir, '--host', '0.0.0.0'], { env: noBwrap, stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d) => (stderr += d));
    const [code] = await once(child, 'exit');
    assert.equal(code, 2);
    assert.match(stderr, /without a sandbox thaw listens on loopback only, not on 0\.0\.0\.0: install bubblewrap \(apt-get install bubblewrap\), or pass --isolation process/);

    const explicit = await ThawServer.start(['--host', '0.0.0.0', '--isolation', 'process'], undefined, noBwrap);
    try {
      assert.match(explicit.url, /^http:\/\/0\.0\.0\.0:\d+$/);
    } finally {
      await explicit.stop();
    }
  });
});
