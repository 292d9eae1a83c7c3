// The cluster's function registry: a function deployed on any node runs on every invoker.
//
//   <prefix>_functions   KV: `<name>.v<version>` → the version's settings and its bundle's SHA-256;
//                        `<name>.removed` → the function was removed;
//                        `<name>.schedule` → its timer trigger (cron and payload)
//   <prefix>_blobs       the object store (ObjectStoreBlobStore): the bundles, by SHA-256
//
// The node that deploys runs the whole pipeline (install, bundle, verify), puts the bundle in the
// object store and the version in the bucket. Every node watches the bucket from its start (so a
// node joining later replays every deploy) and adopts each version it lacks: it fetches the bundle,
// verified against its SHA-256, into its own functions folder and records the version under the
// same number. A bundled version shares its bundle alone: on an adopting node it starts cold or
// from a snapshot built there; zygote starts, which need the installed packages, fall back to those.
// A version in the installed layout (deploy/layout.ts: a native addon, files read next to a module,
// "thaw": {"bundle": false}) runs from its folder's src/ and node_modules: the whole folder travels,
// as one tar archive in the object store (installed-tree.ts), verified by its SHA-256 on fetch, and
// the adopting node's version record says so (its layoutReason). The nodes must then share an OS,
// a CPU architecture and a Node ABI, as any copy of a compiled addon must.

import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { Kvm, type KV, type KvWatchEntry } from '@nats-io/kv';
import type { BlobStore } from '../accelerators/v8-snapshot/blob-store.ts';
import { BUNDLE_FILE, functionDir } from '../deploy/deploy.ts';
import type { FunctionVersion, NewFunctionVersion } from '../function.ts';
import type { Store } from '../store/store.ts';
import type { ClusterConnection } from './connection.ts';
import { packTree, unpackTree } from './installed-tree.ts';

/** A version as the cluster knows it: everything but this node's paths. */
export type SharedVersion = Omit<NewFunctionVersion, 'codeDir' | 'bundlePath'> & {
  functionName: string;
  version: number;
  /** The installed layout's folder (bundle.cjs, src/ with its node_modules): a tar archive in the object store. */
  tree?: { sha256: string; bytes: number };
};

export interface RegistryHooks {
  /** A version deployed elsewhere is now recorded here: retire the previous, activate it. */
  adopted(version: FunctionVersion, previous: number | null): void;
  /** The function was removed elsewhere: remove it here. */
  removed(name: string): void;
  /** Its schedule was set (cron) or removed (null) elsewhere. */
  scheduled(name: string, cron: string | null, payload: unknown): void;
  onWarning?: (message: string) => void;
}

export class FunctionRegistry {
  readonly #kv: KV;
  readonly #blobs: BlobStore;
  readonly #store: Store;
  readonly #hooks: RegistryHooks;
  #watcher: { stop(): void } | undefined;
  #applying: Promise<void> = Promise.resolve();

  private constructor(kv: KV, blobs: BlobStore, store: Store, hooks: RegistryHooks) {
    this.#kv = kv;
    this.#blobs = blobs;
    this.#store = store;
    this.#hooks = hooks;
  }

  static async open(connection: ClusterConnection, blobs: BlobStore, store: Store, hooks: RegistryHooks): Promise<FunctionRegistry> {
    const kv = await new Kvm(connection.nc).create(connection.name('functions'), { history: 1, replicas: connection.replicas, description: 'thaw: deployed function versions' });
    const registry = new FunctionRegistry(kv, blobs, store, hooks);
    await registry.#watch();
    return registry;
  }

  /** Shares a version deployed on this node with the cluster. */
  async published(version: FunctionVersion): Promise<void> {
    await this.#blobs.put({ file: version.bundlePath });
    const { codeDir: _, bundlePath: __, snapshotStatus: ___, snapshotUpdatedAt: ____, createdAt: _____, isolateStatus: ______, ...settings } = version;
    const shared: SharedVersion = settings;
    if (version.layout === 'installed') shared.tree = await this.#shareTree(version.codeDir);
    await this.#kv.put(`${version.functionName}.v${version.version}`, JSON.stringify(shared));
    await this.#kv.delete(`${version.functionName}.removed`).catch(() => undefined);
  }

  /** Tells the cluster a function removed on this node is gone. */
  async removedHere(name: string): Promise<void> {
    await this.#kv.put(`${name}.removed`, JSON.stringify({ at: Date.now() }));
    for await (const key of await this.#kv.keys(`${name}.*`)) if (key !== `${name}.removed`) await this.#kv.purge(key);
  }

  /** Shares a schedule set (or, with null, removed) on this node. */
  async scheduled(name: string, cron: string | null, payload: unknown): Promise<void> {
    if (cron === null) await this.#kv.delete(`${name}.schedule`);
    else await this.#kv.put(`${name}.schedule`, JSON.stringify({ cron, payload }));
  }

  /** Waits until every entry seen so far has been applied (tests, and deploys that must be visible). */
  settled(): Promise<void> {
    return this.#applying;
  }

  close(): void {
    this.#watcher?.stop();
  }

  /** Puts a version's folder in the object store as one archive (the same bytes for the same tree). */
  async #shareTree(codeDir: string): Promise<{ sha256: string; bytes: number }> {
    const archive = await packTree(codeDir, join(this.#store.dataDir, 'cluster'));
    try {
      const { address, bytes } = await this.#blobs.put({ file: archive });
      return { sha256: address, bytes };
    } finally {
      rmSync(archive, { force: true });
    }
  }

  async #watch(): Promise<void> {
    const iterator = await this.#kv.watch();
    this.#watcher = iterator;
    void (async () => {
      for await (const entry of iterator) {
        // One at a time, in the bucket's order: versions of a function arrive in the order they were made.
        this.#applying = this.#applying.then(() => this.#apply(entry)).catch((error: Error) => this.#hooks.onWarning?.(`cluster registry, ${entry.key}: ${error.message}`));
      }
    })();
  }

  async #apply(entry: KvWatchEntry): Promise<void> {
    const dot = entry.key.lastIndexOf('.');
    const name = entry.key.slice(0, dot);
    const what = entry.key.slice(dot + 1);
    if (what === 'schedule') {
      if (!this.#store.functions.get(name)) return;
      const current = this.#store.schedules.list().find((s) => s.functionName === name);
      if (entry.operation !== 'PUT') {
        if (current) this.#hooks.scheduled(name, null, null);
        return;
      }
      const { cron, payload } = entry.json<{ cron: string; payload: unknown }>();
      if (current?.cron !== cron || JSON.stringify(current.payload) !== JSON.stringify(payload)) this.#hooks.scheduled(name, cron, payload);
      return;
    }
    if (entry.operation !== 'PUT') return;
    if (what === 'removed') {
      if (this.#store.functions.get(name)) this.#hooks.removed(name);
      return;
    }
    const shared = entry.json<SharedVersion>();
    if (this.#store.functions.getVersion(name, shared.version)) return; // deployed here, or adopted already
    const dir = join(functionDir(this.#store.dataDir, name), String(shared.version));
    rmSync(dir, { recursive: true, force: true });
    mkdirSync(dir, { recursive: true, mode: 0o755 });
    const { functionName: _, version: number, tree, ...settings } = shared;
    if (shared.layout === 'installed') {
      // An installed layout's loader alone would fail on every start: its folder travels whole.
      if (!tree) throw new Error(`version ${number} runs from its installed node_modules (${shared.layoutReason ?? 'installed layout'}) but its node shared only the bundle (a thaw before installed trees were shared); deploy it again; not adopted`);
      const archive = await this.#blobs.get(tree.sha256);
      try {
        await unpackTree(archive, dir);
      } finally {
        rmSync(archive, { force: true });
      }
      const loader = createHash('sha256').update(readFileSync(join(dir, BUNDLE_FILE))).digest('hex');
      if (loader !== shared.bundleSha256) throw new Error(`version ${number}: the installed tree ${tree.sha256.slice(0, 12)} holds a bundle.cjs hashing to ${loader.slice(0, 12)}, not ${shared.bundleSha256.slice(0, 12)}; not adopted`);
      settings.layoutReason = `${shared.layoutReason ?? 'installed layout'} (its installed tree, ${tree.bytes} bytes, SHA-256 ${tree.sha256.slice(0, 12)}, fetched from the cluster's object store)`;
    } else {
      renameSync(await this.#blobs.get(shared.bundleSha256), join(dir, BUNDLE_FILE));
    }
    const previous = this.#store.functions.get(name)?.latest?.version ?? null;
    const version = this.#store.functions.publish(name, (next) => {
      // Versions are numbered by the node that deployed them; a node that missed one (a removal and
      // a redeploy raced) keeps its own count and says so.
      if (next !== number) throw new Error(`version ${number} arrived where version ${next} was expected; not adopted`);
      return { ...settings, codeDir: dir, bundlePath: join(dir, BUNDLE_FILE) };
    });
    this.#hooks.adopted(version, previous);
  }
}
