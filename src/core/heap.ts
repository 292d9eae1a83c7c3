// A binary min-heap of values ordered by a numeric key, ties broken by insertion order (FIFO), so
// every run over the same input makes the same decisions. Keys live in a parallel array and entries
// are not objects, because the simulator pushes and pops millions of them per second.

export class KeyedHeap<T> {
  #keys: number[] = [];
  #seqs: number[] = [];
  #values: T[] = [];
  #nextSeq = 0;

  get size(): number {
    return this.#values.length;
  }

  push(key: number, value: T): void {
    const keys = this.#keys;
    const seqs = this.#seqs;
    const values = this.#values;
    const seq = this.#nextSeq++;
    let pos = values.length;
    keys.push(key);
    seqs.push(seq);
    values.push(value);
    while (pos > 0) {
      const parent = (pos - 1) >> 1;
      const pk = keys[parent]!;
      if (pk < key || (pk === key && seqs[parent]! < seq)) break;
      keys[pos] = pk;
      seqs[pos] = seqs[parent]!;
      values[pos] = values[parent]!;
      pos = parent;
    }
    keys[pos] = key;
    seqs[pos] = seq;
    values[pos] = value;
  }

  /** Smallest key, or Infinity when empty. */
  peekKey(): number {
    return this.#values.length > 0 ? this.#keys[0]! : Infinity;
  }

  peek(): T | undefined {
    return this.#values[0];
  }

  pop(): T | undefined {
    const values = this.#values;
    const n = values.length;
    if (n === 0) return undefined;
    const top = values[0];
    const keys = this.#keys;
    const seqs = this.#seqs;
    const lastKey = keys.pop()!;
    const lastSeq = seqs.pop()!;
    const lastValue = values.pop()!;
    const size = n - 1;
    if (size > 0) {
      let pos = 0;
      for (;;) {
        let child = 2 * pos + 1;
        if (child >= size) break;
        const right = child + 1;
        if (right < size && (keys[right]! < keys[child]! || (keys[right] === keys[child] && seqs[right]! < seqs[child]!))) {
          child = right;
        }
        const ck = keys[child]!;
        if (lastKey < ck || (lastKey === ck && lastSeq < seqs[child]!)) break;
        keys[pos] = ck;
        seqs[pos] = seqs[child]!;
        values[pos] = values[child]!;
        pos = child;
      }
      keys[pos] = lastKey;
      seqs[pos] = lastSeq;
      values[pos] = lastValue;
    }
    return top;
  }

  clear(): void {
    this.#keys.length = 0;
    this.#seqs.length = 0;
    this.#values.length = 0;
  }

  /** Every value with its key, in no particular order (for rebuilding and inspection). */
  *entries(): IterableIterator<[number, T]> {
    for (let i = 0; i < this.#values.length; i++) yield [this.#keys[i]!, this.#values[i]!];
  }
}
