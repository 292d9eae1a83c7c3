// Eviction end to end (as SeBS forces cold starts): `thaw evict` stops a function's idle instances so
// its next invocation starts cold; `--wait` also stops the busy ones, as soon as their invocation ends.

import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { after, before, describe, it } from 'node:test';
import { BIN, E2E_FIXTURES, EXAMPLES, ThawServer } from './harness.ts';

const run = promisify(execFile);

describe('evicting a function\'s instances, end to end', { timeout: 120_000 }, () => {
  let thaw: ThawServer;
  const instancesOf = async (name: string) => {
    const rows = (await thaw.request('GET', '/dashboard/state')).body.instances.filter((r: any) => r.functionName === name);
    return rows.reduce((n: number, r: any) => n + r.starting + r.busy + r.idle + r.paused, 0);
  };

  before(async () => {
    thaw = await ThawServer.start();
    assert.equal((await thaw.deploy(join(EXAMPLES, 'hello'), { name: 'hello' })).status, 201);
    assert.equal((await thaw.deploy(join(E2E_FIXTURES, 'faulty'), { name: 'faulty' })).status, 201);
  });
  after(async () => thaw?.stop());

  it('thaw evict stops the idle instances: the next invocation is cold', async () => {
    assert.equal((await thaw.invoke('hello')).headers.get('x-thaw-start-kind'), 'cold');
    assert.equal((await thaw.invoke('hello')).headers.get('x-thaw-start-kind'), 'warm');
    await thaw.advance(1000); // paused instances are evicted too
    const out = await run(process.execPath, [BIN, 'evict', 'hello', '--url', thaw.url]);
    assert.match(out.stderr + out.stdout, /stopped 1 idle instance of hello/);
    assert.equal(await instancesOf('hello'), 0);
    assert.equal((await thaw.invoke('hello')).headers.get('x-thaw-start-kind'), 'cold');
  });

  it('leaves busy instances alone unless asked to wait for them', async () => {
    const slow = thaw.invoke('faulty', { action: 'sleep', ms: 600 });
    while ((await instancesOf('faulty')) === 0 || (await thaw.stats()).instances.busy === 0) {
      /* until the invocation holds its instance */
    }
    const now = await thaw.request('DELETE', '/functions/faulty/instances');
    assert.deepEqual(now.body, { stopped: 0, waitedFor: 0 });
    const waited = await thaw.request('DELETE', '/functions/faulty/instances?wait=1');
    assert.deepEqual(waited.body, { stopped: 0, waitedFor: 1 });
    const finished = await slow;
    assert.equal(finished.status, 200, 'the busy invocation finished before its instance was stopped');
    assert.equal(await instancesOf('faulty'), 0, 'and its instance is gone when the evict returns');
    assert.equal((await thaw.invoke('faulty', {})).headers.get('x-thaw-start-kind'), 'cold');
    const decisions = (await thaw.request('GET', '/dashboard/state')).body.decisions.filter((d: any) => d.kind === 'stop');
    assert.deepEqual(decisions.map((d: any) => d.functionName), ['hello', 'faulty']);
  });

  it('refuses an unknown function and a bad wait', async () => {
    assert.equal((await thaw.request('DELETE', '/functions/nope/instances')).status, 404);
    assert.equal((await thaw.request('DELETE', '/functions/hello/instances?wait=maybe')).status, 400);
  });
});
