// SnapshotStartPath: SnapStart for JavaScript. A version's V8 startup snapshot is built once in the
// background (at deploy, or after its first cold start), stored once in a content-addressed blob
// store shared by every invoker, fetched into this invoker's local cache with its SHA-256 verified,
// and every new instance of the version is restored from that one blob (MITOSIS: one snapshot, many
// instances).
//
// Never fails a request a cold start could serve: available() is false until a verified blob is in
// the local cache (the instance starts cold meanwhile); create() throws SnapshotUnavailableError,
// which the planner catches, when it is not; and a restore that does not come up falls back to a
// cold start inside the same sandbox object (startKind says which it was).
//
// State of a version, also written to the store as its snapshot status (`thaw ls`):
//   building                        queued or running
//   ready <sha256-prefix> <size>    a blob exists
//   fallback: <reason>              cannot be snapshotted (the build's reason); cold starts only

import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync, renameSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { ThawError } from '../../../core/errors.ts';
import type { DeployedFunction } from '../../function.ts';
import { SandboxStartError } from '../../sandbox/errors.ts';
import { snapshotSupport, type SnapshotSupport } from './launch.ts';
import type { ExitInfo, InvokeOutcome, Sandbox, SandboxBackend, SandboxSpec, StartTimings } from '../../sandbox/types.ts';
import type { StartPath, StartPathKind } from '../start-path.ts';
import type { InvocationContext } from '../../../runtime/protocol.ts';
import { BlobError, DirectoryBlobStore, LocalBlobCache, type BlobLease, type BlobStore } from './blob-store.ts';
import { buildSnapshot, type SnapshotBuildResult } from './builder.ts';

export class SnapshotUnavailableError extends ThawError {
  constructor(message: string) {
    super('ERR_SNAPSHOT_UNAVAILABLE', message);
    this.name = 'SnapshotUnavailableError';
  }
}

/** Where a version's status is recorded (store.functions). */
export interface SnapshotStatusSink {
  setSnapshotStatus(name: string, version: number, status: string | null): void;
}

export interface SnapshotStartPathOptions {
  backend: SandboxBackend;
  /** thaw's data directory: blobs in <dataDir>/blobs, manifests in <dataDir>/snapshots. */
  dataDir: string;
  /** Records each version's snapshot status (pass store.functions). */
  status?: SnapshotStatusSink;
  /** The shared blob store (default: DirectoryBlobStore(<dataDir>/blobs)). */
  blobStore?: BlobStore;
  /** This invoker's local cache directory (default <dataDir>/snapshot-cache/<pid>). */
  cacheDir?: string;
  /** Local cache size limit, bytes (default 2 GiB). */
  cacheMaxBytes?: number;
  /** When to build: at deploy (default), or after a version's first cold start. */
  when?: 'deploy' | 'first-cold-start';
  /** Builds running at once (1 or 2; default 1): builds are CPU-heavy and must not slow serving. */
  concurrency?: number;
  /** Which versions get snapshots (default: all); e.g. fn => store's start preference is snapshot/auto. */
  shouldSnapshot?: (fn: DeployedFunction) => boolean;
  /** One build's time limit, ms (default 120 s). */
  buildTimeoutMs?: number;
  /** How long open handles may take to close after beforeSnapshot(), ms (default 1000). */
  settleMs?: number;
  /** Where builds run (default <os tmpdir>/thaw-snapshot-builds: traversable by the function's user). */
  buildDir?: string;
  onWarning?: (message: string) => void;
  /** Called when a build ends (tests, logs). */
  onBuilt?: (fn: DeployedFunction, result: SnapshotState) => void;
}

export interface SnapshotManifest {
  functionName: string;
  version: number;
  address: string;
  bytes: number;
  bundleSha256: string;
  node: string;
  arch: string;
  backend: 'process' | 'container';
  memoryMb: number;
  builtAt: number;
  buildMs: number;
  report: Extract<SnapshotBuildResult, { ok: true }>['report'];
}

export type SnapshotState =
  | { state: 'building' }
  | { state: 'ready'; manifest: SnapshotManifest }
  | { state: 'fallback'; reason: string; kind: string }
  | { state: 'none' };

interface Entry {
  fn: DeployedFunction;
  state: SnapshotState;
  /** The build or rebuild in flight (keyed: one per version). */
  build?: Promise<SnapshotState>;
  /** A fetch into the local cache in flight. */
  fetch?: Promise<void>;
  builds: number;
}

interface QueuedBuild {
  key: string;
  run: () => Promise<void>;
}

export function formatSize(bytes: number): string {
  if (bytes >= 1024 * 1024) return `${(bytes / (1024 * 1024)).toFixed(1)} MiB`;
  if (bytes >= 1024) return `${(bytes / 1024).toFixed(1)} KiB`;
  return `${bytes} B`;
}

function keyOf(fn: { name: string; version: number }): string {
  return `${fn.name}@${fn.version}`;
}

export class SnapshotStartPath implements StartPath {
  readonly kind: StartPathKind = 'snapshot';
  readonly blobStore: BlobStore;
  readonly cache: LocalBlobCache;
  readonly support: SnapshotSupport | undefined;
  readonly #options: SnapshotStartPathOptions;
  readonly #entries = new Map<string, Entry>();
  readonly #queue: QueuedBuild[] = [];
  readonly #manifestDir: string;
  #running = 0;
  #closed = false;
  #idleWaiters: (() => void)[] = [];
  /** Builds started (all versions): a burst must not multiply them. */
  buildsStarted = 0;

  constructor(options: SnapshotStartPathOptions) {
    this.#options = options;
    this.support = snapshotSupport(options.backend);
    this.blobStore = options.blobStore ?? new DirectoryBlobStore(join(options.dataDir, 'blobs'));
    this.cache = new LocalBlobCache({
      store: this.blobStore,
      dir: options.cacheDir ?? join(options.dataDir, 'snapshot-cache', String(process.pid)),
      maxBytes: options.cacheMaxBytes ?? 2 * 1024 * 1024 * 1024,
    });
    this.#manifestDir = join(options.dataDir, 'snapshots');
    const c = options.concurrency ?? 1;
    if (!(Number.isInteger(c) && c >= 1 && c <= 2)) throw new TypeError(`concurrency must be 1 or 2, got ${c}`);
  }

  // ------------------------------------------------------------------ StartPath

  available(fn: DeployedFunction): boolean {
    if (!this.support || this.#closed) return false;
    const entry = this.#entry(fn);
    if (entry.state.state !== 'ready') {
      // Nothing known (e.g. after a restart with no manifest): build it in the background.
      if (entry.state.state === 'none' && this.#wanted(fn) && this.#options.when !== 'first-cold-start') void this.requestBuild(fn);
      return false;
    }
    const { manifest } = entry.state;
    if (manifest.memoryMb !== fn.memoryMb) return false;
    if (this.cache.lookup(manifest.address) !== undefined) return true;
    // Not here (never fetched, evicted, or the local copy changed and was dropped): fetch and
    // verify it in the background; this start goes cold.
    this.#fetchInBackground(entry, manifest);
    return false;
  }

  create(fn: DeployedFunction, spec: SandboxSpec): Sandbox {
    if (!this.support) throw new SnapshotUnavailableError(`the ${this.#options.backend.name} backend cannot restore snapshots`);
    const entry = this.#entry(fn);
    if (entry.state.state !== 'ready') throw new SnapshotUnavailableError(`${keyOf(fn)} has no snapshot (${describeState(entry.state)})`);
    const { manifest } = entry.state;
    if (spec.memoryMb !== manifest.memoryMb) {
      throw new SnapshotUnavailableError(`${keyOf(fn)}: the snapshot was built for ${manifest.memoryMb} MB (V8's heap flags must match), the instance asks for ${spec.memoryMb} MB`);
    }
    const lease = this.cache.acquire(manifest.address);
    if (!lease) {
      this.#fetchInBackground(entry, manifest);
      throw new SnapshotUnavailableError(`${keyOf(fn)}: snapshot ${manifest.address.slice(0, 12)} is not verified in the local cache (fetching it)`);
    }
    return new SnapshotSandbox(spec, lease, this.support, this.#options.backend, (error) => this.#restoreFailed(fn, manifest, error));
  }

  onDeploy(fn: DeployedFunction): void {
    if ((this.#options.when ?? 'deploy') !== 'deploy' || !this.#wanted(fn)) return;
    void this.requestBuild(fn);
  }

  onColdStart(fn: DeployedFunction, path: StartPathKind): void {
    if (this.#options.when !== 'first-cold-start' || path !== 'cold' || !this.#wanted(fn)) return;
    if (this.#entry(fn).state.state === 'none') void this.requestBuild(fn);
  }

  onRetire(fn: DeployedFunction): void {
    const key = keyOf(fn);
    const entry = this.#entries.get(key);
    const i = this.#queue.findIndex((q) => q.key === key);
    if (i >= 0) this.#queue.splice(i, 1);
    this.#entries.delete(key);
    const manifest = entry?.state.state === 'ready' ? entry.state.manifest : this.#readManifest(fn);
    rmSync(this.#manifestPath(fn), { force: true });
    if (manifest) {
      const shared = [...this.#entries.values()].some((e) => e.state.state === 'ready' && e.state.manifest.address === manifest.address);
      if (!shared) this.cache.remove(manifest.address);
      // Content addressing: another version may have the very same blob.
      if (!this.#manifestsReferencing(manifest.address)) void this.blobStore.delete(manifest.address);
    }
  }

  async close(): Promise<void> {
    this.#closed = true;
    this.#queue.length = 0;
    await Promise.allSettled([...this.#entries.values()].flatMap((e) => [e.build, e.fetch].filter(Boolean)));
  }

  // ------------------------------------------------------------------ more API

  /** What is known of a version's snapshot now. */
  state(fn: DeployedFunction): SnapshotState {
    return this.#entry(fn).state;
  }

  /**
   * Builds the version's snapshot unless it has one or one is being built: concurrent calls (a
   * burst of first requests, a deploy and a cold start) share one build. Resolves with the outcome.
   */
  requestBuild(fn: DeployedFunction): Promise<SnapshotState> {
    const entry = this.#entry(fn);
    if (entry.build) return entry.build;
    if (entry.state.state === 'ready' || entry.state.state === 'fallback') return Promise.resolve(entry.state);
    return this.#scheduleBuild(entry);
  }

  /** Settles when no build or fetch is queued or running (tests, benchmarks). */
  async whenIdle(): Promise<void> {
    for (;;) {
      const pending = [...this.#entries.values()].flatMap((e) => [e.build, e.fetch]).filter((p): p is Promise<never> => p !== undefined);
      if (pending.length === 0) return;
      await Promise.allSettled(pending);
    }
  }

  /** The local path of a version's verified blob, fetching (and verifying) it if needed. */
  async ensureLocal(fn: DeployedFunction): Promise<string | undefined> {
    const entry = this.#entry(fn);
    if (entry.state.state !== 'ready') return undefined;
    this.#fetchInBackground(entry, entry.state.manifest);
    await entry.fetch;
    return this.cache.lookup((entry.state as { manifest: SnapshotManifest }).manifest?.address ?? '') ?? undefined;
  }

  // ------------------------------------------------------------------ internals

  #wanted(fn: DeployedFunction): boolean {
    return this.support !== undefined && (this.#options.shouldSnapshot?.(fn) ?? true);
  }

  #entry(fn: DeployedFunction): Entry {
    const key = keyOf(fn);
    let entry = this.#entries.get(key);
    if (!entry) {
      const manifest = this.#readManifest(fn);
      entry = { fn, state: manifest ? { state: 'ready', manifest } : { state: 'none' }, builds: 0 };
      this.#entries.set(key, entry);
    }
    entry.fn = fn;
    return entry;
  }

  #manifestPath(fn: { name: string; version: number }): string {
    return join(this.#manifestDir, fn.name, `${fn.version}.json`);
  }

  /** A manifest written by an earlier run (or another invoker), if it fits this node and backend. */
  #readManifest(fn: DeployedFunction): SnapshotManifest | undefined {
    try {
      const m = JSON.parse(readFileSync(this.#manifestPath(fn), 'utf8')) as SnapshotManifest;
      if (m.node !== process.version || m.arch !== process.arch || m.backend !== this.support?.backend || m.memoryMb !== fn.memoryMb) return undefined;
      return m;
    } catch {
      return undefined;
    }
  }

  #writeManifest(m: SnapshotManifest): void {
    const path = this.#manifestPath({ name: m.functionName, version: m.version });
    mkdirSync(join(this.#manifestDir, m.functionName), { recursive: true });
    const tmp = `${path}.${process.pid}.tmp`;
    writeFileSync(tmp, `${JSON.stringify(m, null, 2)}\n`);
    renameSync(tmp, path);
  }

  #manifestsReferencing(address: string): boolean {
    try {
      for (const name of readdirSync(this.#manifestDir)) {
        for (const file of readdirSync(join(this.#manifestDir, name))) {
          if (!file.endsWith('.json')) continue;
          try {
            if ((JSON.parse(readFileSync(join(this.#manifestDir, name, file), 'utf8')) as SnapshotManifest).address === address) return true;
          } catch {
            // unreadable: ignore
          }
        }
      }
    } catch {
      // no manifests
    }
    return false;
  }

  #setStatus(fn: DeployedFunction, text: string | null): void {
    try {
      this.#options.status?.setSnapshotStatus(fn.name, fn.version, text);
    } catch (error) {
      this.#options.onWarning?.(`${keyOf(fn)}: could not record the snapshot status: ${(error as Error).message}`);
    }
  }

  #scheduleBuild(entry: Entry): Promise<SnapshotState> {
    const fn = entry.fn;
    const key = keyOf(fn);
    entry.state = { state: 'building' };
    this.#setStatus(fn, 'building');
    entry.build = new Promise<SnapshotState>((resolve) => {
      this.#queue.push({
        key,
        run: async () => {
          let state: SnapshotState;
          try {
            state = await this.#build(entry);
          } catch (error) {
            state = { state: 'fallback', kind: 'other', reason: `the build failed: ${(error as Error).message}` };
          }
          if (this.#entries.get(key) !== entry) {
            resolve(state); // retired meanwhile
            return;
          }
          entry.state = state;
          entry.build = undefined;
          this.#setStatus(fn, statusText(state));
          if (state.state === 'fallback') this.#options.onWarning?.(`${key}: no snapshot, starts stay cold: ${state.reason}`);
          this.#options.onBuilt?.(fn, state);
          resolve(state);
        },
      });
      this.#pump();
    });
    return entry.build;
  }

  #pump(): void {
    const limit = this.#options.concurrency ?? 1;
    while (!this.#closed && this.#running < limit && this.#queue.length > 0) {
      const job = this.#queue.shift()!;
      this.#running++;
      void job.run().finally(() => {
        this.#running--;
        this.#pump();
      });
    }
  }

  async #build(entry: Entry): Promise<SnapshotState> {
    const fn = entry.fn;
    if (fn.layout === 'installed') {
      // node --build-snapshot runs one script that may require only built-ins: an installed tree (and a .node addon above all) cannot go in.
      const why = fn.layoutReason ?? 'installed layout';
      return { state: 'fallback', kind: /native addon/.test(why) ? 'native-addon' : 'external-module', reason: `it runs from its installed node_modules (${why}); a V8 snapshot holds one bundled script` };
    }
    entry.builds++;
    this.buildsStarted++;
    const result = await buildSnapshot(
      { functionName: fn.name, version: fn.version, codeDir: fn.codeDir, memoryMb: fn.memoryMb, env: fn.env, network: fn.network },
      {
        support: this.support!,
        workDir: this.#options.buildDir ?? join(tmpdir(), 'thaw-snapshot-builds'),
        timeoutMs: this.#options.buildTimeoutMs,
        settleMs: this.#options.settleMs,
      },
    );
    if (!result.ok) return { state: 'fallback', kind: result.kind, reason: result.reason };
    try {
      const put = await this.blobStore.put({ file: result.blobPath });
      const manifest: SnapshotManifest = {
        functionName: fn.name,
        version: fn.version,
        address: put.address,
        bytes: put.bytes,
        bundleSha256: result.bundleSha256,
        node: process.version,
        arch: process.arch,
        backend: this.support!.backend,
        memoryMb: fn.memoryMb,
        builtAt: Date.now(),
        buildMs: result.buildMs,
        report: result.report,
      };
      this.#writeManifest(manifest);
      // Verified into this invoker's cache now, so the next start can restore.
      await this.cache.fetch(put.address);
      return { state: 'ready', manifest };
    } finally {
      await result.cleanup();
    }
  }

  #fetchInBackground(entry: Entry, manifest: SnapshotManifest): void {
    if (entry.fetch || entry.build) return;
    entry.fetch = this.cache
      .fetch(manifest.address)
      .then(
        () => undefined,
        (error: unknown) => {
          if (error instanceof BlobError && (error.code === 'ERR_BLOB_MISSING' || error.code === 'ERR_BLOB_CORRUPT')) {
            // The shared copy is gone or bad: it was removed; build it again.
            this.#options.onWarning?.(`${keyOf(entry.fn)}: ${error.message}; rebuilding the snapshot`);
            rmSync(this.#manifestPath(entry.fn), { force: true });
            entry.state = { state: 'none' };
            void this.#scheduleBuild(entry);
          } else {
            this.#options.onWarning?.(`${keyOf(entry.fn)}: could not fetch snapshot ${manifest.address.slice(0, 12)}: ${(error as Error).message}`);
          }
        },
      )
      .finally(() => {
        entry.fetch = undefined;
      });
  }

  /** A restore that did not come up: drop the local copy (the next fetch rehashes the store's). */
  #restoreFailed(fn: DeployedFunction, manifest: SnapshotManifest, error: Error): void {
    this.#options.onWarning?.(`${keyOf(fn)}: restoring snapshot ${manifest.address.slice(0, 12)} failed, started cold instead: ${error.message.split('\n')[0]}`);
    this.cache.remove(manifest.address);
  }
}

function describeState(s: SnapshotState): string {
  switch (s.state) {
    case 'none':
      return 'not built';
    case 'building':
      return 'building';
    case 'fallback':
      return `fallback: ${s.reason}`;
    case 'ready':
      return 'ready';
  }
}

export function statusText(s: SnapshotState): string | null {
  switch (s.state) {
    case 'ready':
      return `ready ${s.manifest.address.slice(0, 12)} ${formatSize(s.manifest.bytes)}`;
    case 'fallback':
      return `fallback: ${s.reason}`;
    case 'building':
      return 'building';
    case 'none':
      return null;
  }
}

// ------------------------------------------------------------------ the sandbox

/**
 * A sandbox started from a snapshot, that starts cold instead (a fresh sandbox of the same backend,
 * same spec) if the restore does not come up. `startKind` says which it was once start() resolved.
 */
export class SnapshotSandbox implements Sandbox {
  readonly id: string;
  readonly exited: Promise<ExitInfo>;
  readonly address: string;
  #current: Sandbox;
  #lease: BlobLease | undefined;
  #startKind: 'snapshot' | 'cold' = 'snapshot';
  #destroyed = false;
  readonly #followed = new WeakSet<Sandbox>();
  #resolveExited!: (info: ExitInfo) => void;
  readonly #spec: SandboxSpec;
  readonly #backend: SandboxBackend;
  readonly #onRestoreFailed: (error: Error) => void;
  /** Why the restore failed, when it fell back to a cold start. */
  restoreError: Error | undefined;

  constructor(spec: SandboxSpec, lease: BlobLease, support: SnapshotSupport, backend: SandboxBackend, onRestoreFailed: (error: Error) => void) {
    this.id = spec.instanceId;
    this.#spec = spec;
    this.#backend = backend;
    this.#lease = lease;
    this.address = lease.address;
    this.#onRestoreFailed = onRestoreFailed;
    this.exited = new Promise((resolve) => (this.#resolveExited = resolve));
    this.#current = support.create(spec, { blobPath: lease.path });
  }

  /** 'snapshot' if restored, 'cold' if the restore failed and it started cold instead. */
  get startKind(): 'snapshot' | 'cold' {
    return this.#startKind;
  }

  get pid(): number | undefined {
    return this.#current.pid;
  }

  /** The sandbox that runs the instance (a RuntimeProcess restoring the blob, or the cold one). */
  get inner(): Sandbox {
    return this.#current;
  }

  /** A restored blob's: 1 (its agent takes no --concurrency: agentServesConcurrently); after a cold fallback, the cold sandbox's. */
  get concurrency(): number {
    return this.#current.concurrency;
  }

  get inFlight(): number {
    return this.#current.inFlight;
  }

  get startLogs(): { stdout: string; stderr: string } {
    return (this.#current as { startLogs?: { stdout: string; stderr: string } }).startLogs ?? { stdout: '', stderr: '' };
  }

  /** Settles this.exited with `sandbox`'s exit, if it is still the current one then. Attached once start() is over (or on destroy). */
  #follow(sandbox: Sandbox): void {
    if (this.#followed.has(sandbox)) return;
    this.#followed.add(sandbox);
    void sandbox.exited.then((info) => {
      if (this.#current === sandbox) this.#resolveExited(info);
    });
  }

  async start(): Promise<StartTimings> {
    try {
      return await this.#current.start();
    } catch (error) {
      if (this.#destroyed || !(error instanceof SandboxStartError)) throw error;
      // The restore did not come up (a bad blob, a node that refuses it, afterRestore() throwing):
      // a cold start could serve this request, so it does.
      this.restoreError = error;
      this.#onRestoreFailed(error);
      this.#current = this.#backend.create(this.#spec);
      this.#startKind = 'cold';
      return await this.#current.start();
    } finally {
      this.#lease?.release();
      this.#lease = undefined;
      this.#follow(this.#current);
    }
  }

  invoke(payload: unknown, context: InvocationContext, timeoutMs: number, payloadJson?: string): Promise<InvokeOutcome> {
    return this.#current.invoke(payload, context, timeoutMs, payloadJson);
  }

  pause(): Promise<void> {
    return this.#current.pause();
  }

  resume(): Promise<void> {
    return this.#current.resume();
  }

  setLimits(limits: { memoryMb?: number; cpuShares?: number; cpuQuota?: number | null }): Promise<void> {
    return this.#current.setLimits(limits);
  }

  memoryUsageMb(): Promise<number> {
    return this.#current.memoryUsageMb();
  }

  async destroy(): Promise<void> {
    this.#destroyed = true;
    this.#lease?.release();
    this.#lease = undefined;
    this.#follow(this.#current);
    await this.#current.destroy();
  }
}
