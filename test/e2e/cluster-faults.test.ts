// Cluster mode under faults, with real processes: a real nats-server and three `thaw serve
// --cluster` nodes on loopback. An invoker is killed (SIGKILL) during 1,000 async invocations and
// none is lost; the node a client talks to is killed and the others keep serving; nats-server is
// restarted and the nodes reconnect and resume; a node that stops heart-beating (SIGSTOP) leaves
// the membership and its adverts are dropped. Every wait polls the cluster's state with a
// deadline; the exact TTL arithmetic is membership.test.ts's (an injected clock).

import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { advertised, startCluster, until, type NodeProcess, type TestCluster } from '../helpers/cluster.ts';
import { NatsServer, natsServerMissing } from '../helpers/nats-server.ts';
import { E2E_FIXTURES, EXAMPLES, type Response, type ThawServer } from './harness.ts';

const INVOCATIONS = 1000;
/** Accepted invocations before the kill: the rest are submitted while a node is dead. */
const KILL_AFTER = 300;
/** A node silent this long loses its held async jobs to the others (thaw serve --cluster-ack-wait). */
const ACK_WAIT = '2s';

describe('cluster mode under faults', { skip: natsServerMissing, timeout: 600_000, concurrency: false }, () => {
  let nats: NatsServer;
  let cluster: TestCluster;
  const live = new Set<NodeProcess>();
  const all: NodeProcess[] = [];

  /** The node `node`'s sync invocations of `name` run on (the record says). */
  async function ranOn(node: ThawServer, name: string, event: unknown = {}): Promise<string> {
    const res = await node.invoke(name, event);
    assert.equal(res.status, 200, JSON.stringify(res.body));
    const record = await node.request('GET', `/invocations/${res.headers.get('x-thaw-invocation-id')}`);
    return record.body.node;
  }

  function byId(id: string): NodeProcess {
    const node = all.find((n) => n.nodeId === id);
    assert.ok(node, `no node ${id}`);
    return node;
  }

  async function kill(node: NodeProcess): Promise<void> {
    live.delete(node);
    await node.stop('SIGKILL');
  }

  async function deployEverywhere(dir: string, name: string): Promise<void> {
    const [first] = live;
    assert.equal((await first!.deploy(dir, { name })).status, 201);
    for (const node of live) await until(async () => (await node.request('GET', `/functions/${name}`)).status === 200, 30_000, `${name} on ${node.nodeId}`);
  }

  before(async () => {
    nats = await NatsServer.start();
    cluster = await startCluster(nats, 3, ['--cluster-ack-wait', ACK_WAIT, '--retry-delay', '200ms', '--max-attempts', '4']);
    for (const node of cluster.nodes) {
      live.add(node);
      all.push(node);
    }
    await deployEverywhere(join(E2E_FIXTURES, 'faulty'), 'faulty');
    await deployEverywhere(join(EXAMPLES, 'hello'), 'hello');
  });
  after(async () => {
    for (const node of all) {
      node.process.kill('SIGCONT');
      await node.stop();
    }
    await nats?.stop();
  });

  it(`SIGKILL of an invoker during ${INVOCATIONS} async invocations loses none: each completes or is a dead letter, its attempts recorded`, async (t) => {
    // The function's home node runs most of its invocations (bounded-load hashing): that is the victim.
    const victim = byId(await ranOn(cluster.nodes[0]!, 'faulty'));
    const survivor = [...live].find((n) => n !== victim)!;
    let killedAt: number | undefined;

    // Clients spread the invocations over every node; one whose node dies (no 202) resubmits
    // elsewhere with the same Idempotency-Key, and gets the first invocation if it was accepted.
    const ids = new Array<string>(INVOCATIONS);
    let next = 0;
    let accepted = 0;
    let acceptedAll: () => void;
    const acceptedEnough = new Promise<void>((resolve) => (acceptedAll = resolve));
    let killDone: () => void;
    const afterKill = new Promise<void>((resolve) => (killDone = resolve));
    const submit = async (lane: number) => {
      for (let i = next++; i < INVOCATIONS; i = next++) {
        if (i >= KILL_AFTER) await afterKill;
        for (let tries = 0; ; tries++) {
          const nodes = [...live];
          const node = nodes[(i + tries) % nodes.length]!;
          let res: Response | undefined;
          try {
            res = await node.request('POST', '/functions/faulty/invoke?async=1', { action: 'sleep', ms: 20, i }, { 'idempotency-key': `job-${i}` });
          } catch {
            // the node is gone (connection refused or reset): another one
          }
          if (res?.status === 202) {
            ids[i] = res.body.id;
            if (++accepted === KILL_AFTER) acceptedAll();
            break;
          }
          assert.ok(tries < 20, `invocation ${i} not accepted by any node (lane ${lane}): ${res?.status} ${JSON.stringify(res?.body)}`);
        }
      }
    };
    const killOnceRunning = async () => {
      // Kill in the middle: once the first KILL_AFTER were accepted and the first has run; the
      // clients submit the rest after it.
      await acceptedEnough;
      await until(async () => (await survivor.request('GET', `/invocations/${ids.find(Boolean)}`)).body.status === 'succeeded', 60_000, 'the first invocation ran');
      await kill(victim);
      killedAt = accepted;
      killDone();
    };
    await Promise.all([...Array.from({ length: 16 }, (_, lane) => submit(lane)), killOnceRunning()]);
    assert.ok(killedAt !== undefined && killedAt < INVOCATIONS, 'killed while invocations were still coming');
    assert.equal(new Set(ids).size, INVOCATIONS, 'one invocation per Idempotency-Key');

    await until(async () => {
      const c = await queueCounts(survivor);
      return c.pending === 0 && c.running === 0;
    }, 180_000, 'every invocation settled');

    const [a, b] = [...live];
    const dead = new Set<string>(((await a!.request('GET', '/dead-letters?limit=1000')).body.deadLetters as any[]).map((d) => d.id));
    const seen = { succeeded: 0, attempts: 0, onVictim: 0, interrupted: 0 };
    for (const [i, id] of ids.entries()) {
      // A record follows its job's state a moment later (written after each change): wait for it.
      let record: any;
      await until(async () => ['succeeded', 'failed'].includes((record = (await (i % 2 ? a! : b!).request('GET', `/invocations/${id}`)).body).status), 60_000, `record ${id} final`).catch(() => undefined);
      assert.ok(record.status === 'succeeded' || (record.status === 'failed' && dead.has(id)), `invocation ${i} (${id}) ended ${record.status}${dead.has(id) ? '' : ', not a dead letter'}: ${JSON.stringify({ ...record, stdout: undefined, stderr: undefined })}`);
      assert.equal(record.attemptLog.length, record.attempts, `invocation ${id}: one log entry per attempt`);
      assert.ok(record.attempts >= 1);
      for (const attempt of record.attemptLog) {
        assert.match(attempt.node, /^node-\d$/, `invocation ${id}: each attempt names its node`);
        assert.notEqual(attempt.finishedAt, null, `invocation ${id}: attempt ${attempt.attempt} finished`);
        if (attempt.node === victim.nodeId) seen.onVictim++;
        if (attempt.error) seen.interrupted++;
      }
      if (record.status === 'succeeded') {
        seen.succeeded++;
        assert.equal(record.attemptLog.at(-1).error, null, `invocation ${id}: its last attempt is the one that succeeded`);
      }
      seen.attempts += record.attempts;
    }
    assert.ok(seen.onVictim > 0, 'the victim ran attempts before it was killed');
    t.diagnostic(`killed ${victim.nodeId} after ${killedAt} of ${INVOCATIONS} were accepted`);
    t.diagnostic(`${seen.succeeded} succeeded, ${dead.size} dead letters, ${seen.attempts} attempts, ${seen.onVictim} on ${victim.nodeId} (killed), ${seen.interrupted} failed attempts (the kill's)`);
  });

  it('SIGKILL of the node a client talks to: the others keep serving, its functions included', async () => {
    // A third node again, so two remain after the kill.
    const added = await cluster.add('node-3');
    all.push(added);
    live.add(added);
    for (const node of live) await until(async () => (await advertised(node)).length === live.size, 30_000, `${node.nodeId} sees ${live.size} nodes`);
    await until(async () => (await added.request('GET', '/functions/hello')).status === 200, 30_000, 'hello adopted by the new node');
    const client = byId(await ranOn([...live][0]!, 'hello')); // the client talks to the function's home node
    assert.equal((await client.invoke('hello', { name: 'before' })).status, 200);
    await kill(client);
    // At once (before its membership TTL): a request routed to the dead node finds no responder and
    // goes to another.
    for (const node of live) {
      const res = await node.invoke('hello', { name: 'after' });
      assert.equal(res.status, 200, JSON.stringify(res.body));
      assert.notEqual((await node.request('GET', `/invocations/${res.headers.get('x-thaw-invocation-id')}`)).body.node, client.nodeId);
    }
    for (const node of live) await until(async () => !(await advertised(node)).includes(client.nodeId), 30_000, `${client.nodeId} dropped`);
  });

  it('a restarted nats-server: the nodes reconnect and the cluster resumes (sync, async, membership, records)', async () => {
    // Async invocations running while the server is down finish, and are recorded once it is back.
    const [first] = [...live];
    const inFlight: string[] = [];
    for (let i = 0; i < 24; i++) {
      const res = await first!.request('POST', '/functions/faulty/invoke?async=1', { action: 'sleep', ms: 400 });
      assert.equal(res.status, 202);
      inFlight.push(res.body.id);
    }
    await until(async () => (await queueCounts(first!)).running > 0, 30_000, 'async invocations running');
    await nats.kill();
    // Down until a node says so: an invocation it cannot accept.
    await until(async () => (await first!.request('POST', '/functions/faulty/invoke?async=1', { action: 'ok' })).status !== 202, 30_000, 'the outage noticed');
    await nats.restart();
    for (const node of live) {
      await until(async () => (await advertised(node)).length === live.size, 60_000, `${node.nodeId} sees the cluster again`);
      await until(async () => (await node.invoke('hello', { name: 'again' })).status === 200, 60_000, `${node.nodeId} invokes again`);
    }
    const [a, b] = [...live];
    const accepted = await a!.request('POST', '/functions/faulty/invoke?async=1', { action: 'ok' });
    assert.equal(accepted.status, 202, JSON.stringify(accepted.body));
    const done = (await b!.request('GET', `/invocations/${accepted.body.id}?wait=60000`)).body;
    assert.equal(done.status, 'succeeded', JSON.stringify(done));
    for (const id of inFlight) {
      let record: any;
      await until(async () => ['succeeded', 'failed'].includes((record = (await b!.request('GET', `/invocations/${id}`)).body).status), 120_000, `${id} settled`).catch(() => undefined);
      assert.equal(record.status, 'succeeded', `${id} ran across the outage: ${JSON.stringify(record)}`);
    }
    // What JetStream held before the restart is still there: the functions, the records.
    assert.equal((await b!.request('GET', '/functions/faulty/invocations?limit=5')).body.invocations.length, 5);
  });

  it('a node that stops heart-beating (SIGSTOP) leaves the membership and its adverts are dropped; it rejoins when it resumes', async () => {
    const [observer] = [...live];
    const silent = byId(await ranOn(observer!, 'hello')); // the home node of hello: routing must go past it
    const others = [...live].filter((n) => n !== silent);
    assert.ok(others.length > 0);
    silent.process.kill('SIGSTOP');
    try {
      // Its TCP connection stays open and its subscriptions with it: only the missing heartbeat tells.
      for (const node of others) {
        await until(async () => {
          const members = (await node.request('GET', '/cluster')).body.members as Array<{ id: string; advert: unknown }>;
          return !members.some((m) => m.id === silent.nodeId);
        }, 30_000, `${node.nodeId} drops ${silent.nodeId}`);
      }
      for (const node of others) {
        const res = await node.invoke('hello', { name: 'routed past the silent node' });
        assert.equal(res.status, 200, JSON.stringify(res.body));
        assert.notEqual((await node.request('GET', `/invocations/${res.headers.get('x-thaw-invocation-id')}`)).body.node, silent.nodeId);
      }
    } finally {
      silent.process.kill('SIGCONT');
    }
    for (const node of others) await until(async () => (await advertised(node)).includes(silent.nodeId), 30_000, `${silent.nodeId} rejoins`);
  });
});

async function queueCounts(node: ThawServer): Promise<{ pending: number; running: number; succeeded: number; failed: number }> {
  const res = await node.request('GET', '/dashboard/state');
  assert.equal(res.status, 200, JSON.stringify(res.body));
  return res.body.queue;
}
