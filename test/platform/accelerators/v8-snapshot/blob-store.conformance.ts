// The conformance suite of the BlobStore interface (src/platform/snapshot/blob-store.ts): one set
// of tests every store passes — a shared directory on one machine, the cluster's NATS object store —
// and a LocalBlobCache in front of each. `open` returns the store, a way to corrupt a stored blob
// (replace its bytes under its address, as bit rot or a bad writer would) and a cleanup.

import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { BlobError, LocalBlobCache, type BlobStore } from '../../../../src/platform/accelerators/v8-snapshot/blob-store.ts';
import { tempDir } from '../../sandbox/support.ts';

export interface BlobStoreUnderTest {
  store: BlobStore;
  corrupt(address: string, bytes: Uint8Array): Promise<void>;
  close(): Promise<void>;
}

const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');
const bytes = (n: number, seed: number) => Uint8Array.from({ length: n }, (_, i) => (i * 31 + seed * 7) & 0xff);
const isBlobError = (code: string) => (e: unknown) => e instanceof BlobError && e.code === code;

export function describeBlobStore(name: string, open: () => Promise<BlobStoreUnderTest>, options: { skip?: string | false } = {}): void {
  describe(`BlobStore conformance: ${name}`, { skip: options.skip }, () => {
    const opened: BlobStoreUnderTest[] = [];
    const setup = async () => {
      const s = await open();
      opened.push(s);
      return s;
    };
    after(async () => {
      for (const s of opened) await s.close();
    });

    it('stores bytes and files under their SHA-256, once, and returns a verified local copy', async () => {
      const { store } = await setup();
      const data = bytes(300_000, 1);
      const put = await store.put(data);
      assert.deepEqual(put, { address: sha(data), bytes: data.length, stored: true });
      assert.equal((await store.put(data)).stored, false, 'content addressing: nothing written twice');
      const file = join(tempDir('blob-conf-'), 'f.bin');
      const other = bytes(70_000, 2);
      writeFileSync(file, other);
      assert.deepEqual(await store.put({ file }), { address: sha(other), bytes: other.length, stored: true });
      assert.equal(await store.has(sha(data)), true);
      assert.deepEqual(new Uint8Array(readFileSync(await store.get(sha(data)))), data);
      const { stream, bytes: n } = await store.open(sha(other));
      const chunks: Buffer[] = [];
      for await (const c of stream) chunks.push(c as Buffer);
      assert.equal(n, other.length);
      assert.deepEqual(new Uint8Array(Buffer.concat(chunks)), other);
    });

    it('get() finds a corrupt blob, removes it and says so; a put replaces it', async () => {
      const { store, corrupt } = await setup();
      const data = bytes(50_000, 3);
      const { address } = await store.put(data);
      await corrupt(address, bytes(50_000, 4));
      await assert.rejects(store.get(address), isBlobError('ERR_BLOB_CORRUPT'));
      assert.equal(await store.has(address), false, 'removed');
      await assert.rejects(store.get(address), isBlobError('ERR_BLOB_MISSING'));
      assert.equal((await store.put(data)).stored, true);
      assert.deepEqual(new Uint8Array(readFileSync(await store.get(address))), data);
    });

    it('a LocalBlobCache in front of it verifies what it fetches and drops a corrupt blob', async () => {
      const { store, corrupt } = await setup();
      const cache = new LocalBlobCache({ store, dir: tempDir('blob-conf-cache-'), maxBytes: 10_000_000 });
      const good = bytes(40_000, 5);
      const { address } = await store.put(good);
      assert.deepEqual(new Uint8Array(readFileSync(await cache.fetch(address))), good);
      assert.equal(cache.lookup(address) !== undefined, true);
      const bad = await store.put(bytes(20_000, 6));
      await corrupt(bad.address, bytes(20_000, 7));
      await assert.rejects(cache.fetch(bad.address), isBlobError('ERR_BLOB_CORRUPT'));
      assert.equal(cache.stats.corruptFetches, 1);
      assert.equal(await store.has(bad.address), false, 'the store was told and removed it');
    });

    it('deletes, and refuses what is not an address', async () => {
      const { store } = await setup();
      const { address } = await store.put(bytes(10, 8));
      assert.equal(await store.delete(address), true);
      assert.equal(await store.delete(address), false);
      assert.equal(await store.has(address), false);
      await assert.rejects(store.get('not-a-sha'), isBlobError('ERR_BLOB_ADDRESS'));
      await assert.rejects(store.open('a'.repeat(64)), isBlobError('ERR_BLOB_MISSING'));
    });
  });
}
