// The content-addressed blob store and the per-invoker verified cache: addressing, verification on
// fetch, the cheap per-start identity check, corruption handling, LRU eviction by size, pins.

import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { chmodSync, readFileSync, truncateSync, writeFileSync, openSync, writeSync, closeSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';

import { BlobError, DirectoryBlobStore, LocalBlobCache } from '../../../../src/platform/accelerators/v8-snapshot/blob-store.ts';
import { tempDir } from '../../sandbox/support.ts';

function bytes(n: number, seed: number): Uint8Array {
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i++) b[i] = (i * 31 + seed * 7) & 0xff;
  return b;
}

function sha(b: Uint8Array): string {
  return createHash('sha256').update(b).digest('hex');
}

function flipByte(path: string, offset: number): void {
  chmodSync(path, 0o644);
  const data = readFileSync(path);
  const fd = openSync(path, 'r+');
  writeSync(fd, Buffer.from([data[offset]! ^ 0xff]), 0, 1, offset);
  closeSync(fd);
}

describe('DirectoryBlobStore', () => {
  it('stores bytes and files under their SHA-256, once', async () => {
    const store = new DirectoryBlobStore(join(tempDir('thaw-blobs-'), 'blobs'));
    const data = bytes(1000, 1);
    const put = await store.put(data);
    assert.equal(put.address, sha(data));
    assert.equal(put.bytes, 1000);
    assert.equal(put.stored, true);
    assert.equal(await store.has(put.address), true);
    const file = join(tempDir('thaw-blob-src-'), 'x.bin');
    writeFileSync(file, data);
    const again = await store.put({ file });
    assert.deepEqual(again, { address: put.address, bytes: 1000, stored: false });
    const path = await store.get(put.address);
    assert.deepEqual(new Uint8Array(readFileSync(path)), data);
  });

  it('get() verifies: a corrupt blob is detected, removed, and reported as ERR_BLOB_CORRUPT', async () => {
    const store = new DirectoryBlobStore(join(tempDir('thaw-blobs-'), 'blobs'));
    const { address } = await store.put(bytes(4096, 2));
    flipByte(store.pathOf(address), 100);
    await assert.rejects(store.get(address), (e: unknown) => e instanceof BlobError && e.code === 'ERR_BLOB_CORRUPT');
    assert.equal(await store.has(address), false);
    await assert.rejects(store.get(address), (e: unknown) => e instanceof BlobError && e.code === 'ERR_BLOB_MISSING');
    // Putting it again repairs it.
    await store.put(bytes(4096, 2));
    assert.equal(await store.get(address), store.pathOf(address));
  });

  it('put() replaces a same-size corrupt copy instead of trusting it', async () => {
    const store = new DirectoryBlobStore(join(tempDir('thaw-blobs-'), 'blobs'));
    const data = bytes(2048, 3);
    const { address } = await store.put(data);
    flipByte(store.pathOf(address), 7);
    const again = await store.put(data);
    assert.equal(again.stored, true);
    assert.equal(await store.get(address), store.pathOf(address));
  });

  it('rejects malformed addresses', async () => {
    const store = new DirectoryBlobStore(tempDir('thaw-blobs-'));
    await assert.rejects(store.get('../../etc/passwd'), (e: unknown) => e instanceof BlobError && e.code === 'ERR_BLOB_ADDRESS');
  });
});

describe('LocalBlobCache', () => {
  async function setup(maxBytes: number) {
    const root = tempDir('thaw-cache-');
    const store = new DirectoryBlobStore(join(root, 'blobs'));
    const cache = new LocalBlobCache({ store, dir: join(root, 'cache'), maxBytes });
    return { store, cache };
  }

  it('fetches by address, verifies, and then answers lookups with one stat', async () => {
    const { store, cache } = await setup(10_000);
    const { address } = await store.put(bytes(3000, 4));
    assert.equal(cache.lookup(address), undefined);
    const path = await cache.fetch(address);
    assert.notEqual(path, store.pathOf(address), 'a local copy, not the shared file');
    assert.equal(cache.lookup(address), path);
    assert.equal(cache.stats.fetches, 1);
    // Concurrent fetches share one copy.
    await Promise.all([cache.fetch(address), cache.fetch(address), cache.fetch(address)]);
    assert.equal(cache.stats.fetches, 1);
  });

  it('a corrupt store copy is detected while fetching: never cached, the store drops it', async () => {
    const { store, cache } = await setup(10_000);
    const { address } = await store.put(bytes(3000, 5));
    flipByte(store.pathOf(address), 1500);
    await assert.rejects(cache.fetch(address), (e: unknown) => e instanceof BlobError && e.code === 'ERR_BLOB_CORRUPT');
    assert.equal(cache.lookup(address), undefined);
    assert.deepEqual(await cache.files(), []);
    assert.equal(await store.has(address), false);
    assert.equal(cache.stats.corruptFetches, 1);
  });

  it('a local copy truncated or written in place after verification fails the per-start check', async () => {
    const { store, cache } = await setup(10_000);
    const a = (await store.put(bytes(3000, 6))).address;
    const b = (await store.put(bytes(3000, 7))).address;
    const pathA = await cache.fetch(a);
    const pathB = await cache.fetch(b);
    chmodSync(pathA, 0o644);
    truncateSync(pathA, 1000);
    assert.equal(cache.lookup(a), undefined, 'truncated: detected');
    assert.equal(existsSync(pathA), false, 'and dropped');
    flipByte(pathB, 10); // same size, written in place: ctime moves
    assert.equal(cache.lookup(b), undefined, 'written in place: detected');
    assert.equal(cache.stats.invalidated, 2);
    // The store's copies are intact: a new fetch verifies and serves them.
    assert.ok(await cache.fetch(a));
    assert.ok(cache.lookup(a));
  });

  it('evicts least recently used blobs beyond its size limit, never a pinned one', async () => {
    const { store, cache } = await setup(2500);
    const [a, b, c, d] = await Promise.all([1, 2, 3, 4].map(async (s) => (await store.put(bytes(1000, 10 + s))).address));
    await cache.fetch(a!);
    await cache.fetch(b!);
    assert.ok(cache.lookup(a!)); // a is now more recent than b
    await cache.fetch(c!);
    assert.deepEqual(cache.addresses(), [a, c], 'b (least recently used) evicted');
    assert.equal(cache.stats.bytes, 2000);
    assert.equal(cache.stats.evictions, 1);
    const lease = cache.acquire(a!)!; // a start in progress
    assert.ok(cache.lookup(c!));
    await cache.fetch(d!);
    assert.deepEqual(cache.addresses().sort(), [a, d].sort(), 'c evicted, pinned a kept although least recently used');
    lease.release();
    assert.deepEqual((await cache.files()).sort(), [a, d].sort());
  });

  it('refuses a blob larger than the whole cache', async () => {
    const { store, cache } = await setup(500);
    const { address } = await store.put(bytes(1000, 20));
    await assert.rejects(cache.fetch(address), (e: unknown) => e instanceof BlobError && e.code === 'ERR_BLOB_TOO_LARGE');
  });
});
