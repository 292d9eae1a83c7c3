// Bundle or installed layout: each hazard a bundle cannot survive (a native addon, a data file read
// next to a module, a worker started from a file) moves the function to its installed node_modules,
// says why, and the deployed function then runs; the setting forces either way; a bundle that
// passes the scan but fails to load is caught by the load check and runs installed.

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { deployFunction } from '../../../src/platform/deploy/index.ts';
import { chooseLayout, findHazards, nativeAddons, packageOfInput } from '../../../src/platform/deploy/layout.ts';
import { EXAMPLES, fixture, invokeBundle, tempStore } from './helpers.ts';

/** Builds the fixture addon the way its install script would (step by step: scripts do not run here). */
function compileAddon(dir: string): string | undefined {
  if (!existsSync('/usr/include/node/node_api.h')) return 'no Node headers at /usr/include/node';
  const pkg = join(dir, 'vendor/fixture-addon');
  try {
    execFileSync('sh', ['-c', JSON.parse(readFileSync(join(pkg, 'package.json'), 'utf8')).scripts.install], { cwd: pkg, stdio: 'pipe' });
  } catch (err) {
    return `cannot compile the fixture addon: ${(err as Error).message}`;
  }
  return undefined;
}

describe('code layout', () => {
  it('keeps a faithful function bundled, saying so', async () => {
    const r = await deployFunction(tempStore(), join(EXAMPLES, 'hello'));
    assert.equal(r.layout.layout, 'bundle');
    assert.equal(r.version.layout, 'bundle');
    assert.match(r.version.layoutReason ?? '', /faithful/);
  });

  it('runs a package with a native addon from its installed node_modules', async (t) => {
    const dir = fixture('native-addon');
    const missing = compileAddon(dir);
    if (missing) return t.skip(missing);
    const store = tempStore();
    const r = await deployFunction(store, dir);
    assert.equal(r.version.layout, 'installed');
    assert.match(r.version.layoutReason!, /native addon in fixture-addon \(node_modules\/fixture-addon holds build\/addon\.node\)/);
    assert.deepEqual(invokeBundle(r.version.bundlePath, { a: 2, b: 40 }), { sum: 42 });
    assert.equal(store.functions.latest('native-addon')?.layout, 'installed', 'recorded with the version');
    // Forced into a bundle, it would deploy and fail on every invocation: refused, with the reason.
    await assert.rejects(deployFunction(store, dir, { bundle: true }), (err: Error) => {
      assert.match(err.message, /bundle option \(--no-bundle\)\) is true|the bundle option/);
      assert.match(err.message, /native addon in fixture-addon/);
      return true;
    });
  });

  it('runs a package that reads data files next to its modules installed', async () => {
    const r = await deployFunction(tempStore(), fixture('reads-data-file'));
    assert.equal(r.version.layout, 'installed');
    assert.match(r.version.layoutReason!, /reads files relative to its module in fixture-fonts \(vendor\/fixture-fonts\/lib\.js uses __dirname and vendor\/fixture-fonts\/data\/Helvetica\.afm is not in the bundle\)/);
    assert.deepEqual(invokeBundle(r.version.bundlePath, {}), { width: 278 });
  });

  it('runs a package that starts a worker from its own file installed', async () => {
    const r = await deployFunction(tempStore(), fixture('worker-file'));
    assert.equal(r.version.layout, 'installed');
    assert.match(r.version.layoutReason!, /run-time require outside the bundle in fixture-worker \(vendor\/fixture-worker\/index\.js uses require\.resolve\(\)\)/);
    assert.deepEqual(invokeBundle(r.version.bundlePath, { n: 9 }), { square: 81 });
  });

  it('checks the load both ways: a bundle that fails to load runs installed', async () => {
    const r = await deployFunction(tempStore(), fixture('module-relative'));
    assert.equal(r.version.layout, 'installed');
    assert.match(r.version.layoutReason!, /^the bundle fails to load \(.+\) and the installed layout loads$/);
    assert.deepEqual(invokeBundle(r.version.bundlePath, {}), { greeting: 'hello from a file' });
  });

  it('forces the installed layout with "thaw.bundle": false (TypeScript, ESM-only package)', async () => {
    const r = await deployFunction(tempStore(), fixture('esm-only-ts'));
    assert.equal(r.version.layout, 'installed');
    assert.equal(r.version.layoutReason, '"thaw.bundle" in package.json is false');
    assert.equal(invokeBundle(r.version.bundlePath, { text: 'esm' }), 'ESM! (fixture-esm/index.js)');
  });

  it('forces the installed layout for a faithful function with the bundle option (--no-bundle)', async () => {
    const r = await deployFunction(tempStore(), join(EXAMPLES, 'ts-hello'), { bundle: false });
    assert.equal(r.version.layout, 'installed');
    assert.match(r.version.layoutReason!, /--no-bundle/);
    assert.match(readFileSync(r.version.bundlePath, 'utf8'), /require\("\.\/src\/\.thaw-entry\.cjs"\)/);
    assert.ok(invokeBundle(r.version.bundlePath, { name: 'installed' }));
  });

  it('refuses a function that fails to load either way, with the installed error', async () => {
    await assert.rejects(deployFunction(tempStore(), fixture('runtime-missing-module')), /requires 'left-pad' at run time/);
  });
});

describe('hazard detection', () => {
  it('names the package of an input path, scoped and nested', () => {
    assert.deepEqual(packageOfInput('node_modules/@img/sharp/lib/x.js'), { name: '@img/sharp', root: 'node_modules/@img/sharp' });
    assert.deepEqual(packageOfInput('node_modules/a/node_modules/b/i.js'), { name: 'b', root: 'node_modules/a/node_modules/b' });
    assert.equal(packageOfInput('lib/x.js'), undefined);
  });

  it('finds nothing in a package without node_modules, and chooses the bundle', () => {
    assert.deepEqual(nativeAddons('/nonexistent/node_modules'), []);
    assert.deepEqual(findHazards('/nonexistent', []), []);
    assert.equal(chooseLayout(undefined, []).layout, 'bundle');
    assert.equal(chooseLayout(false, []).layout, 'installed');
  });
});
