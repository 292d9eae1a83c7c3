// The platform's state: one SQLite database, `thaw.db`, in the data directory, in WAL mode (readers
// never block the writer). Repositories: functions and versions, aliases, invocation records, the
// async queue, and the platform's own cost. Every call is synchronous (better-sqlite3): a write has been
// committed when the call returns — except a finished sync invocation's record, written behind in
// a batch just after the event-loop turn that recorded it (InvocationRepository.record); every read
// writes the batch first, close() writes it, and so does the process's 'exit' (a thrown error or
// process.exit() included; a SIGKILL or power cut loses that last turn's records).
//
// Durability: synchronous=FULL by default, so a committed job survives a power cut, not just a
// crash of thaw; 'normal' trades that (a crash of thaw still loses nothing) for cheaper commits.

import { mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import Database from 'better-sqlite3';
import { ThawError } from '../../core/errors.ts';
import { DEFAULT_LIMITS, type StoreContext, type StoreLimits } from './context.ts';
import { AliasRepository } from './aliases.ts';
import { PlatformCostRepository } from './costs.ts';
import { ScheduleRepository } from './schedules.ts';
import { FunctionRepository } from './functions.ts';
import { IdGenerator } from './ids.ts';
import { InvocationRepository } from './invocations.ts';
import { currentSchemaVersion, migrate, MIGRATIONS, type Migration } from './migrations.ts';
import { QueueRepository } from './queue.ts';

export const DB_FILE = 'thaw.db';

export interface StoreOptions {
  /** Epoch ms; default Date.now. Tests inject a fixed clock. */
  now?: () => number;
  synchronous?: 'full' | 'normal';
  limits?: Partial<StoreLimits>;
  /** How long a write waits for another process's write lock, ms (default 5000). */
  busyTimeoutMs?: number;
  /** For tests of the migration machinery. */
  migrations?: readonly Migration[];
  /** Random bytes for ids (tests). */
  randomBytes?: (n: number) => Buffer;
}

export class Store {
  readonly dataDir: string;
  readonly dbPath: string;
  readonly db: Database.Database;
  readonly functions: FunctionRepository;
  readonly invocations: InvocationRepository;
  readonly queue: QueueRepository;
  readonly costs: PlatformCostRepository;
  readonly schedules: ScheduleRepository;
  readonly aliases: AliasRepository;
  readonly limits: StoreLimits;
  /** Migrations applied by this open (empty when the schema was current). */
  readonly migrated: readonly number[];
  readonly now: () => number;

  private constructor(dataDir: string, db: Database.Database, options: StoreOptions, migrated: number[]) {
    this.dataDir = dataDir;
    this.dbPath = db.name;
    this.db = db;
    this.now = options.now ?? Date.now;
    this.limits = { ...DEFAULT_LIMITS, ...options.limits };
    this.migrated = migrated;
    const ctx: StoreContext = { db, dataDir, now: this.now, ids: new IdGenerator(options.randomBytes), limits: this.limits };
    this.functions = new FunctionRepository(ctx);
    this.invocations = new InvocationRepository(ctx);
    this.queue = new QueueRepository(ctx, this.invocations);
    this.costs = new PlatformCostRepository(ctx);
    this.schedules = new ScheduleRepository(ctx);
    this.aliases = new AliasRepository(ctx);
  }

  /** Opens (creating the directory and database if needed) and migrates `dataDir/thaw.db`. */
  static open(dataDir: string, options: StoreOptions = {}): Store {
    for (const [k, v] of Object.entries(options.limits ?? {})) {
      if (!Number.isInteger(v) || (v as number) <= 0) throw new ThawError('ERR_INVALID_OPTION', `option limits.${k}: must be a positive integer, got ${String(v)}`);
    }
    const dir = resolve(dataDir);
    let db: Database.Database;
    try {
      mkdirSync(dir, { recursive: true });
      db = new Database(join(dir, DB_FILE), { timeout: options.busyTimeoutMs ?? 5000 });
    } catch (err) {
      const denied = ['EACCES', 'EPERM', 'EROFS'].includes((err as NodeJS.ErrnoException).code ?? '');
      throw new ThawError(denied ? 'ERR_PERMISSION' : 'ERR_INVALID_STATE', `cannot open the thaw database in ${dir}: ${(err as Error).message}`, { cause: err });
    }
    try {
      db.pragma('journal_mode = WAL');
      db.pragma(`synchronous = ${options.synchronous === 'normal' ? 'NORMAL' : 'FULL'}`);
      db.pragma('foreign_keys = ON');
      reusePreparedStatements(db);
      const migrated = migrate(db, options.now ?? Date.now, options.migrations ?? MIGRATIONS);
      const store = new Store(dir, db, options, migrated);
      flushOnExit(store);
      return store;
    } catch (err) {
      db.close();
      throw err;
    }
  }

  get schemaVersion(): number {
    return currentSchemaVersion(this.db);
  }

  get isOpen(): boolean {
    return this.db.open;
  }

  /** Runs `fn` in one write transaction (several repository calls, all or nothing). */
  transaction<T>(fn: () => T): T {
    return this.db.transaction(fn).immediate();
  }

  /** Writes the records still kept, checkpoints the WAL into the main file and closes. Idempotent. */
  close(): void {
    if (!this.db.open) return;
    OPEN_STORES.delete(this);
    try {
      this.invocations.flush(); // the records written behind (InvocationRepository.record)
      this.db.pragma('wal_checkpoint(TRUNCATE)');
    } finally {
      this.db.close();
    }
  }
}

/** Stores not yet closed: the process's 'exit' writes their kept invocation records (one listener for all). */
const OPEN_STORES = new Set<Store>();
let exitListening = false;
function flushOnExit(store: Store): void {
  if (!exitListening) process.on('exit', flushOpenStores);
  exitListening = true;
  OPEN_STORES.add(store);
}
function flushOpenStores(): void {
  for (const store of OPEN_STORES) {
    try {
      if (store.isOpen) store.invocations.flush();
    } catch (error) {
      process.stderr.write(`thaw: writing invocation records at exit failed: ${(error as Error).message}\n`);
    }
  }
}

/**
 * Makes db.prepare() return one statement per SQL text, prepared once: repositories prepare their
 * statements where they use them, and compiling SQL on every invocation record showed up in
 * profiles of the warm path. A statement is reused only by the same SQL text, always called the same
 * way (pluck/raw modes included), and better-sqlite3 statements are reusable once a call returns.
 */
function reusePreparedStatements(db: Database.Database): void {
  const prepare = db.prepare.bind(db);
  const statements = new Map<string, Database.Statement>();
  db.prepare = ((sql: string) => {
    let statement = statements.get(sql);
    if (!statement) statements.set(sql, (statement = prepare(sql)));
    return statement;
  }) as typeof db.prepare;
}
