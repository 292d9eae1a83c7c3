// A binary min-heap of (time, item) pairs kept in typed arrays, for k-way merges of time-ordered
// streams (the k-groups of a minute, the functions of a synthetic trace). Equal times pop in item
// order, so a merge that numbers its streams in row order is stable without further work.

export class TimeHeap {
  readonly #time: Float64Array;
  readonly #item: Int32Array;
  size = 0;

  constructor(capacity: number) {
    this.#time = new Float64Array(Math.max(1, capacity));
    this.#item = new Int32Array(Math.max(1, capacity));
  }

  topTime(): number {
    return this.#time[0]!;
  }

  topItem(): number {
    return this.#item[0]!;
  }

  push(time: number, item: number): void {
    const times = this.#time;
    const items = this.#item;
    let at = this.size++;
    while (at > 0) {
      const parent = (at - 1) >> 1;
      const parentTime = times[parent]!;
      if (parentTime < time || (parentTime === time && items[parent]! < item)) break;
      times[at] = parentTime;
      items[at] = items[parent]!;
      at = parent;
    }
    times[at] = time;
    items[at] = item;
  }

  /** Removes the top; read it with topTime/topItem first. */
  pop(): void {
    const times = this.#time;
    const items = this.#item;
    const size = --this.size;
    if (size === 0) return;
    const time = times[size]!;
    const item = items[size]!;
    let at = 0;
    for (;;) {
      let child = 2 * at + 1;
      if (child >= size) break;
      const right = child + 1;
      if (right < size && (times[right]! < times[child]! || (times[right] === times[child] && items[right]! < items[child]!))) child = right;
      const childTime = times[child]!;
      if (time < childTime || (time === childTime && item < items[child]!)) break;
      times[at] = childTime;
      items[at] = items[child]!;
      at = child;
    }
    times[at] = time;
    items[at] = item;
  }
}
