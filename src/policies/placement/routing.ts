// Routing: which node a request goes to when every node reuses only its own instances (a cluster of
// invokers, or the simulator's servers under --placement chbl|random|round-robin). The same code
// routes in `thaw sim` and in `thaw serve --cluster`.
//
// Bounded-load consistent hashing (CH-BL; Mirrokni, Thorup, Zadimoghaddam, "Consistent Hashing with
// Bounded Loads", SODA 2018), made warm- and snapshot-aware after Cloudflare's "shard and conquer":
//
// 1. A node holding an idle instance of the function (warm, or paused) takes it, the first such in
//    the function's ring order — unless its load is at the bound.
// 2. Else the function's home set, the first `homes` nodes in its ring order: among those under the
//    bound with free memory, one that holds a ready snapshot of it, then the least loaded.
// 3. Else, spilling over, the next node in ring order under the bound with free memory; then, in the
//    same order, one under the bound where evicting idle instances makes room.
//
// The bound: a node may run at most ⌈(1 + ε)·(L + 1)·wᵢ/W⌉ invocations, L the cluster's load counting
// this one, wᵢ/W its share of the cluster's memory (1/n when nodes are alike). Keeping a function on
// its home nodes keeps its instances where its next requests go (warm hits); the bound keeps any node
// from carrying more than (1 + ε) times its share (load spread).

import { seededRandom } from '../../core/random.ts';
import type { NodeView, RoutedFunction, RoutingPolicy } from '../../core/policy.ts';
import { HashRing } from './hash-ring.ts';

export interface BoundedLoadOptions {
  /** A node's load may exceed its share by this fraction: (1 + ε)·mean (default 0.25). */
  epsilon?: number;
  /** Nodes in each function's home set (default 2). */
  homes?: number;
  /** Points per node on the ring (default 100). */
  virtualNodes?: number;
}

export class BoundedLoadRouting implements RoutingPolicy {
  readonly name = 'chbl';
  readonly epsilon: number;
  readonly homes: number;
  readonly #virtualNodes: number;
  #ring: HashRing | undefined;
  #ringNodes: readonly NodeView<never>[] | undefined;

  constructor(options: BoundedLoadOptions = {}) {
    this.epsilon = options.epsilon ?? 0.25;
    this.homes = options.homes ?? 2;
    this.#virtualNodes = options.virtualNodes ?? 100;
    if (!(this.epsilon > 0) || !Number.isFinite(this.epsilon)) throw new RangeError(`epsilon must be a number > 0, got ${this.epsilon}`);
    if (!Number.isInteger(this.homes) || this.homes < 1) throw new RangeError(`homes must be an integer ≥ 1, got ${this.homes}`);
  }

  /** The nodes of `fn` in preference order (indices into `nodes`): its home set first. */
  order<F extends RoutedFunction>(fn: F, nodes: readonly NodeView<F>[]): Int32Array {
    return this.#ringOf(nodes).order(fn.id);
  }

  /** The most invocations node `i` may run with one more request in the cluster. */
  bound<F extends RoutedFunction>(nodes: readonly NodeView<F>[], i: number): number {
    let load = 0;
    let capacity = 0;
    for (const n of nodes) {
      load += n.load;
      capacity += n.capacityMb;
    }
    return this.#bound(nodes[i]!, load, capacity, nodes.length);
  }

  route<F extends RoutedFunction, N extends NodeView<F>>(fn: F, nodes: readonly N[]): N | undefined {
    const n = nodes.length;
    if (n === 0) return undefined;
    const order = this.order(fn, nodes);
    let load = 0;
    let capacity = 0;
    for (let i = 0; i < n; i++) {
      load += nodes[i]!.load;
      capacity += nodes[i]!.capacityMb;
    }
    // 1. An idle instance, where one is.
    for (let k = 0; k < n; k++) {
      const node = nodes[order[k]!]!;
      if (node.idleOf(fn) > 0 && node.load < this.#bound(node, load, capacity, n)) return node;
    }
    // 2. The home set: a ready snapshot first, then the least loaded (relative to its memory).
    const homes = Math.min(this.homes, n);
    let best: N | undefined;
    let bestReady = false;
    for (let k = 0; k < homes; k++) {
      const node = nodes[order[k]!]!;
      if (node.freeMb < fn.memoryMb || node.load >= this.#bound(node, load, capacity, n)) continue;
      const ready = node.snapshotReady?.(fn) ?? false;
      if (!best || (ready && !bestReady) || (ready === bestReady && relativeLoad(node) < relativeLoad(best))) {
        best = node;
        bestReady = ready;
      }
    }
    if (best) return best;
    // 3. Spill over along the ring: free memory first, then memory that eviction frees.
    for (let k = homes; k < n; k++) {
      const node = nodes[order[k]!]!;
      if (node.freeMb >= fn.memoryMb && node.load < this.#bound(node, load, capacity, n)) return node;
    }
    for (let k = 0; k < n; k++) {
      const node = nodes[order[k]!]!;
      if (node.reclaimableMb >= fn.memoryMb && node.load < this.#bound(node, load, capacity, n)) return node;
    }
    return undefined;
  }

  #bound(node: NodeView<never>, load: number, capacity: number, n: number): number {
    const share = capacity > 0 ? node.capacityMb / capacity : 1 / n;
    return Math.ceil((1 + this.epsilon) * (load + 1) * share);
  }

  #ringOf(nodes: readonly NodeView<never>[]): HashRing {
    if (this.#ring && nodes === this.#ringNodes) return this.#ring;
    const names = nodes.map((n) => n.name);
    if (!this.#ring || this.#ring.names.length !== names.length || this.#ring.names.some((name, i) => name !== names[i])) {
      this.#ring = new HashRing(names, this.#virtualNodes);
    }
    this.#ringNodes = nodes;
    return this.#ring;
  }
}

function relativeLoad(node: NodeView<never>): number {
  return node.capacityMb > 0 ? node.load / node.capacityMb : node.load;
}

/**
 * Blind routers, the baselines: they know nothing of warm instances. Each picks a first node (at
 * random, or the next in turn) and, as a load balancer retrying a refusal, goes on to the next node
 * that can hold the request.
 */
abstract class BlindRouting implements RoutingPolicy {
  abstract readonly name: string;
  protected abstract first(n: number): number;

  route<F extends RoutedFunction, N extends NodeView<F>>(fn: F, nodes: readonly N[]): N | undefined {
    const n = nodes.length;
    if (n === 0) return undefined;
    const start = this.first(n);
    for (let k = 0; k < n; k++) {
      const node = nodes[(start + k) % n]!;
      if (node.idleOf(fn) > 0 || node.reclaimableMb >= fn.memoryMb) return node;
    }
    return undefined;
  }
}

export class RandomRouting extends BlindRouting {
  readonly name = 'random';
  readonly #random: () => number;

  constructor(seed = 1) {
    super();
    this.#random = seededRandom(seed);
  }

  protected first(n: number): number {
    return Math.floor(this.#random() * n);
  }
}

export class RoundRobinRouting extends BlindRouting {
  readonly name = 'round-robin';
  #next = 0;

  protected first(n: number): number {
    const i = this.#next % n;
    this.#next = i + 1;
    return i;
  }
}
