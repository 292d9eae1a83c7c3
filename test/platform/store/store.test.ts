import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { ThawError } from '../../../src/core/errors.ts';
import { IdGenerator, idTime, MIGRATIONS, SCHEMA_VERSION, Store } from '../../../src/platform/store/index.ts';
import { openStore, tempDir, TestClock, versionSpec } from './helpers.ts';

describe('Store', () => {
  it('creates the data dir and migrates an empty database, in WAL mode', () => {
    const dir = join(tempDir(), 'nested', 'data');
    const store = openStore(dir, new TestClock());
    assert.ok(existsSync(join(dir, 'thaw.db')));
    assert.deepEqual(store.migrated, MIGRATIONS.map((m) => m.version));
    assert.equal(store.schemaVersion, SCHEMA_VERSION);
    assert.equal(store.db.pragma('journal_mode', { simple: true }), 'wal');
    const tables = store.db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name").pluck().all();
    assert.deepEqual(tables, ['aliases', 'function_versions', 'functions', 'invocations', 'platform_cost', 'queue_jobs', 'schedules', 'schema_migrations']);
  });

  it('reopens without migrating again and keeps what was written', () => {
    const dir = tempDir();
    const clock = new TestClock();
    const first = Store.open(dir, { now: clock.now });
    first.functions.publish('hello', versionSpec());
    first.close();
    first.close(); // idempotent
    const second = openStore(dir, clock);
    assert.deepEqual(second.migrated, []);
    assert.equal(second.functions.latest('hello')?.version, 1);
  });

  it('applies only the migrations a database lacks', () => {
    const dir = tempDir();
    const clock = new TestClock();
    Store.open(dir, { now: clock.now }).close();
    const extra = [...MIGRATIONS, { version: SCHEMA_VERSION + 1, description: 'test', sql: 'CREATE TABLE extra (x INTEGER) STRICT;' }];
    const store = openStore(dir, clock, { migrations: extra });
    assert.deepEqual(store.migrated, [SCHEMA_VERSION + 1]);
    assert.equal(store.schemaVersion, SCHEMA_VERSION + 1);
  });

  it('refuses a database written by a newer thaw', () => {
    const dir = tempDir();
    const clock = new TestClock();
    const extra = [...MIGRATIONS, { version: SCHEMA_VERSION + 1, description: 'future', sql: 'SELECT 1;' }];
    Store.open(dir, { now: clock.now, migrations: extra }).close();
    assert.throws(() => Store.open(dir, { now: clock.now }), (e: unknown) => e instanceof ThawError && e.code === 'ERR_INVALID_STATE' && /newer/.test(e.message));
  });

  it('rejects invalid limits', () => {
    assert.throws(() => Store.open(tempDir(), { limits: { logBytes: 0 } }), /limits\.logBytes/);
  });
});

describe('IdGenerator', () => {
  it('makes ids that sort by time and stay monotonic within a millisecond and when the clock steps back', () => {
    let n = 0;
    const ids = new IdGenerator((k) => Buffer.alloc(k, n++ % 2 ? 0xff : 0x00));
    const made = [ids.next(1000), ids.next(1000), ids.next(1000), ids.next(999), ids.next(2000), ids.next(2000)];
    assert.deepEqual([...made].sort(), made);
    assert.equal(new Set(made).size, made.length);
    assert.ok(made.every((id) => /^[0-9A-HJKMNP-TV-Z]{26}$/.test(id)));
    assert.equal(idTime(made[0]!), 1000);
    assert.equal(idTime(made[3]!), 1000);
    assert.equal(idTime(made[4]!), 2000);
  });

  it('carries an increment through the random part (all ones but the top bit) to the next digit', () => {
    const ids = new IdGenerator((k) => Buffer.alloc(k, 0xff));
    const first = ids.next(5);
    const second = ids.next(5);
    assert.equal(first.slice(10), 'FZZZZZZZZZZZZZZZ');
    assert.equal(second.slice(10), 'G000000000000000');
    assert.equal(idTime(second), 5);
  });
});

describe('schedules', () => {
  it('persists timer triggers across a reopen', () => {
    const dir = tempDir();
    const first = Store.open(dir);
    first.schedules.set('hello', '*/5 * * * *', { tick: true });
    first.schedules.set('other', '0 * * * *', {});
    first.schedules.remove('other');
    first.close();
    const second = Store.open(dir);
    assert.deepEqual(second.schedules.list().map((s) => [s.functionName, s.cron, s.payload]), [['hello', '*/5 * * * *', { tick: true }]]);
    second.close();
  });
});
