// An installed-layout function (bundle.cjs requires src/ and its node_modules) in a data directory
// only root may traverse (0700), run as root with functions dropped to nobody: the process backend
// loads it through a code view outside the data directory (code-view.ts); a container binds it at
// /code (or, from a stem, the version's files linked into the stem's slot, bound at /code). The
// bundle layout needs no view (bundle.cjs is read before the drop).

import assert from 'node:assert/strict';
import { chmodSync, existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';

import { writeInstalledLoader } from '../../../src/platform/deploy/layout.ts';
import type { LeanContainerBackend } from '../../../src/platform/sandbox/lean-container.ts';
import { reachable } from '../../../src/platform/sandbox/code-view.ts';
import type { RuntimeProcess } from '../../../src/platform/sandbox/runtime-process.ts';
import type { StemLauncher } from '../../../src/platform/sandbox/stem-pool.ts';
import { createSandboxBackend, detectIsolation } from '../../../src/platform/sandbox/index.ts';
import { ctx, spec, tempDir } from './support.ts';

const detected = await detectIsolation();
const notRoot = process.getuid?.() === 0 ? undefined : 'needs root (functions drop to nobody only when thaw runs as root)';
const containerMissing = notRoot ?? (!detected.container.ok ? `lean containers unavailable: ${detected.container.reason}` : detected.cgroups.driver ? undefined : 'no usable cgroups');

/** A data directory (0700) holding one installed-layout version whose dependency reads a file next to itself. */
function installedVersionIn0700DataDir(): { dataDir: string; codeDir: string } {
  const dataDir = tempDir('thaw-code-view-');
  chmodSync(dataDir, 0o700);
  const codeDir = join(dataDir, 'functions', 'installed', '1');
  const dep = join(codeDir, 'src', 'node_modules', 'dep');
  mkdirSync(dep, { recursive: true });
  writeFileSync(join(dep, 'index.js'), 'module.exports = () => require("fs").readFileSync(require("path").join(__dirname, "greeting.txt"), "utf8");\n');
  writeFileSync(join(dep, 'greeting.txt'), 'hello from a file next to the dependency');
  writeFileSync(
    join(codeDir, 'src', 'index.js'),
    'const dep = require("dep");\n' +
      'exports.handler = async () => { let writable = true; try { require("fs").appendFileSync(__filename, "//"); } catch { writable = false; } return { greeting: dep(), uid: process.getuid(), writable }; };\n',
  );
  writeInstalledLoader(join(codeDir, 'bundle.cjs'), 'index.js');
  return { dataDir, codeDir };
}

for (const [isolation, stemPoolSize] of [['process', 0], ['container', 0], ['container', 1]] as const) {
  const title = stemPoolSize > 0 ? `${isolation}, in a stem` : isolation;
  describe(`installed layout in a 0700 data directory, as root (${title})`, { skip: isolation === 'process' ? notRoot : containerMissing }, () => {
    it('loads and runs as nobody, its code read-only to it', async () => {
      const { dataDir, codeDir } = installedVersionIn0700DataDir();
      assert.equal(await reachable(codeDir, { uid: 65534, gid: 65534 }), false);
      const backend = await createSandboxBackend({ isolation, dataDir, stemPoolSize });
      await (backend as Partial<LeanContainerBackend>).stems?.filled();
      const sb = backend.create(spec('installed', { codeDir }));
      try {
        await sb.start();
        if (stemPoolSize > 0) assert.equal(((sb as RuntimeProcess).launcher as StemLauncher).pooled, true, 'started in a stem');
        const out = await sb.invoke({}, ctx('installed'), 10_000);
        assert.equal(out.ok, true, JSON.stringify(out));
        assert.deepEqual(out.value, { greeting: 'hello from a file next to the dependency', uid: 65534, writable: false });
        // A second instance of the same version reuses what the first one needed.
        const again = backend.create(spec('installed', { codeDir }));
        try {
          await again.start();
          assert.equal((await again.invoke({}, ctx('installed'), 10_000)).ok, true);
        } finally {
          await again.destroy();
        }
      } finally {
        await sb.destroy();
        await backend.close?.();
      }
    });
  });
}

describe('reachable', () => {
  it('needs --x on every parent and r-x on the folder, by owner, group or others', async () => {
    const root = tempDir('thaw-reachable-');
    chmodSync(root, 0o755);
    const inner = join(root, 'a', 'b');
    mkdirSync(inner, { recursive: true, mode: 0o755 });
    const user = { uid: 4242, gid: 4242 };
    assert.equal(await reachable(inner, user), true);
    chmodSync(join(root, 'a'), 0o711);
    assert.equal(await reachable(inner, user), true);
    chmodSync(join(root, 'a'), 0o700);
    assert.equal(await reachable(inner, user), false);
    chmodSync(join(root, 'a'), 0o755);
    chmodSync(inner, 0o711);
    assert.equal(await reachable(inner, user), false);
    assert.equal(await reachable(join(root, 'missing'), user), false);
    assert.equal(existsSync(inner), true);
  });
});
