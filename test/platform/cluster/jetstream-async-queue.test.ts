// The cluster's async queue (JetStream work queue + KV), on a real nats-server, against the
// AsyncQueue conformance suite that the single-node SQLite queue passes too; then what only a
// cluster has: a node that dies holding a job, and a second node's queue on the same stream.

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { ClusterConnection } from '../../../src/platform/cluster/connection.ts';
import { JetStreamAsyncQueue } from '../../../src/platform/cluster/jetstream-async-queue.ts';
import { DEFAULT_ASYNC_POLICY } from '../../../src/platform/store/async-queue.ts';
import { NatsServer, natsServerMissing } from '../../helpers/nats-server.ts';
import { describeAsyncQueue } from '../store/async-queue.conformance.ts';

let server: NatsServer | undefined;
let n = 0;
before(async () => {
  if (!natsServerMissing) server = await NatsServer.start();
});
after(async () => server?.stop());

describe('JetStream async queue', { skip: natsServerMissing }, () => {
  describeAsyncQueue('NATS JetStream', async ({ policy, now }) => {
    // A prefix of its own per test: its own stream, consumer and buckets.
    const connection = await ClusterConnection.open({ url: server!.url, name: 'queue-test', prefix: `q${++n}` });
    const queue = await JetStreamAsyncQueue.open(connection, { policy, now, node: 'node-a' });
    return {
      queue,
      close: async () => {
        await queue.close();
        await connection.close();
      },
    };
  });

  it('records which node ran each attempt, and another node takes over a job whose node died holding it', async () => {
    const prefix = `q${++n}`;
    const policy = { ...DEFAULT_ASYNC_POLICY, retryBaseMs: 10, retryMaxMs: 10 };
    const a = await ClusterConnection.open({ url: server!.url, name: 'a', prefix });
    const b = await ClusterConnection.open({ url: server!.url, name: 'b', prefix });
    // A short ack wait: JetStream redelivers what a silent node held after 1 s.
    const onA = await JetStreamAsyncQueue.open(a, { policy, node: 'node-a', ackWaitMs: 1000 });
    const onB = await JetStreamAsyncQueue.open(b, { policy, node: 'node-b', ackWaitMs: 1000 });
    try {
      const { job } = await onB.enqueue({ functionName: 'f', version: 1, payload: { n: 1 } });
      const claimed = await onA.claim();
      assert.equal(claimed?.id, job.id);
      assert.equal(claimed?.attemptLog?.[0]?.node, 'node-a');
      // node-a dies holding it: its connection goes without a word (no ack, no nak).
      await onA.close({ abandon: true });
      a.nc.close();
      let taken: Awaited<ReturnType<typeof onB.claim>>;
      do taken = await onB.claim();
      while (!taken);
      assert.equal(taken.id, job.id);
      assert.equal(taken.attempts, 2);
      assert.deepEqual(taken.attemptLog?.map((e) => [e.attempt, e.node, e.error?.kind ?? null]), [[1, 'node-a', 'platform'], [2, 'node-b', null]]);
      await onB.complete(job.id, { result: 'ok' });
      const done = await onB.get(job.id);
      assert.equal(done?.status, 'succeeded');
      assert.equal(done?.attemptLog?.[1]?.finishedAt !== null, true);
    } finally {
      await onB.close();
      await b.close();
      await a.close();
    }
  });
});
