// An adaptive limit on how many invocations of one function run at once (`thaw serve
// --concurrency-limit adaptive`): admission control after TCP Vegas, as Netflix's
// concurrency-limits applies it to services. The limit sits under the function's maxConcurrency;
// invocations over it wait in the invoker's queue, first come first served, as over maxConcurrency.
//
// Why: an instance serving one invocation at a time is a process. At 32 requests in flight on 2
// CPUs, 32 processes each wake for every request and wait their turn for a CPU: past the point
// where the CPUs are full, more instances add only waiting (for a CPU instead of in the queue),
// context switches and memory. bench/platform.ts at concurrency 32: hello with 32 instances kept
// 0.39-0.40x of a bare node:http server's throughput, with at most 4 instances 0.54-0.55x.
//
// The signal is an invocation's delay: its time in the sandbox minus the function's own execution
// time (the hop to the agent and back, and any wait for a CPU on the way). A function waiting on
// I/O executes long but its delay stays as it was, so it is not held back; a CPU-bound one at
// saturation sees its delay grow with the number running. Per window of samples:
//   D   the window's median delay;
//   D0  the no-load delay, measured as BBR measures its minimum round trip: for one window the
//       limit drops to its least, and D0 is the median delay of invocations that finished with no
//       more than that many running. Probed after the first window (a load that is high from the
//       start never shows it otherwise) and again every PROBE_WINDOWS windows (the machine, or
//       the function, may have changed);
//   queue = limit × (1 − D0 / D): Vegas's estimate of the invocations waiting rather than running;
//   queue < alpha(limit): one more, if the window used the whole limit (a window with room to spare
//       says nothing about more); queue > beta(limit): the limit shrinks by D0 / D, at most by half.
// The limit never goes below the machine's CPUs (one running invocation per CPU is never too many)
// nor above the function's maxConcurrency; it starts at the latter, so a burst before any samples
// scales out as without a limit.

/** Samples per window at least (a median of fewer would follow every scheduling hiccup). */
const MIN_WINDOW = 20;
/** Windows between two fresh measurements of the no-load delay D0. */
const PROBE_WINDOWS = 100;

export const CONCURRENCY_LIMITS = ['fixed', 'adaptive'] as const;
/** `fixed`: a function runs up to its maxConcurrency at once; `adaptive`: up to the limit this module learns. */
export type ConcurrencyLimitMode = (typeof CONCURRENCY_LIMITS)[number];

/** Vegas's thresholds, in invocations estimated waiting: about 3 and 6 × log10(limit), at least 1 and 2. */
function alpha(limit: number): number {
  return Math.max(1, 3 * Math.log10(limit));
}
function beta(limit: number): number {
  return 2 * alpha(limit);
}

export class AdaptiveConcurrencyLimit {
  #limit: number;
  readonly #min: number;
  #window: number[] = [];
  /** Most invocations running at once during the window. */
  #peakInFlight = 0;
  #noLoadDelayMs = Infinity;
  /** Measuring the no-load delay: the limit is at its least for a window. */
  #probing = false;
  #windowsSinceProbe = 0;

  /** `initial`: where the limit starts (the function's maxConcurrency); `min`: the lowest it goes (the machine's CPUs). */
  constructor(initial: number, min: number) {
    if (!(Number.isInteger(min) && min >= 1)) throw new TypeError(`the least concurrency limit must be a positive integer, got ${min}`);
    this.#min = min;
    this.#limit = Math.max(min, initial);
  }

  /** Invocations allowed to run at once, under `max` (the function's maxConcurrency). */
  limit(max: number): number {
    return Math.min(max, this.#probing ? this.#min : Math.floor(this.#limit));
  }

  /**
   * One finished invocation: its delay (time in the sandbox minus its execution time, ms) and how
   * many ran at once when it finished, itself included; `max` is the function's maxConcurrency.
   */
  observe(delayMs: number, inFlight: number, max: number): void {
    if (!(delayMs >= 0) || !Number.isFinite(delayMs)) return;
    if (this.#probing) {
      // (Invocations admitted before the probe began still finish under the old limit's load.)
      if (inFlight <= this.#min) this.#window.push(delayMs);
      if (this.#window.length < MIN_WINDOW) return;
      this.#noLoadDelayMs = median(this.#endWindow());
      this.#probing = false;
      return;
    }
    this.#window.push(delayMs);
    if (inFlight > this.#peakInFlight) this.#peakInFlight = inFlight;
    const limit = this.limit(max);
    if (this.#window.length < Math.max(MIN_WINDOW, 2 * limit)) return;
    const used = this.#peakInFlight >= limit;
    const delay = median(this.#endWindow());
    if (this.#noLoadDelayMs === Infinity || ++this.#windowsSinceProbe >= PROBE_WINDOWS) {
      this.#windowsSinceProbe = 0;
      this.#probing = true;
      return;
    }
    const ratio = delay > 0 ? Math.min(1, this.#noLoadDelayMs / delay) : 1;
    const queue = limit * (1 - ratio);
    if (queue > beta(limit)) this.#limit = Math.max(this.#min, limit * Math.max(0.5, ratio));
    else if (queue < alpha(limit) && used) this.#limit = Math.min(max, limit + 1);
    else this.#limit = limit;
  }

  /** The window's samples; a new window begins. */
  #endWindow(): number[] {
    const window = this.#window;
    this.#window = [];
    this.#peakInFlight = 0;
    return window;
  }
}

function median(xs: number[]): number {
  xs.sort((a, b) => a - b);
  const mid = xs.length >> 1;
  return xs.length % 2 === 1 ? xs[mid]! : (xs[mid - 1]! + xs[mid]!) / 2;
}
