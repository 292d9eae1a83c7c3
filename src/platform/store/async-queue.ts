// The async invocation queue as the platform sees it, whatever keeps it: SQLite on one node
// (SqliteAsyncQueue), NATS JetStream in cluster mode. One interface, one set of semantics, one
// conformance suite (test/platform/store/async-queue.conformance.ts) run against every
// implementation:
//
// - enqueue() returns once the invocation is durable. With an Idempotency-Key already used for the
//   same function within the idempotency window it returns that first invocation instead
//   (`duplicate: true`) and enqueues nothing; the same key with a different payload is a conflict.
// - claim() hands each claimable job to one worker (pending → running, attempts + 1). A job whose
//   event age is over the maximum is never run: it becomes a dead letter ('expired').
// - fail() after an attempt: a retryable failure goes back to pending after a back-off that doubles
//   per attempt (retryDelayMs), unless the attempts are used up or the retry would come after the
//   job expires; then — or at once when the failure is not retryable — the job is a dead letter.
// - Dead letters keep their payload; redrive() puts them back as fresh jobs (attempts and event age
//   start again, same invocation id), so `GET /invocations/:id` follows the redriven run.

import { ThawError } from '../../core/errors.ts';
import type { InvocationOutcome } from './invocations.ts';
import type { DeadLetterReason, InvocationError, JobStatus, QueueJob } from './types.ts';

export interface AsyncPolicy {
  /** Attempts in all, the first included. */
  maxAttempts: number;
  /** Back-off before the first retry, ms; doubled for each further retry. */
  retryBaseMs: number;
  /** Longest back-off, ms. */
  retryMaxMs: number;
  /** An event not run within this long of being accepted (or redriven) is dead-lettered, ms. */
  maxEventAgeMs: number;
  /** How long an Idempotency-Key is remembered per function, ms. */
  idempotencyWindowMs: number;
}

/** As AWS Lambda's asynchronous invocation: two retries, events kept up to six hours. */
export const DEFAULT_ASYNC_POLICY: AsyncPolicy = {
  maxAttempts: 3,
  retryBaseMs: 1000,
  retryMaxMs: 5 * 60_000,
  maxEventAgeMs: 6 * 3600_000,
  idempotencyWindowMs: 24 * 3600_000,
};

export { DEAD_LETTER_REASONS, type DeadLetterReason } from './types.ts';

export interface AsyncRequest {
  functionName: string;
  version: number;
  payload: unknown;
  mode?: 'async' | 'timer';
  /** Client-chosen key (header Idempotency-Key): at most one invocation per key and function within the window. */
  idempotencyKey?: string;
  /** W3C trace context of the request that enqueued it, so the run joins the caller's trace. */
  traceparent?: string;
}

export interface Enqueued {
  job: QueueJob;
  /** True when the idempotency key had been used: `job` is the first invocation, nothing was enqueued. */
  duplicate: boolean;
}

export interface FailAttempt {
  /** Whether another attempt may succeed (an instance crash, a timeout) or not (the function's own error). */
  retryable: boolean;
  /** Timings, logs, start kind of the failed attempt, for its invocation record. */
  outcome?: Omit<InvocationOutcome, 'status' | 'error'>;
}

export type RedriveTarget = { id: string } | { all: true; functionName?: string };

export interface AsyncQueue {
  readonly policy: AsyncPolicy;
  enqueue(request: AsyncRequest): Promise<Enqueued>;
  /** The oldest claimable job, now running; undefined when none is claimable. */
  claim(): Promise<QueueJob | undefined>;
  /** When the next pending job becomes claimable (epoch ms), undefined when none is pending. */
  nextAvailableAt(): Promise<number | undefined>;
  /** The running job succeeded (or failed for good in a way that is not a dead letter: never). */
  complete(id: string, outcome?: Omit<InvocationOutcome, 'status'>): Promise<void>;
  /** The running job's attempt failed: retried or dead-lettered, as the policy says. Returns the job as it now is. */
  fail(id: string, error: InvocationError, attempt: FailAttempt): Promise<QueueJob>;
  get(id: string): Promise<QueueJob | undefined>;
  /** Dead letters, newest first. */
  deadLetters(filter?: { functionName?: string; limit?: number }): Promise<QueueJob[]>;
  /** Puts dead letters back in the queue; returns them as they now are (pending). */
  redrive(target: RedriveTarget): Promise<QueueJob[]>;
  counts(functionName?: string): Promise<Record<JobStatus, number>>;
  /**
   * A queue shared by several nodes calls `listener` when work may have appeared that this node's
   * worker was not told of (another node's enqueue, a redelivery). Optional: one node's queue needs none.
   */
  onAvailable?(listener: () => void): void;
}

/**
 * Why a failed attempt ends its job, or undefined while it may run again: `final` (the error is not
 * retryable), no attempts left, or the next try (at `t + delayMs`) would start after the job expires.
 */
export function deadLetterReason(job: Pick<QueueJob, 'attempts' | 'maxAttempts' | 'expiresAt'>, final: boolean, t: number, delayMs: number): DeadLetterReason | undefined {
  if (final) return 'not-retryable';
  if (job.attempts >= job.maxAttempts) return 'retries-exhausted';
  if (job.expiresAt !== null && t + delayMs >= job.expiresAt) return 'expired';
  return undefined;
}

/** Back-off before attempt `attempt + 1`, after `attempt` attempts failed (attempt ≥ 1). */
export function retryDelayMs(policy: AsyncPolicy, attempt: number): number {
  return Math.min(policy.retryMaxMs, policy.retryBaseMs * 2 ** Math.max(0, attempt - 1));
}

/** Checks a policy's numbers, naming the one that is wrong. */
export function validateAsyncPolicy(policy: AsyncPolicy): AsyncPolicy {
  const check = (name: keyof AsyncPolicy, ok: (n: number) => boolean, what: string) => {
    if (!ok(policy[name])) throw new ThawError('ERR_INVALID_OPTION', `async policy ${name} must be ${what}, got ${String(policy[name])}`);
  };
  check('maxAttempts', (n) => Number.isInteger(n) && n >= 1, 'an integer ≥ 1');
  check('retryBaseMs', (n) => n >= 0 && Number.isFinite(n), 'a number of ms ≥ 0');
  check('retryMaxMs', (n) => n >= policy.retryBaseMs && Number.isFinite(n), 'a number of ms ≥ retryBaseMs');
  check('maxEventAgeMs', (n) => n > 0, 'a number of ms > 0 (Infinity: no limit)');
  check('idempotencyWindowMs', (n) => n > 0, 'a number of ms > 0');
  return policy;
}

const IDEMPOTENCY_KEY = /^[\x21-\x7e]{1,255}$/;

/** An Idempotency-Key is 1–255 visible ASCII characters (no spaces). */
export function validateIdempotencyKey(key: string): string {
  if (!IDEMPOTENCY_KEY.test(key)) throw new ThawError('ERR_INVALID_OPTION', `Idempotency-Key must be 1 to 255 visible ASCII characters without spaces, got '${key.slice(0, 40)}${key.length > 40 ? '…' : ''}'`);
  return key;
}
