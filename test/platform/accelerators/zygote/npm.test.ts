// A real zygote of real npm packages: two functions deployed through the deploy pipeline (npm
// install, esbuild, verify) share lodash and dayjs at the same versions; the zygote's own package
// folder is installed with npm; one function, which also depends on ms, is specialised from it.

import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';

import { deployFunction } from '../../../../src/platform/deploy/index.ts';
import { createSandboxBackend, detectIsolation } from '../../../../src/platform/sandbox/index.ts';
import type { SandboxBackend } from '../../../../src/platform/sandbox/types.ts';
import { Store } from '../../../../src/platform/store/index.ts';
import { ZygoteStartPath, toZygoteFunction, type ZygoteFunction } from '../../../../src/platform/accelerators/zygote/index.ts';
import { ctx, instanceSpec, tempDir, ZYGOTE_FIXTURES } from './support.ts';

const detected = await detectIsolation();
const isolation = detected.container.ok && detected.cgroups.driver ? 'container' : 'process';

describe(`a zygote of lodash and dayjs from npm (${isolation})`, () => {
  let store: Store;
  let backend: SandboxBackend;
  let path: ZygoteStartPath;
  let a: ZygoteFunction;
  let b: ZygoteFunction;
  const live: Array<{ destroy(): Promise<void> }> = [];

  before(async () => {
    const dataDir = tempDir('thaw-zyg-npm-');
    store = Store.open(dataDir, { synchronous: 'normal' });
    backend = await createSandboxBackend({ isolation, dataDir });
    path = new ZygoteStartPath({ backend, dataDir });
    const [ra, rb] = await Promise.all([
      deployFunction(store, join(ZYGOTE_FIXTURES, 'functions', 'zyg-npm-a'), { start: 'zygote' }),
      deployFunction(store, join(ZYGOTE_FIXTURES, 'functions', 'zyg-npm-b'), { start: 'auto' }),
    ]);
    a = toZygoteFunction(ra.version);
    b = toZygoteFunction(rb.version);
    path.onDeploy(a);
    path.onDeploy(b);
    await path.settled();
  });

  after(async () => {
    await Promise.all(live.map((s) => s.destroy()));
    await path?.close();
    store?.close();
  });

  it('specialises the zygote for a function that also depends on ms, and it answers correctly', async () => {
    assert.deepEqual(a.dependencies, { dayjs: '1.11.13', lodash: '4.18.1', ms: '2.1.3' });
    assert.deepEqual(path.plan!.kept.map((n) => n.packages), [{ dayjs: '1.11.13', lodash: '4.18.1' }]);
    const variant = path.variantOf(a, { dayjs: '1.11.13', lodash: '4.18.1' })!;
    assert.equal(variant.status, 'ready', variant.error);
    assert.deepEqual(variant.result!.external, ['dayjs', 'lodash'], 'npm lockfile integrities match the zygote’s');
    assert.deepEqual(variant.result!.bundledPackages, ['ms']);
    assert.equal(path.available(a), true);

    const sb = path.create(a, instanceSpec(a));
    live.push(sb);
    const t = await sb.start();
    assert.equal(sb.startedAs, 'zygote', sb.fallbackReason);
    assert.equal(t.runtimeBootMs, 0);
    assert.deepEqual(sb.load, { preloaded: ['dayjs', 'lodash'], modulesLoaded: 1, reused: ['dayjs', 'lodash'] });
    const event = { items: [1, 2, 3], date: '2024-02-28T00:00:00Z', timeout: '90s' };
    const out = await sb.invoke(event, ctx(a), 10_000);
    assert.equal(out.ok, true, JSON.stringify(out.error));
    const value = out.value as { chunks: number[][]; nextDay: string; timeoutMs: number; cachedPackages: string[] };
    assert.deepEqual(value.chunks, [[1, 2], [3]]);
    assert.equal(value.nextDay, '2024-02-29T00:00:00.000Z');
    assert.equal(value.timeoutMs, 90_000);
    assert.deepEqual([...new Set(value.cachedPackages)].sort(), ['dayjs', 'lodash'], 'lodash and dayjs from the zygote, ms from the bundle');

    // The same answer cold.
    const cold = backend.create(instanceSpec(a));
    live.push(cold);
    await cold.start();
    const coldOut = await cold.invoke(event, ctx(a), 10_000);
    assert.deepEqual({ ...(coldOut.value as object), cachedPackages: [] }, { ...value, cachedPackages: [] });
    assert.deepEqual((coldOut.value as { cachedPackages: string[] }).cachedPackages, []);

    // And the other function of the set, from the refilled zygote.
    await path.settled();
    const sbB = path.create(b, instanceSpec(b));
    live.push(sbB);
    await sbB.start();
    assert.equal(sbB.startedAs, 'zygote');
    assert.notEqual(sbB.zygoteId, sb.zygoteId);
    assert.deepEqual((await sbB.invoke({}, ctx(b), 10_000)).value, { words: ['zygote', 'start', 'path'], year: 2024 });
  });
});
