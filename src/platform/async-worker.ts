// Runs queued async invocations: claims jobs from an AsyncQueue up to a concurrency, runs each on
// the invoker, and reports the attempt back — success completes it; a failure is retried by the
// queue's policy (back-off, maximum event age) or dead-lettered. The same worker serves any
// AsyncQueue (SQLite on one node, JetStream in a cluster), so retries mean the same everywhere.

import type { AsyncQueue } from './store/async-queue.ts';
import type { InvocationOutcome, QueueJob } from './store/index.ts';

/** One attempt of a job: its outcome, or undefined when the job cannot run at all (its version is gone). */
export type RunJob = (job: QueueJob) => Promise<InvocationOutcome | { gone: string }>;

export interface AsyncWorkerOptions {
  concurrency: number;
  /** A job's record changed (finished, or back in the queue for a retry). */
  onSettled?: (job: QueueJob) => void;
  onWarning?: (message: string) => void;
}

export class AsyncWorker {
  readonly #queue: AsyncQueue;
  readonly #run: RunJob;
  readonly #options: AsyncWorkerOptions;
  #inFlight = 0;
  #claiming = false;
  #again = false;
  #timer: { at: number; handle: NodeJS.Timeout } | undefined;
  #closed = false;

  constructor(queue: AsyncQueue, run: RunJob, options: AsyncWorkerOptions) {
    this.#queue = queue;
    this.#run = run;
    this.#options = options;
    queue.onAvailable?.(() => this.wake());
  }

  /** Something may be claimable now (a job was enqueued or redriven): claim what the concurrency allows. */
  wake(): void {
    if (this.#closed) return;
    if (this.#claiming) {
      this.#again = true;
      return;
    }
    this.#claiming = true;
    void this.#claimAll().finally(() => {
      this.#claiming = false;
      if (this.#again) {
        this.#again = false;
        this.wake();
      }
    });
  }

  close(): void {
    this.#closed = true;
    if (this.#timer) clearTimeout(this.#timer.handle);
    this.#timer = undefined;
  }

  async #claimAll(): Promise<void> {
    try {
      while (!this.#closed && this.#inFlight < this.#options.concurrency) {
        const job = await this.#queue.claim();
        if (!job || this.#closed) break;
        this.#inFlight++;
        void this.#attempt(job).finally(() => {
          this.#inFlight--;
          this.wake();
        });
      }
      if (!this.#closed) await this.#wakeAtNextRetry();
    } catch (error) {
      if (!this.#closed) this.#options.onWarning?.(`async queue: ${(error as Error).message}`);
    }
  }

  /** Jobs waiting out a back-off become claimable later: wake then. */
  async #wakeAtNextRetry(): Promise<void> {
    const at = await this.#queue.nextAvailableAt();
    if (at === undefined || this.#closed || (this.#timer && this.#timer.at <= at)) return;
    if (this.#timer) clearTimeout(this.#timer.handle);
    const handle = setTimeout(() => {
      this.#timer = undefined;
      this.wake();
    }, Math.max(0, at - Date.now()));
    handle.unref();
    this.#timer = { at, handle };
  }

  async #attempt(job: QueueJob): Promise<void> {
    let settled: QueueJob | undefined;
    try {
      const outcome = await this.#run(job);
      if (this.#closed) return;
      if ('gone' in outcome) {
        settled = await this.#queue.fail(job.id, { kind: 'platform', message: outcome.gone }, { retryable: false });
      } else if (outcome.status === 'succeeded') {
        const { status: _, ...rest } = outcome;
        await this.#queue.complete(job.id, rest);
        settled = await this.#queue.get(job.id);
      } else {
        // Every failure may be transient (a downstream error the function threw, a crash, a timeout,
        // no memory): retried with back-off, as AWS Lambda retries asynchronous invocations.
        const { status: _, error, ...rest } = outcome;
        settled = await this.#queue.fail(job.id, error ?? { kind: 'platform', message: 'the invocation failed' }, { retryable: true, outcome: rest });
      }
    } catch (error) {
      if (this.#closed) return;
      try {
        settled = await this.#queue.fail(job.id, { kind: 'platform', message: (error as Error).message }, { retryable: true });
      } catch (failError) {
        this.#options.onWarning?.(`async invocation ${job.id}: ${(failError as Error).message}`);
      }
    }
    if (settled) this.#options.onSettled?.(settled);
  }
}
