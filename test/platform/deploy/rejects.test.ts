// Bad packages: each is refused with a message that names the file (and line and column when there
// is one) and the problem, nothing is recorded, nothing is left on disk, and the version that was
// serving before stays `latest`.

import assert from 'node:assert/strict';
import { mkdirSync, readdirSync, writeFileSync, cpSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { InvalidPackageError, ThawError } from '../../../src/core/errors.ts';
import { deployFunction, type DeployOptions, type DeploySettings } from '../../../src/platform/deploy/index.ts';
import { Store } from '../../../src/platform/store/index.ts';
import { EXAMPLES, FIXTURES, fixture, tempDir, tempStore } from './helpers.ts';

interface Expected {
  code?: string;
  file?: string;
  line?: number;
  column?: number;
  message: RegExp;
}

describe('refusing bad packages', () => {
  const store = tempStore();
  const fnDir = join(store.dataDir, 'functions', 'victim');

  before(async () => {
    await deployFunction(store, join(EXAMPLES, 'hello'), { name: 'victim' });
  });

  async function refuses(source: string, expected: Expected, settings: DeploySettings = {}, options: DeployOptions = {}) {
    await assert.rejects(deployFunction(store, source, { name: 'victim', ...settings }, options), (err: unknown) => {
      assert.ok(err instanceof ThawError, `a ThawError, got ${String(err)}`);
      assert.equal(err.code, expected.code ?? 'ERR_INVALID_PACKAGE', err.message);
      assert.match(err.message, expected.message);
      if (expected.file !== undefined) {
        assert.ok(err instanceof InvalidPackageError);
        assert.equal(err.file, expected.file, err.message);
        assert.equal(err.line, expected.line, err.message);
        assert.equal(err.column, expected.column, err.message);
        const where = [expected.file, expected.line, expected.column].filter((x) => x !== undefined).join(':');
        assert.ok(err.message.startsWith(`${where}: `), `message starts with ${where}: — ${err.message}`);
      }
      return true;
    });
    assert.equal(store.functions.latest('victim')?.version, 1, 'the previous version is still latest');
    assert.equal(store.functions.versions('victim').length, 1);
    assert.deepEqual(readdirSync(fnDir), ['1'], 'no staging folder or new version left behind');
  }

  it('no handler export', () => refuses(join(FIXTURES, 'no-handler'), {
    file: 'index.js', message: /exports no handler function \(handler is undefined; exports: handle\)/,
  }));

  it('a handler hidden in a default export', () => refuses(join(FIXTURES, 'default-export'), {
    file: 'index.mjs', message: /exports no handler function .*default export: export the handler by name/,
  }));

  it('a hook that is not a function', () => refuses(join(FIXTURES, 'bad-hook'), {
    file: 'index.js', message: /exports init as a string; when present it must be a function/,
  }));

  it('a JavaScript syntax error, at file:line:column', () => refuses(join(FIXTURES, 'syntax-error-js'), {
    file: 'index.js', line: 4, column: 32, message: /Expected "\)" but found "}"\n {6}return \{ message: greet\(name \};\n {35}\^$/,
  }));

  it('a TypeScript syntax error in an imported file, at file:line:column', () => refuses(fixture('syntax-error-ts'), {
    file: 'src/handler.ts', line: 5, column: 15, message: /Unexpected "="/,
  }));

  it('a require of a package not in package.json', () => refuses(join(FIXTURES, 'undeclared-dependency'), {
    file: 'index.js', line: 2, column: 25, message: /"left-pad" is imported but is not in package.json "dependencies"/,
  }));

  it('an undeclared package is refused even when one is installed above the data dir', async () => {
    // Node's resolution walks up parent folders: a left-pad above the data dir must not be bundled.
    const root = tempDir();
    mkdirSync(join(root, 'node_modules', 'left-pad'), { recursive: true });
    writeFileSync(join(root, 'node_modules', 'left-pad', 'index.js'), 'module.exports = (s) => s;');
    const store = Store.open(join(root, 'data'), { synchronous: 'normal' });
    after(() => store.close());
    await assert.rejects(deployFunction(store, join(FIXTURES, 'undeclared-dependency')), /index\.js:2:25: "left-pad" is imported but is not in package.json "dependencies"/);
    assert.equal(store.functions.get('undeclared-dependency'), undefined);
  });

  it('a package that is only a devDependency', () => refuses(join(FIXTURES, 'dev-dependency'), {
    file: 'index.js', line: 2, column: 25, message: /"left-pad" is in package.json "devDependencies", which are not installed for a deploy; move it to "dependencies"/,
  }));

  it('a dependency that does not exist on npm, with npm\'s reason', () => refuses(join(FIXTURES, 'unknown-dependency'), {
    file: 'package.json', message: /npm install failed \(E404\): 404 Not Found - GET https:\/\/registry\.npmjs\.org\/thaw-fixture-no-such-package-7f3a9c/,
  }));

  it('a module missing at run time (a require esbuild cannot follow)', () => refuses(join(FIXTURES, 'runtime-missing-module'), {
    file: 'index.js', line: 4, column: 17, message: /requires 'left-pad' at run time, which is not in the bundle and not installed/,
  }));

  it('an exception while loading, at the throwing line', () => refuses(join(FIXTURES, 'load-error'), {
    file: 'index.js', line: 3, column: 28, message: /loading the function failed: Error: CONFIG is not set/,
  }));

  it('top-level code that never finishes', () => refuses(join(FIXTURES, 'hangs-on-load'), {
    file: 'index.js', message: /loading the function took longer than 1000 ms/,
  }, {}, { verifyTimeoutMs: 1000 }));

  it('an invalid package.json, at line:column', () => refuses(join(FIXTURES, 'invalid-package-json'), {
    file: 'package.json', line: 4, column: 1, message: /invalid JSON: Expected double-quoted property name/,
  }));

  it('a missing package.json', async () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'index.js'), 'exports.handler = async () => 1;');
    await refuses(dir, { file: 'package.json', message: /not found: a function is a folder with a package.json/ });
  });

  it('no entry module', async () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'package.json'), '{"name": "x"}');
    writeFileSync(join(dir, 'main.js'), 'exports.handler = async () => 1;');
    await refuses(dir, { message: /no entry module: package.json has no "main" and there is no index\.ts, index\.js, index\.mjs, index\.cjs/ });
    writeFileSync(join(dir, 'package.json'), '{"name": "x", "main": "lib/missing.js"}');
    await refuses(dir, { file: 'package.json', message: /"main" is "lib\/missing\.js", which does not exist/ });
    writeFileSync(join(dir, 'package.json'), '{"name": "x", "main": "../outside.js"}');
    await refuses(dir, { file: 'package.json', message: /outside the package/ });
  });

  it('a source over the size limit, naming the biggest files', () => refuses(join(EXAMPLES, 'init-heavy'), {
    message: /the package is over the 1\.0 KiB source limit \(node_modules excluded\); biggest files: index\.js/,
  }, {}, { maxSourceBytes: 1024 }));

  it('a bundle over the size limit', () => refuses(join(EXAMPLES, 'hello'), {
    message: /the bundle is 3\.\d KiB, over the 1\.0 KiB limit/,
  }, {}, { maxBundleBytes: 1024 }));

  it('invalid settings in package.json "thaw"', () => refuses(join(FIXTURES, 'bad-settings'), {
    file: 'package.json', message: /"thaw\.memoryMb": must be an integer from 64 to 10240, got 32/,
  }));

  it('invalid settings from the caller', async () => {
    await refuses(join(EXAMPLES, 'hello'), { code: 'ERR_INVALID_OPTION', message: /option memoryMb: must be an integer from 64 to 10240, got 100000/ }, { memoryMb: 100_000 });
    await refuses(join(EXAMPLES, 'hello'), { code: 'ERR_INVALID_OPTION', message: /option start: must be one of cold, zygote, snapshot, isolate, auto/ }, { start: 'warm' as 'cold' });
    await refuses(join(EXAMPLES, 'hello'), { code: 'ERR_INVALID_OPTION', message: /option memory: unknown setting/ }, { memory: 1 } as DeploySettings);
    await refuses(join(EXAMPLES, 'hello'), { code: 'ERR_INVALID_OPTION', message: /option env\.1X: is not a valid environment variable name/ }, { env: { '1X': 'y' } });
    await refuses(join(EXAMPLES, 'hello'), { code: 'ERR_INVALID_OPTION', message: /provisioned: 5 provisioned instances exceed maxConcurrency 2/ }, { provisioned: 5, maxConcurrency: 2 });
    await refuses(join(EXAMPLES, 'hello'), { code: 'ERR_INVALID_OPTION', message: /option instanceConcurrency: must be an integer from 1 to 1000, got 0/ }, { instanceConcurrency: 0 });
  });

  it('an invalid function name', async () => {
    await assert.rejects(deployFunction(store, join(EXAMPLES, 'hello'), { name: 'Bad Name' }), (e: unknown) => e instanceof ThawError && e.code === 'ERR_INVALID_OPTION' && /"Bad Name" is not a valid function name/.test(e.message));
    const dir = tempDir();
    cpSync(join(EXAMPLES, 'hello'), dir, { recursive: true });
    writeFileSync(join(dir, 'package.json'), '{"name": "@scope/hello"}');
    await assert.rejects(deployFunction(store, dir), (e: unknown) => e instanceof InvalidPackageError && /"name" "@scope\/hello" is not a valid function name.*set "thaw.name"/.test(e.message));
  });

  it('a folder that does not exist', async () => {
    await refuses(join(FIXTURES, 'no-such-folder'), { code: 'ERR_NOT_FOUND', message: /no such folder/ });
  });
});
