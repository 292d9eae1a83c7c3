// Cluster mode end to end: a real nats-server and three `thaw serve --cluster` processes on
// loopback. A function deployed through one node runs on every invoker; any node's API invokes it
// and reads its records; the async suite the single node passes (async-suite.ts) passes here too.

import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { advertised, idleAdvertised, startCluster, until } from '../helpers/cluster.ts';
import { NatsServer, natsServerMissing } from '../helpers/nats-server.ts';
import { ClusterNode } from '../../src/platform/cluster/node.ts';
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
      // A node routes on the adverts it has seen (published every 50 ms): the next call can find the
      // warm instance once the calling node's view shows it idle on its node.
      const home = [...ranOn][0];
      if (home) await until(async () => (await idleAdvertised(node, home, 'hello@1')) > 0, 30_000, `node ${i} sees an idle hello on ${home}`);
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

  it('--cluster-routing round-robin, the baseline chbl is measured against, spreads one function over every invoker', async () => {
    const { nodes: rr } = await startCluster(nats, 2, ['--cluster-routing', 'round-robin']);
    try {
      assert.equal((await rr[0]!.deploy(join(EXAMPLES, 'hello'), { name: 'hello' })).status, 201);
      for (const node of rr) await until(async () => (await node.request('GET', '/functions/hello')).status === 200);
      const ranOn: Record<string, number> = {};
      for (let i = 0; i < 4; i++) {
        const res = await rr[0]!.invoke('hello', { name: `rr${i}` });
        assert.equal(res.status, 200, JSON.stringify(res.body));
        const node = (await rr[0]!.request('GET', `/invocations/${res.headers.get('x-thaw-invocation-id')}`)).body.node;
        ranOn[node] = (ranOn[node] ?? 0) + 1;
      }
      // Blind of warm instances: each request to the next node in turn (chbl kept them on one, above).
      assert.deepEqual(ranOn, { 'node-0': 2, 'node-1': 2 });
    } finally {
      await Promise.all(rr.map((n) => n.stop()));
    }
  });

  it('a function in the installed layout (a dependency, "thaw": {"bundle": false}) runs on an invoker that did not deploy it: its tree travels through the object store', async () => {
    const prefix = `inst${process.pid}`;
    // Containers: --isolation process runs functions as uid 65534, which cannot reach src/ inside a
    // data dir only root may enter (mkdtemp's 0700), where a container mounts the version at /code.
    const start = (id: string, role: string) =>
      ThawServer.start(['--cluster', nats.url, '--node-id', id, '--role', role, '--cluster-ttl', '1s', '--isolation', 'container', '--cluster-prefix', prefix]);
    const [gateway, invoker] = await Promise.all([start('gw', 'gateway'), start('inv', 'both')]);
    try {
      // The gateway runs the deploy (install, layout, load check) but never a function: it must run on `inv`.
      const deployed = await gateway.deploy(join(E2E_FIXTURES, 'installed-dep'), { name: 'installed-dep' });
      assert.equal(deployed.status, 201, JSON.stringify(deployed.body));
      assert.equal(deployed.body.version.layout, 'installed');
      await until(async () => (await invoker.request('GET', '/functions/installed-dep')).status === 200, 60_000, 'adopted by the invoker');
      const adopted = (await invoker.request('GET', '/functions/installed-dep')).body.versions[0];
      assert.equal(adopted.layout, 'installed');
      assert.match(adopted.layoutReason, /"thaw.bundle" in package.json is false \(its installed tree, \d+ bytes, SHA-256 [0-9a-f]{12}, fetched from the cluster's object store\)/);
      await until(async () => (await advertised(gateway)).includes('inv'), 30_000, "the invoker's advert");
      const res = await gateway.invoke('installed-dep', { name: 'b' });
      assert.equal(res.status, 200, JSON.stringify(res.body));
      assert.equal(res.body.greeting, 'Hello from the installed tree, b!', 'the dependency read its own file, next to it in node_modules');
      assert.equal(res.body.from, '/code/src/vendor/fixture-greeting/index.js', 'loaded from the version folder (node_modules/fixture-greeting is a link to it)');
      const record = (await gateway.request('GET', `/invocations/${res.headers.get('x-thaw-invocation-id')}`)).body;
      assert.equal(record.node, 'inv');
    } finally {
      await Promise.all([gateway.stop(), invoker.stop()]);
    }
  });

  it('--cluster-replicas 3 against one nats-server is refused, saying one server keeps one replica', async () => {
    await assert.rejects(
      ClusterNode.connect({ url: nats.url, nodeId: 'r3', role: 'both', replicas: 3, prefix: 'replicas3', dataDir: mkdtempSync(join(tmpdir(), 'thaw-replicas-')) }),
      (e: any) => e.code === 'ERR_CLUSTER' && /--cluster-replicas 3: .*one nats-server keeps one replica/.test(e.message),
    );
  });

  it('an unknown --cluster-routing is refused before connecting, naming the routers', async () => {
    await assert.rejects(
      ClusterNode.connect({ url: nats.url, nodeId: 'x', role: 'both', routing: 'nearest', dataDir: '/nonexistent' }),
      (e: any) => e.code === 'ERR_INVALID_OPTION' && /--cluster-routing: expected chbl, random, round-robin, got 'nearest'/.test(e.message),
    );
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
