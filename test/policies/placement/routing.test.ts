// Routing across nodes that each reuse only their own instances: the consistent hash ring, CH-BL
// (warm first, home set, bounded load, spill-over) and the blind baselines; then the three in the
// simulator on a seeded trace.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { NodeView, RoutedFunction } from '../../../src/core/policy.ts';
import { seededRandom } from '../../../src/core/random.ts';
import { BoundedLoadRouting, createRouting, HashRing, RandomRouting, RoundRobinRouting, ROUTING_POLICIES } from '../../../src/policies/placement/index.ts';
import { runSimulation } from '../../../src/sim/run.ts';
import { parseSyntheticSpec, syntheticTrace } from '../../../src/sim/traces/synthetic.ts';

/** A node as a router sees it, with its idle instances per function id and snapshot-ready functions. */
class FakeNode implements NodeView<RoutedFunction> {
  load = 0;
  freeMb: number;
  reclaimableMb: number;
  idle = new Map<string, number>();
  ready = new Set<string>();
  constructor(
    readonly name: string,
    readonly capacityMb = 4096,
  ) {
    this.freeMb = this.reclaimableMb = capacityMb;
  }
  idleOf(fn: RoutedFunction): number {
    return this.idle.get(fn.id) ?? 0;
  }
  snapshotReady(fn: RoutedFunction): boolean {
    return this.ready.has(fn.id);
  }
}

const nodes = (n: number) => Array.from({ length: n }, (_, i) => new FakeNode(`node-${i}`));
const fn = (id: string, memoryMb = 256): RoutedFunction => ({ id, memoryMb });

describe('HashRing', () => {
  it('gives every key a preference order over all nodes, the same in every process', () => {
    const names = ['a', 'b', 'c', 'd'];
    const ring = new HashRing(names);
    const again = new HashRing([...names]);
    for (let k = 0; k < 200; k++) {
      const order = [...ring.order(`fn-${k}`)];
      assert.deepEqual([...order].sort(), [0, 1, 2, 3]);
      assert.deepEqual([...again.order(`fn-${k}`)], order);
    }
  });

  it('moves only the keys of a node that leaves: the others keep their order', () => {
    const names = ['a', 'b', 'c', 'd', 'e'];
    const ring = new HashRing(names);
    const without = new HashRing(names.filter((n) => n !== 'c'));
    for (let k = 0; k < 500; k++) {
      const before = [...ring.order(`fn-${k}`)].map((i) => names[i]).filter((n) => n !== 'c');
      const after = [...without.order(`fn-${k}`)].map((i) => without.names[i]);
      assert.deepEqual(after, before, `fn-${k}`);
    }
  });

  it('spreads keys over nodes roughly evenly', () => {
    const ring = new HashRing(['a', 'b', 'c', 'd']);
    const first = [0, 0, 0, 0];
    for (let k = 0; k < 10_000; k++) first[ring.order(`fn-${k}`)[0]!]!++;
    for (const count of first) assert.ok(count > 1500 && count < 3500, `share ${count} of 10,000`);
  });

  it('refuses duplicate names and bad point counts', () => {
    assert.throws(() => new HashRing(['a', 'a']), RangeError);
    assert.throws(() => new HashRing(['a'], 0), RangeError);
  });
});

describe('BoundedLoadRouting (CH-BL)', () => {
  it('sends a function to its first home node when all are idle, whatever the order nodes are listed in', () => {
    const router = new BoundedLoadRouting();
    const ns = nodes(4);
    const f = fn('f');
    const home = ns[router.order(f, ns)[0]!]!;
    assert.equal(router.route(f, ns), home);
    const router2 = new BoundedLoadRouting();
    assert.equal(router2.route(f, [...ns].reverse())?.name, home.name);
  });

  it('prefers a node holding an idle instance, even off the home set', () => {
    const router = new BoundedLoadRouting();
    const ns = nodes(4);
    const f = fn('f');
    const last = ns[router.order(f, ns)[3]!]!;
    last.idle.set('f', 1);
    assert.equal(router.route(f, ns), last);
  });

  it('skips a warm node at its bound: (1 + ε)·(L + 1)/n invocations, rounded up', () => {
    const router = new BoundedLoadRouting({ epsilon: 0.25 });
    const ns = nodes(4);
    const f = fn('f');
    const order = router.order(f, ns);
    const warm = ns[order[0]!]!;
    warm.idle.set('f', 1);
    warm.load = 5; // L = 5: bound = ceil(1.25 · 6 / 4) = 2
    assert.equal(router.bound(ns, order[0]!), 2);
    const chosen = router.route(f, ns)!;
    assert.notEqual(chosen, warm);
    assert.equal(chosen, ns[order[1]!], 'the other home node');
  });

  it('takes the least loaded home node, a ready snapshot first', () => {
    const router = new BoundedLoadRouting({ epsilon: 2 });
    const ns = nodes(4);
    const f = fn('f');
    const [h0, h1] = [ns[router.order(f, ns)[0]!]!, ns[router.order(f, ns)[1]!]!];
    h0.load = 2;
    h1.load = 1;
    assert.equal(router.route(f, ns), h1);
    h0.ready.add('f');
    assert.equal(router.route(f, ns), h0);
  });

  it('spills past the home set when its nodes are full or at their bound, then evicts where it must', () => {
    const router = new BoundedLoadRouting({ epsilon: 0.25 });
    const ns = nodes(4);
    const f = fn('f', 512);
    const order = [...router.order(f, ns)].map((i) => ns[i]!);
    order[0]!.freeMb = 100; // no room
    order[1]!.load = 3; // L = 3: bound ceil(1.25·4/4) = 2
    assert.equal(router.route(f, ns), order[2]);
    for (const n of ns) n.freeMb = n.reclaimableMb = 0;
    order[3]!.reclaimableMb = 1024;
    assert.equal(router.route(f, ns), order[3], 'evicting idle instances makes room');
    order[3]!.reclaimableMb = 0;
    assert.equal(router.route(f, ns), undefined);
  });

  it('never loads a node past its bound (random arrivals and departures)', () => {
    const epsilon = 0.1;
    const router = new BoundedLoadRouting({ epsilon });
    const ns = nodes(5);
    const random = seededRandom(7);
    let total = 0;
    for (let step = 0; step < 20_000; step++) {
      if (total > 0 && random() < 0.45) {
        const busy = ns.filter((n) => n.load > 0);
        busy[Math.floor(random() * busy.length)]!.load--;
        total--;
        continue;
      }
      const f = fn(`f${Math.floor(random() * random() * 50)}`);
      const node = router.route(f, ns)!;
      node.load++;
      total++;
      assert.ok(node.load <= Math.ceil((1 + epsilon) * total / ns.length), `load ${node.load} with ${total} in all`);
    }
  });

  it('weights the bound by memory on unequal nodes', () => {
    const router = new BoundedLoadRouting({ epsilon: 0.25 });
    const ns = [new FakeNode('big', 12_288), new FakeNode('small', 4096)];
    ns[0]!.load = 6;
    ns[1]!.load = 2;
    // L = 8: big may run ceil(1.25 · 9 · 3/4) = 9, small ceil(1.25 · 9 · 1/4) = 3.
    assert.equal(router.bound(ns, 0), 9);
    assert.equal(router.bound(ns, 1), 3);
  });

  it('validates its options', () => {
    assert.throws(() => new BoundedLoadRouting({ epsilon: 0 }), RangeError);
    assert.throws(() => new BoundedLoadRouting({ homes: 0 }), RangeError);
  });
});

describe('blind routers', () => {
  it('round-robin takes nodes in turn; random is seeded; both skip a node that cannot hold the request', () => {
    const ns = nodes(3);
    const rr = new RoundRobinRouting();
    assert.deepEqual([1, 2, 3, 4].map(() => rr.route(fn('f'), ns)!.name), ['node-0', 'node-1', 'node-2', 'node-0']);
    ns[1]!.reclaimableMb = 0;
    assert.equal(rr.route(fn('f'), ns)!.name, 'node-2', 'node-1 refuses: the next one');
    const a = new RandomRouting(3);
    const b = new RandomRouting(3);
    const picks = Array.from({ length: 20 }, () => a.route(fn('f'), ns)!.name);
    assert.deepEqual(Array.from({ length: 20 }, () => b.route(fn('f'), ns)!.name), picks);
    assert.ok(!picks.includes('node-1'));
    assert.deepEqual(ROUTING_POLICIES, ['chbl', 'random', 'round-robin']);
    assert.throws(() => createRouting('nope'), /unknown routing policy/);
  });
});

describe('routing in the simulator', () => {
  // 60 functions, skewed rates, one hour, 4 servers: each server reuses only its own instances.
  const trace = syntheticTrace(parseSyntheticSpec('synthetic:poisson:fns=10,rate=40,mem=128..512,warm=50..2000,cold=300..1500;poisson:fns=50,rate=1,mem=128..512,warm=50..2000,cold=300..1500,minutes=60,seed=5'));
  const run = (placement: string) => runSimulation(trace, { policy: 'gd', memoryMb: 2048, servers: 4, placement }).summary;

  it('bounded-load hashing finds more warm instances than blind routing, and spreads load within its bound', () => {
    const chbl = run('chbl');
    const random = run('random');
    const roundRobin = run('round-robin');
    const global = run('least-loaded');
    const warmRatio = (s: typeof chbl) => s.warm / s.served;
    assert.ok(warmRatio(chbl) > warmRatio(random), `chbl ${warmRatio(chbl)} vs random ${warmRatio(random)}`);
    assert.ok(warmRatio(chbl) > warmRatio(roundRobin), `chbl ${warmRatio(chbl)} vs round-robin ${warmRatio(roundRobin)}`);
    assert.ok(warmRatio(global) >= warmRatio(chbl), 'reusing an idle instance on any server is the upper bound');
    for (const s of [chbl, random, roundRobin, global]) assert.ok(s.loadSpread && s.loadSpread.maxOverMeanInvocations >= 1);
    assert.equal(chbl.invocations, random.invocations);
  });

  it('is deterministic', () => {
    assert.deepEqual(run('chbl'), run('chbl'));
    assert.deepEqual(run('random'), run('random'));
  });
});
