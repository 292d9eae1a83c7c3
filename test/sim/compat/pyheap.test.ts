// pyheap.ts and PoolHeap against CPython's heapq: hand-worked cases, and sequences recorded from the real
// C module (test/fixtures/faascache/pyheap.json, see the README there).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { heapify, heappop, heappush, listRemove, siftup, CACHE_FRIENDLY_HEAPIFY_THRESHOLD } from '../../../src/sim/compat/pyheap.ts';
import { PoolHeap } from '../../../src/sim/compat/pool-heap.ts';

interface Item {
  id: number;
  p: number;
}
const lt = (a: Item, b: Item): boolean => a.p < b.p;
const ids = (h: Item[]): number[] => h.map((x) => x.id);
const mk = (ps: number[]): Item[] => ps.map((p, id) => ({ id, p }));

type Op = ['push', number, number, number[]] | ['pop', number, number[]] | ['heapify', number[]] | ['remove', number, number[]] | ['setprio+heapify', number[], number, number[]];
interface HeapFixture {
  python: string;
  sequences: Array<{ seed: number; ops: Op[] }>;
  heapify: Array<{ seed: number; n: number; priorities: number[]; result: number[]; comparisons: number; comparisonSha256: string }>;
}
const fx = JSON.parse(readFileSync(new URL('../../fixtures/faascache/pyheap.json', import.meta.url), 'utf8')) as HeapFixture;

test('heapify of equal items takes the right child on ties: [a, b, c] becomes [c, b, a]', () => {
  const h = mk([1, 1, 1]);
  heapify(h, lt);
  assert.deepEqual(ids(h), [2, 1, 0]);
});

test('heapify of a valid heap with a tie is not a no-op', () => {
  // [0:1, 1:1, 2:2]: siftup(0) moves the tied left child up (left < right), the root sinks below it.
  const h = mk([1, 1, 2]);
  heapify(h, lt);
  assert.deepEqual(ids(h), [1, 0, 2]);
  // Strictly increasing: unchanged.
  const s = mk([1, 2, 3, 4, 5]);
  heapify(s, lt);
  assert.deepEqual(ids(s), [0, 1, 2, 3, 4]);
});

test('heappop of equal items returns the root and keeps the rest in order', () => {
  const h = mk([1, 1, 1]);
  assert.equal(heappop(h, lt).id, 0);
  assert.deepEqual(ids(h), [1, 2]);
  assert.equal(heappop(h, lt).id, 1);
  assert.equal(heappop(h, lt).id, 2);
  assert.throws(() => heappop(h, lt), RangeError);
});

test('heappush moves an item up only past strictly greater parents', () => {
  const h: Item[] = [];
  heappush(h, { id: 0, p: 1 }, lt);
  heappush(h, { id: 1, p: 1 }, lt);
  heappush(h, { id: 2, p: 0 }, lt);
  assert.deepEqual(ids(h), [2, 1, 0]);
  heappush(h, { id: 3, p: 1 }, lt);
  assert.deepEqual(ids(h), [2, 1, 0, 3]);
});

test('siftup bubbles to a leaf, then sifts back up', () => {
  // Root 5 over children 1 and 2: the smaller child (1) moves up, 5 lands at the leaf.
  const h = mk([5, 1, 2, 3, 4]);
  siftup(h, 0, lt);
  assert.deepEqual(h.map((x) => x.p), [1, 3, 2, 5, 4]);
});

test('listRemove removes by identity and shifts the rest left', () => {
  const a = { id: 0, p: 1 };
  const b = { id: 1, p: 1 };
  const c = { id: 2, p: 1 };
  const h = [a, b, c];
  listRemove(h, b);
  assert.deepEqual(ids(h), [0, 2]);
  assert.throws(() => listRemove(h, b), RangeError);
});

test(`fixture was recorded with CPython ${fx.python}`, () => {
  assert.ok(fx.sequences.length > 0 && fx.heapify.length > 0);
});

test('recorded heapq sequences (push, pop, heapify, remove, priority changes) replay exactly', () => {
  for (const { seed, ops } of fx.sequences) {
    const live = new Map<number, Item>();
    const h: Item[] = [];
    ops.forEach((op, k) => {
      switch (op[0]) {
        case 'push': {
          const it = { id: op[1], p: op[2] };
          live.set(it.id, it);
          heappush(h, it, lt);
          break;
        }
        case 'pop':
          assert.equal(heappop(h, lt).id, op[1], `seed ${seed} op ${k}`);
          break;
        case 'heapify':
          heapify(h, lt);
          break;
        case 'remove':
          listRemove(h, live.get(op[1])!);
          break;
        case 'setprio+heapify':
          for (const id of op[1]) live.get(id)!.p = op[2];
          heapify(h, lt);
          break;
      }
      assert.deepEqual(ids(h), op[op.length - 1], `seed ${seed} op ${k} (${op[0]})`);
    });
  }
});

test('PoolHeap replays the recorded sequences exactly', () => {
  for (const { seed, ops } of fx.sequences) {
    const prio = new Float64Array(4096);
    const pos = new Int32Array(4096).fill(-1);
    const ph = new PoolHeap(prio, pos, 4);
    ops.forEach((op, k) => {
      switch (op[0]) {
        case 'push':
          prio[op[1]] = op[2];
          ph.push(op[1]);
          break;
        case 'pop':
          assert.equal(ph.pop(), op[1], `seed ${seed} op ${k}`);
          break;
        case 'heapify':
          ph.heapify();
          break;
        case 'remove':
          ph.remove(op[1]);
          break;
        case 'setprio+heapify':
          for (const id of op[1]) ph.setPrio(id, op[2]);
          ph.heapify();
          break;
      }
      const expected = op[op.length - 1] as number[];
      assert.deepEqual(ph.toArray(), expected, `seed ${seed} op ${k} (${op[0]})`);
      expected.forEach((id, p) => assert.equal(pos[id], p));
    });
  }
});

test('heapify above 2500 items: same array and same comparison order as CPython (cache-friendly traversal)', () => {
  for (const c of fx.heapify) {
    const h = c.priorities.map((p, id) => ({ id, p }));
    const log: string[] = [];
    heapify(h, (a, b) => {
      log.push(`${a.id}<${b.id}`);
      return a.p < b.p;
    });
    assert.deepEqual(ids(h), c.result, `n=${c.n}`);
    assert.equal(log.length, c.comparisons, `n=${c.n} comparisons`);
    assert.equal(createHash('sha256').update(log.join('\n')).digest('hex'), c.comparisonSha256, `n=${c.n} comparison order`);
  }
  assert.ok(fx.heapify.some((c) => c.n > CACHE_FRIENDLY_HEAPIFY_THRESHOLD));
});

test('PoolHeap.heapify gives CPython\'s array on the recorded large lists, repeatedly', () => {
  for (const c of fx.heapify) {
    const prio = Float64Array.from(c.priorities);
    const pos = new Int32Array(c.n).fill(-1);
    const ph = new PoolHeap(prio, pos, 16);
    ph.load(c.priorities.map((_, i) => i));
    ph.heapify();
    assert.deepEqual(ph.toArray(), c.result, `n=${c.n}`);
    // Heapify again (a valid heap with ties still changes) and compare with the generic version.
    const h = c.result.map((id) => ({ id, p: c.priorities[id]! }));
    for (let r = 0; r < 3; r++) {
      heapify(h, lt);
      ph.heapify();
      assert.deepEqual(ph.toArray(), ids(h), `n=${c.n} round ${r}`);
    }
  }
});

test('PoolHeap defers runs of heapify calls on an unchanged heap (applied as σ^k) exactly', () => {
  let seed = 7;
  const rnd = (): number => {
    seed = (seed * 1103515245 + 12345) >>> 0;
    return seed / 2 ** 32;
  };
  for (let t = 0; t < 200; t++) {
    const n = 2 + Math.floor(rnd() * (t % 10 === 0 ? 3000 : 60));
    const ties = [0, 1, 2, 3][t % 4]!;
    const prio = Float64Array.from({ length: n }, () => Math.floor(rnd() * (ties + 1)));
    const pos = new Int32Array(n).fill(-1);
    const ph = new PoolHeap(prio, pos, 4);
    const h = Array.from({ length: n }, (_, i) => ({ id: i, p: prio[i]! }));
    ph.load(h.map((x) => x.id));
    heapify(h, lt);
    ph.heapify();
    for (let r = 0; r < 6; r++) {
      const k = 1 + Math.floor(rnd() * 9);
      for (let j = 0; j < k; j++) {
        heapify(h, lt);
        ph.heapify();
      }
      assert.deepEqual(ph.toArray(), ids(h), `trial ${t} n=${n} round ${r} k=${k}`);
    }
  }
});

test('PoolHeap matches the generic emulation on random operation mixes (incremental heapify)', () => {
  let seed = 12345;
  const rnd = (): number => {
    seed = (seed * 1103515245 + 12345) >>> 0;
    return seed / 2 ** 32;
  };
  for (let trial = 0; trial < 30; trial++) {
    const ties = [1, 2, 4, 50][trial % 4]!;
    const prio = new Float64Array(20000);
    const pos = new Int32Array(20000).fill(-1);
    const ph = new PoolHeap(prio, pos, 8);
    const items: Item[] = [];
    const byId = new Map<number, Item>();
    const h: Item[] = [];
    let next = 0;
    for (let k = 0; k < 600; k++) {
      const r = rnd();
      if (r < 0.4 || h.length < 4) {
        const it = { id: next++, p: Math.floor(rnd() * (ties + 1)) };
        items.push(it);
        byId.set(it.id, it);
        prio[it.id] = it.p;
        heappush(h, it, lt);
        ph.push(it.id);
      } else if (r < 0.5) {
        assert.equal(ph.pop(), heappop(h, lt).id);
      } else if (r < 0.55) {
        const it = h[Math.floor(rnd() * h.length)]!;
        listRemove(h, it);
        ph.remove(it.id);
        heapify(h, lt);
        ph.heapify();
      } else if (r < 0.8) {
        // A "clone update": several items get one new priority, then heapify.
        const p = Math.floor(rnd() * (ties + 1));
        const m = 1 + Math.floor(rnd() * 6);
        for (let j = 0; j < m; j++) {
          const it = h[Math.floor(rnd() * h.length)]!;
          it.p = p;
          ph.setPrio(it.id, p);
        }
        heapify(h, lt);
        ph.heapify();
      } else {
        // A run of heapify calls with nothing in between (deferred by PoolHeap).
        const runs = 1 + Math.floor(rnd() * 5);
        for (let j = 0; j < runs; j++) {
          heapify(h, lt);
          ph.heapify();
        }
      }
      assert.deepEqual(ph.toArray(), ids(h), `trial ${trial} step ${k}`);
    }
  }
});
