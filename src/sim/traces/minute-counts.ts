// Per-minute invocation counts (the Azure 2019 format) stored compactly, and the generator that
// turns them into a time-ordered arrival stream on demand. Memory is proportional to the number of
// non-zero (minute, function) cells, never to the number of invocations: the 8-hour sample holds
// 3 M invocations in 58 k cells.

import type { ArrivalBatch } from '../../core/trace.ts';
import { seededRandom } from '../../core/random.ts';
import { BatchBuffer, DEFAULT_BATCH_SIZE } from './batch.ts';
import { TimeHeap } from './time-heap.ts';

export const MS_PER_MINUTE = 60_000;

/**
 * Counts in compressed-sparse-row form by minute: the cells of minute m are
 * `minuteStart[m] .. minuteStart[m + 1] - 1`, each a function index (ascending within the minute,
 * i.e. in trace row order) and a count ≥ 1.
 */
export interface MinuteCounts {
  readonly minutes: number;
  readonly functions: number;
  readonly minuteStart: Int32Array;
  readonly fn: Int32Array;
  readonly count: Int32Array;
  /** Sum of the counts of each minute. */
  readonly minuteTotal: Float64Array;
  readonly total: number;
}

/**
 * How k invocations of one function within one minute are placed in time:
 * - 'even': at start + i·(60000/k) ms for i = 0..k−1 (FaaSCache's rule);
 * - 'start': all k at the start of the minute;
 * - 'random': each uniformly in the minute, from a seeded generator.
 */
export type MinuteSpacing = 'even' | 'start' | 'random';

/**
 * Collects the non-zero cells function by function (in index order) and transposes them to minute
 * order. Per cell it keeps only the minute (16 bits when the trace has at most 65,536 minutes) and
 * the count; the function is implied by where its cells start. A full day file can have tens of
 * millions of cells, so the bytes per cell matter.
 */
export class MinuteCountsBuilder {
  #cellMinute: Uint16Array | Int32Array;
  #cellCount: Int32Array = new Int32Array(1024);
  #cells = 0;
  /** Cells of function f are functionStart[f] .. functionStart[f + 1] - 1. */
  readonly #functionStart: number[] = [0];

  constructor(readonly minutes: number) {
    this.#cellMinute = minutes <= 0x10000 ? new Uint16Array(1024) : new Int32Array(1024);
  }

  /** Adds one function's counts; functions must be added in index order 0, 1, 2, ... */
  addFunction(fn: number, countsByMinute: ArrayLike<number>): void {
    const expected = this.#functionStart.length - 1;
    if (fn !== expected) throw new RangeError(`functions must be added in order: expected ${expected}, got ${fn}`);
    for (let minute = 0; minute < this.minutes; minute++) {
      const count = countsByMinute[minute]!;
      if (count === 0) continue;
      if (this.#cells === this.#cellCount.length) this.#grow();
      this.#cellMinute[this.#cells] = minute;
      this.#cellCount[this.#cells++] = count;
    }
    this.#functionStart.push(this.#cells);
  }

  /** Grows by half, not double: the final arrays are copied once more in build(). */
  #grow(): void {
    const size = Math.ceil(this.#cellCount.length * 1.5);
    const minute = this.#cellMinute instanceof Uint16Array ? new Uint16Array(size) : new Int32Array(size);
    minute.set(this.#cellMinute);
    const count = new Int32Array(size);
    count.set(this.#cellCount);
    this.#cellMinute = minute;
    this.#cellCount = count;
  }

  /** Counting sort by minute; cells are visited in function order, so each minute stays in function order. */
  build(): MinuteCounts {
    const { minutes } = this;
    const cells = this.#cells;
    const cellMinute = this.#cellMinute;
    const cellCount = this.#cellCount;
    const minuteStart = new Int32Array(minutes + 1);
    const minuteTotal = new Float64Array(minutes);
    let total = 0;
    for (let c = 0; c < cells; c++) {
      const minute = cellMinute[c]!;
      minuteStart[minute + 1]!++;
      minuteTotal[minute]! += cellCount[c]!;
      total += cellCount[c]!;
    }
    for (let m = 0; m < minutes; m++) minuteStart[m + 1]! += minuteStart[m]!;
    const fill = minuteStart.slice(0, minutes);
    const fn = new Int32Array(cells);
    const count = new Int32Array(cells);
    const functions = this.#functionStart.length - 1;
    for (let f = 0; f < functions; f++) {
      for (let c = this.#functionStart[f]!; c < this.#functionStart[f + 1]!; c++) {
        const slot = fill[cellMinute[c]!]!++;
        fn[slot] = f;
        count[slot] = cellCount[c]!;
      }
    }
    return { minutes, functions, minuteStart, fn, count, minuteTotal, total };
  }
}

// ---------------------------------------------------------------------------------------------
// Even spacing without sorting.
//
// Every function active in a minute has its i = 0 arrival exactly at the minute start, so those come
// first, in row order, at no cost. For i ≥ 1, all functions with the same count k share the same
// times start + i·(60000/k): they form one group whose members arrive together, in row order. A
// minute has far fewer distinct k than active functions, so a small binary heap merges the groups'
// time sequences; the group at the top keeps emitting while its next time stays below every other
// group's, which makes a busy function (k in the thousands) nearly free. Groups that land on the
// same floating-point time (e.g. k = 2, i = 1 and k = 4, i = 2) are merged by row so the stream
// equals a stable sort of all arrivals by time, bit for bit.

/** Functions with k ≥ 2 of each minute, grouped by k (ascending), members in row order. */
interface EvenGroups {
  readonly minuteGroupStart: Int32Array;
  readonly k: Int32Array;
  readonly every: Float64Array;
  readonly memberStart: Int32Array;
  readonly members: Int32Array;
  readonly maxGroupsPerMinute: number;
  readonly maxMembersPerMinute: number;
}

function buildEvenGroups(counts: MinuteCounts): EvenGroups {
  const { minutes, minuteStart, fn, count } = counts;
  let multi = 0;
  for (let c = 0; c < count.length; c++) if (count[c]! >= 2) multi++;
  const members = new Int32Array(multi);
  const minuteGroupStart = new Int32Array(minutes + 1);
  const groupK: number[] = [];
  const memberStart: number[] = [];
  let placed = 0;
  let maxGroupsPerMinute = 0;
  let maxMembersPerMinute = 0;
  const cellsOfMinute: number[] = [];
  for (let m = 0; m < minutes; m++) {
    cellsOfMinute.length = 0;
    for (let c = minuteStart[m]!; c < minuteStart[m + 1]!; c++) if (count[c]! >= 2) cellsOfMinute.push(c);
    // Stable sort by k keeps row order inside a group (cells are already in row order).
    cellsOfMinute.sort((a, b) => count[a]! - count[b]!);
    let groups = 0;
    for (let j = 0; j < cellsOfMinute.length; j++) {
      const cell = cellsOfMinute[j]!;
      if (j === 0 || count[cell] !== count[cellsOfMinute[j - 1]!]) {
        groupK.push(count[cell]!);
        memberStart.push(placed);
        groups++;
      }
      members[placed++] = fn[cell]!;
    }
    minuteGroupStart[m + 1] = minuteGroupStart[m]! + groups;
    if (groups > maxGroupsPerMinute) maxGroupsPerMinute = groups;
    if (cellsOfMinute.length > maxMembersPerMinute) maxMembersPerMinute = cellsOfMinute.length;
  }
  memberStart.push(placed);
  const k = Int32Array.from(groupK);
  const every = Float64Array.from(groupK, (kk) => MS_PER_MINUTE / kk);
  return { minuteGroupStart, k, every, memberStart: Int32Array.from(memberStart), members, maxGroupsPerMinute, maxMembersPerMinute };
}

export interface ArrivalGenerationOptions {
  spacing?: MinuteSpacing;
  /** Seed of the 'random' spacing. */
  seed?: number;
  /** Target arrivals per batch (a batch holds whole minutes, so a busy minute may exceed it). */
  batchSize?: number;
}

/**
 * Streams the arrivals the counts describe, in nondecreasing time; equal times keep row order (and
 * i order within a function). Each call starts a fresh pass with its own reused buffers.
 */
export class MinuteArrivals {
  #evenGroups: EvenGroups | undefined;
  readonly #maxMinuteTotal: number;

  constructor(readonly counts: MinuteCounts) {
    let max = 0;
    for (const total of counts.minuteTotal) if (total > max) max = total;
    this.#maxMinuteTotal = max;
  }

  *batches(options: ArrivalGenerationOptions = {}): Generator<ArrivalBatch> {
    const spacing = options.spacing ?? 'even';
    const batchSize = options.batchSize ?? DEFAULT_BATCH_SIZE;
    // Whole minutes go into a batch, so the buffer must hold the busiest minute.
    const buffer = new BatchBuffer(Math.max(batchSize, this.#maxMinuteTotal));
    const writeMinute = this.#minuteWriter(spacing, options.seed ?? 0);
    const { minutes, minuteTotal } = this.counts;
    let length = 0;
    for (let m = 0; m < minutes; m++) {
      const total = minuteTotal[m]!;
      if (total === 0) continue;
      if (length + total > buffer.capacity) {
        yield buffer.view(length);
        length = 0;
      }
      length = writeMinute(m, buffer, length);
      if (length >= batchSize) {
        yield buffer.view(length);
        length = 0;
      }
    }
    if (length > 0) yield buffer.view(length);
  }

  #minuteWriter(spacing: MinuteSpacing, seed: number): (minute: number, out: BatchBuffer, at: number) => number {
    switch (spacing) {
      case 'even':
        return this.#evenWriter();
      case 'start':
        return (minute, out, at) => this.#writeAtStart(minute, out, at);
      case 'random':
        return this.#randomWriter(seed);
    }
  }

  #writeAtStart(minute: number, out: BatchBuffer, at: number): number {
    const { minuteStart, fn, count } = this.counts;
    const start = minute * MS_PER_MINUTE;
    const { fn: outFn, time: outTime } = out;
    for (let c = minuteStart[minute]!; c < minuteStart[minute + 1]!; c++) {
      const f = fn[c]!;
      for (let i = count[c]!; i > 0; i--) {
        outFn[at] = f;
        outTime[at++] = start;
      }
    }
    return at;
  }

  #evenWriter(): (minute: number, out: BatchBuffer, at: number) => number {
    const groups = (this.#evenGroups ??= buildEvenGroups(this.counts));
    const { minuteStart, fn } = this.counts;
    const { minuteGroupStart, k, every, memberStart, members } = groups;
    const heap = new TimeHeap(groups.maxGroupsPerMinute);
    const nextI = new Int32Array(Math.max(1, groups.maxGroupsPerMinute));
    const tied = new Int32Array(Math.max(1, groups.maxGroupsPerMinute));
    const tiedMembers = new Int32Array(Math.max(1, groups.maxMembersPerMinute));

    return (minute, out, at) => {
      const outFn = out.fn;
      const outTime = out.time;
      const start = minute * MS_PER_MINUTE;
      // i = 0: every active function at the minute start, in row order.
      for (let c = minuteStart[minute]!; c < minuteStart[minute + 1]!; c++) {
        outFn[at] = fn[c]!;
        outTime[at++] = start;
      }
      // i ≥ 1: merge the k-groups (local ids 0..n-1; global id = first + local).
      const first = minuteGroupStart[minute]!;
      const groupCount = minuteGroupStart[minute + 1]! - first;
      for (let local = 0; local < groupCount; local++) {
        nextI[local] = 1;
        heap.push(start + 1 * every[first + local]!, local);
      }
      while (heap.size > 0) {
        const time = heap.topTime();
        const local = heap.topItem();
        heap.pop();
        if (heap.size === 0 || heap.topTime() !== time) {
          // One group alone at this time: emit it, and keep going while it stays strictly first.
          const g = first + local;
          const from = memberStart[g]!;
          const to = memberStart[g + 1]!;
          const groupK = k[g]!;
          const step = every[g]!;
          let i = nextI[local]!;
          let t = time;
          for (;;) {
            for (let j = from; j < to; j++) {
              outFn[at] = members[j]!;
              outTime[at++] = t;
            }
            if (++i >= groupK) break;
            t = start + i * step; // exactly start + i·(60000/k), the reference formula
            if (heap.size > 0 && heap.topTime() <= t) {
              heap.push(t, local);
              break;
            }
          }
          nextI[local] = i;
          continue;
        }
        // Several groups at the same time: emit the union of their members in row order.
        let tiedCount = 0;
        tied[tiedCount++] = local;
        while (heap.size > 0 && heap.topTime() === time) {
          tied[tiedCount++] = heap.topItem();
          heap.pop();
        }
        let memberCount = 0;
        for (let t = 0; t < tiedCount; t++) {
          const g = first + tied[t]!;
          for (let j = memberStart[g]!; j < memberStart[g + 1]!; j++) tiedMembers[memberCount++] = members[j]!;
        }
        tiedMembers.subarray(0, memberCount).sort();
        for (let j = 0; j < memberCount; j++) {
          outFn[at] = tiedMembers[j]!;
          outTime[at++] = time;
        }
        for (let t = 0; t < tiedCount; t++) {
          const tiedLocal = tied[t]!;
          const g = first + tiedLocal;
          const i = ++nextI[tiedLocal]!;
          if (i < k[g]!) heap.push(start + i * every[g]!, tiedLocal);
        }
      }
      return at;
    };
  }

  /**
   * Uniform placement without sorting a whole minute: each function's k times are drawn already
   * sorted (the order statistics of k uniforms are the normalised partial sums of k + 1
   * exponentials), then the functions' sorted runs are merged with a heap that breaks ties by row.
   */
  #randomWriter(seed: number): (minute: number, out: BatchBuffer, at: number) => number {
    const random = seededRandom(seed);
    const { minuteStart, fn, count } = this.counts;
    let maxActive = 1;
    for (let m = 0; m < this.counts.minutes; m++) maxActive = Math.max(maxActive, minuteStart[m + 1]! - minuteStart[m]!);
    const times = new Float64Array(Math.max(1, this.#maxMinuteTotal));
    const runEnd = new Int32Array(maxActive);
    const runNext = new Int32Array(maxActive);
    const heap = new TimeHeap(maxActive);
    const exponential = (): number => -Math.log(1 - random());

    return (minute, out, at) => {
      const outFn = out.fn;
      const outTime = out.time;
      const start = minute * MS_PER_MINUTE;
      const firstCell = minuteStart[minute]!;
      const cells = minuteStart[minute + 1]! - firstCell;
      // Draws happen in row order, so a seed always gives the same stream.
      let n = 0;
      for (let run = 0; run < cells; run++) {
        const k = count[firstCell + run]!;
        runNext[run] = n;
        if (k === 1) {
          times[n++] = start + random() * MS_PER_MINUTE;
        } else {
          let sum = 0;
          for (let i = 0; i < k; i++) times[n + i] = sum += exponential();
          const scale = MS_PER_MINUTE / (sum + exponential());
          for (let i = 0; i < k; i++) times[n + i] = start + times[n + i]! * scale;
          n += k;
        }
        runEnd[run] = n;
        heap.push(times[runNext[run]!]!, run);
      }
      while (heap.size > 0) {
        const run = heap.topItem();
        heap.pop();
        const f = fn[firstCell + run]!;
        const end = runEnd[run]!;
        let next = runNext[run]!;
        // Keep emitting this function while it stays strictly first (ties go to the lower row).
        do {
          outFn[at] = f;
          outTime[at++] = times[next++]!;
        } while (next < end && (heap.size === 0 || times[next]! < heap.topTime()));
        if (next < end) {
          runNext[run] = next;
          heap.push(times[next]!, run);
        }
      }
      return at;
    };
  }
}

/**
 * The obviously correct, slow construction of the 'even' stream, written like the FaaSCache
 * reference: materialise every (function, time) pair function by function, then stable-sort by
 * time with a comparator. Memory grows with the invocations. It is the oracle the tests compare
 * MinuteArrivals with, and the baseline of bench/traces.ts; do not use it to run simulations.
 */
export function naiveEvenArrivals(counts: MinuteCounts): { fn: Int32Array; time: Float64Array } {
  const cellsByFunction: Array<Array<[minute: number, k: number]>> = Array.from({ length: counts.functions }, () => []);
  for (let m = 0; m < counts.minutes; m++) {
    for (let c = counts.minuteStart[m]!; c < counts.minuteStart[m + 1]!; c++) cellsByFunction[counts.fn[c]!]!.push([m, counts.count[c]!]);
  }
  const arrivals: Array<{ fn: number; time: number }> = [];
  cellsByFunction.forEach((cells, fn) => {
    for (const [minute, k] of cells) {
      const start = minute * MS_PER_MINUTE;
      for (let i = 0; i < k; i++) arrivals.push({ fn, time: start + i * (MS_PER_MINUTE / k) });
    }
  });
  arrivals.sort((a, b) => a.time - b.time); // Array.prototype.sort is stable (ES2019)
  return { fn: Int32Array.from(arrivals, (a) => a.fn), time: Float64Array.from(arrivals, (a) => a.time) };
}
