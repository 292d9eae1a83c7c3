// Time for the platform: the wall clock in production, a manual one in tests (advanced explicitly,
// so tests of keep-alive, pausing and scale-to-zero wait for no real time).

import type { Clock } from '../../core/clock.ts';

export interface Timer {
  cancel(): void;
}

export interface Scheduler extends Clock {
  /** Runs `callback` once the clock reaches `atMs` (or soon after). */
  at(atMs: number, callback: () => void): Timer;
}

/**
 * The wall clock, optionally running `timeScale` times faster (thaw replay: at 60, a keep-alive
 * window of 10 minutes lasts 10 real seconds, as a trace minute replays in one second).
 */
export class WallScheduler implements Scheduler {
  readonly #origin = performance.now();
  constructor(readonly timeScale = 1) {
    if (!(timeScale > 0)) throw new RangeError(`time scale must be > 0, got ${timeScale}`);
  }
  now(): number {
    return (performance.now() - this.#origin) * this.timeScale;
  }
  at(atMs: number, callback: () => void): Timer {
    const handle = setTimeout(callback, Math.max(0, (atMs - this.now()) / this.timeScale));
    handle.unref();
    return { cancel: () => clearTimeout(handle) };
  }
}

/** A clock that moves only when told to; due callbacks run in time order as it advances. */
export class ManualScheduler implements Scheduler {
  #now = 0;
  #seq = 0;
  readonly #timers = new Map<number, { at: number; callback: () => void }>();

  now(): number {
    return this.#now;
  }

  at(atMs: number, callback: () => void): Timer {
    const id = this.#seq++;
    this.#timers.set(id, { at: atMs, callback });
    return { cancel: () => this.#timers.delete(id) };
  }

  /** Moves the clock forward by `ms`, running every timer that falls due, in order. */
  advance(ms: number): void {
    const target = this.#now + ms;
    for (;;) {
      let nextId = -1;
      let next: { at: number; callback: () => void } | undefined;
      for (const [id, timer] of this.#timers) {
        if (timer.at <= target && (!next || timer.at < next.at || (timer.at === next.at && id < nextId))) {
          next = timer;
          nextId = id;
        }
      }
      if (!next) break;
      this.#timers.delete(nextId);
      this.#now = Math.max(this.#now, next.at);
      next.callback();
    }
    this.#now = target;
  }
}
