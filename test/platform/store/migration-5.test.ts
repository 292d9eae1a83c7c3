// Migration 5 rebuilds the invocations table (SQLite changes a CHECK constraint no other way) so that
// records may say `isolate`: what a version-4 database held survives it, queue jobs still reference
// their invocations, and foreign keys are on again afterwards.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { MIGRATIONS, Store } from '../../../src/platform/store/index.ts';
import { tempDir, TestClock } from './helpers.ts';

describe('migration 5: the isolate start kind', () => {
  it('keeps a version-4 database rows and references and accepts isolate records', () => {
    const dir = tempDir();
    const clock = new TestClock();
    const v4 = Store.open(dir, { now: clock.now, migrations: MIGRATIONS.filter((m) => m.version <= 4) });
    v4.db.prepare("INSERT INTO invocations (id, function_name, version, mode, status, start_kind, memory_mb, created_at) VALUES ('i1', 'f', 1, 'async', 'queued', 'zygote', 128, 1)").run();
    v4.db.prepare("INSERT INTO queue_jobs (id, function_name, version, mode, payload_json, status, max_attempts, enqueued_at, available_at) VALUES ('i1', 'f', 1, 'async', '{}', 'pending', 3, 1, 1)").run();
    assert.throws(() => v4.db.prepare("UPDATE invocations SET start_kind = 'isolate' WHERE id = 'i1'").run(), /CHECK/);
    v4.close();

    const store = Store.open(dir, { now: clock.now });
    assert.deepEqual(store.migrated, MIGRATIONS.filter((m) => m.version > 4).map((m) => m.version));
    assert.equal(store.db.prepare("SELECT start_kind FROM invocations WHERE id = 'i1'").pluck().get(), 'zygote');
    store.db.prepare("UPDATE invocations SET start_kind = 'isolate' WHERE id = 'i1'").run();
    assert.equal(store.db.pragma('foreign_keys', { simple: true }), 1, 'foreign keys are on again');
    assert.deepEqual(store.db.pragma('foreign_key_check'), []);
    assert.throws(() => store.db.prepare("DELETE FROM invocations WHERE id = 'i1'").run(), /FOREIGN KEY/, 'the queue job still references its invocation');
    store.close();
  });
});
