// The async queue of a single node: the store's SQLite queue (queue.ts) behind the AsyncQueue
// interface, with the policy every implementation shares (async-queue.ts). Every call has committed
// when its promise resolves.

import { ThawError } from '../../core/errors.ts';
import {
  retryDelayMs, validateAsyncPolicy, validateIdempotencyKey,
  type AsyncPolicy, type AsyncQueue, type AsyncRequest, type Enqueued, type FailAttempt, type RedriveTarget,
} from './async-queue.ts';
import type { InvocationOutcome } from './invocations.ts';
import type { Store } from './store.ts';
import type { InvocationError, JobStatus, QueueJob } from './types.ts';

export class SqliteAsyncQueue implements AsyncQueue {
  readonly policy: AsyncPolicy;
  readonly #store: Store;

  constructor(store: Store, policy: AsyncPolicy) {
    this.#store = store;
    this.policy = validateAsyncPolicy(policy);
  }

  async enqueue(request: AsyncRequest): Promise<Enqueued> {
    const { queue } = this.#store;
    const options = {
      functionName: request.functionName,
      version: request.version,
      payload: request.payload,
      mode: request.mode,
      maxAttempts: this.policy.maxAttempts,
      traceparent: request.traceparent,
      expiresAt: this.#expiresAt(),
    };
    if (request.idempotencyKey === undefined) return { job: queue.enqueue(options), duplicate: false };
    return queue.enqueueOnce({ ...options, idempotencyKey: validateIdempotencyKey(request.idempotencyKey) }, this.policy.idempotencyWindowMs);
  }

  async claim(): Promise<QueueJob | undefined> {
    return this.#store.queue.claim();
  }

  async nextAvailableAt(): Promise<number | undefined> {
    return this.#store.queue.nextAvailableAt();
  }

  async complete(id: string, outcome: Omit<InvocationOutcome, 'status'> = {}): Promise<void> {
    this.#store.queue.complete(id, outcome);
  }

  async fail(id: string, error: InvocationError, attempt: FailAttempt): Promise<QueueJob> {
    const job = this.#store.queue.get(id);
    if (!job) throw new ThawError('ERR_NOT_FOUND', `no queued job with id '${id}'`);
    return this.#store.queue.fail(id, error, { final: !attempt.retryable, retryDelayMs: retryDelayMs(this.policy, job.attempts), outcome: attempt.outcome });
  }

  async get(id: string): Promise<QueueJob | undefined> {
    return this.#store.queue.get(id);
  }

  async deadLetters(filter: { functionName?: string; limit?: number } = {}): Promise<QueueJob[]> {
    return this.#store.queue.deadLetters(filter);
  }

  async redrive(target: RedriveTarget): Promise<QueueJob[]> {
    const { queue } = this.#store;
    const ids = 'id' in target ? [target.id] : queue.deadLetterIds(target.functionName);
    return queue.redrive(ids, { expiresAt: this.#expiresAt() });
  }

  async counts(functionName?: string): Promise<Record<JobStatus, number>> {
    return this.#store.queue.counts(functionName);
  }

  #expiresAt(): number | undefined {
    return Number.isFinite(this.policy.maxEventAgeMs) ? this.#store.now() + this.policy.maxEventAgeMs : undefined;
  }
}
