// A Fenwick (binary indexed) tree of float weights over positions 0..capacity-1: point update and
// prefix sum in O(log capacity), and a linear-time rebuild from a dense array. The reuse-distance
// tracker uses it to sum the sizes of the functions whose last access lies in a range of positions.

export class FenwickTree {
  readonly capacity: number;
  /** 1-based implicit tree: node i covers positions (i - lowbit(i), i]. */
  readonly #tree: Float64Array;

  constructor(capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new RangeError(`Fenwick capacity must be a positive integer, got ${capacity}`);
    this.capacity = capacity;
    this.#tree = new Float64Array(capacity + 1);
  }

  /** Adds `delta` to the weight at `position` (0-based). */
  add(position: number, delta: number): void {
    const tree = this.#tree;
    const n = this.capacity;
    for (let i = position + 1; i <= n; i += i & -i) tree[i] += delta;
  }

  /** Sum of the weights at positions 0..position inclusive (0 for position < 0). */
  prefixSum(position: number): number {
    const tree = this.#tree;
    let sum = 0;
    for (let i = Math.min(position, this.capacity - 1) + 1; i > 0; i -= i & -i) sum += tree[i];
    return sum;
  }

  /**
   * Replaces every weight: position p gets weights[p] (positions past weights.length get 0).
   * O(capacity), and it also discards the rounding error that many add() calls accumulate.
   */
  rebuild(weights: ArrayLike<number>, length = weights.length): void {
    const tree = this.#tree;
    const n = this.capacity;
    if (length > n) throw new RangeError(`rebuild: ${length} weights do not fit a tree of capacity ${n}`);
    tree.fill(0);
    for (let p = 0; p < length; p++) tree[p + 1] = weights[p];
    for (let i = 1; i <= n; i++) {
      const parent = i + (i & -i);
      if (parent <= n) tree[parent] += tree[i];
    }
  }
}
