// Aliases end to end: `thaw alias` splits an alias 90/10 between two versions, invocations of
// NAME@ALIAS run the version the seeded router picked (and say so), a roll-back re-points the
// alias, and a version an alias routes to stays warm when a newer version is deployed.

import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { after, before, describe, it } from 'node:test';
import { BIN, EXAMPLES, ThawServer } from './harness.ts';

const run = promisify(execFile);

describe('aliases and traffic splits, end to end', { timeout: 180_000 }, () => {
  let thaw: ThawServer;
  const thawCli = async (...args: string[]) => (await run(process.execPath, [BIN, ...args, '--url', thaw.url])).stdout;

  before(async () => {
    thaw = await ThawServer.start(['--traffic-seed', '14']);
    for (let i = 0; i < 2; i++) assert.equal((await thaw.deploy(join(EXAMPLES, 'hello'), { name: 'hello' })).status, 201);
  });
  after(async () => thaw?.stop());

  it('splits NAME@ALIAS 90/10 between two versions, and every record says which version ran', async () => {
    assert.match(await thawCli('alias', 'hello', 'prod', '1:90,2:10'), /hello@prod → v1 90%, v2 10%/);
    const n = 200;
    const byVersion = new Map<number, number>();
    for (let i = 0; i < n; i++) {
      const r = await thaw.invoke('hello@prod', { name: 'split' });
      assert.equal(r.status, 200, JSON.stringify(r.body));
      const version = Number(r.headers.get('x-thaw-version'));
      assert.equal(r.body.version, version, 'the function ran the version the header names');
      byVersion.set(version, (byVersion.get(version) ?? 0) + 1);
    }
    const v2 = byVersion.get(2) ?? 0;
    // Binomial(200, 0.1): mean 20, sd 4.2; four standard deviations either way.
    assert.ok(v2 > 20 - 17 && v2 < 20 + 17, `v2 ran ${v2} of ${n} times`);
    assert.equal((byVersion.get(1) ?? 0) + v2, n);
    const records = (await thaw.request('GET', `/functions/hello/invocations?limit=${n}`)).body.invocations;
    assert.equal(records.filter((r: any) => r.version === 2).length, v2, 'records carry the version that ran');
  });

  it('rolls back by re-pointing; an aliased version stays warm when a newer one is deployed', async () => {
    await thawCli('alias', 'hello', 'prod', '1');
    for (let i = 0; i < 5; i++) assert.equal((await thaw.invoke('hello@prod')).headers.get('x-thaw-version'), '1');
    assert.equal((await thaw.deploy(join(EXAMPLES, 'hello'), { name: 'hello' })).status, 201); // v3 is latest
    const r = await thaw.invoke('hello@prod');
    assert.equal(r.headers.get('x-thaw-version'), '1');
    assert.equal(r.headers.get('x-thaw-start-kind'), 'warm', 'deploying v3 did not retire v1: prod routes to it');
    assert.equal((await thaw.invoke('hello')).headers.get('x-thaw-version'), '3');
    assert.equal((await thaw.invoke('hello@2')).headers.get('x-thaw-version'), '2');
    const shown = (await thaw.request('GET', '/functions/hello')).body;
    assert.deepEqual(shown.aliases.map((a: any) => [a.name, a.routes]), [['prod', [{ version: 1, weight: 100 }]]]);
    assert.match(await thawCli('alias', 'hello'), /hello@prod → v1 100%/);
  });

  it('invokes an alias asynchronously: the version is picked when the invocation is accepted', async () => {
    const accepted = await thaw.invoke('hello@prod', {}, '?async=1');
    assert.equal(accepted.status, 202);
    const done = (await thaw.request('GET', `/invocations/${accepted.body.id}?wait=30000`)).body;
    assert.equal(done.status, 'succeeded');
    assert.equal(done.version, 1);
  });

  it('refuses bad aliases and unknown ones, saying what is wrong', async () => {
    const over = await thaw.request('PUT', '/functions/hello/aliases/prod', { routes: [{ version: 1, weight: 90 }, { version: 2, weight: 20 }] });
    assert.equal(over.status, 400);
    assert.match(over.body.error.message, /sum to 100/);
    assert.equal((await thaw.request('PUT', '/functions/hello/aliases/prod', { routes: [{ version: 9, weight: 100 }] })).status, 404);
    assert.equal((await thaw.request('PUT', '/functions/hello/aliases/latest', { routes: [{ version: 1, weight: 100 }] })).status, 400);
    assert.equal((await thaw.invoke('hello@nope')).status, 404);
    assert.equal((await thaw.invoke('hello@9')).status, 404);
    assert.equal((await thaw.invoke('hello@prod', {}, '?version=2')).status, 400);
    assert.equal((await thaw.request('DELETE', '/functions/hello/aliases/prod')).status, 200);
    assert.equal((await thaw.invoke('hello@prod')).status, 404);
  });
});
