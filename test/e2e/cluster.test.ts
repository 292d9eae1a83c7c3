// Cluster mode end to end: a real nats-server and three `thaw serve --cluster` processes on
// loopback. A function deployed through one node runs on every invoker; any node's API invokes it
// and reads its records; the async suite the single node passes (async-suite.ts) passes here too.

import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { startCluster, until } from '../helpers/cluster.ts';
import { NatsServer, natsServerMissing } from '../helpers/nats-server.ts';
import { describeAsyncInvocations } from './async-suite.ts';
import { E2E_FIXTURES, EXAMPLES, ThawServer } from './harness.ts';

describe('cluster mode', { skip: natsServerMissing, timeout: 300_000 }, () => {
  let nats: NatsServer;
  let nodes: ThawServer[] = [];
  before(async () => {
    nats = await NatsServer.start();
    nodes = (await startCluster(nats, 3)).nodes;
  });
  after(async () => {
    await Promise.all(nodes.map((n) => n.stop()));
    await nats?.stop();
  });

  it('deploys once through one node, and every node invokes it and reads its records', async () => {
    const deployed = await nodes[0]!.deploy(join(EXAMPLES, 'hello'), { name: 'hello' });
    assert.equal(deployed.status, 201, JSON.stringify(deployed.body));
    for (const node of nodes) await until(async () => (await node.request('GET', '/functions/hello')).status === 200);
    const ranOn = new Set<string>();
    for (const [i, node] of nodes.entries()) {
      const res = await node.invoke('hello', { name: `n${i}` });
      assert.equal(res.status, 200, JSON.stringify(res.body));
      const id = res.headers.get('x-thaw-invocation-id')!;
      for (const other of nodes) {
        const record = await other.request('GET', `/invocations/${id}`);
        assert.equal(record.status, 200, `node ${i}'s invocation read on another node`);
        assert.equal(record.body.status, 'succeeded');
        assert.match(record.body.node, /^node-[012]$/, 'the record says which node ran it');
        ranOn.add(record.body.node);
      }
    }
    const listed = (await nodes[2]!.request('GET', '/functions/hello/invocations')).body.invocations;
    assert.equal(listed.length, 3, 'every node lists the cluster’s records');
    // Warm routing: the same function keeps going to its home node, so the later calls found it warm.
    assert.equal(ranOn.size, 1, `one home node for one function, got ${[...ranOn].join(', ')}`);
  });

  it('an async invocation accepted by one node runs on an invoker and says which node ran it', async () => {
    await nodes[1]!.deploy(join(E2E_FIXTURES, 'faulty'), { name: 'faulty' });
    for (const node of nodes) await until(async () => (await node.request('GET', '/functions/faulty')).status === 200);
    const accepted = await nodes[2]!.request('POST', '/functions/faulty/invoke?async=1', { action: 'throw-first' });
    assert.equal(accepted.status, 202);
    const done = (await nodes[0]!.request('GET', `/invocations/${accepted.body.id}?wait=60000`)).body;
    assert.equal(done.status, 'succeeded', JSON.stringify(done));
    assert.equal(done.attempts, 2);
    assert.deepEqual(done.attemptLog.map((a: any) => a.attempt), [1, 2]);
    for (const a of done.attemptLog) assert.match(a.node, /^node-[012]$/);
    assert.equal(done.attemptLog[0].error.kind, 'error');
  });
});

if (!natsServerMissing) {
  let nats: NatsServer | undefined;
  const started: ThawServer[][] = [];
  describeAsyncInvocations('cluster of three', async (args) => {
    nats ??= await NatsServer.start();
    const { nodes } = await startCluster(nats, 3, args);
    started.push(nodes);
    const [first] = nodes;
    return {
      url: first!.url,
      request: (...a) => first!.request(...a),
      deploy: async (dir, settings) => {
        const res = await first!.deploy(dir, settings);
        for (const node of nodes) await until(async () => (await node.request('GET', `/functions/${settings?.name}`)).status === 200);
        return res;
      },
      stop: async () => {
        await Promise.all(nodes.map((n) => n.stop()));
      },
    };
  });
  after(async () => nats?.stop());
}
