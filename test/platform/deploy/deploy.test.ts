import assert from 'node:assert/strict';
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import {
  deployFunction, packageName, parsePackageJson, removeFunction, summarizeNpmError, type DeployStep,
} from '../../../src/platform/deploy/index.ts';
import { jsonErrorPosition } from '../../../src/platform/deploy/package-json.ts';
import { Store } from '../../../src/platform/store/index.ts';
import { toDeployed } from '../../../src/platform/function.ts';
import { EXAMPLES, FIXTURES, fixture, invokeBundle, tempDir, tempStore } from './helpers.ts';

describe('deployFunction', () => {
  it('numbers versions, moves latest, keeps older versions intact, and removes a function', async () => {
    const store = tempStore();
    const steps: string[] = [];
    const onProgress = (e: { step: DeployStep; state: string }) => steps.push(`${e.step}:${e.state}`);
    const first = await deployFunction(store, join(EXAMPLES, 'hello'), {}, { onProgress });
    assert.deepEqual(steps, ['validate:start', 'validate:done', 'copy:start', 'copy:done', 'bundle:start', 'bundle:done', 'verify:start', 'verify:done', 'publish:start', 'publish:done']);
    const second = await deployFunction(store, join(EXAMPLES, 'hello'), { memoryMb: 1024 });
    assert.equal(second.version.version, 2);
    assert.equal(second.previousVersion, 1);
    assert.equal(store.functions.latest('hello')?.memoryMb, 1024);
    assert.equal(store.functions.getVersion('hello', 1)?.memoryMb, 256);
    assert.equal(first.version.bundleSha256, second.version.bundleSha256, 'the same source bundles to the same bytes');
    assert.ok(existsSync(first.version.bundlePath));
    assert.deepEqual(readdirSync(join(store.dataDir, 'functions', 'hello')).sort(), ['1', '2']);

    assert.equal(removeFunction(store, 'hello'), true);
    assert.equal(store.functions.get('hello'), undefined);
    assert.equal(existsSync(join(store.dataDir, 'functions', 'hello')), false);
    assert.equal(removeFunction(store, 'hello'), false);
    const third = await deployFunction(store, join(EXAMPLES, 'hello'));
    assert.equal(third.version.version, 3, 'numbering continues after a removal');
  });

  it('publishes concurrent deploys of one function as consecutive versions', async () => {
    const store = tempStore();
    const results = await Promise.all([1, 2, 3].map(() => deployFunction(store, join(EXAMPLES, 'hello'))));
    assert.deepEqual(results.map((r) => r.version.version).sort(), [1, 2, 3]);
    assert.equal(store.functions.latest('hello')?.version, 3);
    assert.deepEqual(readdirSync(join(store.dataDir, 'functions', 'hello')).sort(), ['1', '2', '3']);
  });

  it('removes staging folders left by a deploy that died long ago, not recent ones', async () => {
    const store = tempStore();
    const fnDir = join(store.dataDir, 'functions', 'hello');
    mkdirSync(join(fnDir, '.staging-old'), { recursive: true });
    mkdirSync(join(fnDir, '.staging-live'), { recursive: true });
    const dayAgo = new Date(Date.now() - 25 * 3600_000);
    utimesSync(join(fnDir, '.staging-old'), dayAgo, dayAgo);
    await deployFunction(store, join(EXAMPLES, 'hello'));
    assert.deepEqual(readdirSync(fnDir).sort(), ['.staging-live', '1']);
  });

  it('can write the source map beside the bundle instead of inline', async () => {
    const store = tempStore();
    const r = await deployFunction(store, join(EXAMPLES, 'hello'), {}, { sourcemap: 'linked' });
    const code = readFileSync(r.version.bundlePath, 'utf8');
    assert.match(code, /\n\/\/# sourceMappingURL=bundle\.cjs\.map\n$/);
    assert.ok(existsSync(join(r.version.codeDir, 'bundle.cjs.map')));
  });

  it('merges settings: defaults ← package.json "thaw" ← caller, env per variable', async () => {
    const store = tempStore();
    const r = await deployFunction(store, join(FIXTURES, 'with-settings'), { timeoutMs: 7000, env: { B: 'from-caller', C: 'from-caller' } });
    const v = r.version;
    assert.equal(v.entry, 'handler.cjs');
    assert.deepEqual(
      { memoryMb: v.memoryMb, timeoutMs: v.timeoutMs, maxConcurrency: v.maxConcurrency, network: v.network, provisioned: v.provisioned, start: v.start, env: v.env },
      { memoryMb: 128, timeoutMs: 7000, maxConcurrency: 10, network: true, provisioned: 0, start: 'snapshot', env: { A: 'from-package', B: 'from-caller', C: 'from-caller' } },
    );
    assert.deepEqual(invokeBundle(v.bundlePath, {}, v.env), { A: 'from-package', B: 'from-caller' });
  });

  it('records instanceConcurrency (default 1), and it reaches the invoker', async () => {
    const store = tempStore();
    const single = await deployFunction(store, join(EXAMPLES, 'hello'));
    assert.equal(single.version.instanceConcurrency, 1);
    const shared = await deployFunction(store, join(EXAMPLES, 'hello'), { instanceConcurrency: 32 });
    assert.equal(shared.version.instanceConcurrency, 32);
    assert.equal(store.functions.getVersion('hello', shared.version.version)!.instanceConcurrency, 32);
    assert.equal(toDeployed(shared.version).instanceConcurrency, 32);
  });

  it('bundles TypeScript that imports its own code through tsconfig "paths"', async () => {
    const store = tempStore();
    const r = await deployFunction(store, fixture('ts-paths'));
    assert.equal(r.version.language, 'ts');
    assert.equal(invokeBundle(r.version.bundlePath, { name: 'alias' }), 'Hello, alias');
  });

  it('skips node_modules, .git and a data dir that sits inside the package', async () => {
    const pkg = tempDir();
    cpSync(join(EXAMPLES, 'hello'), pkg, { recursive: true });
    writeFileSync(join(pkg, 'junk.txt'), 'x');
    for (const d of ['node_modules/some-pkg', '.git']) {
      cpSync(join(EXAMPLES, 'hello'), join(pkg, d), { recursive: true });
    }
    const store = Store.open(join(pkg, '.thaw'), { synchronous: 'normal' });
    try {
      const r = await deployFunction(store, pkg);
      assert.deepEqual(readdirSync(join(r.version.codeDir, 'src')).sort(), ['index.js', 'junk.txt', 'package.json']);
      assert.equal(r.sourceBytes, ['index.js', 'junk.txt', 'package.json'].reduce((n, f) => n + statSync(join(pkg, f)).size, 0));
    } finally {
      store.close();
    }
  });
});

describe('package.json', () => {
  it('reports JSON errors at line and column', () => {
    const text = '{\n  "name": "x",\n  "main": 1 2\n}';
    assert.deepEqual(jsonErrorPosition(text, 'Unexpected number in JSON at position 29'), { line: 3, column: 13 });
    assert.deepEqual(jsonErrorPosition(text, 'Unexpected end of JSON input'), { line: 4, column: 2 });
    assert.deepEqual(jsonErrorPosition(text, "Expected ',' or '}' after property value in JSON at position 28 (line 3 column 13)"), { line: 3, column: 13 });
    assert.throws(() => parsePackageJson('{"name": "x",'), /^InvalidPackageError: package\.json:1:14: invalid JSON/);
  });

  it('checks the types of the fields thaw reads', () => {
    assert.throws(() => parsePackageJson('[]'), /must contain a JSON object/);
    assert.throws(() => parsePackageJson('{"main": 3}'), /"main" must be a non-empty string, got 3/);
    assert.throws(() => parsePackageJson('{"dependencies": {"a": 1}}'), /"dependencies\.a" must be a version string/);
    assert.throws(() => parsePackageJson('{"type": "esm"}'), /"type" must be "module" or "commonjs"/);
    assert.equal(parsePackageJson('\ufeff{"name": "bom"}').name, 'bom');
  });
});

describe('npm and import helpers', () => {
  it('summarises npm errors to their reason', () => {
    const e404 = [
      'npm error code E404',
      'npm error 404 Not Found - GET https://registry.npmjs.org/nope - Not found',
      'npm error 404',
      "npm error 404  'nope@^1.0.0' is not in this registry.",
      'npm error 404',
      'npm error 404 Note that you can also install from a',
      'npm error 404 tarball, folder, http url, or git url.',
      'npm error A complete log of this run can be found in: /root/.npm/_logs/x-debug-0.log',
    ].join('\n');
    assert.deepEqual(summarizeNpmError(e404), { code: 'E404', summary: "404 Not Found - GET https://registry.npmjs.org/nope - Not found; 'nope@^1.0.0' is not in this registry." });
    const etarget = 'npm error code ETARGET\nnpm error notarget No matching version found for lodash@^99.0.0.\nnpm error notarget In most cases you or one of your dependencies are requesting\n';
    assert.deepEqual(summarizeNpmError(etarget), { code: 'ETARGET', summary: 'No matching version found for lodash@^99.0.0.' });
    assert.deepEqual(summarizeNpmError('something odd\nhappened'), { code: undefined, summary: 'something odd; happened' });
  });

  it('finds the package name of an import', () => {
    assert.equal(packageName('lodash'), 'lodash');
    assert.equal(packageName('lodash/fp'), 'lodash');
    assert.equal(packageName('@scope/pkg/sub'), '@scope/pkg');
    assert.equal(packageName('./x'), undefined);
    assert.equal(packageName('/abs'), undefined);
    assert.equal(packageName('#internal'), undefined);
    assert.equal(packageName('@/alias'), undefined);
  });
});
