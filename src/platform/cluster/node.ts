// One thaw node in cluster mode (`thaw serve --cluster nats://HOST:PORT`): the single-node platform
// unchanged, plus what makes many nodes one thaw (see PlatformCluster in ../platform.ts):
//
//   sync invocations   routed by bounded-load consistent hashing (the core's BoundedLoadRouting,
//                      the code `thaw sim --placement chbl` runs) over the invokers' adverts, and
//                      run there by NATS request/reply (rpc.ts)
//   async invocations  the JetStream work queue (jetstream-async-queue.ts), pulled by every
//                      invoker's worker; each attempt's node is in the record
//   deploys            shared through the registry (registry.ts) and the object store
//   records            in a KV bucket (records.ts), readable from any node
//   timer triggers     every node holds the schedule; a KV lease lets one fire each tick
//   membership         heartbeats and adverts in KV buckets with a TTL (membership.ts)

import { join } from 'node:path';
import { Kvm, type KV } from '@nats-io/kv';
import { WallClock } from '../../core/clock.ts';
import { ThawError } from '../../core/errors.ts';
import type { NodeView, RoutedFunction, RoutingPolicy } from '../../core/policy.ts';
import { createRouting, ROUTING_POLICIES } from '../../policies/placement/index.ts';
import type { FunctionVersion } from '../function.ts';
import type { Platform, PlatformCluster } from '../platform.ts';
import { DEFAULT_ASYNC_POLICY, type AsyncPolicy } from '../store/async-queue.ts';
import type { InvocationOutcome } from '../store/invocations.ts';
import type { InvocationRecord, QueueJob } from '../store/types.ts';
import { ClusterConnection, readCredentials } from './connection.ts';
import { JetStreamAsyncQueue } from './jetstream-async-queue.ts';
import { isInvoker, Membership, type MemberInfo, type NodeAdvert, type NodeRole } from './membership.ts';
import { ObjectStoreBlobStore } from './object-blob-store.ts';
import { ClusterRecords, recordOfJob, type ClusterRecord } from './records.ts';
import { FunctionRegistry } from './registry.ts';
import { RpcServer, rpcCall } from './rpc.ts';

export interface ClusterNodeOptions {
  /** nats://HOST:PORT */
  url: string;
  nodeId: string;
  role: NodeRole;
  /** A credentials file (user/password or nkey; see connection.ts). */
  credentialsFile?: string;
  prefix?: string;
  /** Membership TTL, ms (default 3000). */
  ttlMs?: number;
  /** The router of sync invocations: chbl (default), random or round-robin (the baselines it is measured against). */
  routing?: string;
  /** Replicas of the streams and buckets this node creates (default 1). */
  replicas?: number;
  /** CH-BL's ε (default 0.25). */
  epsilon?: number;
  dataDir: string;
  asyncPolicy?: Partial<AsyncPolicy>;
  /** JetStream's ack wait for async runs, ms (default 30 s). */
  ackWaitMs?: number;
  onWarning?: (message: string) => void;
}

interface InvokeRequest {
  name: string;
  version: number;
  payload: unknown;
  traceparent?: string;
}

/** What this node knows of an invoker beyond its last advert: requests sent to it since. */
interface Sent {
  advert: NodeAdvert;
  load: number;
  idle: Map<string, number>;
}

const NODE_ID = /^[A-Za-z0-9][A-Za-z0-9_-]{0,62}$/;

export class ClusterNode implements PlatformCluster {
  readonly options: ClusterNodeOptions;
  readonly connection: ClusterConnection;
  readonly queue: JetStreamAsyncQueue;
  readonly records: ClusterRecords;
  readonly blobs: ObjectStoreBlobStore;
  readonly router: RoutingPolicy;
  #platform: Platform | undefined;
  #membership: Membership | undefined;
  #registry: FunctionRegistry | undefined;
  #rpc: RpcServer | undefined;
  #leases: KV | undefined;
  readonly #sent = new Map<string, Sent>();
  readonly #leftSignals = new Map<string, AbortController>();
  #advertTimer: NodeJS.Timeout | undefined;
  #lastAdvert = '';

  private constructor(options: ClusterNodeOptions, router: RoutingPolicy, connection: ClusterConnection, queue: JetStreamAsyncQueue, records: ClusterRecords, blobs: ObjectStoreBlobStore) {
    this.options = options;
    this.router = router;
    this.connection = connection;
    this.queue = queue;
    this.records = records;
    this.blobs = blobs;
  }

  /** Connects and opens the cluster's queue, records and object store (before the platform opens). */
  static async connect(options: ClusterNodeOptions): Promise<ClusterNode> {
    if (options.ackWaitMs !== undefined && !(options.ackWaitMs >= 500)) throw new ThawError('ERR_INVALID_OPTION', `--cluster-ack-wait: at least 500ms, got ${options.ackWaitMs} ms`);
    if (!NODE_ID.test(options.nodeId)) throw new ThawError('ERR_INVALID_OPTION', `--node-id: 1–63 letters, digits, '-' or '_', starting with a letter or digit, got '${options.nodeId}'`);
    if (options.routing !== undefined && !ROUTING_POLICIES.includes(options.routing)) throw new ThawError('ERR_INVALID_OPTION', `--cluster-routing: expected ${ROUTING_POLICIES.join(', ')}, got '${options.routing}'`);
    const router = createRouting(options.routing ?? 'chbl', { chbl: { epsilon: options.epsilon } });
    const connection = await ClusterConnection.open({
      url: options.url,
      name: `thaw ${options.nodeId}`,
      prefix: options.prefix,
      replicas: options.replicas,
      credentials: options.credentialsFile ? readCredentials(options.credentialsFile) : undefined,
      onStatus: (status, detail) => options.onWarning?.(`cluster: ${status === 'disconnected' ? 'lost the NATS server' : 'reconnected to'} ${detail}`),
    });
    try {
      const records = await ClusterRecords.open(connection);
      let recordJob: ClusterNode['recordJob'] | undefined;
      const queue = await JetStreamAsyncQueue.open(connection, {
        policy: { ...DEFAULT_ASYNC_POLICY, ...options.asyncPolicy },
        node: options.nodeId,
        ackWaitMs: options.ackWaitMs,
        onChange: (job, outcome) => recordJob?.(job, outcome),
      });
      const blobs = await ObjectStoreBlobStore.open(connection, join(options.dataDir, 'cluster', 'blobs'));
      const node = new ClusterNode(options, router, connection, queue, records, blobs);
      recordJob = (job, outcome) => node.recordJob(job, outcome);
      return node;
    } catch (error) {
      await connection.close();
      if (connection.replicas > 1 && /replica/i.test((error as Error).message)) {
        throw new ThawError('ERR_CLUSTER', `--cluster-replicas ${connection.replicas}: the NATS server refused (${(error as Error).message}); one nats-server keeps one replica: run a NATS cluster of at least ${connection.replicas} servers, or leave --cluster-replicas at 1`);
      }
      throw error;
    }
  }

  /** Joins the membership and starts serving the cluster (once the platform and its HTTP API are up). */
  async attach(platform: Platform, httpUrl: string): Promise<void> {
    this.#platform = platform;
    const { nodeId, role } = this.options;
    this.#leases = await new Kvm(this.connection.nc).create(this.connection.name('leases'), { history: 1, replicas: this.connection.replicas, ttl: 3600_000, description: 'thaw: timer trigger leases' });
    this.#registry = await FunctionRegistry.open(this.connection, this.blobs, platform.store, {
      adopted: (version, previous) => platform.adopt(version, previous),
      removed: (name) => platform.remove(name, true),
      scheduled: (name, cron, payload) => platform.setSchedule(name, cron, payload, true),
      onWarning: this.options.onWarning,
    });
    if (isInvoker(role)) {
      this.#rpc = new RpcServer(this.connection, nodeId);
      this.#rpc.handle('invoke', async (body) => {
        const request = body as InvokeRequest;
        return platform.invokeHere(platform.store.functions.requireVersion(request.name, request.version), request.payload, request.traceparent);
      });
      this.#rpc.handle('run', async (body) => {
        const request = body as InvokeRequest & { id: string; mode: 'async' | 'timer' };
        return platform.runHere(platform.store.functions.requireVersion(request.name, request.version), request.payload, request.id, request.mode, request.traceparent);
      });
    }
    const self: MemberInfo = { id: nodeId, role, url: httpUrl, startedAt: Date.now() };
    this.#membership = await Membership.join(this.connection, {
      self,
      ttlMs: this.options.ttlMs,
      clock: new WallClock(),
      advert: isInvoker(role) ? () => this.#advert() : undefined,
      onWarning: this.options.onWarning,
    });
    const view = this.#membership.view;
    view.on('advert', (advert) => this.#sent.delete(advert.id));
    view.on('left', (member) => {
      this.#sent.delete(member.id);
      this.#leftSignals.get(member.id)?.abort();
      this.#leftSignals.delete(member.id);
    });
    if (isInvoker(role)) {
      // Adverts follow the invoker's state: checked often, put only when something changed.
      this.#advertTimer = setInterval(() => {
        const text = JSON.stringify(this.#advert());
        if (text !== this.#lastAdvert) {
          this.#lastAdvert = text;
          this.#membership?.advertise();
        }
      }, 50);
      this.#advertTimer.unref();
    }
  }

  /** The members as this node sees them (GET /cluster). */
  status(): { self: string; members: Array<MemberInfo & { advert: NodeAdvert | null }> } {
    const view = this.#membership?.view;
    return { self: this.options.nodeId, members: (view?.members() ?? []).map((m) => ({ ...m, advert: view?.advert(m.id) ?? null })) };
  }

  // ------------------------------------------------------------------ PlatformCluster

  invokeSync(fn: FunctionVersion, payload: unknown, here: () => Promise<InvocationRecord>, traceparent?: string): Promise<InvocationRecord> {
    const request: InvokeRequest = { name: fn.functionName, version: fn.version, payload, traceparent };
    return this.#routed(fn, here, (target) => rpcCall<InvocationRecord>(this.connection, target, 'invoke', request, this.#callOptions(fn, target)));
  }

  runJob(fn: FunctionVersion, job: QueueJob, here: () => Promise<InvocationOutcome>): Promise<InvocationOutcome> {
    return this.#routed(fn, here, async (target) => {
      await this.queue.setAttemptNode(job.id, target);
      const request = { name: fn.functionName, version: fn.version, payload: job.payload, id: job.id, mode: job.mode, traceparent: job.traceparent ?? undefined };
      return rpcCall<InvocationOutcome>(this.connection, target, 'run', request, this.#callOptions(fn, target));
    });
  }

  #callOptions(fn: FunctionVersion, target: string): { timeoutMs: number; abort: AbortSignal } {
    return { timeoutMs: fn.timeoutMs + 30_000, abort: this.#leftSignal(target) };
  }

  /** Runs `remote` on the node the router picks (or `here` when that is this node), past nodes that do not answer. */
  async #routed<T>(fn: FunctionVersion, here: () => Promise<T>, remote: (target: string) => Promise<T>): Promise<T> {
    const excluded = new Set<string>();
    for (;;) {
      const target = this.#route(fn, excluded);
      if (!target) {
        if (isInvoker(this.options.role) && !excluded.has(this.options.nodeId)) return here(); // no adverts yet: this node
        throw new ThawError('ERR_CAPACITY', `no invoker in the cluster can take ${fn.functionName} now (${excluded.size} refused)`);
      }
      if (target === this.options.nodeId) return here();
      this.#noteSent(target, fn);
      try {
        return await remote(target);
      } catch (error) {
        // A node that never got the request (gone, not answering) is safe to skip; one that left
        // while running it may have run it: the caller is told, not a second node.
        if (error instanceof ThawError && error.code === 'ERR_CLUSTER' && /does not answer/.test(error.message)) {
          excluded.add(target);
          continue;
        }
        throw error;
      }
    }
  }

  async recorded(record: InvocationRecord): Promise<void> {
    await this.records.put({ ...record, node: this.options.nodeId } as ClusterRecord).catch((error: Error) => this.options.onWarning?.(`cluster: record ${record.id}: ${error.message}`));
  }

  async deployed(version: FunctionVersion): Promise<void> {
    await this.#registry?.published(version);
  }

  async removed(name: string): Promise<void> {
    await this.#registry?.removedHere(name);
  }

  async scheduled(name: string, cron: string | null, payload: unknown): Promise<void> {
    await this.#registry?.scheduled(name, cron, payload);
  }

  async fire(name: string): Promise<boolean> {
    if (!this.#leases) return false;
    // Every node's timer fires within a few ms of the scheduled second: the first to create the
    // second's key fires it.
    try {
      await this.#leases.create(`${name}.${Math.round(Date.now() / 1000)}`, this.options.nodeId);
      return true;
    } catch {
      return false;
    }
  }

  async invocation(id: string): Promise<InvocationRecord | undefined> {
    const record = await this.records.get(id);
    // An async record is written after each change of its job, by whichever node made it: it may
    // lag (or a write may have been lost with its node). Until it is final, the job is asked.
    if (record && (record.mode === 'async' || record.mode === 'timer') && record.status !== 'succeeded' && record.status !== 'failed') {
      const stored = await this.queue.getWithOutcome(id).catch(() => undefined);
      if (stored && (stored.job.status === 'succeeded' || stored.job.status === 'failed' || stored.job.attempts !== record.attempts)) {
        return recordOfJob(stored.job, record.memoryMb, stored.outcome);
      }
    }
    return record;
  }

  latest(functionName: string, limit: number): Promise<InvocationRecord[]> {
    return this.records.latest(functionName, limit);
  }

  waitFor(id: string, timeoutMs: number): Promise<InvocationRecord> {
    return this.records.waitFor(id, timeoutMs, (r) => r.status === 'succeeded' || r.status === 'failed');
  }

  /** Leaves the membership (the others drop this node at once) and closes the connection. */
  async close(): Promise<void> {
    if (this.#advertTimer) clearInterval(this.#advertTimer);
    this.#rpc?.close();
    this.#registry?.close();
    await this.#membership?.leave();
    await this.queue.close();
    await this.connection.close();
  }

  // ------------------------------------------------------------------

  /** The invoker the router picks for `fn` (undefined: no invoker advertises). */
  #route(fn: FunctionVersion, excluded: ReadonlySet<string>): string | undefined {
    const view = this.#membership?.view;
    if (!view) return undefined;
    const key = `${fn.functionName}@${fn.version}`;
    const routed: RoutedFunction = { id: key, memoryMb: fn.memoryMb };
    const nodes: Array<NodeView<RoutedFunction>> = [];
    for (const { advert: published } of view.invokers()) {
      if (excluded.has(published.id)) continue;
      // This node's own state is read live, not from its last advert (up to 50 ms and a NATS round
      // trip old): a burst arriving here would otherwise all see the same idle instance.
      const self = published.id === this.options.nodeId && this.#platform !== undefined;
      const advert = self ? { ...published, ...this.#poolState() } : published;
      const sent = self ? undefined : this.#sent.get(advert.id);
      nodes.push({
        name: advert.id,
        capacityMb: advert.capacityMb,
        freeMb: advert.freeMb,
        reclaimableMb: advert.reclaimableMb,
        load: advert.load + (sent?.load ?? 0),
        idleOf: (f) => Math.max(0, (advert.idle[f.id] ?? 0) - (sent?.idle.get(f.id) ?? 0)),
        snapshotReady: (f) => advert.snapshots.includes(f.id),
      });
    }
    return this.router.route(routed, nodes)?.name;
  }

  /** Until the target's next advert, count what was sent to it: its load, the idle instances taken. */
  #noteSent(target: string, fn: FunctionVersion): void {
    const advert = this.#membership?.view.advert(target);
    if (!advert) return;
    let sent = this.#sent.get(target);
    if (!sent || sent.advert !== advert) this.#sent.set(target, (sent = { advert, load: 0, idle: new Map() }));
    sent.load++;
    const key = `${fn.functionName}@${fn.version}`;
    sent.idle.set(key, (sent.idle.get(key) ?? 0) + 1);
  }

  #leftSignal(node: string): AbortSignal {
    let controller = this.#leftSignals.get(node);
    if (!controller) this.#leftSignals.set(node, (controller = new AbortController()));
    return controller.signal;
  }

  /** What this invoker's pool holds now: its load, memory and idle instances per function. */
  #poolState(): Pick<NodeAdvert, 'load' | 'capacityMb' | 'freeMb' | 'reclaimableMb' | 'idle'> {
    const server = this.#platform!.invoker.pool.servers[0]!;
    const idle: Record<string, number> = {};
    for (const group of server.groups.values()) if (group.idleCount > 0) idle[group.fn.id] = group.idleCount;
    return { load: server.load, capacityMb: server.capacityMb, freeMb: server.freeMb, reclaimableMb: server.reclaimableMb, idle };
  }

  #advert(): NodeAdvert {
    const snapshots: string[] = [];
    for (const info of this.#platform!.store.functions.list()) {
      const latest = info.latest;
      if (latest?.snapshotStatus?.startsWith('ready')) snapshots.push(`${latest.functionName}@${latest.version}`);
    }
    return { id: this.options.nodeId, ...this.#poolState(), snapshots, zygotes: [] };
  }

  /** An async job changed (the queue says): its record, for the whole cluster. */
  recordJob(job: Parameters<typeof recordOfJob>[0], outcome: Parameters<typeof recordOfJob>[2]): void {
    const memoryMb = this.#platform?.store.functions.getVersion(job.functionName, job.version)?.memoryMb ?? 0;
    void this.records.putJob(recordOfJob(job, memoryMb, outcome), job).catch((error: Error) => this.options.onWarning?.(`cluster: record ${job.id}: ${error.message}`));
  }
}
