// The core never reads the time itself: the simulator injects a virtual clock it advances event by
// event, the platform a wall clock. Times are milliseconds as floating-point numbers.

export interface Clock {
  now(): number;
}

/** A clock the simulator (or a test) sets explicitly. Time never goes backwards. */
export class VirtualClock implements Clock {
  #now: number;
  constructor(start = 0) {
    this.#now = start;
  }
  now(): number {
    return this.#now;
  }
  set(t: number): void {
    if (t < this.#now) throw new RangeError(`virtual clock cannot go back from ${this.#now} to ${t}`);
    this.#now = t;
  }
  advance(ms: number): void {
    this.set(this.#now + ms);
  }
}

/** Wall-clock milliseconds since the clock was made (monotonic, not affected by NTP steps). */
export class WallClock implements Clock {
  readonly #origin = performance.now();
  now(): number {
    return performance.now() - this.#origin;
  }
}
