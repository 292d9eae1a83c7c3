// An exact emulation of CPython's heapq (the C module _heapq, which is what `import heapq` runs) on a
// JS array, with a strict "less than" comparator standing in for the items' __lt__.
//
// Exactness matters for the FaaSCache compatibility simulator: its container pool is a heapq list
// whose items often tie in priority, and which of several equal items sits where (so which container is
// evicted or found first) depends on the precise sequence of swaps. So every function here makes the
// same comparisons, in the same order, with the same outcome on ties, as CPython:
//
// - siftdown(start, pos): move the item at pos up while it is strictly less than its parent.
// - siftup(pos): bubble the smaller child up until a leaf is reached (when the children compare equal,
//   `not left < right` holds and the RIGHT child is taken), put the original item at that leaf, then
//   siftdown it back towards pos.
// - heappush: append, siftdown(0, n-1). heappop: pop the last item, put it at 0, siftup(0).
// - heapify: siftup(i) for every node that has a child. For up to 2500 items the C module visits
//   i = n/2-1 .. 0; for more it uses `cache_friendly_heapify`, which sifts a parent as soon as both its
//   children are done. That traversal is a different order of the same siftups on disjoint subtrees,
//   each after its descendants, so it makes the same comparisons (in another order) and yields the
//   same array — checked against CPython 3.6–3.13 (the path exists in all of them; 2.7 lacks it) in
//   test/fixtures/faascache. Both loops are implemented here so the comparison order is CPython's too.
// - list.remove(x): removes the first item that `==` x. Containers have no __eq__, so that is the
//   item itself (identity); the items after it shift left by one, which is why the reference follows
//   every remove with a heapify.

/** Strict "less than", the items' __lt__. Must be pure (no side effects) for the results to be CPython's. */
export type Less<T> = (a: T, b: T) => boolean;

/** heapq's _siftdown: the item at `pos` moves towards `startpos` while it is strictly less than its parent. */
export function siftdown<T>(heap: T[], startpos: number, pos: number, lt: Less<T>): void {
  const newitem = heap[pos] as T;
  while (pos > startpos) {
    const parentpos = (pos - 1) >> 1;
    const parent = heap[parentpos] as T;
    if (!lt(newitem, parent)) break;
    heap[parentpos] = newitem;
    heap[pos] = parent;
    pos = parentpos;
  }
}

/** heapq's _siftup: bubble the smaller child up to a leaf (right child on ties), then siftdown the item back. */
export function siftup<T>(heap: T[], pos: number, lt: Less<T>): void {
  const endpos = heap.length;
  const startpos = pos;
  const limit = endpos >> 1;
  while (pos < limit) {
    let childpos = 2 * pos + 1;
    if (childpos + 1 < endpos && !lt(heap[childpos] as T, heap[childpos + 1] as T)) childpos += 1;
    const tmp = heap[childpos] as T;
    heap[childpos] = heap[pos] as T;
    heap[pos] = tmp;
    pos = childpos;
  }
  siftdown(heap, startpos, pos, lt);
}

export function heappush<T>(heap: T[], item: T, lt: Less<T>): void {
  heap.push(item);
  siftdown(heap, 0, heap.length - 1, lt);
}

/** heapq.heappop. Throws (CPython raises IndexError) on an empty heap. */
export function heappop<T>(heap: T[], lt: Less<T>): T {
  if (heap.length === 0) throw new RangeError('heappop from an empty heap');
  const last = heap.pop() as T;
  if (heap.length === 0) return last;
  const ret = heap[0] as T;
  heap[0] = last;
  siftup(heap, 0, lt);
  return ret;
}

/** The C module's size threshold: above it heapify uses the cache-friendly traversal. */
export const CACHE_FRIENDLY_HEAPIFY_THRESHOLD = 2500;

/** Highest power of two ≤ n (n ≥ 1), the C module's keep_top_bit. */
function keepTopBit(n: number): number {
  let i = 0;
  while (n > 1) {
    n >>= 1;
    i++;
  }
  return n << i;
}

/** heapq.heapify as the C module does it, including its traversal order for lists over 2500 items. */
export function heapify<T>(heap: T[], lt: Less<T>): void {
  const n = heap.length;
  if (n > CACHE_FRIENDLY_HEAPIFY_THRESHOLD) {
    cacheFriendlyHeapify(heap, lt);
    return;
  }
  for (let i = (n >> 1) - 1; i >= 0; i--) siftup(heap, i, lt);
}

function cacheFriendlyHeapify<T>(heap: T[], lt: Less<T>): void {
  const m = heap.length >> 1; // first childless node
  const leftmost = keepTopBit(m + 1) - 1; // leftmost node in the row of m
  const mhalf = m >> 1; // parent of the first childless node
  for (let i = leftmost - 1; i >= mhalf; i--) {
    let j = i;
    for (;;) {
      siftup(heap, j, lt);
      if (!(j & 1)) break;
      j >>= 1;
    }
  }
  for (let i = m - 1; i >= leftmost; i--) {
    let j = i;
    for (;;) {
      siftup(heap, j, lt);
      if (!(j & 1)) break;
      j >>= 1;
    }
  }
}

/** list.remove(item) for items compared by identity: removes the first occurrence; throws (ValueError) if absent. */
export function listRemove<T>(list: T[], item: T): void {
  const i = list.indexOf(item);
  if (i < 0) throw new RangeError('list.remove(x): x not in list');
  list.splice(i, 1);
}
