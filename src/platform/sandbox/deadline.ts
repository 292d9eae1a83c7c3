// The deadline of a sandbox's current invocation: one timer per sandbox, re-armed for each
// invocation (Timeout.refresh), instead of a timer, a promise and a race built per invocation on
// the warm path. What has to happen when it passes changes as the invocation goes on (kill the
// runtime while the function runs; stop waiting for the logs once the result is in), so it holds
// one callback at a time.

export class InvocationDeadline {
  #timer: NodeJS.Timeout | undefined;
  #ms = 0;
  #onPassed: (() => void) | undefined;
  #passed = false;

  /** A new deadline `ms` from now: `onPassed` runs then, unless replaced (whenPassed) or disarmed first. */
  arm(ms: number, onPassed: () => void): void {
    this.#passed = false;
    this.#onPassed = onPassed;
    if (this.#timer !== undefined && this.#ms === ms) {
      // The same limit as last time (a function's timeout): the timer is rescheduled, not rebuilt.
      this.#timer.ref();
      this.#timer.refresh();
      return;
    }
    clearTimeout(this.#timer);
    this.#ms = ms;
    this.#timer = setTimeout(() => this.#fire(), ms);
  }

  /** What to do when the deadline passes, from now on; runs at once if it already has. */
  whenPassed(onPassed: () => void): void {
    if (this.#passed) {
      onPassed();
      return;
    }
    this.#onPassed = onPassed;
  }

  /**
   * The invocation is over: nothing happens when the timer fires. It stays scheduled, unreferenced
   * (it keeps no process alive), to be rescheduled by the next arm().
   */
  disarm(): void {
    this.#onPassed = undefined;
    this.#timer?.unref();
  }

  /** No invocation will come again (the sandbox is gone). */
  close(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#onPassed = undefined;
  }

  #fire(): void {
    const onPassed = this.#onPassed;
    this.#onPassed = undefined;
    this.#passed = onPassed !== undefined;
    onPassed?.();
  }
}
