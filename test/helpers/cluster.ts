// A thaw cluster for end-to-end tests: `thaw serve --cluster` processes on loopback sharing a real
// nats-server, each cluster under a prefix of its own (several share one nats-server).

import type { NatsServer } from './nats-server.ts';
import { ThawServer } from '../e2e/harness.ts';

let prefixes = 0;

/** A node's process, and its --node-id. */
export type NodeProcess = ThawServer & { nodeId: string };

export interface TestCluster {
  prefix: string;
  nodes: NodeProcess[];
  /** Starts one more node of this cluster (`--node-id id`). */
  add(id: string): Promise<NodeProcess>;
}

/** Starts `count` nodes of one cluster, node-0…, and waits until each sees every node's advert. */
export async function startCluster(nats: NatsServer, count: number, args: string[] = []): Promise<TestCluster> {
  const prefix = `e${process.pid}x${++prefixes}`;
  const nodes: NodeProcess[] = [];
  const start = async (id: string) =>
    Object.assign(await ThawServer.start(['--cluster', nats.url, '--node-id', id, '--cluster-ttl', '1s', '--isolation', 'process', ...args, '--cluster-prefix', prefix]), { nodeId: id });
  for (let i = 0; i < count; i++) nodes.push(await start(`node-${i}`));
  for (const node of nodes) await until(async () => (await advertised(node)).length === count);
  return { prefix, nodes, add: start };
}

/** The ids of the members `node` sees with a live advert (GET /cluster). */
export async function advertised(node: ThawServer): Promise<string[]> {
  const res = await node.request('GET', '/cluster');
  return res.status === 200 ? res.body.members.filter((m: any) => m.advert).map((m: any) => m.id) : [];
}

/** Idle instances of `fnVersion` (`name@version`) that `node` sees advertised by member `memberId`. */
export async function idleAdvertised(node: ThawServer, memberId: string, fnVersion: string): Promise<number> {
  const res = await node.request('GET', '/cluster');
  const member = res.status === 200 ? res.body.members.find((m: any) => m.id === memberId) : undefined;
  return member?.advert?.idle?.[fnVersion] ?? 0;
}

/** Polls `check` until it holds (the condition is the event waited for; no fixed sleeps). */
export async function until(check: () => Promise<boolean>, timeoutMs = 30_000, what = 'condition'): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check().catch(() => false))) {
    if (Date.now() > deadline) throw new Error(`${what} not met within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
