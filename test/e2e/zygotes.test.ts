// SOCK zygotes over HTTP: two tenants whose functions share packages get a zygote set; each cold
// start takes a fresh zygote (never one another tenant used) and loads only its own code.

import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import { E2E_FIXTURES, ThawServer } from './harness.ts';

/** Polls /stats until a zygote set has a ready zygote (bounded: installing its packages takes a while). */
async function zygoteReady(thaw: ThawServer): Promise<any> {
  for (let i = 0; i < 1200; i++) {
    const stats = await thaw.stats();
    const set = stats.zygotes.sets.find((s: any) => s.ready > 0);
    if (set) return set;
    await delay(100);
  }
  throw new Error(`no zygote became ready in 120 s: ${JSON.stringify((await thaw.stats()).zygotes)}`);
}

describe('zygotes, end to end', { timeout: 300_000 }, () => {
  let thaw: ThawServer;

  before(async () => {
    thaw = await ThawServer.start(['--pause-after', '0']);
    for (const tenant of ['a', 'b']) {
      const r = await thaw.deploy(join(E2E_FIXTURES, 'tenant'), { name: `tenant-${tenant}`, env: { TENANT_SECRET: tenant } });
      assert.equal(r.status, 201, JSON.stringify(r.body));
    }
  });

  after(async () => {
    await thaw?.stop();
  });

  it('starts each tenant from its own fresh zygote holding their shared packages', async () => {
    const set = await zygoteReady(thaw);
    assert.deepEqual(Object.keys(set.packages).sort(), ['dayjs', 'lodash']);
    const a = await thaw.invoke('tenant-a', { values: [1, 2] });
    assert.equal(a.status, 200, JSON.stringify(a.body));
    assert.equal(a.headers.get('x-thaw-start-kind'), 'zygote');
    assert.deepEqual([a.body.tenant, a.body.sum, a.body.year], ['a', 3, 2026]);
    const recordA = (await thaw.request('GET', `/invocations/${a.headers.get('x-thaw-invocation-id')}`)).body;
    assert.equal(recordA.runtimeBootMs, 0, 'the zygote had already booted');

    await zygoteReady(thaw); // refilled in the background
    const b = await thaw.invoke('tenant-b', {});
    assert.equal(b.headers.get('x-thaw-start-kind'), 'zygote');
    assert.equal(b.body.tenant, 'b', 'tenant b sees only its own environment');
    const recordB = (await thaw.request('GET', `/invocations/${b.headers.get('x-thaw-invocation-id')}`)).body;
    assert.notEqual(recordB.instanceId, recordA.instanceId);
    const stats = (await thaw.stats()).zygotes;
    assert.equal(stats.specialised, 2, 'two zygotes consumed, one per tenant: none reused');
    const again = await thaw.invoke('tenant-a', {});
    assert.equal(again.headers.get('x-thaw-start-kind'), 'warm');
    assert.equal(again.body.tenant, 'a');
  });
});

describe('zygotes, end to end, installed layout', { timeout: 300_000 }, () => {
  let thaw: ThawServer;

  before(async () => {
    thaw = await ThawServer.start(['--pause-after', '0']);
    for (const tenant of ['a', 'b']) {
      const r = await thaw.deploy(join(E2E_FIXTURES, 'tenant'), { name: `tenant-${tenant}`, bundle: false, env: { TENANT_SECRET: tenant } });
      assert.equal(r.status, 201, JSON.stringify(r.body));
      assert.equal(r.body.version.layout, 'installed');
    }
  });

  after(async () => {
    await thaw?.stop();
  });

  it('serves the function\'s own code the zygote\'s packages, by exact version and integrity', async () => {
    const set = await zygoteReady(thaw);
    assert.deepEqual(Object.keys(set.packages).sort(), ['dayjs', 'lodash']);
    const a = await thaw.invoke('tenant-a', { values: [4, 5] });
    assert.equal(a.status, 200, JSON.stringify(a.body));
    assert.equal(a.headers.get('x-thaw-start-kind'), 'zygote');
    assert.deepEqual([a.body.tenant, a.body.sum, a.body.year], ['a', 9, 2026]);
    assert.doesNotMatch(a.body.lodashFrom, /\/src\/node_modules\//, 'lodash came from the zygote, not the function\'s own tree');
    await zygoteReady(thaw);
    const b = await thaw.invoke('tenant-b', {});
    assert.equal(b.headers.get('x-thaw-start-kind'), 'zygote');
    assert.equal(b.body.tenant, 'b');
  });
});
