// The arrival rate and the observed miss speed over the last W inter-arrival times: a ring of the
// last W+1 arrival times and cold flags. λ = W / (t_newest − t_oldest), the inverse of the mean of
// the last W inter-arrival times (the FaaSCache notebook's rolling mean of inter-arrival times), and
// the miss speed is the cold starts among the W newest arrivals over the same span, i.e. λ × their
// miss ratio. Until W+1 arrivals have been seen, whatever has been seen is used.

export class ArrivalWindow {
  readonly intervals: number;
  readonly #times: Float64Array;
  readonly #cold: Uint8Array;
  /** Slot of the next arrival. */
  #next = 0;
  #size = 0;
  /** Cold starts among the arrivals in the ring, the oldest excluded. */
  #coldCount = 0;

  constructor(intervals: number) {
    this.intervals = intervals;
    this.#times = new Float64Array(intervals + 1);
    this.#cold = new Uint8Array(intervals + 1);
  }

  add(timeMs: number, wasCold: boolean): void {
    const slots = this.#times.length;
    if (this.#size === slots) {
      // The oldest arrival leaves; the second oldest becomes the one that only opens the span.
      const secondOldest = (this.#next + 1) % slots;
      this.#coldCount -= this.#cold[secondOldest];
    } else {
      this.#size++;
    }
    const cold = wasCold ? 1 : 0;
    if (this.#size > 1) this.#coldCount += cold;
    this.#times[this.#next] = timeMs;
    this.#cold[this.#next] = cold;
    this.#next = (this.#next + 1) % slots;
  }

  /** Inter-arrival times currently covered (≤ intervals). */
  get count(): number {
    return Math.max(0, this.#size - 1);
  }

  /** Time spanned by the covered inter-arrival times, ms. */
  get spanMs(): number {
    if (this.#size < 2) return 0;
    const slots = this.#times.length;
    const newest = this.#times[(this.#next - 1 + slots) % slots];
    const oldest = this.#times[(this.#next - this.#size + slots) % slots];
    return newest - oldest;
  }

  /** Arrivals per second over the window, undefined until the window spans a positive time. */
  arrivalRatePerSec(): number | undefined {
    const span = this.spanMs;
    return span > 0 ? (this.count * 1000) / span : undefined;
  }

  /** Fraction of cold starts among the covered arrivals (the window's measured miss ratio). */
  missRatio(): number | undefined {
    return this.count > 0 ? this.#coldCount / this.count : undefined;
  }

  /** Cold starts per second over the window. */
  missSpeedPerSec(): number | undefined {
    const span = this.spanMs;
    return span > 0 ? (this.#coldCount * 1000) / span : undefined;
  }
}
