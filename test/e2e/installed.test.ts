// The installed layout end to end: functions whose packages a bundle would break (a native addon
// found beside its module, a data file read next to a module, a worker started from a file) deploy
// over HTTP, run from their node_modules mounted read-only in the sandbox (bubblewrap where there
// is one), and answer; the deploy says which layout and why.

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { ThawServer } from './harness.ts';

const PACKAGES = fileURLToPath(new URL('../fixtures/packages', import.meta.url));

describe('installed layout, end to end', { timeout: 240_000 }, () => {
  let thaw: ThawServer;
  const work = mkdtempSync(join(tmpdir(), 'thaw-installed-e2e-'));

  before(async () => {
    thaw = await ThawServer.start(['--pause-after', '0']);
  });

  after(async () => {
    await thaw?.stop();
    rmSync(work, { recursive: true, force: true });
  });

  it('runs a package that reads data files next to its modules', async () => {
    const r = await thaw.deploy(join(PACKAGES, 'reads-data-file'));
    assert.equal(r.status, 201, JSON.stringify(r.body));
    assert.equal(r.body.version.layout, 'installed');
    assert.match(r.body.version.layoutReason, /reads files relative to its module in fixture-fonts/);
    const inv = await thaw.invoke('reads-data-file', {});
    assert.equal(inv.status, 200, JSON.stringify(inv.body));
    assert.deepEqual(inv.body, { width: 278 });
  });

  it('runs a package that starts a worker from its own file', async () => {
    const r = await thaw.deploy(join(PACKAGES, 'worker-file'));
    assert.equal(r.status, 201, JSON.stringify(r.body));
    assert.equal(r.body.version.layout, 'installed');
    const inv = await thaw.invoke('worker-file', { n: 12 });
    assert.equal(inv.status, 200, JSON.stringify(inv.body));
    assert.deepEqual(inv.body, { square: 144 });
  });

  it('runs a package with a native addon', async (t) => {
    if (!existsSync('/usr/include/node/node_api.h')) return t.skip('no Node headers at /usr/include/node to build the fixture addon');
    const dir = join(work, 'native-addon');
    cpSync(join(PACKAGES, 'native-addon'), dir, { recursive: true });
    const addon = join(dir, 'vendor/fixture-addon');
    execFileSync('sh', ['-c', JSON.parse(readFileSync(join(addon, 'package.json'), 'utf8')).scripts.install], { cwd: addon, stdio: 'pipe' });
    const r = await thaw.deploy(dir);
    assert.equal(r.status, 201, JSON.stringify(r.body));
    assert.equal(r.body.version.layout, 'installed');
    const inv = await thaw.invoke('native-addon', { a: 20, b: 22 });
    assert.equal(inv.status, 200, JSON.stringify(inv.body));
    assert.deepEqual(inv.body, { sum: 42 });
  });
});
