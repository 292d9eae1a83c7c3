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
// same number. Only the bundle travels: on an adopting node a version starts cold or from a
// snapshot built there; zygote starts, which need the installed packages, fall back to those.

import { mkdirSync, renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { Kvm, type KV, type KvWatchEntry } from '@nats-io/kv';
import type { BlobStore } from '../accelerators/v8-snapshot/blob-store.ts';
import { BUNDLE_FILE, functionDir } from '../deploy/deploy.ts';
import type { FunctionVersion, NewFunctionVersion } from '../function.ts';
import type { Store } from '../store/store.ts';
import type { ClusterConnection } from './connection.ts';

/** A version as the cluster knows it: everything but this node's paths. */
export type SharedVersion = Omit<NewFunctionVersion, 'codeDir' | 'bundlePath'> & { functionName: string; version: number };

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
    const kv = await new Kvm(connection.nc).create(connection.name('functions'), { history: 1, description: 'thaw: deployed function versions' });
    const registry = new FunctionRegistry(kv, blobs, store, hooks);
    await registry.#watch();
    return registry;
  }

  /** Shares a version deployed on this node with the cluster. */
  async published(version: FunctionVersion): Promise<void> {
    await this.#blobs.put({ file: version.bundlePath });
    const { codeDir: _, bundlePath: __, snapshotStatus: ___, snapshotUpdatedAt: ____, createdAt: _____, ...shared } = version;
    await this.#kv.put(`${version.functionName}.v${version.version}`, JSON.stringify(shared satisfies SharedVersion));
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
    // Only bundle.cjs travels through the object store; an installed layout's loader alone would fail on every start.
    if (shared.layout === 'installed') throw new Error(`version ${shared.version} runs from its installed node_modules (${shared.layoutReason ?? 'installed layout'}), which are not shared across the cluster yet; not adopted`);
    const path = await this.#blobs.get(shared.bundleSha256);
    const dir = join(functionDir(this.#store.dataDir, name), String(shared.version));
    rmSync(dir, { recursive: true, force: true });
    mkdirSync(dir, { recursive: true, mode: 0o755 });
    renameSync(path, join(dir, BUNDLE_FILE));
    const previous = this.#store.functions.get(name)?.latest?.version ?? null;
    const { functionName: _, version: number, ...settings } = shared;
    const version = this.#store.functions.publish(name, (next) => {
      // Versions are numbered by the node that deployed them; a node that missed one (a removal and
      // a redeploy raced) keeps its own count and says so.
      if (next !== number) throw new Error(`version ${number} arrived where version ${next} was expected; not adopted`);
      return { ...settings, codeDir: dir, bundlePath: join(dir, BUNDLE_FILE) };
    });
    this.#hooks.adopted(version, previous);
  }
}
