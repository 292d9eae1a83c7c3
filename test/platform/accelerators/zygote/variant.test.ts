// Variant bundles: the zygote's packages left as run-time requires only where that is exactly what
// the function would have run (its top-level install, the same package and version, the same bytes).

import assert from 'node:assert/strict';
import { cpSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';

import { buildVariantBundle, lockedPackages } from '../../../../src/platform/deploy/variant.ts';
import { installFixtures, tempDir, ZYGOTE_FIXTURES } from './support.ts';

function makeVersion(files: Record<string, string>, deps: Record<string, string>): string {
  const codeDir = tempDir('thaw-zyg-variant-');
  const src = join(codeDir, 'src');
  mkdirSync(src, { recursive: true });
  writeFileSync(join(src, 'package.json'), JSON.stringify({ name: 'variant-fn', version: '1.0.0', main: 'index.js', dependencies: deps }));
  for (const [name, text] of Object.entries(files)) writeFileSync(join(src, name), text);
  installFixtures(src, deps);
  return codeDir;
}

describe('buildVariantBundle', () => {
  it('leaves the chosen packages (and their subpaths) as run-time requires, and bundles the rest', async () => {
    const codeDir = makeVersion(
      { 'index.js': "const a = require('counter-a'); const a2 = require('counter-a/index.js'); const c = require('counter-c'); exports.handler = () => [a.id, a2.id, c.id];\n" },
      { 'counter-a': '1.0.0', 'counter-c': '1.0.0' },
    );
    const out = join(codeDir, 'variant.cjs');
    const r = await buildVariantBundle(codeDir, { 'counter-a': '1.0.0' }, out, { integrity: { 'counter-a': 'sha512-fixture-counter-a@1.0.0' } });
    assert.deepEqual(r.external, ['counter-a']);
    assert.deepEqual(r.bundledInstead, []);
    assert.deepEqual(r.bundledPackages, ['counter-c']);
    const code = readFileSync(out, 'utf8');
    assert.match(code, /require\("counter-a"\)/);
    assert.match(code, /require\("counter-a\/index\.js"\)/);
    assert.doesNotMatch(code, /loads\["counter-a@1\.0\.0"\]/, "counter-a's code is not in the variant");
    assert.match(code, /loads\["counter-c@1\.0\.0"\]/, "counter-c's code is");
  });

  it('bundles a package anyway when the function would not have run the zygote’s copy', async () => {
    // A dependency with its own nested copy of counter-a (another install of it): that copy stays bundled.
    const codeDir = makeVersion({ 'index.js': "const a = require('counter-a'); const w = require('wrapper'); exports.handler = () => [a.id, w.inner];\n" }, { 'counter-a': '1.0.0', 'counter-b': '2.0.0' });
    const src = join(codeDir, 'src');
    mkdirSync(join(src, 'node_modules', 'wrapper', 'node_modules'), { recursive: true });
    writeFileSync(join(src, 'node_modules', 'wrapper', 'package.json'), JSON.stringify({ name: 'wrapper', version: '1.0.0', main: 'index.js' }));
    writeFileSync(join(src, 'node_modules', 'wrapper', 'index.js'), "exports.inner = require('counter-a').id + '/nested';\n");
    cpSync(join(ZYGOTE_FIXTURES, 'packages', 'counter-a@1.0.0'), join(src, 'node_modules', 'wrapper', 'node_modules', 'counter-a'), { recursive: true });
    writeFileSync(join(src, 'node_modules', 'wrapper', 'node_modules', 'counter-a', 'index.js'), "module.exports = { id: 'NESTED-COPY' };\n");
    const pkg = JSON.parse(readFileSync(join(src, 'package.json'), 'utf8'));
    pkg.dependencies.wrapper = '1.0.0';
    writeFileSync(join(src, 'package.json'), JSON.stringify(pkg));
    const out = join(codeDir, 'v.cjs');
    const r = await buildVariantBundle(codeDir, { 'counter-a': '1.0.0' }, out);
    assert.deepEqual(r.external, ['counter-a']);
    const code = readFileSync(out, 'utf8');
    assert.match(code, /NESTED-COPY/, 'the nested copy is bundled');
    assert.equal(code.match(/require\("counter-a"\)/g)?.length, 1, "only the function's own import is left to the zygote");

    // Another version, an alias, other bytes: bundled, with the reason.
    const aliasDir = makeVersion({ 'index.js': "require('counter-a'); require('counter-b'); require('counter-c'); exports.handler = () => 1;\n" }, { 'counter-a': '1.0.0', 'counter-b': '2.0.0', 'counter-c': '1.0.0' });
    const aliasSrc = join(aliasDir, 'src');
    const bJson = join(aliasSrc, 'node_modules', 'counter-b', 'package.json');
    writeFileSync(bJson, JSON.stringify({ ...JSON.parse(readFileSync(bJson, 'utf8')), name: 'counter-b-fork' }));
    const r2 = await buildVariantBundle(aliasDir, { 'counter-a': '9.9.9', 'counter-b': '2.0.0', 'counter-c': '1.0.0' }, join(aliasDir, 'v.cjs'), {
      integrity: { 'counter-c': 'sha512-something-else' },
    });
    assert.deepEqual(r2.external, []);
    assert.deepEqual(
      r2.bundledInstead.map((b) => [b.name, b.reason.replace(/ .*/, '')]),
      [
        ['counter-a', 'the'],
        ['counter-b', 'the'],
        ['counter-c', 'the'],
      ],
    );
    assert.match(r2.bundledInstead[0]!.reason, /counter-a@1\.0\.0, the zygote counter-a@9\.9\.9/);
    assert.match(r2.bundledInstead[1]!.reason, /alias/);
    assert.match(r2.bundledInstead[2]!.reason, /integrity/);
  });

  it('reads top-level packages from lockfiles', () => {
    const dir = tempDir('thaw-zyg-lock-');
    writeFileSync(
      join(dir, 'package-lock.json'),
      JSON.stringify({
        lockfileVersion: 3,
        packages: { '': {}, 'node_modules/a': { version: '1.0.0', integrity: 'sha512-a' }, 'node_modules/a/node_modules/b': { version: '2.0.0' }, 'node_modules/@s/c': { version: '3.0.0' }, 'node_modules/l': { link: true } },
      }),
    );
    assert.deepEqual([...lockedPackages(dir)], [
      ['a', { version: '1.0.0', integrity: 'sha512-a', resolved: undefined }],
      ['@s/c', { version: '3.0.0', integrity: undefined, resolved: undefined }],
    ]);
  });
});
