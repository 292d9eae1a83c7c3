// The async queue. enqueue() persists the job — payload included — and its invocation record in one
// committed transaction, so the gateway can answer 202 only after the work is durable. Workers
// claim() jobs atomically (pending → running, attempts + 1), then complete() or fail() them; a failed
// attempt goes back to pending until it has used `maxAttempts`, then stays failed with the last
// error. After a crash, recoverRunning() returns the jobs that were running to pending.
//
// A succeeded job's payload is dropped (set to null) to keep the database small; a failed job keeps
// its payload: it is a dead letter (with the reason), which redrive() puts back in the queue. The
// semantics every async queue shares (idempotency, event age, back-off) are in async-queue.ts;
// SqliteAsyncQueue (sqlite-async-queue.ts) puts this repository behind that interface.

import { createHash } from 'node:crypto';
import { ThawError } from '../../core/errors.ts';
import { deadLetterReason, type DeadLetterReason, type Enqueued } from './async-queue.ts';
import type { StoreContext } from './context.ts';
import type { InvocationOutcome, InvocationRepository } from './invocations.ts';
import { toError } from './invocations.ts';
import type { InvocationError, JobStatus, QueueJob } from './types.ts';

export const DEFAULT_MAX_ATTEMPTS = 3;

export interface EnqueueOptions {
  functionName: string;
  /** Defaults to the function's latest version now: a job runs the code that was live when it was accepted. */
  version?: number;
  payload: unknown;
  mode?: 'async' | 'timer';
  /** Attempts in all, the first included. Default 3 (a first try and two retries). */
  maxAttempts?: number;
  /** Not claimable before this time (epoch ms); default now. */
  availableAt?: number;
  /** Defaults to a fresh time-sortable id. */
  id?: string;
  idempotencyKey?: string;
  traceparent?: string;
  /** Dead-lettered ('expired') if not claimed by then, epoch ms; default never. */
  expiresAt?: number;
}

export interface FailOptions {
  /** Delay before a retry may be claimed, ms (default 0). */
  retryDelayMs?: number;
  /** The failure is final whatever attempts are left (the function's own error): dead letter 'not-retryable'. */
  final?: boolean;
  /** Timings, logs, start kind of the failed attempt, for its invocation record. */
  outcome?: Omit<InvocationOutcome, 'status' | 'error'>;
}

export interface RecoveryReport {
  /** Jobs put back to pending. */
  requeued: number;
  /** Jobs that had used their last attempt when thaw stopped, now failed. */
  failed: number;
}

interface JobRow {
  id: string;
  function_name: string;
  version: number;
  mode: string;
  payload_json: string;
  status: string;
  attempts: number;
  max_attempts: number;
  enqueued_at: number;
  available_at: number;
  claimed_at: number | null;
  finished_at: number | null;
  error_kind: string | null;
  error_message: string | null;
  idempotency_key: string | null;
  payload_sha256: string | null;
  traceparent: string | null;
  expires_at: number | null;
  dead_reason: string | null;
  redrives: number;
}

export class QueueRepository {
  readonly #ctx: StoreContext;
  readonly #invocations: InvocationRepository;

  constructor(ctx: StoreContext, invocations: InvocationRepository) {
    this.#ctx = ctx;
    this.#invocations = invocations;
  }

  /** Persists a job and its invocation record (status queued). Returns once committed. */
  enqueue(options: EnqueueOptions): QueueJob {
    const { db, now, limits } = this.#ctx;
    const mode = options.mode ?? 'async';
    if (mode !== 'async' && mode !== 'timer') throw new ThawError('ERR_INVALID_OPTION', `queue mode must be 'async' or 'timer', got ${String(mode)}`);
    const maxAttempts = options.maxAttempts ?? DEFAULT_MAX_ATTEMPTS;
    if (!Number.isInteger(maxAttempts) || maxAttempts < 1) throw new ThawError('ERR_INVALID_OPTION', `maxAttempts must be an integer ≥ 1, got ${maxAttempts}`);
    const payloadJson = JSON.stringify(options.payload ?? null);
    const bytes = Buffer.byteLength(payloadJson);
    if (bytes > limits.payloadBytes) {
      throw new ThawError('ERR_PAYLOAD_TOO_LARGE', `payload is ${bytes} bytes of JSON; the async limit is ${limits.payloadBytes}`);
    }
    return db
      .transaction(() => {
        const record = this.#invocations.create({
          id: options.id,
          functionName: options.functionName,
          version: options.version,
          mode,
          status: 'queued',
        });
        const t = now();
        db.prepare(
          `INSERT INTO queue_jobs (id, function_name, version, mode, payload_json, status, attempts, max_attempts, enqueued_at, available_at,
                                   idempotency_key, payload_sha256, traceparent, expires_at)
           VALUES (?, ?, ?, ?, ?, 'pending', 0, ?, ?, ?, ?, ?, ?, ?)`,
        ).run(
          record.id, record.functionName, record.version, mode, payloadJson, maxAttempts, t, options.availableAt ?? t,
          options.idempotencyKey ?? null, options.idempotencyKey === undefined ? null : sha256(payloadJson), options.traceparent ?? null,
          options.expiresAt ?? null,
        );
        return this.get(record.id)!;
      })
      .immediate();
  }

  /**
   * enqueue(), unless `options.idempotencyKey` was used for the same function within `windowMs`:
   * then the first job, and nothing enqueued. The same key with another payload is ERR_CONFLICT.
   */
  enqueueOnce(options: EnqueueOptions & { idempotencyKey: string }, windowMs: number): Enqueued {
    const { db, now } = this.#ctx;
    return db
      .transaction(() => {
        const row = db
          .prepare(
            `SELECT * FROM queue_jobs WHERE function_name = ? AND idempotency_key = ? AND enqueued_at > ? ORDER BY enqueued_at DESC LIMIT 1`,
          )
          .get(options.functionName, options.idempotencyKey, now() - windowMs) as JobRow | undefined;
        if (!row) return { job: this.enqueue(options), duplicate: false };
        if (row.payload_sha256 !== sha256(JSON.stringify(options.payload ?? null))) {
          throw new ThawError('ERR_CONFLICT', `Idempotency-Key '${options.idempotencyKey}' was used for invocation ${row.id} of ${options.functionName} with another payload`);
        }
        return { job: toJob(row), duplicate: true };
      })
      .immediate();
  }

  /**
   * Takes the oldest claimable job (of one function, if given): pending → running, attempts + 1,
   * atomically, so two workers never get the same job. Undefined when there is none.
   */
  claim(options: { functionName?: string } = {}): QueueJob | undefined {
    const { db, now } = this.#ctx;
    return db
      .transaction(() => {
        const t = now();
        this.#expire(t);
        const row = db
          .prepare(
            `UPDATE queue_jobs SET status = 'running', attempts = attempts + 1, claimed_at = ?
             WHERE id = (SELECT id FROM queue_jobs WHERE status = 'pending' AND available_at <= ? AND (? IS NULL OR function_name = ?)
                         ORDER BY available_at, id LIMIT 1)
             RETURNING *`,
          )
          .get(t, t, options.functionName ?? null, options.functionName ?? null) as JobRow | undefined;
        if (!row) return undefined;
        this.#invocations.markRunning(row.id, { attempts: row.attempts, startedAt: t });
        return toJob(row);
      })
      .immediate();
  }

  /** When the next pending job becomes claimable (epoch ms), or undefined when none is pending. */
  nextAvailableAt(): number | undefined {
    const row = this.#ctx.db.prepare(`SELECT MIN(available_at) AS t FROM queue_jobs WHERE status = 'pending'`).get() as { t: number | null };
    return row.t ?? undefined;
  }

  /** The running job succeeded; `outcome` fills its invocation record. */
  complete(id: string, outcome: Omit<InvocationOutcome, 'status'> = {}): void {
    const { db, now } = this.#ctx;
    db.transaction(() => {
      this.#requireRunning(id);
      const t = outcome.finishedAt ?? now();
      db.prepare(`UPDATE queue_jobs SET status = 'succeeded', finished_at = ?, payload_json = 'null' WHERE id = ?`).run(t, id);
      this.#invocations.finish(id, { ...outcome, status: 'succeeded', finishedAt: t });
    }).immediate();
  }

  /**
   * The running job's attempt failed. Back to pending (after `retryDelayMs`) while it has attempts
   * left and the retry comes before it expires, else a dead letter with this error: failed for good,
   * payload kept. Returns the job as it now is.
   */
  fail(id: string, error: InvocationError, options: FailOptions = {}): QueueJob {
    const { db, now } = this.#ctx;
    return db
      .transaction(() => {
        const job = this.#requireRunning(id);
        const t = options.outcome?.finishedAt ?? now();
        const delay = options.retryDelayMs ?? 0;
        if (!(delay >= 0)) throw new ThawError('ERR_INVALID_OPTION', `retryDelayMs must be ≥ 0, got ${delay}`);
        const dead = deadLetterReason(job, options.final === true, t, delay);
        if (dead === undefined) {
          db.prepare(
            `UPDATE queue_jobs SET status = 'pending', available_at = ?, claimed_at = NULL, error_kind = ?, error_message = ? WHERE id = ?`,
          ).run(t + delay, error.kind, error.message, id);
          db.prepare(`UPDATE invocations SET status = 'queued', error_kind = ?, error_message = ? WHERE id = ?`).run(error.kind, error.message, id);
        } else {
          this.#deadLetter(id, dead, error, t);
          this.#invocations.finish(id, { ...options.outcome, status: 'failed', error, finishedAt: t });
        }
        return this.get(id)!;
      })
      .immediate();
  }

  /** Dead letters (failed jobs, payload kept), newest first. */
  deadLetters(options: { functionName?: string; limit?: number } = {}): QueueJob[] {
    const rows = this.#ctx.db
      .prepare(`SELECT * FROM queue_jobs WHERE status = 'failed' AND (? IS NULL OR function_name = ?) ORDER BY finished_at DESC, id DESC LIMIT ?`)
      .all(options.functionName ?? null, options.functionName ?? null, options.limit ?? 100) as JobRow[];
    return rows.map(toJob);
  }

  /**
   * Puts dead letters back in the queue as fresh jobs: same id and payload, attempts from zero, event
   * age from now (`expiresAt`), their invocation records queued again. All or nothing: an id that is
   * unknown or not a dead letter changes nothing.
   */
  redrive(ids: readonly string[], options: { expiresAt?: number } = {}): QueueJob[] {
    const { db, now } = this.#ctx;
    return db
      .transaction(() => {
        const t = now();
        return ids.map((id) => {
          const job = this.get(id);
          if (!job) throw new ThawError('ERR_NOT_FOUND', `no queued job with id '${id}'`);
          if (job.status !== 'failed') throw new ThawError('ERR_INVALID_STATE', `job ${id} is ${job.status}, not a dead letter`);
          db.prepare(
            `UPDATE queue_jobs SET status = 'pending', attempts = 0, available_at = ?, claimed_at = NULL, finished_at = NULL,
               expires_at = ?, dead_reason = NULL, redrives = redrives + 1 WHERE id = ?`,
          ).run(t, options.expiresAt ?? null, id);
          this.#invocations.requeue(id);
          return this.get(id)!;
        });
      })
      .immediate();
  }

  /** The ids of the dead letters (of one function, if given), oldest first. */
  deadLetterIds(functionName?: string): string[] {
    return this.#ctx.db
      .prepare(`SELECT id FROM queue_jobs WHERE status = 'failed' AND (? IS NULL OR function_name = ?) ORDER BY finished_at, id`)
      .pluck()
      .all(functionName ?? null, functionName ?? null) as string[];
  }

  /** Pending jobs past their event age become dead letters ('expired') without running. */
  #expire(t: number): void {
    const { db } = this.#ctx;
    const ids = db.prepare(`SELECT id FROM queue_jobs WHERE status = 'pending' AND expires_at IS NOT NULL AND expires_at <= ?`).pluck().all(t) as string[];
    for (const id of ids) {
      const job = this.get(id)!;
      const error = { kind: 'expired' as const, message: `not run within its maximum event age (accepted ${new Date(job.enqueuedAt).toISOString()}, ${job.attempts} attempts)` };
      this.#deadLetter(id, 'expired', error, t);
      this.#invocations.finish(id, { status: 'failed', error, finishedAt: t });
    }
  }

  #deadLetter(id: string, reason: DeadLetterReason, error: InvocationError, t: number): void {
    this.#ctx.db
      .prepare(`UPDATE queue_jobs SET status = 'failed', finished_at = ?, error_kind = ?, error_message = ?, dead_reason = ? WHERE id = ?`)
      .run(t, error.kind, error.message, reason, id);
  }

  /**
   * On startup: jobs left running by a thaw that died go back to pending (their attempt counts as
   * used), or to failed if that was their last attempt — so a job that kills thaw cannot loop forever.
   */
  recoverRunning(): RecoveryReport {
    const { db, now } = this.#ctx;
    return db
      .transaction(() => {
        const t = now();
        const error = { kind: 'platform' as const, message: 'thaw stopped while this attempt ran' };
        const failedIds = db.prepare(`SELECT id FROM queue_jobs WHERE status = 'running' AND attempts >= max_attempts`).pluck().all() as string[];
        for (const id of failedIds) {
          this.#deadLetter(id, 'retries-exhausted', error, t);
          this.#invocations.finish(id, { status: 'failed', error, finishedAt: t });
        }
        db.prepare(
          `UPDATE invocations SET status = 'queued', error_kind = ?, error_message = ?
           WHERE id IN (SELECT id FROM queue_jobs WHERE status = 'running')`,
        ).run(error.kind, error.message);
        const requeued = db
          .prepare(
            `UPDATE queue_jobs SET status = 'pending', claimed_at = NULL, available_at = ?, error_kind = ?, error_message = ?
             WHERE status = 'running'`,
          )
          .run(t, error.kind, error.message).changes;
        return { requeued, failed: failedIds.length };
      })
      .immediate();
  }

  get(id: string): QueueJob | undefined {
    const row = this.#ctx.db.prepare('SELECT * FROM queue_jobs WHERE id = ?').get(id) as JobRow | undefined;
    return row && toJob(row);
  }

  /** Jobs by status (and function), oldest first. */
  list(options: { status?: JobStatus; functionName?: string; limit?: number } = {}): QueueJob[] {
    const rows = this.#ctx.db
      .prepare(
        `SELECT * FROM queue_jobs WHERE (? IS NULL OR status = ?) AND (? IS NULL OR function_name = ?) ORDER BY available_at, id LIMIT ?`,
      )
      .all(options.status ?? null, options.status ?? null, options.functionName ?? null, options.functionName ?? null, options.limit ?? 100) as JobRow[];
    return rows.map(toJob);
  }

  /** How many jobs are in each status (of one function, if given). */
  counts(functionName?: string): Record<JobStatus, number> {
    const rows = this.#ctx.db
      .prepare('SELECT status, COUNT(*) AS n FROM queue_jobs WHERE (? IS NULL OR function_name = ?) GROUP BY status')
      .all(functionName ?? null, functionName ?? null) as { status: JobStatus; n: number }[];
    const out: Record<JobStatus, number> = { pending: 0, running: 0, succeeded: 0, failed: 0 };
    for (const r of rows) out[r.status] = r.n;
    return out;
  }

  #requireRunning(id: string): QueueJob {
    const job = this.get(id);
    if (!job) throw new ThawError('ERR_NOT_FOUND', `no queued job with id '${id}'`);
    if (job.status !== 'running') throw new ThawError('ERR_INVALID_STATE', `job ${id} is ${job.status}, not running`);
    return job;
  }
}

function toJob(r: JobRow): QueueJob {
  return {
    id: r.id,
    functionName: r.function_name,
    version: r.version,
    mode: r.mode as QueueJob['mode'],
    payload: JSON.parse(r.payload_json),
    status: r.status as JobStatus,
    attempts: r.attempts,
    maxAttempts: r.max_attempts,
    enqueuedAt: r.enqueued_at,
    availableAt: r.available_at,
    claimedAt: r.claimed_at,
    finishedAt: r.finished_at,
    lastError: toError(r.error_kind, r.error_message),
    idempotencyKey: r.idempotency_key,
    traceparent: r.traceparent,
    expiresAt: r.expires_at,
    deadReason: r.status === 'failed' ? ((r.dead_reason as DeadLetterReason | null) ?? 'retries-exhausted') : null,
    redrives: r.redrives,
  };
}

function sha256(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}
