// Content-addressed blobs (MITOSIS's "one snapshot, many instances"): a snapshot is built once,
// stored once under its SHA-256, and every invoker restores its instances from a local copy.
//
//   BlobStore            put(bytes | file) → address (sha256 hex), get(address) → verified path, has,
//                        open (raw stream), delete. DirectoryBlobStore: one directory shared by all
//                        invokers (default <dataDir>/blobs), files written to a temporary name and
//                        renamed into place, read-only.
//   LocalBlobCache       one per invoker: its own directory and size limit, LRU eviction; fetches a
//                        blob from the store by address and verifies its SHA-256 while copying it,
//                        BEFORE it is ever used.
//
// Verification cost. A full SHA-256 of an 88 MB blob costs ~200 ms here, as much as the restore it
// protects, so it is paid once, on fetch into the local cache (the hash is computed on the copy's
// own bytes while they are written: one pass). Each start then does one stat() and compares the
// file's identity recorded right after verification: (dev, ino, size, mtime, ctime). A truncation
// changes the size, a replaced file the inode, and any write through the file system (in place or
// not) the ctime, which unlike mtime cannot be set back from user space. What it cannot see is
// corruption below the file system (bit rot on the disk): `verify()` rehashes on demand (e.g. a
// scrub), and a restore that crashes drops the local copy so the next fetch rehashes it.

import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream, statSync, unlinkSync, type Stats } from 'node:fs';
import { chmod, mkdir, readdir, rename, rm, stat, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { Transform } from 'node:stream';
import { ThawError, type ErrorCode } from '../../../core/errors.ts';

export type BlobAddress = string;

export type BlobErrorCode = Extract<ErrorCode, 'ERR_BLOB_MISSING' | 'ERR_BLOB_CORRUPT' | 'ERR_BLOB_TOO_LARGE' | 'ERR_BLOB_ADDRESS'>;

export class BlobError extends ThawError {
  declare readonly code: BlobErrorCode;
  readonly address: string;
  constructor(code: BlobErrorCode, address: string, message: string, options?: { cause?: unknown }) {
    super(code, message, options);
    this.name = 'BlobError';
    this.address = address;
  }
}

const ADDRESS = /^[0-9a-f]{64}$/;

export function checkAddress(address: string): BlobAddress {
  if (typeof address !== 'string' || !ADDRESS.test(address)) throw new BlobError('ERR_BLOB_ADDRESS', String(address), `not a blob address (64 lower-case hex digits): ${JSON.stringify(address)}`);
  return address;
}

export interface PutResult {
  address: BlobAddress;
  bytes: number;
  /** false when the store already held it (content addressing: nothing written). */
  stored: boolean;
}

export interface BlobStore {
  /** Stores bytes or a file's contents; the address is their SHA-256. */
  put(source: Uint8Array | { file: string }): Promise<PutResult>;
  /** A local path to the blob, its SHA-256 verified now; throws ERR_BLOB_MISSING / ERR_BLOB_CORRUPT (a corrupt blob is removed). */
  get(address: BlobAddress): Promise<string>;
  has(address: BlobAddress): Promise<boolean>;
  /** The blob's bytes as stored, not verified (the reader verifies: see LocalBlobCache). */
  open(address: BlobAddress): Promise<{ stream: Readable; bytes: number }>;
  /** Says the blob at address is corrupt: the store removes it (it is rebuilt or put again). */
  reportCorrupt(address: BlobAddress): Promise<void>;
  delete(address: BlobAddress): Promise<boolean>;
}

/** A SHA-256 computed over the bytes flowing through. */
class HashingPassThrough extends Transform {
  readonly hash = createHash('sha256');
  bytes = 0;
  override _transform(chunk: Buffer, _enc: BufferEncoding, done: (err?: Error | null, data?: Buffer) => void): void {
    this.hash.update(chunk);
    this.bytes += chunk.length;
    done(null, chunk);
  }
}

function tempName(dir: string): string {
  return join(dir, `.tmp-${process.pid}-${randomBytes(6).toString('hex')}`);
}

/** Copies a stream to `dest` (via a temporary file and a rename), returning the SHA-256 of what was written. */
export async function copyHashed(source: Readable, dir: string, dest: string, check?: (address: string, bytes: number) => void): Promise<{ address: string; bytes: number }> {
  const tmp = tempName(dir);
  const hasher = new HashingPassThrough();
  try {
    await pipeline(source, hasher, createWriteStream(tmp, { mode: 0o644 }));
    const address = hasher.hash.digest('hex');
    check?.(address, hasher.bytes);
    await chmod(tmp, 0o444);
    await rename(tmp, dest);
    return { address, bytes: hasher.bytes };
  } catch (err) {
    await rm(tmp, { force: true }).catch(() => undefined);
    throw err;
  }
}

export async function hashFile(path: string): Promise<{ address: string; bytes: number }> {
  const hasher = new HashingPassThrough();
  await pipeline(createReadStream(path), hasher, async function* (source) {
    for await (const _ of source) {
      // drain
    }
  });
  return { address: hasher.hash.digest('hex'), bytes: hasher.bytes };
}

/** A blob store in one directory: <dir>/<aa>/<sha256>. Safe to share between processes (temp + rename). */
export class DirectoryBlobStore implements BlobStore {
  readonly dir: string;

  constructor(dir: string) {
    this.dir = dir;
  }

  pathOf(address: BlobAddress): string {
    checkAddress(address);
    return join(this.dir, address.slice(0, 2), address);
  }

  async put(source: Uint8Array | { file: string }): Promise<PutResult> {
    await mkdir(this.dir, { recursive: true, mode: 0o755 });
    const staging = tempName(this.dir);
    let written: { address: string; bytes: number };
    if (source instanceof Uint8Array) {
      const address = createHash('sha256').update(source).digest('hex');
      await writeFile(staging, source, { mode: 0o444 });
      written = { address, bytes: source.byteLength };
    } else {
      written = await copyHashed(createReadStream(source.file), this.dir, staging);
    }
    const dest = this.pathOf(written.address);
    try {
      // Already there: keep it only if it is intact (puts are rare: a build, a re-upload after corruption).
      const existing = await stat(dest).catch(() => undefined);
      if (existing?.size === written.bytes && (await hashFile(dest).catch(() => undefined))?.address === written.address) return { ...written, stored: false };
      await mkdir(join(this.dir, written.address.slice(0, 2)), { recursive: true, mode: 0o755 });
      await rename(staging, dest);
      return { ...written, stored: true };
    } finally {
      await rm(staging, { force: true }).catch(() => undefined);
    }
  }

  async get(address: BlobAddress): Promise<string> {
    const path = this.pathOf(address);
    let actual: { address: string; bytes: number };
    try {
      actual = await hashFile(path);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw new BlobError('ERR_BLOB_MISSING', address, `blob ${address.slice(0, 12)} is not in the store`);
      throw err;
    }
    if (actual.address !== address) {
      await this.reportCorrupt(address);
      throw new BlobError('ERR_BLOB_CORRUPT', address, `blob ${address.slice(0, 12)} in the store is corrupt (its ${actual.bytes} bytes hash to ${actual.address.slice(0, 12)}); removed`);
    }
    return path;
  }

  async has(address: BlobAddress): Promise<boolean> {
    return (await stat(this.pathOf(address)).catch(() => undefined))?.isFile() === true;
  }

  async open(address: BlobAddress): Promise<{ stream: Readable; bytes: number }> {
    const path = this.pathOf(address);
    const st = await stat(path).catch(() => undefined);
    if (!st?.isFile()) throw new BlobError('ERR_BLOB_MISSING', address, `blob ${address.slice(0, 12)} is not in the store`);
    return { stream: createReadStream(path), bytes: st.size };
  }

  async reportCorrupt(address: BlobAddress): Promise<void> {
    await unlink(this.pathOf(address)).catch(() => undefined);
  }

  async delete(address: BlobAddress): Promise<boolean> {
    try {
      await unlink(this.pathOf(address));
      return true;
    } catch {
      return false;
    }
  }
}

// ------------------------------------------------------------------ the local cache

interface Identity {
  dev: number;
  ino: number;
  size: number;
  mtimeMs: number;
  ctimeMs: number;
}

function identityOf(st: Stats): Identity {
  return { dev: st.dev, ino: st.ino, size: st.size, mtimeMs: st.mtimeMs, ctimeMs: st.ctimeMs };
}

function sameIdentity(a: Identity, b: Identity): boolean {
  return a.dev === b.dev && a.ino === b.ino && a.size === b.size && a.mtimeMs === b.mtimeMs && a.ctimeMs === b.ctimeMs;
}

interface CacheEntry {
  address: BlobAddress;
  path: string;
  identity: Identity;
  pins: number;
  /** Monotonic use counter (LRU order). */
  usedAt: number;
}

export interface LocalBlobCacheOptions {
  store: BlobStore;
  /** This cache's own directory (emptied when the cache is created: its files are re-fetched and re-verified on demand). */
  dir: string;
  /** Total bytes of the blobs it keeps. */
  maxBytes: number;
}

export interface BlobLease {
  readonly address: BlobAddress;
  readonly path: string;
  /** The blob may be evicted again (idempotent). */
  release(): void;
}

export interface LocalBlobCacheStats {
  entries: number;
  bytes: number;
  maxBytes: number;
  fetches: number;
  hits: number;
  evictions: number;
  /** Local copies found changed by the per-start check and dropped. */
  invalidated: number;
  /** Fetches whose bytes did not hash to the address (the store's copy was reported corrupt). */
  corruptFetches: number;
}

/** A per-invoker cache of verified blobs, limited in size, least recently used evicted first. */
export class LocalBlobCache {
  readonly dir: string;
  readonly maxBytes: number;
  readonly #store: BlobStore;
  readonly #entries = new Map<BlobAddress, CacheEntry>();
  readonly #fetching = new Map<BlobAddress, Promise<string>>();
  readonly #ready: Promise<void>;
  #bytes = 0;
  #clock = 0;
  #stats = { fetches: 0, hits: 0, evictions: 0, invalidated: 0, corruptFetches: 0 };

  constructor(options: LocalBlobCacheOptions) {
    if (!(Number.isFinite(options.maxBytes) && options.maxBytes > 0)) throw new TypeError(`maxBytes must be positive, got ${options.maxBytes}`);
    this.dir = options.dir;
    this.maxBytes = options.maxBytes;
    this.#store = options.store;
    const dir = options.dir;
    this.#ready = (async () => {
      await rm(dir, { recursive: true, force: true });
      await mkdir(dir, { recursive: true, mode: 0o755 });
    })();
  }

  get stats(): LocalBlobCacheStats {
    return { entries: this.#entries.size, bytes: this.#bytes, maxBytes: this.maxBytes, ...this.#stats };
  }

  /** Addresses held, least recently used first. */
  addresses(): BlobAddress[] {
    return [...this.#entries.values()].sort((a, b) => a.usedAt - b.usedAt).map((e) => e.address);
  }

  /**
   * The verified local path of a blob if this cache holds it and it is unchanged since it was
   * verified (one stat()); a changed or vanished copy is dropped and undefined returned. Synchronous.
   */
  lookup(address: BlobAddress): string | undefined {
    const entry = this.#entries.get(address);
    if (!entry) return undefined;
    let st: Stats;
    try {
      st = statSync(entry.path);
    } catch {
      this.#drop(entry, true);
      return undefined;
    }
    if (!sameIdentity(identityOf(st), entry.identity)) {
      this.#drop(entry, true);
      return undefined;
    }
    entry.usedAt = ++this.#clock;
    this.#stats.hits++;
    return entry.path;
  }

  /** lookup(), and pinned against eviction until released (a start in progress). */
  acquire(address: BlobAddress): BlobLease | undefined {
    const path = this.lookup(address);
    if (path === undefined) return undefined;
    const entry = this.#entries.get(address)!;
    entry.pins++;
    let released = false;
    return {
      address,
      path,
      release: () => {
        if (released) return;
        released = true;
        entry.pins--;
        this.#evictOver();
      },
    };
  }

  /**
   * The verified local path of a blob, fetching it from the store if needed: copied while hashed,
   * and kept only if the hash is the address (otherwise the store is told and ERR_BLOB_CORRUPT
   * thrown). Concurrent fetches of one address share one copy.
   */
  fetch(address: BlobAddress): Promise<string> {
    checkAddress(address);
    const held = this.lookup(address);
    if (held !== undefined) return Promise.resolve(held);
    let pending = this.#fetching.get(address);
    if (!pending) {
      pending = this.#fetchOnce(address).finally(() => this.#fetching.delete(address));
      this.#fetching.set(address, pending);
    }
    return pending;
  }

  async #fetchOnce(address: BlobAddress): Promise<string> {
    await this.#ready;
    this.#stats.fetches++;
    const { stream, bytes } = await this.#store.open(address);
    if (bytes > this.maxBytes) {
      stream.destroy();
      throw new BlobError('ERR_BLOB_TOO_LARGE', address, `blob ${address.slice(0, 12)} (${bytes} bytes) is larger than the local cache (${this.maxBytes} bytes)`);
    }
    const dest = join(this.dir, address);
    try {
      await copyHashed(stream, this.dir, dest, (actual, n) => {
        if (actual !== address) {
          throw new BlobError('ERR_BLOB_CORRUPT', address, `blob ${address.slice(0, 12)} is corrupt in the store (its ${n} bytes hash to ${actual.slice(0, 12)})`);
        }
      });
    } catch (err) {
      if (err instanceof BlobError && err.code === 'ERR_BLOB_CORRUPT') {
        this.#stats.corruptFetches++;
        await this.#store.reportCorrupt(address);
      }
      throw err;
    }
    const st = statSync(dest);
    const previous = this.#entries.get(address);
    if (previous) this.#drop(previous, false);
    const entry: CacheEntry = { address, path: dest, identity: identityOf(st), pins: 0, usedAt: ++this.#clock };
    this.#entries.set(address, entry);
    this.#bytes += st.size;
    this.#evictOver(address);
    return dest;
  }

  /** Rehashes the local copy now (a scrub); a mismatch drops it. */
  async verify(address: BlobAddress): Promise<boolean> {
    const entry = this.#entries.get(address);
    if (!entry) return false;
    const actual = await hashFile(entry.path).catch(() => undefined);
    if (actual?.address === address && actual.bytes === entry.identity.size) return true;
    this.#drop(entry, true);
    return false;
  }

  /** Drops a blob from this cache (its file too). */
  remove(address: BlobAddress): boolean {
    const entry = this.#entries.get(address);
    if (!entry) return false;
    this.#drop(entry, false);
    return true;
  }

  #drop(entry: CacheEntry, invalid: boolean): void {
    if (this.#entries.get(entry.address) !== entry) return;
    this.#entries.delete(entry.address);
    this.#bytes -= entry.identity.size;
    if (invalid) this.#stats.invalidated++;
    // A running restore already read it (node reads the whole blob at start): unlinking is safe.
    try {
      unlinkSync(entry.path);
    } catch {
      // already gone
    }
  }

  /** Evicts least recently used, unpinned blobs (never `keep`) until the cache fits. */
  #evictOver(keep?: BlobAddress): void {
    if (this.#bytes <= this.maxBytes) return;
    for (const entry of [...this.#entries.values()].sort((a, b) => a.usedAt - b.usedAt)) {
      if (this.#bytes <= this.maxBytes) return;
      if (entry.pins > 0 || entry.address === keep) continue;
      this.#drop(entry, false);
      this.#stats.evictions++;
    }
  }

  /** Every blob file this cache's directory holds (for tests and inspection). */
  async files(): Promise<string[]> {
    await this.#ready;
    return (await readdir(this.dir)).filter((f) => !f.startsWith('.tmp-'));
  }
}
