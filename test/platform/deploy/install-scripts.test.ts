// Install scripts run in their sandbox: a native addon is compiled at deploy (no manual step), the
// script sees no host files, no secrets and no network, and a missing compiler is named.

import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { describe, it } from 'node:test';
import { deployFunction } from '../../../src/platform/deploy/index.ts';
import { explainScriptFailure, installSandboxArgs, packagesWithInstallScripts } from '../../../src/platform/deploy/install-scripts.ts';
import { detectLeanContainers } from '../../../src/platform/sandbox/bubblewrap.ts';
import { fixture, invokeBundle, tempStore } from './helpers.ts';

const bwrap = await detectLeanContainers();
const noSandbox = bwrap.ok ? undefined : `no bubblewrap sandbox: ${bwrap.reason}`;
const noHeaders = existsSync('/usr/include/node/node_api.h') ? undefined : 'no Node headers at /usr/include/node';

describe('install scripts', () => {
  it('builds a native addon with its install script, in the sandbox, and runs it installed', { skip: noSandbox ?? noHeaders }, async () => {
    const r = await deployFunction(tempStore(), fixture('native-addon'));
    assert.deepEqual(r.installScripts?.packages, ['vendor/fixture-addon']);
    assert.equal(r.installScripts?.ran, true);
    assert.equal(r.version.layout, 'installed');
    assert.deepEqual(invokeBundle(r.version.bundlePath, { a: 1, b: 2 }), { sum: 3 });
  });

  it('names the missing compiler', { skip: noSandbox }, async () => {
    await assert.rejects(
      deployFunction(tempStore(), fixture('native-addon'), {}, { installScriptEnv: { CC: 'thaw-no-such-cc' } }),
      /the install script of vendor\/fixture-addon failed: it needs a C compiler \(thaw-no-such-cc; Debian: apt-get install gcc\), which is not installed/,
    );
  });

  it('gives scripts no host files, no secrets and no network', { skip: noSandbox }, async () => {
    process.env.THAW_TEST_SECRET = 'do-not-leak';
    try {
      const r = await deployFunction(tempStore(), fixture('install-sandbox-probe'));
      const seen = invokeBundle(r.version.bundlePath, {}) as { cwd: string; env: string[]; visible: Record<string, boolean>; network: string };
      assert.equal(seen.cwd, '/build/vendor/fixture-probe');
      assert.deepEqual(seen.visible, { '/root': false, '/home': false, '/work': false, '/etc/shadow': false, '/var': false, '/usr/bin/node': existsSync('/usr/bin/node') });
      assert.ok(!seen.env.includes('THAW_TEST_SECRET'), `the script saw ${seen.env.join(' ')}`);
      // Ours (PATH HOME TMPDIR LANG JOBS) and npm's own (COLOR EDITOR INIT_CWD NODE PWD), nothing of the host's.
      assert.deepEqual(seen.env, ['COLOR', 'EDITOR', 'HOME', 'INIT_CWD', 'JOBS', 'LANG', 'NODE', 'PATH', 'PWD', 'TMPDIR']);
      assert.notEqual(seen.network, 'connected');
    } finally {
      delete process.env.THAW_TEST_SECRET;
    }
  });

  it('reads which packages have scripts from the lockfile, and explains failures', () => {
    assert.deepEqual(packagesWithInstallScripts('/nonexistent'), []);
    assert.match(explainScriptFailure('gyp ERR! stack Error: not found: make\nnpm error path /build/node_modules/bcrypt', ['bcrypt']), /install script of bcrypt failed: it needs make \(make; Debian: apt-get install make\)/);
    assert.match(explainScriptFailure('npm error path /build/node_modules/x\nboom\nnpm error command failed', ['x']), /install script of x failed:\n.*boom/s);
    const args = installSandboxArgs('/data/f/src', process.execPath).join(' ');
    assert.match(args, /--unshare-net/);
    assert.match(args, /--bind \/data\/f\/src \/build/);
    assert.doesNotMatch(args, / \/root| \/home| \/work/);
  });
});
