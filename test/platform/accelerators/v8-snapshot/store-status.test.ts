// The snapshot status a deployed version carries in the store (`thaw ls`): building, then
// `ready <sha256-prefix> <size>` or `fallback: <reason>`; and a restart that finds the manifest.

import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';

import { deployFunction } from '../../../../src/platform/deploy/index.ts';
import { toDeployed } from '../../../../src/platform/function.ts';
import { createSandboxBackend } from '../../../../src/platform/sandbox/index.ts';
import { SnapshotStartPath } from '../../../../src/platform/accelerators/v8-snapshot/start-path.ts';
import { Store } from '../../../../src/platform/store/index.ts';
import { tempDir, testDataDir } from '../../sandbox/support.ts';

const EXAMPLES = join(import.meta.dirname, '../../../../examples');

describe('snapshot status in the store', () => {
  const dataDir = tempDir('thaw-snapshot-store-');
  const store = Store.open(dataDir, { synchronous: 'normal' });
  after(() => store.close());

  it('a deployed example goes building → ready, and a new start path (a restart) reuses the blob', async () => {
    const backend = await createSandboxBackend({ isolation: 'process', dataDir: testDataDir() });
    const deployed = await deployFunction(store, join(EXAMPLES, 'hello'), { name: 'hello' });
    const fn = toDeployed(deployed.version);
    const seen: Array<string | null> = [];
    const path = new SnapshotStartPath({
      backend,
      dataDir,
      status: { setSnapshotStatus: (n, v, s) => (seen.push(s), store.functions.setSnapshotStatus(n, v, s)) },
    });
    path.onDeploy(fn);
    assert.equal(store.functions.getVersion('hello', fn.version)!.snapshotStatus, 'building');
    await path.whenIdle();
    const status = store.functions.getVersion('hello', fn.version)!.snapshotStatus ?? '';
    assert.match(status, /^ready [0-9a-f]{12} [\d.]+ MiB$/);
    assert.deepEqual(seen.map((s) => s?.split(' ')[0]), ['building', 'ready']);
    await path.close();

    // A restart: the manifest is found, the blob fetched into the new cache and verified; no build.
    const again = new SnapshotStartPath({ backend, dataDir, status: store.functions });
    assert.equal(again.available(fn), false, 'not yet in this invoker\'s cache');
    await again.whenIdle();
    assert.equal(again.available(fn), true);
    assert.equal(again.buildsStarted, 0);
    await again.close();
  });
});
