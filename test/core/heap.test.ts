import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { KeyedHeap } from '../../src/core/heap.ts';
import { seededRandom } from '../../src/core/random.ts';

describe('KeyedHeap', () => {
  it('pops in key order, equal keys first-in first-out', () => {
    const heap = new KeyedHeap<string>();
    heap.push(3, 'c');
    heap.push(1, 'a1');
    heap.push(2, 'b');
    heap.push(1, 'a2');
    heap.push(1, 'a3');
    const out: string[] = [];
    while (heap.size > 0) out.push(heap.pop()!);
    assert.deepEqual(out, ['a1', 'a2', 'a3', 'b', 'c']);
    assert.equal(heap.pop(), undefined);
    assert.equal(heap.peekKey(), Infinity);
  });

  it('matches a sort on random keys with many ties', () => {
    const rnd = seededRandom(3);
    const heap = new KeyedHeap<number>();
    const items: Array<[number, number]> = [];
    for (let i = 0; i < 5000; i++) {
      const key = Math.floor(rnd() * 50);
      items.push([key, i]);
      heap.push(key, i);
    }
    const expected = [...items].sort((a, b) => a[0] - b[0] || a[1] - b[1]).map((x) => x[1]);
    const got: number[] = [];
    while (heap.size > 0) got.push(heap.pop()!);
    assert.deepEqual(got, expected);
  });
});
