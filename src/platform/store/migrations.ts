// Schema migrations. Each migration runs once, in its own transaction, in order; the ones applied
// are rows of `schema_migrations`. Never edit a released migration: add a new one.

import type Sqlite from 'better-sqlite3';

type Database = Sqlite.Database;
import { ThawError } from '../../core/errors.ts';

export interface Migration {
  version: number;
  description: string;
  sql: string;
  /**
   * Rebuilds a table others reference (SQLite's way to change a CHECK constraint): runs with foreign
   * keys off, as SQLite's ALTER TABLE procedure says, and checks them before it commits.
   */
  rebuildsTables?: boolean;
}

const VERSION_COLUMNS = [
  'function_name', 'version', 'memory_mb', 'timeout_ms', 'max_concurrency', 'env_json', 'network', 'provisioned',
  'start_preference', 'language', 'entry', 'dependencies_json', 'code_dir', 'bundle_path', 'bundle_sha256',
  'bundle_bytes', 'created_at',
];

export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    description: 'functions, versions, invocations, async queue, platform cost',
    sql: `
      CREATE TABLE functions (
        name            TEXT PRIMARY KEY,
        latest_version  INTEGER,
        created_at      INTEGER NOT NULL,
        updated_at      INTEGER NOT NULL,
        removed_at      INTEGER
      ) STRICT;

      CREATE TABLE function_versions (
        function_name      TEXT NOT NULL REFERENCES functions(name),
        version            INTEGER NOT NULL CHECK (version >= 1),
        memory_mb          INTEGER NOT NULL,
        timeout_ms         INTEGER NOT NULL,
        max_concurrency    INTEGER NOT NULL,
        env_json           TEXT NOT NULL,
        network            INTEGER NOT NULL CHECK (network IN (0, 1)),
        provisioned        INTEGER NOT NULL DEFAULT 0,
        start_preference   TEXT NOT NULL DEFAULT 'cold',
        language           TEXT NOT NULL CHECK (language IN ('js', 'ts')),
        entry              TEXT NOT NULL,
        dependencies_json  TEXT NOT NULL,
        code_dir           TEXT NOT NULL,
        bundle_path        TEXT NOT NULL,
        bundle_sha256      TEXT NOT NULL,
        bundle_bytes       INTEGER NOT NULL,
        created_at         INTEGER NOT NULL,
        snapshot_status    TEXT,
        snapshot_updated_at INTEGER,
        PRIMARY KEY (function_name, version)
      ) STRICT;

      -- Versions are immutable: only the snapshot status may change, and rows are never deleted.
      CREATE TRIGGER function_versions_immutable BEFORE UPDATE OF ${VERSION_COLUMNS.join(', ')} ON function_versions
      BEGIN SELECT RAISE(ABORT, 'function versions are immutable'); END;
      CREATE TRIGGER function_versions_undeletable BEFORE DELETE ON function_versions
      BEGIN SELECT RAISE(ABORT, 'function versions are immutable'); END;

      CREATE TABLE invocations (
        id               TEXT PRIMARY KEY,
        function_name    TEXT NOT NULL,
        version          INTEGER NOT NULL,
        mode             TEXT NOT NULL CHECK (mode IN ('sync', 'async', 'timer')),
        status           TEXT NOT NULL CHECK (status IN ('queued', 'running', 'succeeded', 'failed')),
        start_kind       TEXT CHECK (start_kind IN ('cold', 'warm', 'resumed', 'snapshot', 'zygote')),
        instance_id      TEXT,
        queue_ms         REAL NOT NULL DEFAULT 0,
        sandbox_ms       REAL NOT NULL DEFAULT 0,
        runtime_boot_ms  REAL NOT NULL DEFAULT 0,
        import_ms        REAL NOT NULL DEFAULT 0,
        init_ms          REAL NOT NULL DEFAULT 0,
        exec_ms          REAL NOT NULL DEFAULT 0,
        platform_ms      REAL NOT NULL DEFAULT 0,
        total_ms         REAL,
        memory_mb        INTEGER NOT NULL,
        billed_ms        INTEGER,
        billed_gb_s      REAL,
        created_at       INTEGER NOT NULL,
        started_at       INTEGER,
        finished_at      INTEGER,
        error_kind       TEXT,
        error_message    TEXT,
        result_json      TEXT,
        result_truncated INTEGER NOT NULL DEFAULT 0,
        stdout           TEXT NOT NULL DEFAULT '',
        stderr           TEXT NOT NULL DEFAULT '',
        logs_truncated   INTEGER NOT NULL DEFAULT 0,
        attempts         INTEGER NOT NULL DEFAULT 0
      ) STRICT;
      CREATE INDEX invocations_by_function ON invocations (function_name, id);

      -- The async queue. A job's id is its invocation's id; the payload lives here until it is done.
      CREATE TABLE queue_jobs (
        id            TEXT PRIMARY KEY REFERENCES invocations(id),
        function_name TEXT NOT NULL,
        version       INTEGER NOT NULL,
        mode          TEXT NOT NULL CHECK (mode IN ('async', 'timer')),
        payload_json  TEXT NOT NULL,
        status        TEXT NOT NULL CHECK (status IN ('pending', 'running', 'succeeded', 'failed')),
        attempts      INTEGER NOT NULL DEFAULT 0,
        max_attempts  INTEGER NOT NULL CHECK (max_attempts >= 1),
        enqueued_at   INTEGER NOT NULL,
        available_at  INTEGER NOT NULL,
        claimed_at    INTEGER,
        finished_at   INTEGER,
        error_kind    TEXT,
        error_message TEXT
      ) STRICT;
      CREATE INDEX queue_jobs_claimable ON queue_jobs (status, available_at, id);
      CREATE INDEX queue_jobs_by_function ON queue_jobs (function_name, status);

      -- The platform's own cost: GB-s of idle instances, per function, hour and reason.
      CREATE TABLE platform_cost (
        function_name TEXT NOT NULL,
        hour          INTEGER NOT NULL,
        reason        TEXT NOT NULL,
        idle_ms       REAL NOT NULL DEFAULT 0,
        idle_gb_s     REAL NOT NULL DEFAULT 0,
        PRIMARY KEY (function_name, hour, reason)
      ) STRICT;
    `,
  },
  {
    version: 2,
    description: 'timer triggers',
    sql: `
      -- One cron schedule per function; each firing enqueues an async invocation with the payload.
      CREATE TABLE schedules (
        function_name TEXT PRIMARY KEY,
        cron          TEXT NOT NULL,
        payload_json  TEXT NOT NULL,
        updated_at    INTEGER NOT NULL
      ) STRICT;
    `,
  },
  {
    version: 3,
    description: 'async queue: idempotency keys, trace context, event age, dead letters',
    sql: `
      ALTER TABLE queue_jobs ADD COLUMN idempotency_key TEXT;
      -- SHA-256 of the payload's JSON: the same key with another payload is a conflict, not a duplicate.
      ALTER TABLE queue_jobs ADD COLUMN payload_sha256 TEXT;
      ALTER TABLE queue_jobs ADD COLUMN traceparent TEXT;
      ALTER TABLE queue_jobs ADD COLUMN expires_at INTEGER;
      -- Why a failed job (a dead letter) failed for good: retries-exhausted, not-retryable or expired.
      ALTER TABLE queue_jobs ADD COLUMN dead_reason TEXT;
      ALTER TABLE queue_jobs ADD COLUMN redrives INTEGER NOT NULL DEFAULT 0;
      CREATE INDEX queue_jobs_by_idempotency_key ON queue_jobs (function_name, idempotency_key, enqueued_at) WHERE idempotency_key IS NOT NULL;
      -- A failed job is a dead letter; those failed before this migration say why as thaw decided then.
      UPDATE queue_jobs SET dead_reason = CASE WHEN error_kind IN ('error', 'init') THEN 'not-retryable' ELSE 'retries-exhausted' END
        WHERE status = 'failed';
      CREATE INDEX queue_jobs_dead ON queue_jobs (finished_at) WHERE status = 'failed';
    `,
  },
  {
    version: 4,
    description: 'aliases: named, weighted routes to versions',
    sql: `
      -- An alias (prod, canary) routes a function's invocations to versions by weight (percent, summing to 100).
      CREATE TABLE aliases (
        function_name TEXT NOT NULL REFERENCES functions(name),
        alias         TEXT NOT NULL,
        routes_json   TEXT NOT NULL,
        updated_at    INTEGER NOT NULL,
        PRIMARY KEY (function_name, alias)
      ) STRICT;
    `,
  },
  {
    version: 5,
    description: "invocations: the 'isolate' start kind",
    rebuildsTables: true,
    sql: `
      CREATE TABLE invocations_new (
        id               TEXT PRIMARY KEY,
        function_name    TEXT NOT NULL,
        version          INTEGER NOT NULL,
        mode             TEXT NOT NULL CHECK (mode IN ('sync', 'async', 'timer')),
        status           TEXT NOT NULL CHECK (status IN ('queued', 'running', 'succeeded', 'failed')),
        start_kind       TEXT CHECK (start_kind IN ('cold', 'warm', 'resumed', 'snapshot', 'zygote', 'isolate')),
        instance_id      TEXT,
        queue_ms         REAL NOT NULL DEFAULT 0,
        sandbox_ms       REAL NOT NULL DEFAULT 0,
        runtime_boot_ms  REAL NOT NULL DEFAULT 0,
        import_ms        REAL NOT NULL DEFAULT 0,
        init_ms          REAL NOT NULL DEFAULT 0,
        exec_ms          REAL NOT NULL DEFAULT 0,
        platform_ms      REAL NOT NULL DEFAULT 0,
        total_ms         REAL,
        memory_mb        INTEGER NOT NULL,
        billed_ms        INTEGER,
        billed_gb_s      REAL,
        created_at       INTEGER NOT NULL,
        started_at       INTEGER,
        finished_at      INTEGER,
        error_kind       TEXT,
        error_message    TEXT,
        result_json      TEXT,
        result_truncated INTEGER NOT NULL DEFAULT 0,
        stdout           TEXT NOT NULL DEFAULT '',
        stderr           TEXT NOT NULL DEFAULT '',
        logs_truncated   INTEGER NOT NULL DEFAULT 0,
        attempts         INTEGER NOT NULL DEFAULT 0
      ) STRICT;
      INSERT INTO invocations_new SELECT * FROM invocations;
      DROP TABLE invocations;
      ALTER TABLE invocations_new RENAME TO invocations;
      CREATE INDEX invocations_by_function ON invocations (function_name, id);
    `,
  },
  {
    version: 6,
    description: 'function_versions: code layout (bundle or installed node_modules) and why',
    sql: `
      -- deploy/layout.ts: 'bundle' (one esbuild file) or 'installed' (src/ and its node_modules); earlier versions were bundles.
      ALTER TABLE function_versions ADD COLUMN layout TEXT NOT NULL DEFAULT 'bundle' CHECK (layout IN ('bundle', 'installed'));
      ALTER TABLE function_versions ADD COLUMN layout_reason TEXT;
      CREATE TRIGGER function_versions_layout_immutable BEFORE UPDATE OF layout, layout_reason ON function_versions
      BEGIN SELECT RAISE(ABORT, 'function versions are immutable'); END;
    `,
  },
  {
    version: 7,
    description: 'function_versions: whether the version runs in an isolate, or why it starts in a container',
    sql: `
      -- accelerators/isolate/start-path.ts: 'compatible', or 'container: <reason>' (mutable, like snapshot_status).
      ALTER TABLE function_versions ADD COLUMN isolate_status TEXT;
    `,
  },
  {
    version: 8,
    description: 'invocations: the same CHECK constraints, written as comparisons',
    rebuildsTables: true,
    // `x IN (three or more constants)` makes SQLite build a temporary b-tree of the list at every run
    // of a statement that checks it: the three checks of this table took 3.3 µs of the 7.4 that an
    // INSERT of a warm invocation's record took (in memory, SQLite 3.51). Comparisons joined by OR
    // accept and refuse the same values (NULL too: neither form is false for it) at no measurable cost.
    sql: `
      CREATE TABLE invocations_new (
        id               TEXT PRIMARY KEY,
        function_name    TEXT NOT NULL,
        version          INTEGER NOT NULL,
        mode             TEXT NOT NULL CHECK (mode = 'sync' OR mode = 'async' OR mode = 'timer'),
        status           TEXT NOT NULL CHECK (status = 'queued' OR status = 'running' OR status = 'succeeded' OR status = 'failed'),
        start_kind       TEXT CHECK (start_kind = 'cold' OR start_kind = 'warm' OR start_kind = 'resumed' OR start_kind = 'snapshot'
                                     OR start_kind = 'zygote' OR start_kind = 'isolate'),
        instance_id      TEXT,
        queue_ms         REAL NOT NULL DEFAULT 0,
        sandbox_ms       REAL NOT NULL DEFAULT 0,
        runtime_boot_ms  REAL NOT NULL DEFAULT 0,
        import_ms        REAL NOT NULL DEFAULT 0,
        init_ms          REAL NOT NULL DEFAULT 0,
        exec_ms          REAL NOT NULL DEFAULT 0,
        platform_ms      REAL NOT NULL DEFAULT 0,
        total_ms         REAL,
        memory_mb        INTEGER NOT NULL,
        billed_ms        INTEGER,
        billed_gb_s      REAL,
        created_at       INTEGER NOT NULL,
        started_at       INTEGER,
        finished_at      INTEGER,
        error_kind       TEXT,
        error_message    TEXT,
        result_json      TEXT,
        result_truncated INTEGER NOT NULL DEFAULT 0,
        stdout           TEXT NOT NULL DEFAULT '',
        stderr           TEXT NOT NULL DEFAULT '',
        logs_truncated   INTEGER NOT NULL DEFAULT 0,
        attempts         INTEGER NOT NULL DEFAULT 0
      ) STRICT;
      INSERT INTO invocations_new SELECT * FROM invocations;
      DROP TABLE invocations;
      ALTER TABLE invocations_new RENAME TO invocations;
      CREATE INDEX invocations_by_function ON invocations (function_name, id);
    `,
  },
  {
    version: 9,
    description: 'function_versions: invocations one instance serves at once',
    sql: `
      -- function.ts instanceConcurrency; earlier versions served one invocation per instance.
      ALTER TABLE function_versions ADD COLUMN instance_concurrency INTEGER NOT NULL DEFAULT 1 CHECK (instance_concurrency >= 1);
      CREATE TRIGGER function_versions_instance_concurrency_immutable BEFORE UPDATE OF instance_concurrency ON function_versions
      BEGIN SELECT RAISE(ABORT, 'function versions are immutable'); END;
    `,
  },
];

export const SCHEMA_VERSION = MIGRATIONS[MIGRATIONS.length - 1]!.version;

/** Applies the migrations `db` lacks; returns the versions applied. Refuses a database from a newer thaw. */
export function migrate(db: Database, now: () => number, migrations: readonly Migration[] = MIGRATIONS): number[] {
  db.exec(`CREATE TABLE IF NOT EXISTS schema_migrations (
    version     INTEGER PRIMARY KEY,
    description TEXT NOT NULL,
    applied_at  INTEGER NOT NULL
  ) STRICT`);
  const current = currentSchemaVersion(db);
  const newest = migrations.length ? migrations[migrations.length - 1]!.version : 0;
  if (current > newest) {
    throw new ThawError('ERR_INVALID_STATE', `${db.name}: schema version ${current} is newer than this thaw understands (${newest}); use a newer thaw`);
  }
  const applied: number[] = [];
  const record = db.prepare('INSERT INTO schema_migrations (version, description, applied_at) VALUES (?, ?, ?)');
  for (const m of migrations) {
    if (m.version <= current) continue;
    // Re-checked inside the write lock: another process may have opened the same data dir meanwhile.
    const foreignKeys = m.rebuildsTables ? (db.pragma('foreign_keys', { simple: true }) as number) : 0;
    if (foreignKeys) db.pragma('foreign_keys = OFF');
    try {
      const ran = db.transaction(() => {
        if (currentSchemaVersion(db) >= m.version) return false;
        db.exec(m.sql);
        const broken = m.rebuildsTables ? (db.pragma('foreign_key_check') as unknown[]) : [];
        if (broken.length > 0) throw new ThawError('ERR_INVALID_STATE', `migration ${m.version} would break ${broken.length} foreign keys: not applied`);
        record.run(m.version, m.description, now());
        return true;
      }).immediate();
      if (ran) applied.push(m.version);
    } finally {
      if (foreignKeys) db.pragma('foreign_keys = ON');
    }
  }
  return applied;
}

export function currentSchemaVersion(db: Database): number {
  const row = db.prepare('SELECT MAX(version) AS v FROM schema_migrations').get() as { v: number | null };
  return row.v ?? 0;
}
