// The single-node async queue (SQLite) against the AsyncQueue conformance suite.

import { Store } from '../../../src/platform/store/index.ts';
import { SqliteAsyncQueue } from '../../../src/platform/store/sqlite-async-queue.ts';
import { describeAsyncQueue } from './async-queue.conformance.ts';
import { tempDir, versionSpec } from './helpers.ts';

describeAsyncQueue('SQLite', async ({ policy, now }) => {
  const store = Store.open(tempDir(), { now, synchronous: 'normal' });
  for (const name of ['f', 'g']) store.functions.publish(name, versionSpec());
  return { queue: new SqliteAsyncQueue(store, policy), close: async () => store.close() };
});
