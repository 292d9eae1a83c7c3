// Function snapshots over HTTP: restore instead of cold start, unique state per restored instance,
// a burst served from one snapshot, fallback reasons, and a corrupt snapshot never restored.

import assert from 'node:assert/strict';
import { readdirSync, statSync, writeFileSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import { E2E_FIXTURES, ThawServer } from './harness.ts';

function filesUnder(dir: string): string[] {
  return readdirSync(dir).flatMap((f) => {
    const path = join(dir, f);
    return statSync(path).isDirectory() ? filesUnder(path) : [path];
  });
}

/** The snapshot blobs in the shared, content-addressed store (blobs/<2 hex>/<sha256>). */
function blobFiles(thaw: ThawServer): string[] {
  return filesUnder(join(thaw.dataDir, 'blobs')).filter((f) => /\/[0-9a-f]{64}[^/]*$/.test(f));
}

/** Polls a function's snapshot status until it is no longer building (bounded). */
async function snapshotStatus(thaw: ThawServer, name: string): Promise<string> {
  for (let i = 0; i < 600; i++) {
    const status = (await thaw.request('GET', `/functions/${name}`)).body.snapshotStatus as string | null;
    if (status && status !== 'building' && !status.startsWith('queued')) return status;
    await delay(100);
  }
  throw new Error(`${name}: snapshot still building after 60 s`);
}

describe('function snapshots, end to end', { timeout: 240_000 }, () => {
  let thaw: ThawServer;

  before(async () => {
    thaw = await ThawServer.start(['--pause-after', '0']);
    for (const name of ['snapper', 'unsnappable']) assert.equal((await thaw.deploy(join(E2E_FIXTURES, name), { name })).status, 201);
  });

  after(async () => {
    await thaw?.stop();
  });

  it('restores new instances from the snapshot, with the hooks run and init() not run again', async () => {
    assert.match(await snapshotStatus(thaw, 'snapper'), /^ready [0-9a-f]{12} /);
    const r = await thaw.invoke('snapper', {});
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.equal(r.headers.get('x-thaw-start-kind'), 'snapshot');
    assert.deepEqual(r.body.hooks, ['init', 'beforeSnapshot', 'afterRestore']);
    assert.equal(r.body.tableSize, 200_000);
    const record = (await thaw.request('GET', `/invocations/${r.headers.get('x-thaw-invocation-id')}`)).body;
    assert.equal(record.startKind, 'snapshot');
    assert.equal(record.importMs, 0, 'nothing is imported after a restore');
    const ls = (await thaw.request('GET', '/functions')).body.functions.find((f: any) => f.name === 'snapper');
    assert.match(ls.snapshotStatus, /^ready/);
  });

  it('serves a burst of concurrent first requests from one snapshot, each instance unique', async () => {
    const replies = await Promise.all([1, 2, 3].map(() => thaw.invoke('snapper', { holdMs: 300 })));
    const restored = replies.filter((r) => r.headers.get('x-thaw-start-kind') === 'snapshot');
    assert.ok(restored.length >= 2, `start kinds: ${replies.map((r) => r.headers.get('x-thaw-start-kind'))}`);
    for (const field of ['random', 'uuid', 'bytes']) {
      assert.equal(new Set(restored.map((r) => r.body[field])).size, restored.length, `${field} differs between restored instances`);
    }
    assert.equal(blobFiles(thaw).length, 1, 'one snapshot built');
  });

  it('falls back to cold starts for a function that cannot be snapshotted, and says why', async () => {
    const status = await snapshotStatus(thaw, 'unsnappable');
    assert.match(status, /^fallback: .*http/);
    const r = await thaw.invoke('unsnappable', {});
    assert.equal(r.status, 200);
    assert.equal(r.headers.get('x-thaw-start-kind'), 'cold');
  });

  it('never restores a corrupt snapshot: the instance starts cold and the snapshot is rebuilt', async () => {
    const [blob] = blobFiles(thaw);
    const bytes = readFileSync(blob!);
    bytes[bytes.length >> 1] ^= 0xff;
    writeFileSync(blob!, bytes.subarray(0, bytes.length - 4096)); // flipped and truncated
    // Drop the local copies too, so the next start must fetch (and verify) the shared blob.
    await thaw.advance(11 * 60_000);
    const cacheRoot = join(thaw.dataDir, 'snapshot-cache');
    for (const dir of readdirSync(cacheRoot)) {
      for (const f of filesUnder(join(cacheRoot, dir))) writeFileSync(f, 'garbage');
    }
    const r = await thaw.invoke('snapper', {});
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.equal(r.headers.get('x-thaw-start-kind'), 'cold');
    assert.deepEqual(r.body.hooks, ['init'], 'a cold start ran init(), no snapshot hooks');
    assert.match(await snapshotStatus(thaw, 'snapper'), /^ready/);
  });
});
