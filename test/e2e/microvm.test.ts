// thaw serve --isolation microvm, end to end: the first instance of a function boots a VM cold and
// a snapshot is built beside it; after scale-to-zero the next instance is restored from the
// snapshot (recording the working set), and the one after that prefetches it (REAP).

import assert from 'node:assert/strict';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';

import { microVmUnavailable } from '../../src/platform/sandbox/microvm/backend.ts';
import { ThawServer } from './harness.ts';

const HELLO = fileURLToPath(new URL('../../examples/hello', import.meta.url));
const missing = microVmUnavailable();

describe('thaw serve --isolation microvm', { skip: missing ?? false, timeout: 10 * 60_000 }, () => {
  let thaw: ThawServer;

  before(async () => {
    // The guest image is the same for every run on a machine (see test/platform/sandbox/microvm).
    process.env.THAW_VM_CACHE ||= join(tmpdir(), 'thaw-vm-test-cache');
    thaw = await ThawServer.start(['--isolation', 'microvm', '--restore', 'reap']);
    assert.equal((await thaw.deploy(HELLO)).status, 201);
  });

  after(async () => {
    await thaw?.stop();
  });

  it('boots cold, then restores from the VM snapshot after scale-to-zero, then with REAP', async () => {
    const cold = await thaw.invoke('hello', { name: 'vm' });
    assert.equal(cold.status, 200, JSON.stringify(cold.body));
    assert.equal(cold.headers.get('x-thaw-start-kind'), 'cold');
    assert.match(JSON.stringify(cold.body), /Hello, vm/);

    for (const label of ['recording', 'reap']) {
      await thaw.advance(11 * 60_000); // past the keep-alive window: scale to zero
      assert.equal((await thaw.stats()).usedMb, 0);
      const restored = await thaw.invoke('hello', { name: label });
      assert.equal(restored.status, 200, JSON.stringify(restored.body));
      assert.equal(restored.headers.get('x-thaw-start-kind'), 'snapshot', label);
      assert.match(JSON.stringify(restored.body), new RegExp(`Hello, ${label}`));
    }
    const kinds = (await thaw.request('GET', '/functions/hello/stats')).body.byStartKind.map((s: any) => s.startKind);
    assert.ok(kinds.includes('snapshot') && kinds.includes('cold'), JSON.stringify(kinds));
    // thaw ls shows the VM snapshot's state.
    const listed = (await thaw.request('GET', '/functions')).body.functions.find((f: any) => f.name === 'hello');
    assert.match(listed.snapshotStatus, /^vm snapshot ready/);
  });
});
