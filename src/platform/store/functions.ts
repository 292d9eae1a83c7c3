// Functions and their versions. A function is a name; its versions 1, 2, 3… are immutable (the
// database refuses updates and deletes, except to the snapshot status), and `latest` points at the
// newest successfully deployed one.
//
// remove() is a soft delete: the function disappears from get() and list(), `latest` is cleared and
// its pending async jobs are cancelled and its aliases deleted, but its version rows stay, so the invocation records that
// name them stay meaningful. Deploying the same name again revives it and continues the numbering
// (a removed v3 is followed by v4, never by a second v1). Deleting the files is the deploy module's
// removeFunction().

import { ThawError } from '../../core/errors.ts';
import { fromStoredPath, toStoredPath, type StoreContext } from './context.ts';
import { validateFunctionName } from './names.ts';
import { CODE_LAYOUTS } from '../deploy/layout.ts';
import type { FunctionInfo, FunctionVersion, NewFunctionVersion } from './types.ts';

interface FunctionRow {
  name: string;
  latest_version: number | null;
  created_at: number;
  updated_at: number;
  removed_at: number | null;
  version_count: number;
}

interface VersionRow {
  function_name: string;
  version: number;
  memory_mb: number;
  timeout_ms: number;
  max_concurrency: number;
  env_json: string;
  network: number;
  provisioned: number;
  instance_concurrency: number;
  start_preference: string;
  language: string;
  entry: string;
  dependencies_json: string;
  code_dir: string;
  bundle_path: string;
  bundle_sha256: string;
  bundle_bytes: number;
  layout: string;
  layout_reason: string | null;
  created_at: number;
  snapshot_status: string | null;
  snapshot_updated_at: number | null;
  isolate_status: string | null;
}

const FUNCTION_COLUMNS = `f.name, f.latest_version, f.created_at, f.updated_at, f.removed_at,
  (SELECT COUNT(*) FROM function_versions v WHERE v.function_name = f.name) AS version_count`;

export class FunctionRepository {
  readonly #ctx: StoreContext;
  /**
   * Reads served from memory: every warm invocation asks for its function and version (several
   * queries and two JSON.parse each, a tenth of the warm path's time in profiles). Emptied by every
   * write of this repository and when another connection committed (PRAGMA data_version: a second
   * thaw on the same data dir); nothing read inside a transaction is kept (it could roll back).
   * Values are frozen: callers share them.
   */
  readonly #cache = new Map<string, FunctionInfo | FunctionVersion>();
  #dataVersion: unknown;
  readonly #readDataVersion: () => unknown;
  /**
   * Whether data_version was checked in the current task (the callback now running and the
   * microtasks it queued). PRAGMA data_version is a read transaction of its own (two lock syscalls),
   * and a warm invocation reads its function two or three times in one task: once a task is enough.
   * - This connection's own commits need no check (they do not move data_version): every write of
   *   this repository empties the cache itself, in the middle of a task too.
   * - Another connection's commit is seen by the next task. That is no weaker than checking on
   *   every read: any input (an HTTP request, a child's message) is handled in a task of its own,
   *   so a check is never older than the input being handled: a client that saw a commit before it
   *   sent its request is answered from the state after that commit. Reset by a microtask rather
   *   than a setImmediate for that reason: with a setImmediate, a check made by a timer callback
   *   (or an immediate after the reset) would still count in the poll phase that follows it, for
   *   requests that arrived after the check.
   * - A read inside a transaction goes to the database (and may see a newer commit than the last
   *   check): the next read outside checks again, so it is never older than what was just read.
   */
  #checked = false;
  readonly #uncheck = (): void => {
    this.#checked = false;
  };

  constructor(ctx: StoreContext) {
    this.#ctx = ctx;
    const statement = ctx.db.prepare('PRAGMA data_version').pluck();
    this.#readDataVersion = () => statement.get();
  }

  #cached<T extends FunctionInfo | FunctionVersion>(key: string, read: () => T | undefined): T | undefined {
    if (this.#ctx.db.inTransaction) {
      this.#checked = false;
      return read();
    }
    if (!this.#checked) {
      const dataVersion = this.#readDataVersion();
      if (dataVersion !== this.#dataVersion) {
        this.#cache.clear();
        this.#dataVersion = dataVersion;
      }
      this.#checked = true;
      queueMicrotask(this.#uncheck);
    }
    const hit = this.#cache.get(key);
    if (hit) return hit as T;
    const value = read();
    if (value === undefined) return undefined; // a miss is not kept: unknown names would pile up
    if (this.#cache.size >= 4096) this.#cache.clear();
    this.#cache.set(key, deepFreeze(value));
    return value;
  }

  #changed(): void {
    this.#cache.clear();
  }

  /**
   * Records a new version and makes it `latest`, in one write transaction. `spec` may be a function
   * of the version number being allocated: it runs inside the transaction (e.g. to move a staged
   * folder to `<name>/<version>`), and if it throws nothing is recorded.
   */
  publish(name: string, spec: NewFunctionVersion | ((version: number) => NewFunctionVersion)): FunctionVersion {
    this.#changed();
    validateFunctionName(name);
    const { db } = this.#ctx;
    return db
      .transaction(() => {
        const now = this.#ctx.now();
        const row = db.prepare('SELECT MAX(version) AS v FROM function_versions WHERE function_name = ?').get(name) as { v: number | null };
        const version = (row.v ?? 0) + 1;
        const s = typeof spec === 'function' ? spec(version) : spec;
        validateSpec(s);
        db.prepare(
          `INSERT INTO functions (name, latest_version, created_at, updated_at) VALUES (?, NULL, ?, ?)
           ON CONFLICT (name) DO UPDATE SET removed_at = NULL, updated_at = excluded.updated_at`,
        ).run(name, now, now);
        db.prepare(
          `INSERT INTO function_versions (function_name, version, memory_mb, timeout_ms, max_concurrency, env_json, network,
             provisioned, start_preference, language, entry, dependencies_json, code_dir, bundle_path, bundle_sha256,
             bundle_bytes, layout, layout_reason, instance_concurrency, created_at)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
        ).run(
          name, version, s.memoryMb, s.timeoutMs, s.maxConcurrency, JSON.stringify(s.env), s.network ? 1 : 0,
          s.provisioned, s.start, s.language, s.entry, JSON.stringify(s.dependencies), toStoredPath(this.#ctx, s.codeDir),
          toStoredPath(this.#ctx, s.bundlePath), s.bundleSha256, s.bundleBytes, s.layout ?? 'bundle', s.layoutReason ?? null, s.instanceConcurrency ?? 1, now,
        );
        // MAX: two deploys racing may finish out of order; latest is the highest version either way.
        db.prepare('UPDATE functions SET latest_version = MAX(COALESCE(latest_version, 0), ?), updated_at = ? WHERE name = ?').run(version, now, name);
        return this.getVersion(name, version)!;
      })
      .immediate();
  }

  /** A function that exists (not removed), with its latest version. */
  get(name: string): FunctionInfo | undefined {
    return this.#cached(`f\0${name}`, () => {
      const row = this.#ctx.db.prepare(`SELECT ${FUNCTION_COLUMNS} FROM functions f WHERE f.name = ? AND f.removed_at IS NULL`).get(name) as FunctionRow | undefined;
      return row && this.#info(row);
    });
  }

  /** Like get(), but throws ERR_NOT_FOUND. */
  require(name: string): FunctionInfo {
    const info = this.get(name);
    if (!info) throw notFound(name);
    return info;
  }

  /** Every existing function, by name. */
  list(): FunctionInfo[] {
    const rows = this.#ctx.db.prepare(`SELECT ${FUNCTION_COLUMNS} FROM functions f WHERE f.removed_at IS NULL ORDER BY f.name`).all() as FunctionRow[];
    return rows.map((r) => this.#info(r));
  }

  /** The version `latest` points at, if the function exists and has one. */
  latest(name: string): FunctionVersion | undefined {
    return this.#cached(`l\0${name}`, () => {
      const row = this.#ctx.db.prepare('SELECT latest_version FROM functions WHERE name = ? AND removed_at IS NULL').get(name) as { latest_version: number | null } | undefined;
      return row?.latest_version == null ? undefined : this.getVersion(name, row.latest_version);
    });
  }

  /**
   * One version by number, or 'latest'. Versions of a removed function are still found by number
   * (invocation records refer to them), not as 'latest'.
   */
  getVersion(name: string, version: number | 'latest'): FunctionVersion | undefined {
    if (version === 'latest') return this.latest(name);
    return this.#cached(`v\0${name}\0${version}`, () => {
      const row = this.#ctx.db.prepare('SELECT * FROM function_versions WHERE function_name = ? AND version = ?').get(name, version) as VersionRow | undefined;
      return row && this.#version(row);
    });
  }

  /** Like getVersion(), but throws ERR_NOT_FOUND naming what is missing. */
  requireVersion(name: string, version: number | 'latest'): FunctionVersion {
    const v = this.getVersion(name, version);
    if (v) return v;
    if (!this.get(name)) throw notFound(name);
    throw new ThawError('ERR_NOT_FOUND', version === 'latest' ? `function '${name}' has no deployed version` : `function '${name}' has no version ${version}`);
  }

  /** Every version of a function, oldest first. */
  versions(name: string): FunctionVersion[] {
    const rows = this.#ctx.db.prepare('SELECT * FROM function_versions WHERE function_name = ? ORDER BY version').all(name) as VersionRow[];
    return rows.map((r) => this.#version(r));
  }

  /** Sets a version's snapshot status or fallback reason (mutable, as is its isolate status). */
  setSnapshotStatus(name: string, version: number, status: string | null): void {
    this.#changed();
    const r = this.#ctx.db
      .prepare('UPDATE function_versions SET snapshot_status = ?, snapshot_updated_at = ? WHERE function_name = ? AND version = ?')
      .run(status, this.#ctx.now(), name, version);
    if (r.changes === 0) throw new ThawError('ERR_NOT_FOUND', `function '${name}' has no version ${version}`);
  }

  /** Sets whether a version runs in an isolate, or why it starts in a container instead (mutable too). */
  setIsolateStatus(name: string, version: number, status: string | null): void {
    this.#changed();
    const r = this.#ctx.db.prepare('UPDATE function_versions SET isolate_status = ? WHERE function_name = ? AND version = ?').run(status, name, version);
    if (r.changes === 0) throw new ThawError('ERR_NOT_FOUND', `function '${name}' has no version ${version}`);
  }

  /**
   * Soft-deletes a function (see the top of this file) and cancels its pending async jobs. Returns
   * false if there was no such function.
   */
  remove(name: string): boolean {
    this.#changed();
    const { db } = this.#ctx;
    return db
      .transaction(() => {
        const now = this.#ctx.now();
        const r = db.prepare('UPDATE functions SET removed_at = ?, updated_at = ?, latest_version = NULL WHERE name = ? AND removed_at IS NULL').run(now, now, name);
        if (r.changes === 0) return false;
        const message = `function '${name}' was removed before this job ran`;
        db.prepare(
          `UPDATE invocations SET status = 'failed', finished_at = ?, error_kind = 'cancelled', error_message = ?
           WHERE id IN (SELECT id FROM queue_jobs WHERE function_name = ? AND status = 'pending')`,
        ).run(now, message, name);
        db.prepare(
          `UPDATE queue_jobs SET status = 'failed', finished_at = ?, error_kind = 'cancelled', error_message = ?, dead_reason = 'not-retryable'
           WHERE function_name = ? AND status = 'pending'`,
        ).run(now, message, name);
        db.prepare('DELETE FROM aliases WHERE function_name = ?').run(name);
        return true;
      })
      .immediate();
  }

  #info(row: FunctionRow): FunctionInfo {
    return {
      name: row.name,
      latestVersion: row.latest_version,
      versionCount: row.version_count,
      createdAt: row.created_at,
      updatedAt: row.updated_at,
      latest: row.latest_version == null ? undefined : this.getVersion(row.name, row.latest_version),
    };
  }

  #version(r: VersionRow): FunctionVersion {
    return {
      functionName: r.function_name,
      version: r.version,
      memoryMb: r.memory_mb,
      timeoutMs: r.timeout_ms,
      maxConcurrency: r.max_concurrency,
      env: JSON.parse(r.env_json) as Record<string, string>,
      network: r.network === 1,
      provisioned: r.provisioned,
      instanceConcurrency: r.instance_concurrency,
      start: r.start_preference as FunctionVersion['start'],
      language: r.language as FunctionVersion['language'],
      entry: r.entry,
      dependencies: JSON.parse(r.dependencies_json) as Record<string, string>,
      codeDir: fromStoredPath(this.#ctx, r.code_dir),
      bundlePath: fromStoredPath(this.#ctx, r.bundle_path),
      bundleSha256: r.bundle_sha256,
      bundleBytes: r.bundle_bytes,
      layout: r.layout as FunctionVersion['layout'],
      layoutReason: r.layout_reason,
      createdAt: r.created_at,
      snapshotStatus: r.snapshot_status,
      snapshotUpdatedAt: r.snapshot_updated_at,
      isolateStatus: r.isolate_status,
    };
  }
}

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value)) deepFreeze(v);
  }
  return value;
}

function notFound(name: string): ThawError {
  return new ThawError('ERR_NOT_FOUND', `no function named '${name}'`);
}

function validateSpec(s: NewFunctionVersion): void {
  const bad = (field: string, what: string) => new ThawError('ERR_INVALID_OPTION', `version ${field}: ${what}`);
  for (const f of ['memoryMb', 'timeoutMs', 'maxConcurrency'] as const) {
    if (!Number.isInteger(s[f]) || s[f] <= 0) throw bad(f, `must be a positive integer, got ${s[f]}`);
  }
  if (s.instanceConcurrency !== undefined && !(Number.isInteger(s.instanceConcurrency) && s.instanceConcurrency > 0)) {
    throw bad('instanceConcurrency', `must be a positive integer, got ${s.instanceConcurrency}`);
  }
  if (!Number.isInteger(s.provisioned) || s.provisioned < 0) throw bad('provisioned', `must be an integer ≥ 0, got ${s.provisioned}`);
  if (!Number.isInteger(s.bundleBytes) || s.bundleBytes < 0) throw bad('bundleBytes', `must be an integer ≥ 0, got ${s.bundleBytes}`);
  if (!/^[0-9a-f]{64}$/.test(s.bundleSha256)) throw bad('bundleSha256', 'must be 64 lower-case hex digits');
  if (s.language !== 'js' && s.language !== 'ts') throw bad('language', `must be 'js' or 'ts', got ${String(s.language)}`);
  if (s.layout !== undefined && !CODE_LAYOUTS.includes(s.layout)) throw bad('layout', `must be one of ${CODE_LAYOUTS.join(', ')}, got ${String(s.layout)}`);
}
