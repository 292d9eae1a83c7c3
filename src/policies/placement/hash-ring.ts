// A consistent hash ring (Karger et al.): each node owns many points on a 32-bit ring, a key's
// preference order is the nodes met walking clockwise from the key's hash. Adding or removing a node
// moves only the keys it owned (about 1/n of them); the rest keep their order. Pure: the same names
// give the same ring in the simulator and on every cluster node.

import { finalMix } from '../sizing/hash.ts';

/** FNV-1a over the UTF-16 code units, then murmur3's finaliser so nearby strings land far apart. */
export function hash32(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193);
  return finalMix(h);
}

export class HashRing {
  readonly names: readonly string[];
  readonly #points: Uint32Array;
  /** Node index of each point, in point order. */
  readonly #owners: Int32Array;
  readonly #orders = new Map<string, Int32Array>();

  /** `virtualNodes` points per node smooth out how much of the ring each node owns. */
  constructor(names: readonly string[], virtualNodes = 100) {
    if (!Number.isInteger(virtualNodes) || virtualNodes < 1) throw new RangeError(`virtualNodes must be an integer ≥ 1, got ${virtualNodes}`);
    if (new Set(names).size !== names.length) throw new RangeError(`node names must be distinct, got ${names.join(', ')}`);
    this.names = [...names];
    const points: Array<[number, number]> = [];
    names.forEach((name, node) => {
      for (let v = 0; v < virtualNodes; v++) points.push([hash32(`${name}#${v}`), node]);
    });
    // Ties (two names hashing alike) are broken by name order, so every process builds the same ring.
    points.sort((a, b) => a[0] - b[0] || names[a[1]]!.localeCompare(names[b[1]]!));
    this.#points = Uint32Array.from(points, (p) => p[0]);
    this.#owners = Int32Array.from(points, (p) => p[1]);
  }

  /** Every node index once, in the key's preference order (cached per key). */
  order(key: string): Int32Array {
    let order = this.#orders.get(key);
    if (order) return order;
    const n = this.names.length;
    order = new Int32Array(n);
    if (n > 0) {
      const seen = new Uint8Array(n);
      let found = 0;
      const points = this.#points;
      for (let i = this.#firstAtOrAfter(hash32(key)), step = 0; found < n && step < points.length; step++, i = (i + 1) % points.length) {
        const node = this.#owners[i]!;
        if (!seen[node]) {
          seen[node] = 1;
          order[found++] = node;
        }
      }
    }
    this.#orders.set(key, order);
    return order;
  }

  #firstAtOrAfter(h: number): number {
    const points = this.#points;
    let lo = 0;
    let hi = points.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (points[mid]! < h) lo = mid + 1;
      else hi = mid;
    }
    return lo === points.length ? 0 : lo;
  }
}
