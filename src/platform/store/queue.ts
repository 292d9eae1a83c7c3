// The async queue. enqueue() persists the job — payload included — and its invocation record in one
// committed transaction, so the gateway can answer 202 only after the work is durable. Workers
// claim() jobs atomically (pending → running, attempts + 1), then complete() or fail() them; a failed
// attempt goes back to pending until it has used `maxAttempts`, then stays failed with the last
// error. After a crash, recoverRunning() returns the jobs that were running to pending.
//
// A succeeded job's payload is dropped (set to null) to keep the database small; a failed job keeps
// its payload, as a dead letter that can be inspected or replayed.

import { ThawError } from '../../core/errors.ts';
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
}

export interface FailOptions {
  /** Delay before a retry may be claimed, ms (default 0). */
  retryDelayMs?: number;
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
          `INSERT INTO queue_jobs (id, function_name, version, mode, payload_json, status, attempts, max_attempts, enqueued_at, available_at)
           VALUES (?, ?, ?, ?, ?, 'pending', 0, ?, ?, ?)`,
        ).run(record.id, record.functionName, record.version, mode, payloadJson, maxAttempts, t, options.availableAt ?? t);
        return this.get(record.id)!;
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
   * left, else failed for good with this error. Returns the job as it now is.
   */
  fail(id: string, error: InvocationError, options: FailOptions = {}): QueueJob {
    const { db, now } = this.#ctx;
    return db
      .transaction(() => {
        const job = this.#requireRunning(id);
        const t = options.outcome?.finishedAt ?? now();
        if (job.attempts < job.maxAttempts) {
          const delay = options.retryDelayMs ?? 0;
          if (!(delay >= 0)) throw new ThawError('ERR_INVALID_OPTION', `retryDelayMs must be ≥ 0, got ${delay}`);
          db.prepare(
            `UPDATE queue_jobs SET status = 'pending', available_at = ?, claimed_at = NULL, error_kind = ?, error_message = ? WHERE id = ?`,
          ).run(t + delay, error.kind, error.message, id);
          db.prepare(`UPDATE invocations SET status = 'queued', error_kind = ?, error_message = ? WHERE id = ?`).run(error.kind, error.message, id);
        } else {
          db.prepare(
            `UPDATE queue_jobs SET status = 'failed', finished_at = ?, error_kind = ?, error_message = ? WHERE id = ?`,
          ).run(t, error.kind, error.message, id);
          this.#invocations.finish(id, { ...options.outcome, status: 'failed', error, finishedAt: t });
        }
        return this.get(id)!;
      })
      .immediate();
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
          db.prepare(`UPDATE queue_jobs SET status = 'failed', finished_at = ?, error_kind = ?, error_message = ? WHERE id = ?`).run(t, error.kind, error.message, id);
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
  };
}
