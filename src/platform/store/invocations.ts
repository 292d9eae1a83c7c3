// Invocation records: one row per invocation (sync, async or timer), from the moment it is accepted
// to its outcome — start kind, the duration of each start phase, billing, error, result and logs.

import { ThawError } from '../../core/errors.ts';
import { billableDurationMs, billedGbSeconds, billedMs } from './billing.ts';
import type { Statement } from 'better-sqlite3';
import type { StoreContext } from './context.ts';
import { summarize, type LatencySummary } from './stats.ts';
import { keepHeadAndTail } from './text.ts';
import {
  INVOCATION_MODES, PHASES, START_KINDS,
  type InvocationError, type InvocationMode, type InvocationRecord, type InvocationStatus, type PhaseTimings, type StartKind,
} from './types.ts';

export interface NewInvocation {
  /** Defaults to a fresh time-sortable id. */
  id?: string;
  functionName: string;
  /** Defaults to the function's latest version. */
  version?: number;
  mode: InvocationMode;
  /** 'queued' for work not yet taken by an instance; 'running' (the default) otherwise. */
  status?: 'queued' | 'running';
  /** Defaults to the version's memory. */
  memoryMb?: number;
  startKind?: StartKind;
  instanceId?: string;
  createdAt?: number;
  /** Defaults to now when running. */
  startedAt?: number;
  /** Defaults to 1 when running, 0 when queued. */
  attempts?: number;
}

export interface InvocationOutcome {
  status: 'succeeded' | 'failed';
  startKind?: StartKind;
  instanceId?: string;
  timings?: Partial<PhaseTimings>;
  /** End-to-end latency; defaults to the sum of the phases. */
  totalMs?: number;
  startedAt?: number;
  /** Defaults to now. */
  finishedAt?: number;
  /** When the instance's memory changed (vertical scaling) since the invocation was created. */
  memoryMb?: number;
  /** Defaults to import + init + exec (see billing.ts). */
  billedDurationMs?: number;
  /** Any JSON-serialisable value; dropped (resultTruncated) when over the store's result limit. */
  result?: unknown;
  error?: InvocationError;
  stdout?: string;
  stderr?: string;
}

export interface LogEntry {
  id: string;
  version: number;
  status: InvocationStatus;
  createdAt: number;
  finishedAt: number | null;
  stdout: string;
  stderr: string;
  logsTruncated: boolean;
  error: InvocationError | null;
}

export interface StartKindStats {
  /** 'all' for every start kind together. */
  startKind: StartKind | 'all';
  count: number;
  succeeded: number;
  failed: number;
  billedGbSeconds: number;
  totalMs: LatencySummary;
  phases: Record<keyof PhaseTimings, LatencySummary>;
}

export interface FunctionStats {
  functionName: string;
  /** How many finished invocations the statistics cover (the newest `window`, since `since`). */
  sampled: number;
  all: StartKindStats;
  /** One entry per start kind seen, in START_KINDS order. */
  byStartKind: StartKindStats[];
}

interface InvocationRow {
  id: string;
  function_name: string;
  version: number;
  mode: string;
  status: string;
  start_kind: string | null;
  instance_id: string | null;
  queue_ms: number;
  sandbox_ms: number;
  runtime_boot_ms: number;
  import_ms: number;
  init_ms: number;
  exec_ms: number;
  platform_ms: number;
  total_ms: number | null;
  memory_mb: number;
  billed_ms: number | null;
  billed_gb_s: number | null;
  created_at: number;
  started_at: number | null;
  finished_at: number | null;
  error_kind: string | null;
  error_message: string | null;
  result_json: string | null;
  result_truncated: number;
  stdout: string;
  stderr: string;
  logs_truncated: number;
  attempts: number;
}

const PHASE_COLUMNS: Record<keyof PhaseTimings, string> = {
  queueMs: 'queue_ms',
  sandboxMs: 'sandbox_ms',
  runtimeBootMs: 'runtime_boot_ms',
  importMs: 'import_ms',
  initMs: 'init_ms',
  execMs: 'exec_ms',
  platformMs: 'platform_ms',
};

export class InvocationRepository {
  readonly #ctx: StoreContext;
  /** record()'s INSERT and the transaction writing a batch of them, made once (see #insertRows). */
  readonly #insertRow: Statement<RowValues>;
  readonly #insertBatch: (rows: RowValues[]) => void;
  /**
   * The memory of each version recorded, by `name\0version`: record() needs it for billing, and a
   * version's memory never changes and a version is never deleted (the database refuses both), so
   * it is read once instead of by a query per invocation.
   */
  readonly #versionMemory = new Map<string, number>();

  constructor(ctx: StoreContext) {
    this.#ctx = ctx;
    const insert = ctx.db.prepare<RowValues>(INSERT_ROW);
    this.#insertRow = insert;
    this.#insertBatch = ctx.db.transaction((rows: RowValues[]) => {
      for (const row of rows) insert.run(...row);
    });
  }

  /** Records an invocation that has been accepted but has no outcome yet. */
  /** A fresh time-sortable invocation id (for callers that record the invocation once it ran). */
  newId(): string {
    return this.#ctx.ids.next(this.#ctx.now());
  }

  create(init: NewInvocation): InvocationRecord {
    const id = this.#insert(init);
    return this.get(id)!;
  }

  /**
   * Records an invocation and its outcome at once (a sync invocation, after it ran). The row is
   * built here and written behind: rows recorded within RECORD_BATCH_MS of the first one kept go
   * into SQLite in one transaction (one commit for many invocations, instead of one each; at most
   * RECORD_BATCH_ROWS wait), and every read or write of this repository writes them first, so a
   * record is never missing from a read. The store writes them on close and at the process's 'exit'
   * too; only a SIGKILL or a power cut can lose the rows of the last RECORD_BATCH_MS (the answers
   * of those invocations were just sent).
   */
  record(init: NewInvocation, outcome: InvocationOutcome): InvocationRecord {
    const { now, ids, limits } = this.#ctx;
    if (!INVOCATION_MODES.includes(init.mode)) {
      throw new ThawError('ERR_INVALID_OPTION', `invocation mode must be one of ${INVOCATION_MODES.join(', ')}, got ${String(init.mode)}`);
    }
    checkOutcome(outcome);
    const version = init.version ?? this.#latestVersion(init.functionName);
    const memoryMb = outcome.memoryMb ?? init.memoryMb ?? this.#memoryOf(init.functionName, version);
    const t = outcome.timings ?? {};
    const queueMs = nonNegative(t.queueMs, 'queueMs');
    const sandboxMs = nonNegative(t.sandboxMs, 'sandboxMs');
    const runtimeBootMs = nonNegative(t.runtimeBootMs, 'runtimeBootMs');
    const importMs = nonNegative(t.importMs, 'importMs');
    const initMs = nonNegative(t.initMs, 'initMs');
    const execMs = nonNegative(t.execMs, 'execMs');
    const platformMs = nonNegative(t.platformMs, 'platformMs');
    const billed = billedMs(outcome.billedDurationMs ?? billableDurationMs(t));
    const result = encodeResult(outcome.result, limits.resultBytes);
    const out = keepHeadAndTail(outcome.stdout ?? '', limits.logBytes);
    const err = keepHeadAndTail(outcome.stderr ?? '', limits.logBytes);
    const created = now();
    // Built straight from these values (not from a row read back, as get() does): the stored row is
    // rowValues(record) below, so what a later get() returns is this record.
    const record: InvocationRecord = {
      id: init.id ?? ids.next(created),
      functionName: init.functionName,
      version,
      mode: init.mode,
      status: outcome.status,
      startKind: outcome.startKind ?? init.startKind ?? null,
      instanceId: outcome.instanceId ?? init.instanceId ?? null,
      queueMs,
      sandboxMs,
      runtimeBootMs,
      importMs,
      initMs,
      execMs,
      platformMs,
      totalMs: outcome.totalMs ?? queueMs + sandboxMs + runtimeBootMs + importMs + initMs + execMs + platformMs,
      memoryMb,
      billedMs: billed,
      billedGbSeconds: billedGbSeconds(memoryMb, billed),
      createdAt: init.createdAt ?? created,
      startedAt: outcome.startedAt ?? init.startedAt ?? created,
      finishedAt: outcome.finishedAt ?? now(),
      error: outcome.error ? { kind: outcome.error.kind, message: outcome.error.message ?? '' } : null,
      result: result.json === null ? undefined : outcome.result,
      resultTruncated: result.truncated,
      stdout: out.text,
      stderr: err.text,
      logsTruncated: out.truncated || err.truncated,
      attempts: init.attempts ?? 1,
    };
    // The row's values now, not at the flush: a caller changing the record it got changes nothing stored.
    const row = rowValues(record, result.json);
    if (this.#pending.length === 0) this.#timer = setTimeout(this.#flushSoon, RECORD_BATCH_MS).unref();
    this.#pending.push(row);
    if (this.#pending.length >= RECORD_BATCH_ROWS) this.#flushSoon();
    if (result.whole !== undefined) RESULT_TEXT.set(record, result.whole);
    return record;
  }

  /** The memory of a version (see #versionMemory); throws ERR_NOT_FOUND for a version that does not exist. */
  #memoryOf(functionName: string, version: number): number {
    const key = `${functionName}\0${version}`;
    let memoryMb = this.#versionMemory.get(key);
    if (memoryMb !== undefined) return memoryMb;
    const row = this.#ctx.db.prepare('SELECT memory_mb FROM function_versions WHERE function_name = ? AND version = ?').get(functionName, version) as
      | { memory_mb: number }
      | undefined;
    if (!row) throw new ThawError('ERR_NOT_FOUND', `function '${functionName}' has no version ${version}`);
    memoryMb = row.memory_mb;
    if (this.#versionMemory.size >= 4096) this.#versionMemory.clear();
    this.#versionMemory.set(key, memoryMb);
    return memoryMb;
  }

  /** The database, with every row record() kept written first: what every other method reads and writes through. */
  get #written(): StoreContext['db'] {
    this.#flushSoon(); // a row the database refuses is reported there, not thrown at an unrelated read
    return this.#ctx.db;
  }

  /** Rows recorded but not yet written (see record()), the timer that writes them, who waits for that. */
  readonly #pending: RowValues[] = [];
  #timer: NodeJS.Timeout | undefined;
  #waiters: Array<() => void> = [];

  /** Resolves once the records kept so far are written (at once if none is kept). */
  whenWritten(): Promise<void> {
    if (this.#pending.length === 0) return Promise.resolve();
    // The timer is unreferenced so kept records never hold a process open; once someone waits for
    // them, it must: else a process with nothing else to do exits with the wait still pending.
    this.#timer?.ref();
    return new Promise((resolve) => this.#waiters.push(resolve));
  }
  readonly #flushSoon = (): void => {
    if (!this.#ctx.db.open) return; // closed: the store flushed before closing
    try {
      this.flush();
    } catch (error) {
      process.stderr.write(`thaw: writing invocation records failed: ${(error as Error).message}\n`);
    }
  };

  /** Writes the rows record() kept, in one transaction; a row the database refuses is reported and skipped, never the rest. */
  flush(): void {
    if (this.#pending.length === 0) return;
    clearTimeout(this.#timer);
    const rows = this.#pending.splice(0);
    const waiters = this.#waiters.splice(0);
    try {
      this.#insertRows(rows);
    } finally {
      for (const resolve of waiters) resolve();
    }
  }

  #insertRows(rows: RowValues[]): void {
    try {
      this.#insertBatch(rows);
    } catch {
      const failures: string[] = [];
      for (const row of rows) {
        try {
          this.#insertRow.run(...row);
        } catch (error) {
          failures.push(`${row[0]}: ${(error as Error).message}`);
        }
      }
      if (failures.length > 0) throw new ThawError('ERR_INTERNAL', `${failures.length} invocation record(s) not written: ${failures.slice(0, 3).join('; ')}`);
    }
  }

  /** Marks a queued invocation as running (the async queue calls this when a job is claimed). */
  markRunning(id: string, fields: { attempts?: number; startedAt?: number; startKind?: StartKind; instanceId?: string } = {}): void {
    const r = this.#written
      .prepare(
        `UPDATE invocations SET status = 'running', started_at = ?, attempts = COALESCE(?, attempts),
           start_kind = COALESCE(?, start_kind), instance_id = COALESCE(?, instance_id)
         WHERE id = ? AND status IN ('queued', 'running')`,
      )
      .run(fields.startedAt ?? this.#ctx.now(), fields.attempts ?? null, fields.startKind ?? null, fields.instanceId ?? null, id);
    if (r.changes === 0) throw this.#notUnfinished(id);
  }

  /** A finished async invocation runs again (its job was redriven): queued, outcome cleared. */
  requeue(id: string): void {
    const r = this.#written
      .prepare(
        `UPDATE invocations SET status = 'queued', started_at = NULL, finished_at = NULL, attempts = 0, error_kind = NULL, error_message = NULL,
           result_json = NULL, result_truncated = 0, total_ms = NULL, billed_ms = NULL, billed_gb_s = NULL
         WHERE id = ? AND mode IN ('async', 'timer')`,
      )
      .run(id);
    if (r.changes === 0) throw new ThawError('ERR_NOT_FOUND', `no async invocation with id '${id}'`);
  }

  /** Writes the outcome of an unfinished invocation. */
  finish(id: string, outcome: InvocationOutcome): InvocationRecord {
    const { now, limits } = this.#ctx;
    const db = this.#written;
    const current = db.prepare('SELECT status, memory_mb, started_at FROM invocations WHERE id = ?').get(id) as
      | { status: string; memory_mb: number; started_at: number | null }
      | undefined;
    if (!current || (current.status !== 'queued' && current.status !== 'running')) throw this.#notUnfinished(id);
    checkOutcome(outcome);
    const t = outcome.timings ?? {};
    const phases = PHASES.map((p) => nonNegative(t[p], p));
    const totalMs = outcome.totalMs ?? phases.reduce((a, b) => a + b, 0);
    const memoryMb = outcome.memoryMb ?? current.memory_mb;
    const billed = billedMs(outcome.billedDurationMs ?? billableDurationMs(t));
    const gbs = billedGbSeconds(memoryMb, billed);
    const result = encodeResult(outcome.result, limits.resultBytes);
    const out = keepHeadAndTail(outcome.stdout ?? '', limits.logBytes);
    const err = keepHeadAndTail(outcome.stderr ?? '', limits.logBytes);
    db.prepare(
      `UPDATE invocations SET status = ?, start_kind = COALESCE(?, start_kind), instance_id = COALESCE(?, instance_id),
         queue_ms = ?, sandbox_ms = ?, runtime_boot_ms = ?, import_ms = ?, init_ms = ?, exec_ms = ?, platform_ms = ?,
         total_ms = ?, memory_mb = ?, billed_ms = ?, billed_gb_s = ?, started_at = ?, finished_at = ?,
         error_kind = ?, error_message = ?, result_json = ?, result_truncated = ?, stdout = ?, stderr = ?, logs_truncated = ?
       WHERE id = ?`,
    ).run(
      outcome.status, outcome.startKind ?? null, outcome.instanceId ?? null, ...phases, totalMs, memoryMb, billed, gbs,
      outcome.startedAt ?? current.started_at, outcome.finishedAt ?? now(), outcome.error?.kind ?? null, outcome.error?.message ?? null,
      result.json, result.truncated ? 1 : 0, out.text, err.text, out.truncated || err.truncated ? 1 : 0, id,
    );
    return this.get(id)!;
  }

  get(id: string): InvocationRecord | undefined {
    const row = this.#written.prepare('SELECT * FROM invocations WHERE id = ?').get(id) as InvocationRow | undefined;
    return row && toRecord(row);
  }

  require(id: string): InvocationRecord {
    const r = this.get(id);
    if (!r) throw new ThawError('ERR_NOT_FOUND', `no invocation with id '${id}'`);
    return r;
  }

  /** The newest `limit` invocations of a function, newest first. */
  latest(functionName: string, limit = 20): InvocationRecord[] {
    const rows = this.#written
      .prepare('SELECT * FROM invocations WHERE function_name = ? ORDER BY id DESC LIMIT ?')
      .all(functionName, positiveInt(limit, 'limit')) as InvocationRow[];
    return rows.map((r) => toRecord(r));
  }

  /** The newest `limit` invocations of every function, newest first. */
  recent(limit = 50): InvocationRecord[] {
    const rows = this.#written.prepare('SELECT * FROM invocations ORDER BY id DESC LIMIT ?').all(positiveInt(limit, 'limit')) as InvocationRow[];
    return rows.map((r) => toRecord(r));
  }

  /**
   * Finished invocations since `since` counted per time bucket (`bucketMs` wide, by creation time)
   * and start kind, oldest bucket first: the cold/warm history a dashboard plots.
   */
  startKindSeries(options: { since: number; bucketMs: number }): Array<{ bucket: number; startKind: StartKind; count: number }> {
    const bucketMs = positiveInt(options.bucketMs, 'bucketMs');
    const rows = this.#written
      .prepare(
        `SELECT CAST(created_at / ? AS INTEGER) * ? AS bucket, start_kind, COUNT(*) AS n FROM invocations
         WHERE created_at >= ? AND start_kind IS NOT NULL AND status IN ('succeeded', 'failed')
         GROUP BY bucket, start_kind ORDER BY bucket`,
      )
      .all(bucketMs, bucketMs, options.since) as Array<{ bucket: number; start_kind: StartKind; n: number }>;
    return rows.map((r) => ({ bucket: r.bucket, startKind: r.start_kind, count: r.n }));
  }

  /** A function's output, newest first; pass the oldest id seen as `before` for the next page. */
  logs(functionName: string, options: { limit?: number; before?: string } = {}): LogEntry[] {
    const limit = positiveInt(options.limit ?? 50, 'limit');
    const rows = this.#written
      .prepare(
        `SELECT id, version, status, created_at, finished_at, stdout, stderr, logs_truncated, error_kind, error_message
         FROM invocations WHERE function_name = ? AND (? IS NULL OR id < ?) ORDER BY id DESC LIMIT ?`,
      )
      .all(functionName, options.before ?? null, options.before ?? null, limit) as InvocationRow[];
    return rows.map((r) => ({
      id: r.id,
      version: r.version,
      status: r.status as InvocationStatus,
      createdAt: r.created_at,
      finishedAt: r.finished_at,
      stdout: r.stdout,
      stderr: r.stderr,
      logsTruncated: r.logs_truncated === 1,
      error: toError(r.error_kind, r.error_message),
    }));
  }

  /**
   * Counts and latency percentiles (total and per phase) of a function's finished invocations, for
   * all of them and per start kind. Covers the newest `window` (default 10,000) since `since`.
   */
  stats(functionName: string, options: { since?: number; window?: number } = {}): FunctionStats {
    const window = positiveInt(options.window ?? 10_000, 'window');
    const rows = this.#written
      .prepare(
        `SELECT start_kind, status, total_ms, billed_gb_s, ${Object.values(PHASE_COLUMNS).join(', ')}
         FROM invocations WHERE function_name = ? AND status IN ('succeeded', 'failed') AND created_at >= ?
         ORDER BY id DESC LIMIT ?`,
      )
      .all(functionName, options.since ?? 0, window) as InvocationRow[];
    const byKind = new Map<StartKind, InvocationRow[]>();
    for (const r of rows) {
      if (r.start_kind === null) continue;
      const k = r.start_kind as StartKind;
      let list = byKind.get(k);
      if (!list) byKind.set(k, (list = []));
      list.push(r);
    }
    return {
      functionName,
      sampled: rows.length,
      all: group('all', rows),
      byStartKind: START_KINDS.filter((k) => byKind.has(k)).map((k) => group(k, byKind.get(k)!)),
    };
  }

  /** Billed GB-s of finished invocations, per function (one function, or all), since `since`. */
  billedGbSeconds(options: { functionName?: string; since?: number } = {}): Map<string, number> {
    const rows = this.#written
      .prepare(
        `SELECT function_name, SUM(billed_gb_s) AS gbs FROM invocations
         WHERE (? IS NULL OR function_name = ?) AND finished_at IS NOT NULL AND created_at >= ? GROUP BY function_name`,
      )
      .all(options.functionName ?? null, options.functionName ?? null, options.since ?? 0) as { function_name: string; gbs: number | null }[];
    return new Map(rows.map((r) => [r.function_name, r.gbs ?? 0]));
  }

  #insert(init: NewInvocation): string {
    const { now, ids } = this.#ctx;
    const db = this.#written;
    if (!INVOCATION_MODES.includes(init.mode)) {
      throw new ThawError('ERR_INVALID_OPTION', `invocation mode must be one of ${INVOCATION_MODES.join(', ')}, got ${String(init.mode)}`);
    }
    const version = init.version ?? this.#latestVersion(init.functionName);
    let memoryMb = init.memoryMb;
    if (memoryMb === undefined) {
      const row = db.prepare('SELECT memory_mb FROM function_versions WHERE function_name = ? AND version = ?').get(init.functionName, version) as
        | { memory_mb: number }
        | undefined;
      if (!row) throw new ThawError('ERR_NOT_FOUND', `function '${init.functionName}' has no version ${version}`);
      memoryMb = row.memory_mb;
    }
    const t = now();
    const id = init.id ?? ids.next(t);
    const status = init.status ?? 'running';
    db.prepare(
      `INSERT INTO invocations (id, function_name, version, mode, status, start_kind, instance_id, memory_mb, created_at, started_at, attempts)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    ).run(
      id, init.functionName, version, init.mode, status, init.startKind ?? null, init.instanceId ?? null, memoryMb,
      init.createdAt ?? t, status === 'running' ? (init.startedAt ?? t) : null, init.attempts ?? (status === 'running' ? 1 : 0),
    );
    return id;
  }

  #latestVersion(functionName: string): number {
    const row = this.#ctx.db.prepare('SELECT latest_version FROM functions WHERE name = ? AND removed_at IS NULL').get(functionName) as
      | { latest_version: number | null }
      | undefined;
    if (!row) throw new ThawError('ERR_NOT_FOUND', `no function named '${functionName}'`);
    if (row.latest_version === null) throw new ThawError('ERR_NOT_FOUND', `function '${functionName}' has no deployed version`);
    return row.latest_version;
  }

  #notUnfinished(id: string): ThawError {
    const row = this.#written.prepare('SELECT status FROM invocations WHERE id = ?').get(id) as { status: string } | undefined;
    return row
      ? new ThawError('ERR_INVALID_STATE', `invocation ${id} is already ${row.status}`)
      : new ThawError('ERR_NOT_FOUND', `no invocation with id '${id}'`);
  }
}

/** How long a record waits to be written with others (see record()), and how many may wait. */
const RECORD_BATCH_MS = 10;
export const RECORD_BATCH_ROWS = 256;

/**
 * The columns record() writes, and rowValues(): a record's values in that order, bound by position
 * as run()'s arguments (in better-sqlite3 12 such a run() took half the time of one binding 29 named
 * parameters from an object, and two thirds of one given the values as one array).
 */
const ROW_COLUMNS = [
  'id', 'function_name', 'version', 'mode', 'status', 'start_kind', 'instance_id', 'queue_ms', 'sandbox_ms', 'runtime_boot_ms', 'import_ms',
  'init_ms', 'exec_ms', 'platform_ms', 'total_ms', 'memory_mb', 'billed_ms', 'billed_gb_s', 'created_at', 'started_at', 'finished_at',
  'error_kind', 'error_message', 'result_json', 'result_truncated', 'stdout', 'stderr', 'logs_truncated', 'attempts',
] as const satisfies ReadonlyArray<keyof InvocationRow>;
const INSERT_ROW = `INSERT INTO invocations (${ROW_COLUMNS.join(', ')}) VALUES (${ROW_COLUMNS.map(() => '?').join(', ')})`;
type RowValues = Array<string | number | null>;

function rowValues(r: InvocationRecord, resultJson: string | null): RowValues {
  return [
    r.id, r.functionName, r.version, r.mode, r.status, r.startKind, r.instanceId, r.queueMs, r.sandboxMs, r.runtimeBootMs, r.importMs,
    r.initMs, r.execMs, r.platformMs, r.totalMs, r.memoryMb, r.billedMs, r.billedGbSeconds, r.createdAt, r.startedAt, r.finishedAt,
    r.error?.kind ?? null, r.error?.message ?? null, resultJson, r.resultTruncated ? 1 : 0, r.stdout, r.stderr, r.logsTruncated ? 1 : 0, r.attempts,
  ];
}

function checkOutcome(outcome: InvocationOutcome): void {
  if (outcome.status !== 'succeeded' && outcome.status !== 'failed') {
    throw new ThawError('ERR_INVALID_OPTION', `invocation outcome status must be 'succeeded' or 'failed', got ${String(outcome.status)}`);
  }
  if (outcome.startKind !== undefined && !START_KINDS.includes(outcome.startKind)) {
    throw new ThawError('ERR_INVALID_OPTION', `invocation start kind must be one of ${START_KINDS.join(', ')}, got ${String(outcome.startKind)}`);
  }
}

function group(startKind: StartKind | 'all', rows: InvocationRow[]): StartKindStats {
  let succeeded = 0;
  let gbs = 0;
  for (const r of rows) {
    if (r.status === 'succeeded') succeeded++;
    gbs += r.billed_gb_s ?? 0;
  }
  const phases = {} as Record<keyof PhaseTimings, LatencySummary>;
  for (const p of PHASES) {
    const column = PHASE_COLUMNS[p] as keyof InvocationRow;
    phases[p] = summarize(rows.map((r) => r[column] as number));
  }
  return {
    startKind,
    count: rows.length,
    succeeded,
    failed: rows.length - succeeded,
    billedGbSeconds: gbs,
    totalMs: summarize(rows.map((r) => r.total_ms ?? 0)),
    phases,
  };
}

function toRecord(r: InvocationRow): InvocationRecord {
  return {
    id: r.id,
    functionName: r.function_name,
    version: r.version,
    mode: r.mode as InvocationMode,
    status: r.status as InvocationStatus,
    startKind: r.start_kind as StartKind | null,
    instanceId: r.instance_id,
    queueMs: r.queue_ms,
    sandboxMs: r.sandbox_ms,
    runtimeBootMs: r.runtime_boot_ms,
    importMs: r.import_ms,
    initMs: r.init_ms,
    execMs: r.exec_ms,
    platformMs: r.platform_ms,
    totalMs: r.total_ms,
    memoryMb: r.memory_mb,
    billedMs: r.billed_ms,
    billedGbSeconds: r.billed_gb_s,
    createdAt: r.created_at,
    startedAt: r.started_at,
    finishedAt: r.finished_at,
    error: toError(r.error_kind, r.error_message),
    result: r.result_json === null ? undefined : JSON.parse(r.result_json),
    resultTruncated: r.result_truncated === 1,
    stdout: r.stdout,
    stderr: r.stderr,
    logsTruncated: r.logs_truncated === 1,
    attempts: r.attempts,
  };
}

export function toError(kind: string | null, message: string | null): InvocationError | null {
  return kind === null ? null : ({ kind, message: message ?? '' } as InvocationError);
}

/** `json`: what is stored (null when over maxBytes); `whole`: the whole encoding, for the caller's answer. */
function encodeResult(value: unknown, maxBytes: number): { json: string | null; truncated: boolean; whole?: string } {
  if (value === undefined) return { json: null, truncated: false };
  let json: string | undefined;
  try {
    json = JSON.stringify(value);
  } catch {
    return { json: null, truncated: true }; // not serialisable (cycle, BigInt): nothing sensible to keep
  }
  if (json === undefined) return { json: null, truncated: false }; // a function or symbol
  // Most results are far below the limit: their UTF-8 length need not be counted (≤ 3 bytes a UTF-16 unit).
  if (json.length * 3 > maxBytes && Buffer.byteLength(json) > maxBytes) return { json: null, truncated: true, whole: json };
  return { json, truncated: false, whole: json };
}

/** The JSON text of the results of records made by record() (see resultJsonOf). */
const RESULT_TEXT = new WeakMap<InvocationRecord, string>();

/**
 * The result of a record record() returned, as the JSON text it already encoded — whole, even when
 * it was too big to keep — so a synchronous answer sends those bytes instead of encoding the value
 * again; undefined for any other record, or when the result was not JSON.
 */
export function resultJsonOf(record: InvocationRecord): string | undefined {
  return RESULT_TEXT.get(record);
}

function nonNegative(v: number | undefined, name: string): number {
  if (v === undefined) return 0;
  if (!Number.isFinite(v) || v < 0) throw new ThawError('ERR_INVALID_OPTION', `invocation timing ${name} must be a finite number ≥ 0, got ${v}`);
  return v;
}

function positiveInt(v: number, name: string): number {
  if (!Number.isInteger(v) || v <= 0) throw new ThawError('ERR_INVALID_OPTION', `${name} must be a positive integer, got ${v}`);
  return v;
}
