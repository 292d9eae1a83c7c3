// The FaaSCache reference's container pool — a heapq list ordered by priority — kept as an exact
// emulation (same array, same positions, after every call) but with a heapify that skips the work CPython
// would do without changing anything.
//
// Items are integer container ids; `prio[id]` is the priority (the reference's Container.__lt__ compares
// Priority). The sift routines are pyheap.ts's, specialised to typed arrays: same comparisons, same
// outcome on ties.
//
// Why heapify can be cheaper than CPython's. CPython's heapify runs siftup(i) for i = n/2-1 .. 0 (the
// >2500-item traversal gives the same array, see pyheap.ts). When the subtrees of i are already heaps:
// - if the item at i is STRICTLY less than both children, siftup(i) changes nothing (the smaller-child
//   chain moves up and the item sinks back all the way);
// - if it EQUALS the smaller child, the item stops below the deepest equal item of that chain: the net
//   effect is a rotation of equal items along the chain (so heapify of a valid heap is not a no-op when
//   priorities tie — which container sits where changes — and must not be skipped), and no priority
//   changes position;
// - otherwise it is a real siftup.
// So we keep a set of "marked" positions with the invariant: every unmarked position that has children is
// strictly less than them. Any write to a position marks it and its parent. heapify visits the marked
// positions (plus parents of positions whose siftup moved priorities) in decreasing index order — a
// subsequence of CPython's order that skips only nodes where CPython's siftup is a no-op. After
// list.remove (which shifts every later item) or a change to every priority, it visits every node.
//
// Deferred heapify. If a heapify made only tie rotations and nothing has changed since, the next heapify
// makes the same rotations: a fixed permutation σ of positions. Runs of such calls (common: at small
// memory sizes most requests are dropped and change nothing but the clock) are counted and applied as
// σ^k through σ's cycles when positions are next needed. Hence: `heap` and `pos` must not be read
// without calling settle() first; the methods here do it themselves.

export class PoolHeap {
  /** Container ids in heap order; positions 0..n-1 are used. */
  heap: Int32Array;
  n = 0;
  /** Priority of each container id (owned by the simulator, which may replace it when growing). */
  prio: Float64Array;
  /** Heap position of each container id, -1 when not in the pool. */
  pos: Int32Array;

  private mark: Uint8Array; // by position: in the next heapify's visit set
  private marks: Int32Array;
  private markCount = 0;
  private allDirty = false;
  private queued: Uint8Array; // by position: in the current heapify's work queue
  private work: Int32Array; // binary max-heap of positions
  private order: Int32Array = new Int32Array(64);

  // Deferred heapify (see settle()).
  /** Nothing changed since the last heapify, which made only tie rotations (so the next one would repeat them). */
  private pure = false;
  /** Heapify calls not yet applied (only while pure). */
  private lazyK = 0;
  /** The last pass moved priorities (a real siftup). */
  private general = false;
  private sigmaValid = false;
  private sigmaCycles: Int32Array = new Int32Array(64); // positions, cycle after cycle
  private sigmaStarts: number[] = []; // start offsets of the cycles in sigmaCycles, plus the end
  private tmpIds: Int32Array = new Int32Array(64);
  private workN = 0;

  constructor(prio: Float64Array, pos: Int32Array, capacity = 1024) {
    this.prio = prio;
    this.pos = pos;
    this.heap = new Int32Array(capacity);
    this.mark = new Uint8Array(capacity);
    this.marks = new Int32Array(capacity);
    this.queued = new Uint8Array(capacity);
    this.work = new Int32Array(capacity);
  }

  private grow(): void {
    const cap = this.heap.length * 2;
    const h = new Int32Array(cap);
    h.set(this.heap);
    this.heap = h;
    const m = new Uint8Array(cap);
    m.set(this.mark);
    this.mark = m;
    const ml = new Int32Array(cap);
    ml.set(this.marks);
    this.marks = ml;
    this.queued = new Uint8Array(cap);
    this.work = new Int32Array(cap);
  }

  private markPos(p: number): void {
    if (this.mark[p] === 0) {
      this.mark[p] = 1;
      this.marks[this.markCount++] = p;
      // Past a quarter of the list the next heapify visits every node anyway: stop tracking.
      if (this.markCount * 4 > this.n) this.allDirty = true;
    }
  }

  /** Position p was written: p and its parent may no longer be strictly below their children. */
  private touch(p: number): void {
    if (this.allDirty) return;
    this.markPos(p);
    if (p > 0 && !this.allDirty) this.markPos((p - 1) >> 1);
  }

  /** Every priority changed (Landlord rent): the next heapify visits every node. */
  markAll(): void {
    this.changing();
    this.allDirty = true;
  }

  private siftdown(startpos: number, pos: number): void {
    const heap = this.heap;
    const prio = this.prio;
    const ipos = this.pos;
    const id = heap[pos]!;
    const p = prio[id]!;
    while (pos > startpos) {
      const pp = (pos - 1) >> 1;
      const pid = heap[pp]!;
      if (!(p < prio[pid]!)) break;
      heap[pos] = pid;
      ipos[pid] = pos;
      this.touch(pos);
      pos = pp;
    }
    heap[pos] = id;
    ipos[id] = pos;
    this.touch(pos);
  }

  private siftup(pos: number): void {
    const heap = this.heap;
    const prio = this.prio;
    const ipos = this.pos;
    const endpos = this.n;
    const startpos = pos;
    const limit = endpos >> 1;
    const id = heap[pos]!;
    while (pos < limit) {
      let child = 2 * pos + 1;
      if (child + 1 < endpos && !(prio[heap[child]!]! < prio[heap[child + 1]!]!)) child += 1;
      const cid = heap[child]!;
      heap[pos] = cid;
      ipos[cid] = pos;
      this.touch(pos);
      pos = child;
    }
    heap[pos] = id;
    ipos[id] = pos;
    this.touch(pos);
    this.siftdown(startpos, pos);
  }

  /** Replace the list with `ids` in the given order (not a heap yet; heapify next). */
  load(ids: ArrayLike<number>): void {
    this.changing();
    while (this.heap.length < ids.length) this.grow();
    for (let i = 0; i < this.n; i++) this.pos[this.heap[i]!] = -1;
    for (let i = 0; i < ids.length; i++) {
      this.heap[i] = ids[i]!;
      this.pos[ids[i]!] = i;
    }
    this.n = ids.length;
    this.allDirty = true;
  }

  /** The list as it stands, ids in array order. */
  toArray(): number[] {
    this.settle();
    return Array.from(this.heap.subarray(0, this.n));
  }

  /** heapq.heappush. */
  push(id: number): void {
    this.changing();
    if (this.n === this.heap.length) this.grow();
    const p = this.n++;
    this.heap[p] = id;
    this.pos[id] = p;
    this.touch(p);
    this.siftdown(0, p);
  }

  /** heapq.heappop (caller checks n > 0). */
  pop(): number {
    this.changing();
    const heap = this.heap;
    const ret = heap[0]!;
    this.pos[ret] = -1;
    const last = heap[--this.n]!;
    if (this.n === 0) return ret;
    heap[0] = last;
    this.pos[last] = 0;
    this.touch(0);
    this.siftup(0);
    return ret;
  }

  private vals: Float64Array = new Float64Array(64);
  /** popUntilFreed's results: saved (running) ids in pop order, then evicted ids in pop order. */
  saved: Int32Array = new Int32Array(64);
  savedN = 0;
  evicted: Int32Array = new Int32Array(64);
  evictedN = 0;

  /**
   * The reference's eviction loop: heappop while `toFree > 0` and the list is not empty; running
   * containers go to `saved`, others to `evicted` (and count against toFree). Same pops as pop(), done
   * on a contiguous copy of the priorities without position bookkeeping, which is rebuilt once at the
   * end. The next heapify visits every node.
   */
  popUntilFreed(toFree: number, running: Uint8Array, fnOf: Int32Array, fnMem: Float64Array): void {
    this.changing();
    const heap = this.heap;
    const ipos = this.pos;
    let n = this.n;
    if (this.vals.length < n) this.vals = new Float64Array(this.heap.length);
    if (this.saved.length < n) this.saved = new Int32Array(this.heap.length);
    if (this.evicted.length < n) this.evicted = new Int32Array(this.heap.length);
    const vals = this.vals;
    const saved = this.saved;
    const evicted = this.evicted;
    let ns = 0;
    let ne = 0;
    const prio = this.prio;
    for (let i = 0; i < n; i++) vals[i] = prio[heap[i]!]!;
    while (toFree > 0 && n > 0) {
      const top = heap[0]!;
      ipos[top] = -1;
      n--;
      if (n > 0) {
        // heap[0] = last; siftup(0) (bubble the smaller child to a leaf, then siftdown).
        const id = heap[n]!;
        const x = vals[n]!;
        const limit = n >> 1;
        let pos = 0;
        while (pos < limit) {
          let c = 2 * pos + 1;
          if (c + 1 < n && !(vals[c]! < vals[c + 1]!)) c += 1;
          heap[pos] = heap[c]!;
          vals[pos] = vals[c]!;
          pos = c;
        }
        while (pos > 0) {
          const pp = (pos - 1) >> 1;
          if (!(x < vals[pp]!)) break;
          heap[pos] = heap[pp]!;
          vals[pos] = vals[pp]!;
          pos = pp;
        }
        heap[pos] = id;
        vals[pos] = x;
      }
      if (running[top] === 1) saved[ns++] = top;
      else {
        evicted[ne++] = top;
        toFree -= fnMem[fnOf[top]!]!;
      }
    }
    this.n = n;
    this.savedN = ns;
    this.evictedN = ne;
    for (let i = 0; i < n; i++) ipos[heap[i]!] = i;
    this.allDirty = true;
  }

  /** heappush every `saved` id, in order. */
  pushSaved(): void {
    this.changing();
    const k = this.savedN;
    const saved = this.saved;
    if (this.n === 0) {
      // Pushing onto an empty list in non-decreasing priority order moves nothing (no item is strictly
      // less than its parent): the list is the sequence itself. Checked, else the general path.
      const prio = this.prio;
      let sorted = true;
      for (let j = 1; j < k; j++) {
        if (prio[saved[j]!]! < prio[saved[(j - 1) >> 1]!]!) {
          sorted = false;
          break;
        }
      }
      if (sorted) {
        while (this.heap.length < k) this.grow();
        for (let j = 0; j < k; j++) {
          this.heap[j] = saved[j]!;
          this.pos[saved[j]!] = j;
        }
        this.n = k;
        this.allDirty = true;
        return;
      }
    }
    for (let j = 0; j < k; j++) this.push(saved[j]!);
  }

  /** list.remove(id) (identity): later items shift left by one. The caller heapifies next, as the reference does. */
  remove(id: number): void {
    this.changing();
    const heap = this.heap;
    const ipos = this.pos;
    const p = ipos[id]!;
    if (p < 0 || heap[p] !== id) throw new Error(`PoolHeap.remove: container ${id} is not in the pool`);
    const n = --this.n;
    for (let j = p; j < n; j++) {
      const x = heap[j + 1]!;
      heap[j] = x;
      ipos[x] = j;
    }
    ipos[id] = -1;
    this.allDirty = true;
  }

  /** Set a pooled container's priority (the heap is fixed by the next heapify, as in the reference). */
  setPrio(id: number, value: number): void {
    if (Object.is(this.prio[id], value)) return; // nothing changes
    this.changing();
    this.prio[id] = value;
    this.touch(this.pos[id]!);
  }

  private stamp: Uint32Array = new Uint32Array(0);
  private stampGen = 0;

  /**
   * Give every id in `ids` (pooled) the priority `value`, as a loop of setPrio. When no comparison
   * between a changed item and its parent, children or sibling changes outcome (<, =, >), the heap's
   * shape of comparisons is unchanged: it stays a heap with the same ties, so nothing needs
   * re-examining and deferred heapifies stay valid. Otherwise as setPrio.
   */
  setPrioMany(ids: readonly number[], value: number): void {
    this.settle();
    const prio = this.prio;
    const heap = this.heap;
    const ipos = this.pos;
    const n = this.n;
    if (this.stamp.length < prio.length) this.stamp = new Uint32Array(prio.length);
    const stamp = this.stamp;
    const gen = ++this.stampGen;
    for (const id of ids) stamp[id] = gen;
    const outcome = (x: number, y: number): number => (x < y ? -1 : y < x ? 1 : x === y ? 0 : 9);
    let same = value === value;
    for (let k = 0; same && k < ids.length; k++) {
      const id = ids[k]!;
      const a = prio[id]!;
      const q = ipos[id]!;
      // Neighbours: parent, sibling, children.
      for (let j = 0; j < 4; j++) {
        let r: number;
        if (j === 0) r = q > 0 ? (q - 1) >> 1 : -1;
        else if (j === 1) r = q > 0 ? (q & 1 ? q + 1 : q - 1) : -1;
        else r = 2 * q + j - 1;
        if (r < 0 || r >= n) continue;
        const b = heap[r]!;
        const bOld = prio[b]!;
        const before = outcome(a, bOld);
        const after = stamp[b] === gen ? 0 : outcome(value, bOld);
        if (before !== after || before === 9) {
          same = false;
          break;
        }
      }
    }
    if (same) {
      for (const id of ids) prio[id] = value;
      return;
    }
    for (const id of ids) this.setPrio(id, value);
  }

  /**
   * One node of CPython's heapify loop, when its subtrees are heaps (true at this point of the loop).
   * Strictly below both children: siftup would change nothing. Equal to the smaller child: siftup's
   * net effect is to rotate the chain of equal items it walks (smaller child each level, the right one on
   * ties): each moves up a level and the node's item lands where the equal chain ends — no priority
   * changes place, so no position needs re-examining, and the node stays non-strict. Otherwise the real
   * siftup. Returns true when priorities moved (the parent must be re-examined).
   */
  private visit(i: number): boolean {
    const heap = this.heap;
    const prio = this.prio;
    const n = this.n;
    const id = heap[i]!;
    const x = prio[id]!;
    let c = 2 * i + 1;
    if (c + 1 < n && !(prio[heap[c]!]! < prio[heap[c + 1]!]!)) c += 1;
    const v = prio[heap[c]!]!;
    if (x < v) return false;
    if (v < x || x !== x || v !== v) {
      this.siftup(i);
      this.general = true;
      return true;
    }
    // x == v: rotate the equal chain.
    const ipos = this.pos;
    let q = i;
    for (;;) {
      const cid = heap[c]!;
      heap[q] = cid;
      ipos[cid] = q;
      q = c;
      c = 2 * q + 1;
      if (c >= n) break;
      if (c + 1 < n && !(prio[heap[c]!]! < prio[heap[c + 1]!]!)) c += 1;
      if (x < prio[heap[c]!]!) break;
    }
    heap[q] = id;
    ipos[id] = q;
    this.markPos(i); // still not strictly below its children
    return false;
  }

  /**
   * Positions are about to be read or changed: apply the deferred heapify calls first. While nothing
   * changes, every heapify of a heap whose last heapify made only tie rotations makes the same rotations
   * again (they move no priority, so the same nodes tie): one fixed permutation σ of positions. k deferred
   * calls are applied as σ^k through σ's cycles, in O(n) whatever k (one call: the pass itself).
   */
  settle(): void {
    const k = this.lazyK;
    if (k === 0) return;
    this.lazyK = 0;
    if (k === 1) {
      this.pass();
      return;
    }
    if (!this.sigmaValid) this.computeSigma();
    const heap = this.heap;
    const ipos = this.pos;
    const cyc = this.sigmaCycles;
    const starts = this.sigmaStarts;
    if (this.tmpIds.length < this.n) this.tmpIds = new Int32Array(this.heap.length);
    const tmp = this.tmpIds;
    for (let c = 0; c + 1 < starts.length; c++) {
      const a = starts[c]!;
      const len = starts[c + 1]! - a;
      const shift = k % len;
      if (shift === 0) continue;
      for (let j = 0; j < len; j++) tmp[j] = heap[cyc[a + j]!]!;
      for (let j = 0; j < len; j++) {
        const p = cyc[a + j]!;
        const id = tmp[(j + shift) % len]!;
        heap[p] = id;
        ipos[id] = p;
      }
    }
  }

  /** σ: one heapify's tie rotations, as cycles of positions (q → the position whose item moves to q). */
  private computeSigma(): void {
    const n = this.n;
    const heap = this.heap;
    const prio = this.prio;
    if (this.vals.length < n) this.vals = new Float64Array(this.heap.length);
    if (this.order.length < n) this.order = new Int32Array(this.heap.length);
    const val = this.vals;
    const from = this.order; // from[q]: original position of the item now at q
    for (let q = 0; q < n; q++) {
      val[q] = prio[heap[q]!]!;
      from[q] = q;
    }
    for (let i = (n >> 1) - 1; i >= 0; i--) {
      const x = val[i]!;
      let c = 2 * i + 1;
      if (c + 1 < n && !(val[c]! < val[c + 1]!)) c += 1;
      if (x < val[c]!) continue;
      // A tie (a pure heap has no other non-strict node): rotate the equal chain.
      const f0 = from[i]!;
      let q = i;
      for (;;) {
        from[q] = from[c]!;
        q = c;
        c = 2 * q + 1;
        if (c >= n) break;
        if (c + 1 < n && !(val[c]! < val[c + 1]!)) c += 1;
        if (x < val[c]!) break;
      }
      from[q] = f0;
    }
    // Cycles of q -> from[q]: the item at from[q] moves to q, so after k rounds the item at q is the
    // one that was at from^k(q); along a cycle [q0, q1 = from[q0], ...], position q_j receives q_(j+k).
    if (this.sigmaCycles.length < n) this.sigmaCycles = new Int32Array(this.heap.length);
    const cyc = this.sigmaCycles;
    const seen = this.queued; // all zero outside heapify
    const starts: number[] = [];
    let m = 0;
    for (let q0 = 0; q0 < n; q0++) {
      if (seen[q0] === 1 || from[q0] === q0) continue;
      starts.push(m);
      let q = q0;
      do {
        seen[q] = 1;
        cyc[m++] = q;
        q = from[q]!;
      } while (q !== q0);
    }
    starts.push(m);
    for (let j = 0; j < m; j++) seen[cyc[j]!] = 0;
    this.sigmaStarts = starts;
    this.sigmaValid = true;
  }

  /** A change is coming: apply deferred heapifies; the next heapify must run. */
  private changing(): void {
    if (this.lazyK > 0) this.settle();
    this.pure = false;
    this.sigmaValid = false;
  }

  /** heapq.heapify, exactly (see the file comment). */
  heapify(): void {
    if (this.pure) {
      this.lazyK++;
      return;
    }
    this.pass();
  }

  private pass(): void {
    this.general = false;
    this.passInner();
    this.pure = !this.general;
  }

  private passInner(): void {
    const n = this.n;
    const limit = n >> 1;
    if (this.allDirty || this.markCount * 4 > n) {
      // Visit every node: clear the marks, then CPython's loop with the no-op siftups skipped.
      for (let k = 0; k < this.markCount; k++) this.mark[this.marks[k]!] = 0;
      this.markCount = 0;
      this.allDirty = false;
      const heap = this.heap;
      const prio = this.prio;
      for (let i = limit - 1; i >= 0; i--) {
        // The strict case inline (most nodes); visit() for the rest.
        const c = 2 * i + 1;
        let v = prio[heap[c]!]!;
        if (c + 1 < n) {
          const w = prio[heap[c + 1]!]!;
          if (!(v < w)) v = w;
        }
        if (prio[heap[i]!]! < v) continue;
        this.visit(i);
      }
      return;
    }
    // Visit the marked positions in decreasing order (sorted), plus the parents of nodes whose siftup
    // moved priorities (a max-heap); visiting marks again for the next heapify.
    const m = this.markCount;
    const order = this.order.length >= m ? this.order : (this.order = new Int32Array(Math.max(m, 2 * this.order.length)));
    const queued = this.queued;
    let k = 0;
    for (let j = 0; j < m; j++) {
      const p = this.marks[j]!;
      this.mark[p] = 0;
      if (p < limit) {
        order[k++] = p;
        queued[p] = 1;
      }
    }
    this.markCount = 0;
    const sorted = order.subarray(0, k);
    sorted.sort();
    let j = k - 1;
    for (;;) {
      let i: number;
      if (this.workN > 0 && (j < 0 || this.work[0]! > sorted[j]!)) i = this.workPop();
      else if (j >= 0) i = sorted[j--]!;
      else break;
      queued[i] = 0;
      if (this.visit(i) && i > 0) {
        const parent = (i - 1) >> 1;
        if (queued[parent] === 0) {
          queued[parent] = 1;
          this.workPush(parent);
        }
      }
    }
  }

  private workPush(p: number): void {
    const w = this.work;
    let k = this.workN++;
    while (k > 0) {
      const up = (k - 1) >> 1;
      const q = w[up]!;
      if (q >= p) break;
      w[k] = q;
      k = up;
    }
    w[k] = p;
  }

  private workPop(): number {
    const w = this.work;
    const top = w[0]!;
    const last = w[--this.workN]!;
    const n = this.workN;
    if (n > 0) {
      let k = 0;
      for (;;) {
        let c = 2 * k + 1;
        if (c >= n) break;
        if (c + 1 < n && w[c + 1]! > w[c]!) c++;
        if (w[c]! <= last) break;
        w[k] = w[c]!;
        k = c;
      }
      w[k] = last;
    }
    return top;
  }
}
