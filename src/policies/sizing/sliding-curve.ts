// The hit-ratio curve of the most recent invocations, maintained incrementally: one reuse-distance
// tracker runs over the whole stream (a distance is a property of the access when it happens), and a
// histogram holds the distances of the last `window` invocations only; a ring remembers each one's
// bin so it can be taken out when it leaves the window. An access costs O(log M); a rebuild of the
// curve costs O(bins), independent of the window.

import type { HitRatioCurve } from './hit-ratio-curve.ts';
import { DistanceHistogram } from './histogram.ts';
import { hitRatioCurve } from './hit-ratio-curve.ts';
import { ReuseDistanceTracker } from './reuse-distance.ts';

export class SlidingReuseCurve {
  readonly #tracker: ReuseDistanceTracker;
  readonly #histogram: DistanceHistogram;
  readonly #bins: Int32Array;
  readonly #maxMb: number;
  readonly #resolutionMb: number;
  #next = 0;
  #filled = 0;

  /**
   * Curve over [0, maxMb] at `resolutionMb` spacing, from the last `window` invocations. Distances
   * past maxMb land in the histogram's overflow: they are misses at every size the curve covers.
   */
  constructor(sizesMb: ArrayLike<number>, window: number, maxMb: number, resolutionMb: number) {
    this.#tracker = new ReuseDistanceTracker(sizesMb);
    this.#histogram = new DistanceHistogram(resolutionMb, Math.ceil(maxMb / resolutionMb - 1e-9) + 1);
    this.#bins = new Int32Array(window);
    this.#maxMb = maxMb;
    this.#resolutionMb = resolutionMb;
  }

  /** Records an invocation of `fn`; returns its reuse distance, MB. */
  access(fn: number): number {
    const distance = this.#tracker.access(fn);
    const bins = this.#bins;
    if (this.#filled === bins.length) this.#histogram.addToBin(bins[this.#next], -1);
    else this.#filled++;
    bins[this.#next] = this.#histogram.add(distance);
    this.#next = (this.#next + 1) % bins.length;
    return distance;
  }

  /** Invocations in the window. */
  get size(): number {
    return this.#filled;
  }

  curve(): HitRatioCurve {
    return hitRatioCurve(this.#histogram, { maxMb: this.#maxMb, stepMb: this.#resolutionMb });
  }
}
