// Exact reuse distances in O(log M) per access and O(M) memory (M = functions).
//
// The reuse distance of an invocation of f is the total size of the distinct functions invoked since
// f's previous invocation, f excluded (A B C B C A → d(A) = size(B) + size(C)); a first invocation
// has an infinite distance (a compulsory miss). Each function's size sits in a Fenwick tree at the
// position of its last access, so the distinct functions since f's previous access at position p are
// exactly the weights after p: d = total − prefixSum(p). Positions grow with every access; when they
// run out, the live ones (one per function seen) are renumbered 0..k−1 in order, which keeps the tree
// at O(M) positions instead of O(N). A renumbering costs O(M) and happens at most once every M
// accesses, so the amortised cost per access stays O(log M).

import { ThawError } from '../../core/errors.ts';
import type { ArrivalBatch, FunctionSpec, Trace } from '../../core/trace.ts';
import { FenwickTree } from './fenwick.ts';
import { DistanceHistogram, type HistogramSizing } from './histogram.ts';
import { type BatchConsumer, feedTrace } from './stream.ts';

const NEVER = -1;

export interface TrackerOptions {
  /**
   * Positions available before a renumbering; must exceed the number of functions. Default
   * max(2·M, 64): renumbering then happens at most every M accesses. Tests shrink it to force many.
   */
  positionCapacity?: number;
}

export class ReuseDistanceTracker {
  readonly #sizes: Float64Array;
  readonly #lastPosition: Int32Array;
  /** Function whose last access is at each position, NEVER where that access is no longer the last. */
  readonly #owner: Int32Array;
  readonly #tree: FenwickTree;
  /** Reused by every renumbering: the weights of the live positions in order. */
  readonly #liveWeights: Float64Array;
  /** Sum of the weights in the tree: the sizes of every function seen so far. */
  #total = 0;
  #nextPosition = 0;
  #accesses = 0;
  #distinct = 0;
  #renumberings = 0;

  constructor(sizesMb: ArrayLike<number>, options: TrackerOptions = {}) {
    const functions = sizesMb.length;
    this.#sizes = Float64Array.from(sizesMb);
    for (let f = 0; f < functions; f++) {
      const size = this.#sizes[f];
      if (!(size >= 0) || !Number.isFinite(size)) {
        throw new ThawError('ERR_INVALID_OPTION', `function ${f}: memoryMb must be a finite number ≥ 0, got ${size}`);
      }
    }
    const capacity = options.positionCapacity ?? Math.max(2 * functions, 64);
    if (!Number.isInteger(capacity) || capacity <= functions) {
      throw new ThawError('ERR_INVALID_OPTION', `option positionCapacity: must be an integer > the ${functions} functions, got ${capacity}`);
    }
    this.#lastPosition = new Int32Array(functions).fill(NEVER);
    this.#owner = new Int32Array(capacity).fill(NEVER);
    this.#tree = new FenwickTree(capacity);
    this.#liveWeights = new Float64Array(functions);
  }

  get accesses(): number {
    return this.#accesses;
  }
  /** Functions accessed at least once. */
  get distinctFunctions(): number {
    return this.#distinct;
  }
  /** Times the positions were renumbered (compacted). */
  get renumberings(): number {
    return this.#renumberings;
  }

  /** Records an access to function `fn` and returns its reuse distance in MB (Infinity on a first access). */
  access(fn: number): number {
    const lastPosition = this.#lastPosition;
    if (!(fn >= 0 && fn < lastPosition.length)) {
      throw new ThawError('ERR_UNKNOWN_FUNCTION', `function index ${fn} is outside 0..${lastPosition.length - 1}`);
    }
    if (this.#nextPosition === this.#owner.length) this.#renumber();
    const size = this.#sizes[fn];
    const previous = lastPosition[fn];
    let distance = Infinity;
    if (previous === NEVER) {
      this.#total += size;
      this.#distinct++;
    } else {
      // Rounding in float sums of fractional sizes can leave a tiny negative instead of 0.
      distance = Math.max(0, this.#total - this.#tree.prefixSum(previous));
      this.#tree.add(previous, -size);
      this.#owner[previous] = NEVER;
    }
    const position = this.#nextPosition++;
    this.#tree.add(position, size);
    this.#owner[position] = fn;
    lastPosition[fn] = position;
    this.#accesses++;
    return distance;
  }

  /** Packs the live positions to 0..k−1, keeping their order, and rebuilds the tree (and the total) from scratch. */
  #renumber(): void {
    const owner = this.#owner;
    const weights = this.#liveWeights;
    let live = 0;
    for (let position = 0; position < this.#nextPosition; position++) {
      const fn = owner[position];
      if (fn === NEVER) continue;
      owner[live] = fn;
      this.#lastPosition[fn] = live;
      weights[live] = this.#sizes[fn];
      live++;
    }
    owner.fill(NEVER, live);
    this.#tree.rebuild(weights, live);
    let total = 0;
    for (let i = 0; i < live; i++) total += weights[i];
    this.#total = total;
    this.#nextPosition = live;
    this.#renumberings++;
  }
}

/** True when every size is a whole number of MB, so every reuse distance is too. */
export function allIntegral(sizesMb: ArrayLike<number>): boolean {
  for (let i = 0; i < sizesMb.length; i++) if (!Number.isInteger(sizesMb[i])) return false;
  return true;
}

/**
 * Feeds the exact reuse distance of every invocation it is given into a histogram (first invocations
 * counted as infinite). Memory: O(M + bins), never O(N).
 */
export class ExactDistanceCollector implements BatchConsumer {
  readonly histogram: DistanceHistogram;
  readonly #tracker: ReuseDistanceTracker;

  constructor(functions: readonly FunctionSpec[], options: HistogramSizing & TrackerOptions = {}) {
    const sizes = functions.map((f) => f.memoryMb);
    let totalMb = 0;
    for (const size of sizes) totalMb += size;
    // No finite distance can exceed the size of all the functions together.
    this.histogram = DistanceHistogram.forRange(totalMb, allIntegral(sizes), options);
    this.#tracker = new ReuseDistanceTracker(sizes, options);
  }

  consume(batch: ArrivalBatch): void {
    const { fn, length } = batch;
    const tracker = this.#tracker;
    const histogram = this.histogram;
    for (let i = 0; i < length; i++) histogram.add(tracker.access(fn[i]));
  }
}

/** Streams the trace once and returns the histogram of the exact reuse distances of all its invocations. */
export function exactDistanceHistogram(trace: Trace, options: HistogramSizing & TrackerOptions = {}): DistanceHistogram {
  const collector = new ExactDistanceCollector(trace.functions, options);
  feedTrace(trace, [collector]);
  return collector.histogram;
}
