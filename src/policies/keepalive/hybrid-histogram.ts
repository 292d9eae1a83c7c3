// Serverless in the Wild's hybrid histogram policy (Shahrad et al., ATC'20; docs/techniques.md §1.2): a
// keep-alive policy and a pre-warm policy in one, deciding per APPLICATION (FunctionSpec.app).
//
// For each application, the idle times (end of its last invocation to the start of the next one)
// go into a histogram over `rangeMs` (4 h) in `binMs` (1-minute) bins, plus an out-of-bounds count.
// After each invocation of a function of the app:
//   - too few samples, or a histogram that is not representative (its CV below `cvThreshold`):
//       no pre-warm, keep alive for the whole range;
//   - more than `oobThreshold` of the idle times beyond the range: predict the next idle time with a
//       time-series model and pre-warm at prediction × 0.85, keep alive 2 × 0.15 × prediction;
//   - else: pre-warm window = lower edge of the `headPercentile` (5th) bin − 10 %, keep-alive window
//       = upper edge of the `tailPercentile` (99th) bin + 10 %. A pre-warm window of 0 (the head in
//       the first bin) means: do not unload, keep the instance for the keep-alive window. Otherwise
//       the instance is unloaded at once and a fresh one is pre-warmed after the pre-warm window and
//       kept for the rest of the keep-alive window (keep-alive − pre-warm).
//
// The time-series model is simple exponential smoothing of log idle times — the forecast of an
// ARIMA(0,1,1) model, the paper's ARIMA family at its smallest (see docs/policies.md for why).
//
// Under memory pressure before a window ends, instances are evicted in LRU order.

import { invalidOption } from '../../core/errors.ts';
import type { FunctionGroup } from '../../core/instance.ts';
import type { KeepAlivePolicy } from '../../core/policy.ts';
import type { PrewarmAction, PrewarmPolicy } from '../../core/prewarm.ts';
import type { FunctionSpec } from '../../core/trace.ts';

/**
 * What the representativeness test's coefficient of variation is computed over (re-implementations
 * disagree): the histogram's bin counts (the paper's reading, default), the idle times themselves,
 * or variance/mean of the bin counts (index of dispersion). In every reading an app is
 * representative when the value is at least the threshold.
 */
export type CvReading = 'bin-counts' | 'idle-times' | 'variance-mean';
export const CV_READINGS: readonly CvReading[] = ['bin-counts', 'idle-times', 'variance-mean'];

export interface HybridHistogramOptions {
  /** Histogram range, ms (default 4 h). */
  rangeMs?: number;
  /** Bin width, ms (default 1 minute). */
  binMs?: number;
  /** Percentile of the pre-warm window (default 5). */
  headPercentile?: number;
  /** Percentile of the keep-alive window (default 99). */
  tailPercentile?: number;
  /** Margin taken off the pre-warm window (default 0.10). */
  headMargin?: number;
  /** Margin added to the keep-alive window (default 0.10). */
  tailMargin?: number;
  /** What the CV is computed over (default bin-counts). */
  cvReading?: CvReading;
  /** Representative when CV ≥ this (default 2). */
  cvThreshold?: number;
  /** Fewer idle times than this: not representative (default 10). */
  minSamples?: number;
  /** Share of idle times beyond the range above which the time-series model is used (default 0.5). */
  oobThreshold?: number;
  /** Smoothing factor of the time-series model (default 0.5). */
  smoothing?: number;
}

export type HybridMode = 'unrepresentative' | 'histogram' | 'time-series';

/** The windows the policy applies to an application now. */
export interface HybridWindows {
  mode: HybridMode;
  /** Pre-warm window, ms after the end of an invocation (0: do not unload). */
  prewarmMs: number;
  /** Keep-alive window, ms: after the invocation when prewarmMs = 0, else counted from its end too. */
  keepAliveMs: number;
}

class AppHistogram {
  readonly bins: Float64Array;
  inRange = 0;
  outOfBounds = 0;
  /** Welford over in-range idle times (ms), for the idle-times CV reading. */
  mean = 0;
  m2 = 0;
  /** Smoothed log idle time (time-series model), NaN before the first sample. */
  level = NaN;
  lastEnd = -Infinity;
  lastStart = -Infinity;
  windows: HybridWindows;
  computedAt = -Infinity;
  computedSamples = -1;

  constructor(binCount: number, fallback: HybridWindows) {
    this.bins = new Float64Array(binCount);
    this.windows = fallback;
  }

  get samples(): number {
    return this.inRange + this.outOfBounds;
  }
}

export class HybridHistogramPolicy implements KeepAlivePolicy, PrewarmPolicy {
  readonly name = 'hybrid';
  readonly priorityDependsOnUse = false;
  readonly tickMs = 0;
  readonly rangeMs: number;
  readonly binMs: number;
  readonly headPercentile: number;
  readonly tailPercentile: number;
  readonly headMargin: number;
  readonly tailMargin: number;
  readonly cvReading: CvReading;
  readonly cvThreshold: number;
  readonly minSamples: number;
  readonly oobThreshold: number;
  readonly smoothing: number;
  readonly #binCount: number;
  readonly #apps = new Map<string, AppHistogram>();
  readonly #appOfFunction: AppHistogram[] = [];
  readonly #fallback: HybridWindows;

  constructor(options: HybridHistogramOptions = {}) {
    this.rangeMs = check(options.rangeMs ?? 4 * 3_600_000, (v) => v > 0, 'hybrid-range', 'a duration > 0');
    this.binMs = check(options.binMs ?? 60_000, (v) => v > 0 && v <= this.rangeMs, 'hybrid-bin', 'a duration > 0 and ≤ the range');
    this.headPercentile = check(options.headPercentile ?? 5, (v) => v >= 0 && v <= 100, 'hybrid-head', 'a percentile 0..100');
    this.tailPercentile = check(options.tailPercentile ?? 99, (v) => v >= this.headPercentile && v <= 100, 'hybrid-tail', 'a percentile ≥ the head, ≤ 100');
    this.headMargin = check(options.headMargin ?? 0.1, (v) => v >= 0 && v < 1, 'hybrid-margins', 'a fraction in [0, 1)');
    this.tailMargin = check(options.tailMargin ?? 0.1, (v) => v >= 0, 'hybrid-margins', 'a fraction ≥ 0');
    this.cvReading = options.cvReading ?? 'bin-counts';
    if (!CV_READINGS.includes(this.cvReading)) throw invalidOption('--hybrid-cv', `expected ${CV_READINGS.join(', ')}, got '${this.cvReading}'`);
    this.cvThreshold = check(options.cvThreshold ?? 2, (v) => v >= 0, 'hybrid-cv-threshold', 'a number ≥ 0');
    this.minSamples = check(options.minSamples ?? 10, (v) => Number.isInteger(v) && v >= 1, 'hybrid-min-samples', 'an integer ≥ 1');
    this.oobThreshold = check(options.oobThreshold ?? 0.5, (v) => v >= 0 && v <= 1, 'hybrid-oob', 'a fraction 0..1');
    this.smoothing = check(options.smoothing ?? 0.5, (v) => v > 0 && v <= 1, 'hybrid-smoothing', 'a fraction in (0, 1]');
    this.#binCount = Math.ceil(this.rangeMs / this.binMs);
    this.#fallback = { mode: 'unrepresentative', prewarmMs: 0, keepAliveMs: this.rangeMs };
  }

  // KeepAlivePolicy: LRU order under pressure; the window of the function's application.
  priority(group: FunctionGroup): number {
    return group.oldestIdle!.idleSince;
  }

  keepAliveMs(group: FunctionGroup): number {
    const w = this.#app(group.fn).windows;
    return w.prewarmMs > 0 ? 0 : w.keepAliveMs;
  }

  // PrewarmPolicy
  invoked(fn: FunctionSpec, now: number): void {
    const app = this.#app(fn);
    if (app.lastEnd > -Infinity) {
      // Something started since the app's last completion: it may still be running, idle time 0.
      this.record(app, app.lastStart > app.lastEnd ? 0 : now - app.lastEnd);
    }
    app.lastStart = now;
  }

  completed(fn: FunctionSpec, now: number): PrewarmAction[] | undefined {
    const app = this.#app(fn);
    if (now > app.lastEnd) app.lastEnd = now;
    const w = this.#refresh(app, now);
    if (w.prewarmMs <= 0) return undefined;
    return [{ kind: 'warm', fn, at: now + w.prewarmMs, keepAliveMs: Math.max(0, w.keepAliveMs - w.prewarmMs), key: fn.index }];
  }

  /** The windows of an application now (recomputed if new idle times arrived). */
  windowsOf(app: string, now = Infinity): HybridWindows {
    const state = this.#apps.get(app);
    return state ? this.#refresh(state, now, true) : this.#fallback;
  }

  /** Adds one idle time of `app` (exposed for golden tests). */
  recordIdle(app: string, idleMs: number): void {
    let state = this.#apps.get(app);
    if (!state) this.#apps.set(app, (state = new AppHistogram(this.#binCount, this.#fallback)));
    this.record(state, idleMs);
  }

  /** The representativeness value of an app's histogram under the configured reading (NaN if empty). */
  cvOf(app: string): number {
    const state = this.#apps.get(app);
    return state ? this.#cv(state) : NaN;
  }

  report(): Record<string, unknown> {
    const modes: Record<HybridMode, number> = { unrepresentative: 0, histogram: 0, 'time-series': 0 };
    for (const app of this.#apps.values()) modes[this.#refresh(app, Infinity, true).mode]++;
    return { apps: this.#apps.size, modes, cvReading: this.cvReading };
  }

  private record(app: AppHistogram, idleMs: number): void {
    if (idleMs >= this.rangeMs) {
      app.outOfBounds++;
    } else {
      app.bins[Math.floor(idleMs / this.binMs)]!++;
      app.inRange++;
      const d = idleMs - app.mean;
      app.mean += d / app.inRange;
      app.m2 += d * (idleMs - app.mean);
    }
    if (idleMs > 0) {
      const x = Math.log(idleMs);
      app.level = Number.isNaN(app.level) ? x : app.level + this.smoothing * (x - app.level);
    }
  }

  #app(fn: FunctionSpec): AppHistogram {
    const cached = this.#appOfFunction[fn.index];
    if (cached) return cached;
    let state = this.#apps.get(fn.app);
    if (!state) this.#apps.set(fn.app, (state = new AppHistogram(this.#binCount, this.#fallback)));
    this.#appOfFunction[fn.index] = state;
    return state;
  }

  /**
   * Recomputes an app's windows when it has new idle times: at once while it has few samples, then
   * at most once per bin width of time (a percentile scan per invocation would dominate the run).
   */
  #refresh(app: AppHistogram, now: number, force = false): HybridWindows {
    const n = app.samples;
    if (n === app.computedSamples) return app.windows;
    if (!force && n >= 100 && now - app.computedAt < this.binMs) return app.windows;
    app.computedSamples = n;
    app.computedAt = now;
    app.windows = this.#compute(app);
    return app.windows;
  }

  #compute(app: AppHistogram): HybridWindows {
    const n = app.samples;
    if (n < this.minSamples) return this.#fallback;
    if (app.outOfBounds / n > this.oobThreshold && !Number.isNaN(app.level)) {
      const predicted = Math.exp(app.level);
      return { mode: 'time-series', prewarmMs: 0.85 * predicted, keepAliveMs: 0.85 * predicted + 2 * 0.15 * predicted };
    }
    if (app.inRange < this.minSamples || this.#cv(app) < this.cvThreshold) return this.#fallback;
    const head = this.#percentileBin(app, this.headPercentile);
    const tail = this.#percentileBin(app, this.tailPercentile);
    return {
      mode: 'histogram',
      prewarmMs: head * this.binMs * (1 - this.headMargin),
      keepAliveMs: Math.min(this.rangeMs, (tail + 1) * this.binMs) * (1 + this.tailMargin),
    };
  }

  /** The first bin whose cumulative count reaches p % of the in-range idle times. */
  #percentileBin(app: AppHistogram, p: number): number {
    const target = (p / 100) * app.inRange;
    let cumulative = 0;
    for (let b = 0; b < app.bins.length; b++) {
      cumulative += app.bins[b]!;
      if (cumulative >= target && cumulative > 0) return b;
    }
    return app.bins.length - 1;
  }

  #cv(app: AppHistogram): number {
    if (this.cvReading === 'idle-times') {
      if (app.inRange < 2 || app.mean === 0) return app.inRange > 0 ? 0 : NaN;
      return Math.sqrt(app.m2 / app.inRange) / app.mean;
    }
    const bins = app.bins;
    const k = bins.length;
    const mean = app.inRange / k;
    if (mean === 0) return NaN;
    let ss = 0;
    for (let b = 0; b < k; b++) ss += (bins[b]! - mean) ** 2;
    const variance = ss / k;
    return this.cvReading === 'bin-counts' ? Math.sqrt(variance) / mean : variance / mean;
  }
}

function check(value: number, ok: (v: number) => boolean, option: string, expected: string): number {
  if (!ok(value)) throw invalidOption(`--${option}`, `expected ${expected}, got ${value}`);
  return value;
}
