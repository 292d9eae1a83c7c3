// A microVM boots a function in the installed layout: its image carries the version's src/ tree
// (node_modules included, links as links), so the loader in bundle.cjs finds the package and its
// data file inside the guest. Skipped, saying why, where QEMU is missing.

import assert from 'node:assert/strict';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';

import { deployFunction } from '../../../../src/platform/deploy/index.ts';
import { MicroVmBackend, microVmUnavailable } from '../../../../src/platform/sandbox/microvm/backend.ts';
import type { MicroVmSandbox } from '../../../../src/platform/sandbox/microvm/sandbox.ts';
import { fixture as packageFixture, tempStore } from '../../deploy/helpers.ts';
import { ctx, spec, tempDir } from '../support.ts';

const missing = microVmUnavailable();

describe('microVM, installed layout', { skip: missing ?? false, timeout: 10 * 60_000 }, () => {
  const live: MicroVmSandbox[] = [];
  after(async () => {
    await Promise.all(live.map((s) => s.destroy()));
  });

  it('boots a function that reads a data file next to its package module', async () => {
    const deployed = await deployFunction(tempStore(), packageFixture('reads-data-file'));
    assert.equal(deployed.version.layout, 'installed');
    const backend = await MicroVmBackend.create({
      dataDir: tempDir('thaw-vm-data-'),
      cacheDir: (process.env.THAW_VM_CACHE || undefined) ?? join(tmpdir(), 'thaw-vm-test-cache'),
      snapshotDir: tempDir('thaw-vm-snapshots-'),
      snapshots: false,
      log: (line) => console.error(line),
    });
    const vm = backend.createWith(spec('vminstalled', { codeDir: deployed.version.codeDir, memoryMb: 128 }), { kind: 'boot' });
    live.push(vm);
    await vm.start();
    const out = await vm.invoke({}, ctx('vminstalled'), 60_000);
    assert.equal(out.ok, true, JSON.stringify(out));
    assert.deepEqual(out.value, { width: 278 });
  });
});
