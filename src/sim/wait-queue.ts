// Requests waiting for memory (the engine's `unplaceable: 'queue'`), served the way the platform's
// invoker serves its waiters: in arrival order, each as soon as it can have an instance, a request
// that cannot start holding back no other (a small function is not stuck behind a large one); one
// that waits longer than the queue timeout is dropped, as the platform answers it 503.
//
// Kept per function: once a function's oldest waiter cannot start, its later ones cannot either
// (they need what it needs, and starting others only takes memory), so a drain looks at one waiter
// per function that cannot start rather than at every waiter.

import { KeyedHeap } from '../core/heap.ts';
import type { FunctionSpec } from '../core/trace.ts';

export interface Waiting {
  fn: FunctionSpec;
  /** When it arrived, ms. */
  arrival: number;
  durationMs: number;
}

interface Entry extends Waiting {
  seq: number;
  done: boolean;
}

export class WaitQueue {
  /** Every waiter in arrival order (served ones marked done), for timeouts and the end of a run. */
  #all: Entry[] = [];
  #head = 0;
  /** Per function index, its waiters in arrival order from `start`. */
  readonly #byFn = new Map<number, { entries: Entry[]; start: number }>();
  #seq = 0;
  #size = 0;

  get size(): number {
    return this.#size;
  }

  push(w: Waiting): void {
    const entry: Entry = { ...w, seq: this.#seq++, done: false };
    this.#all.push(entry);
    let list = this.#byFn.get(w.fn.index);
    if (!list) this.#byFn.set(w.fn.index, (list = { entries: [], start: 0 }));
    list.entries.push(entry);
    this.#size++;
  }

  /** Offers waiters to `tryStart` in arrival order, skipping every function whose oldest waiter it refuses. */
  drain(tryStart: (w: Waiting) => boolean): void {
    if (this.#size === 0) return;
    const heads = new KeyedHeap<number>();
    for (const [fn, list] of this.#byFn) {
      this.#skipDone(list);
      if (list.start < list.entries.length) heads.push(list.entries[list.start]!.seq, fn);
    }
    for (let fn = heads.pop(); fn !== undefined; fn = heads.pop()) {
      const list = this.#byFn.get(fn)!;
      const entry = list.entries[list.start]!;
      if (!tryStart(entry)) continue;
      this.#take(entry);
      this.#skipDone(list);
      if (list.start < list.entries.length) heads.push(list.entries[list.start]!.seq, fn);
    }
    this.#compact();
  }

  /** When the oldest waiter arrived (Infinity: none). */
  oldestArrival(): number {
    this.#skipAllDone();
    return this.#head < this.#all.length ? this.#all[this.#head]!.arrival : Infinity;
  }

  /** Removes and returns the oldest waiter. */
  shift(): Waiting | undefined {
    this.#skipAllDone();
    const entry = this.#all[this.#head];
    if (!entry) return undefined;
    this.#take(entry);
    this.#compact();
    return entry;
  }

  #take(entry: Entry): void {
    entry.done = true;
    this.#size--;
  }

  #skipDone(list: { entries: Entry[]; start: number }): void {
    while (list.start < list.entries.length && list.entries[list.start]!.done) list.start++;
  }

  #skipAllDone(): void {
    while (this.#head < this.#all.length && this.#all[this.#head]!.done) this.#head++;
  }

  /** Drops what was served from the front of the lists now and then, so memory follows the queue. */
  #compact(): void {
    this.#skipAllDone();
    if (this.#head > 1024 && this.#head * 2 > this.#all.length) {
      this.#all = this.#all.slice(this.#head);
      this.#head = 0;
    }
    for (const [fn, list] of this.#byFn) {
      this.#skipDone(list);
      if (list.start === list.entries.length) this.#byFn.delete(fn);
      else if (list.start > 1024 && list.start * 2 > list.entries.length) {
        list.entries = list.entries.slice(list.start);
        list.start = 0;
      }
    }
  }
}
