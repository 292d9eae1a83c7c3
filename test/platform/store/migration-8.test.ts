// Migration 8 rebuilds the invocations table to write its CHECK constraints as comparisons instead of
// IN lists (cheaper per INSERT): what a version-7 database held survives it, the rebuilt table
// accepts and refuses exactly the values the old one did, and queue jobs still reference their
// invocations.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { MIGRATIONS, Store } from '../../../src/platform/store/index.ts';
import { tempDir, TestClock } from './helpers.ts';

const INSERT = 'INSERT INTO invocations (id, function_name, version, mode, status, start_kind, memory_mb, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)';

/** Which of these (mode, status, start kind) the table accepts. */
function accepted(store: Store): boolean[] {
  const values = ['sync', 'async', 'timer', 'queued', 'running', 'succeeded', 'failed', 'cold', 'warm', 'resumed', 'snapshot', 'zygote', 'isolate', 'bogus', '', 'SYNC', 'warm ', null];
  const out: boolean[] = [];
  let n = 0;
  for (const column of ['mode', 'status', 'start_kind'] as const) {
    for (const value of values) {
      const row = { mode: 'sync', status: 'running', start_kind: 'warm' as string | null, [column]: value };
      try {
        store.db.prepare(INSERT).run(`probe-${n++}`, 'f', 1, row.mode, row.status, row.start_kind, 128, 1);
        out.push(true);
      } catch (error) {
        assert.match((error as Error).message, /CHECK|NOT NULL/);
        out.push(false);
      }
    }
  }
  store.db.prepare("DELETE FROM invocations WHERE id LIKE 'probe-%'").run();
  return out;
}

describe('migration 8: invocation checks as comparisons', () => {
  it('keeps a version-7 database rows and references, and accepts and refuses the same values', () => {
    const dir = tempDir();
    const clock = new TestClock();
    const v7 = Store.open(dir, { now: clock.now, migrations: MIGRATIONS.filter((m) => m.version <= 7) });
    v7.db.prepare(INSERT).run('i1', 'f', 1, 'async', 'queued', 'isolate', 128, 1);
    v7.db.prepare("INSERT INTO queue_jobs (id, function_name, version, mode, payload_json, status, max_attempts, enqueued_at, available_at) VALUES ('i1', 'f', 1, 'async', '{}', 'pending', 3, 1, 1)").run();
    const before = v7.db.prepare('SELECT * FROM invocations').all();
    const acceptedBefore = accepted(v7);
    v7.close();

    const store = Store.open(dir, { now: clock.now });
    assert.deepEqual(store.migrated, MIGRATIONS.filter((m) => m.version > 7).map((m) => m.version));
    assert.deepEqual(store.db.prepare('SELECT * FROM invocations').all(), before);
    assert.deepEqual(accepted(store), acceptedBefore);
    assert.ok(acceptedBefore.includes(true) && acceptedBefore.includes(false));
    assert.doesNotMatch(store.db.prepare("SELECT sql FROM sqlite_schema WHERE name = 'invocations'").pluck().get() as string, / IN \(/);
    assert.deepEqual(store.db.prepare("SELECT name FROM sqlite_schema WHERE tbl_name = 'invocations' AND type = 'index' ORDER BY name").pluck().all(), [
      'invocations_by_function', 'sqlite_autoindex_invocations_1',
    ]);
    assert.equal(store.db.pragma('foreign_keys', { simple: true }), 1, 'foreign keys are on again');
    assert.deepEqual(store.db.pragma('foreign_key_check'), []);
    assert.throws(() => store.db.prepare("DELETE FROM invocations WHERE id = 'i1'").run(), /FOREIGN KEY/, 'the queue job still references its invocation');
    store.close();
  });
});
