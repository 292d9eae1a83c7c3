// The BlobStore (src/platform/snapshot/blob-store.ts) of a cluster: content-addressed blobs —
// function bundles and V8 snapshot blobs — in a NATS JetStream object store (`<prefix>_blobs`),
// one object per blob named by its SHA-256, so a blob built or deployed on one node is fetched by
// every other. Nothing fetched is trusted: get() hashes the bytes while writing them to a local
// file and throws ERR_BLOB_CORRUPT (removing the object) when they do not hash to the address;
// LocalBlobCache does the same over open().

import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import { Objm, type ObjectStore } from '@nats-io/obj';
import { BlobError, checkAddress, copyHashed, hashFile, type BlobAddress, type BlobStore, type PutResult } from '../accelerators/v8-snapshot/blob-store.ts';
import type { ClusterConnection } from './connection.ts';

export class ObjectStoreBlobStore implements BlobStore {
  readonly #objects: ObjectStore;
  /** Where get() puts the verified copies it returns. */
  readonly #dir: string;

  private constructor(objects: ObjectStore, dir: string) {
    this.#objects = objects;
    this.#dir = dir;
  }

  /** `dir`: this node's folder for the verified copies get() returns. */
  static async open(connection: ClusterConnection, dir: string): Promise<ObjectStoreBlobStore> {
    const objects = await new Objm(connection.nc).create(connection.name('blobs'), { replicas: connection.replicas, description: 'thaw: content-addressed bundles and snapshot blobs (SHA-256 names)' });
    await mkdir(dir, { recursive: true, mode: 0o755 });
    return new ObjectStoreBlobStore(objects, dir);
  }

  async put(source: Uint8Array | { file: string }): Promise<PutResult> {
    const { address, bytes } = source instanceof Uint8Array ? { address: createHash('sha256').update(source).digest('hex'), bytes: source.byteLength } : await hashFile(source.file);
    const existing = await this.#objects.info(address);
    // The object store's own digest is a SHA-256 too: a same-named object with another digest is a corrupt copy, replaced.
    if (existing && !existing.deleted && existing.size === bytes && existing.digest === digestOf(address)) return { address, bytes, stored: false };
    if (source instanceof Uint8Array) await this.#objects.putBlob({ name: address }, source);
    else await this.#objects.put({ name: address }, Readable.toWeb(createReadStream(source.file)) as unknown as ReadableStream<Uint8Array>);
    return { address, bytes, stored: true };
  }

  async get(address: BlobAddress): Promise<string> {
    const { stream } = await this.open(address);
    const dest = join(this.#dir, address);
    try {
      await copyHashed(stream, this.#dir, dest, (actual, n) => {
        if (actual !== address) throw new BlobError('ERR_BLOB_CORRUPT', address, `blob ${address.slice(0, 12)} in the cluster's object store is corrupt (its ${n} bytes hash to ${actual.slice(0, 12)}); removed`);
      });
    } catch (error) {
      if (error instanceof BlobError && error.code === 'ERR_BLOB_CORRUPT') await this.reportCorrupt(address);
      throw error;
    }
    return dest;
  }

  async has(address: BlobAddress): Promise<boolean> {
    const info = await this.#objects.info(checkAddress(address));
    return !!info && !info.deleted;
  }

  async open(address: BlobAddress): Promise<{ stream: Readable; bytes: number }> {
    const result = await this.#objects.get(checkAddress(address));
    if (!result || result.info.deleted) throw new BlobError('ERR_BLOB_MISSING', address, `blob ${address.slice(0, 12)} is not in the cluster's object store`);
    return { stream: Readable.fromWeb(result.data as unknown as WebReadableStream<Uint8Array>), bytes: result.info.size };
  }

  async reportCorrupt(address: BlobAddress): Promise<void> {
    await this.#objects.delete(checkAddress(address)).catch(() => undefined);
  }

  async delete(address: BlobAddress): Promise<boolean> {
    if (!(await this.has(address))) return false;
    await this.#objects.delete(address);
    return true;
  }
}

/** The object store's digest of content whose SHA-256 is `address` (hex → `SHA-256=` + base64url). */
function digestOf(address: string): string {
  return `SHA-256=${Buffer.from(address, 'hex').toString('base64url')}=`;
}
