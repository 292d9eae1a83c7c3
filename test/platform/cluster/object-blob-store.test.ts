// The cluster's object-store BlobStore, on a real nats-server, against the BlobStore conformance suite.

import { after, before } from 'node:test';
import { Objm } from '@nats-io/obj';
import { ClusterConnection } from '../../../src/platform/cluster/connection.ts';
import { ObjectStoreBlobStore } from '../../../src/platform/cluster/object-blob-store.ts';
import { NatsServer, natsServerMissing } from '../../helpers/nats-server.ts';
import { describeBlobStore } from '../accelerators/v8-snapshot/blob-store.conformance.ts';
import { tempDir } from '../sandbox/support.ts';

let server: NatsServer | undefined;
let n = 0;
before(async () => {
  if (!natsServerMissing) server = await NatsServer.start();
});
after(async () => server?.stop());

describeBlobStore(
  'NATS object store',
  async () => {
    // One prefix per test: a bucket of its own.
    const connection = await ClusterConnection.open({ url: server!.url, name: 'blob-test', prefix: `t${++n}` });
    const store = await ObjectStoreBlobStore.open(connection, tempDir('blob-obj-'));
    const raw = await new Objm(connection.nc).open(connection.name('blobs'));
    return {
      store,
      corrupt: async (address, bytes) => void (await raw.putBlob({ name: address }, bytes)),
      close: () => connection.close(),
    };
  },
  { skip: natsServerMissing },
);
