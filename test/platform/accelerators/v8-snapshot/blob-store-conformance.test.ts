// The shared-directory BlobStore against the BlobStore conformance suite (the cluster's object
// store runs it in test/platform/cluster/object-blob-store.test.ts).

import { chmodSync, writeFileSync } from 'node:fs';
import { DirectoryBlobStore } from '../../../../src/platform/accelerators/v8-snapshot/blob-store.ts';
import { tempDir } from '../../sandbox/support.ts';
import { describeBlobStore } from './blob-store.conformance.ts';

describeBlobStore('directory', async () => {
  const store = new DirectoryBlobStore(tempDir('blob-dir-'));
  return {
    store,
    corrupt: async (address, bytes) => {
      const path = store.pathOf(address);
      chmodSync(path, 0o644);
      writeFileSync(path, bytes);
    },
    close: async () => undefined,
  };
});
