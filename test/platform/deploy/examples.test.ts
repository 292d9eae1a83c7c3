// Deploys every example for real (deps-heavy installs from the npm registry) and invokes each once.

import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { deployFunction } from '../../../src/platform/deploy/index.ts';
import { EXAMPLES, invokeBundle, ms, tempStore } from './helpers.ts';

describe('examples', () => {
  const store = tempStore();

  async function deploy(name: string, t: { diagnostic(message: string): void }) {
    const r = await deployFunction(store, join(EXAMPLES, name));
    const { timings: tm } = r;
    t.diagnostic(`${name}: install ${ms(tm.installMs)}, bundle ${ms(tm.bundleMs)}, verify ${ms(tm.verifyMs)} (require ${ms(r.loadMs ?? NaN)}), total ${ms(tm.totalMs)}; bundle ${r.version.bundleBytes} bytes`);
    assert.equal(r.name, name);
    assert.equal(r.version.version, 1);
    assert.equal(r.previousVersion, null);
    assert.equal(store.functions.latest(name)?.version, 1);
    assert.equal(r.version.codeDir, join(store.dataDir, 'functions', name, '1'));
    assert.equal(r.version.bundlePath, join(r.version.codeDir, 'bundle.cjs'));
    const bundle = readFileSync(r.version.bundlePath);
    assert.equal(r.version.bundleSha256, createHash('sha256').update(bundle).digest('hex'));
    assert.equal(r.version.bundleBytes, bundle.length);
    assert.ok(bundle.includes('\n//# sourceMappingURL=data:application/json;base64,'), 'an inline source map');
    assert.ok(existsSync(join(r.version.codeDir, 'src', 'package.json')), 'the source is kept beside the bundle');
    return r;
  }

  it('hello: JavaScript (ESM), no dependencies; counts invocations per instance', async (t) => {
    const r = await deploy('hello', t);
    assert.equal(r.version.language, 'js');
    assert.equal(r.version.entry, 'index.js');
    assert.equal(r.installed, false);
    assert.deepEqual(r.version.dependencies, {});
    assert.deepEqual({ ...r.version, env: undefined }, { ...r.version, env: undefined, memoryMb: 256, timeoutMs: 30_000, maxConcurrency: 10, network: false, provisioned: 0, start: 'cold' });
    const out = invokeBundle(r.version.bundlePath, { name: 'Ada' }) as Record<string, unknown>;
    assert.equal(out.message, 'Hello, Ada!');
    assert.equal(out.invocationsInThisInstance, 1);
  });

  it('ts-hello: TypeScript compiled at deploy', async (t) => {
    const r = await deploy('ts-hello', t);
    assert.equal(r.version.language, 'ts');
    assert.equal(r.version.entry, 'index.ts');
    const out = invokeBundle(r.version.bundlePath, { name: 'Ada', excited: true }) as Record<string, unknown>;
    assert.equal(out.message, 'Hello, Ada!');
    assert.ok((out.remainingMs as number) > 0);
  });

  it('init-heavy: init() builds an 80 MB table; settings from package.json "thaw"', async (t) => {
    const r = await deploy('init-heavy', t);
    assert.equal(r.version.memoryMb, 512);
    const out = invokeBundle(r.version.bundlePath, { n: 1_000_003 }) as Record<string, unknown>;
    assert.deepEqual({ ...out, initMs: 0 }, { n: 1_000_003, isPrime: true, primesUpToN: 78_499, nextPrime: 1_000_033, tableMb: 80, initMs: 0 });
  });

  it('deps-heavy: eight npm packages installed, pinned and bundled', async (t) => {
    const r = await deploy('deps-heavy', t);
    assert.equal(r.installed, true);
    assert.deepEqual(r.version.dependencies, {
      ajv: '8.20.0', chance: '1.1.13', 'date-fns': '4.4.0', lodash: '4.18.1', moment: '2.31.0', uuid: '14.0.3', validator: '13.15.35', yaml: '2.9.1',
    });
    for (const p of ['ajv', 'chance', 'date-fns', 'lodash', 'moment', 'uuid', 'validator', 'yaml']) assert.ok(r.bundledPackages.includes(p), p);
    assert.ok(r.version.bundleBytes > 1_000_000, `a sizable bundle (${r.version.bundleBytes} bytes)`);
    const out = invokeBundle(r.version.bundlePath, { name: 'ada lovelace', email: 'ada@example.com', tags: ['Big Engines'] }) as Record<string, unknown>;
    assert.equal(out.ok, true);
    assert.equal(out.greeting, 'Hello, Ada Lovelace!');
    assert.equal(out.emailValid, true);
    assert.deepEqual(out.tags, ['big-engines']);
    assert.match(out.yaml as string, /greeting: Hello, Ada Lovelace!/);
  });
});
