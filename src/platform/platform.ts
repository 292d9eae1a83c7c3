// The platform: deployed functions (store + deploy), the invoker that runs them, the async queue's
// worker and the timer triggers, behind one object the HTTP gateway and the tests drive.

import { EventEmitter, once } from 'node:events';
import { availableParallelism } from 'node:os';
import { ThawError } from '../core/errors.ts';
import { createKeepAlive } from '../policies/keepalive/index.ts';
import { createPrewarm } from '../policies/prewarm/index.ts';
import { deployFromUpload, deployFunction, removeFunction, type DeployOptions, type DeployResult, type DeploySettings, type Upload } from './deploy/index.ts';
import { toDeployed, type DeployedFunction } from './function.ts';
import { Invoker, type InvocationReport } from './invoker/invoker.ts';
import { WallScheduler, type Scheduler } from './invoker/scheduler.ts';
import type { RestoreMode } from './sandbox/microvm/sandbox.ts';
import { createSandboxBackend, type IsolationMode } from './sandbox/index.ts';
import type { InstanceScheduling } from './sandbox/scheduling.ts';
import { snapshotSupport } from './accelerators/v8-snapshot/launch.ts';
import { isZygoteCapable, type SandboxBackend } from './sandbox/types.ts';
import { AsyncWorker } from './async-worker.ts';
import { DEFAULT_ASYNC_POLICY, SqliteAsyncQueue, Store, type Alias, type AliasRoute, type AsyncPolicy, type AsyncQueue, type Enqueued, type RedriveTarget, type FunctionVersion, type InvocationErrorKind, type InvocationMode, type InvocationOutcome, type InvocationRecord, type QueueJob } from './store/index.ts';
import { SnapshotStartPath } from './accelerators/v8-snapshot/index.ts';
import { StartPlanner } from './accelerators/planner.ts';
import type { StartPath } from './accelerators/start-path.ts';
import { DeferredZygoteMemory, ZygoteStartPath } from './accelerators/zygote/index.ts';
import { IsolateStartPath } from './accelerators/isolate/index.ts';
import { TimerTriggers } from './triggers.ts';
import { PlatformEvents } from './events.ts';
import { Tracing } from './tracing.ts';
import { TrafficRouter, type FunctionRef } from './traffic.ts';
import { PlatformMetrics } from './gateway/metrics.ts';
import type { ConcurrencyLimitMode } from './invoker/concurrency-limit.ts';

export interface PlatformOptions {
  dataDir: string;
  /** Keep-alive policy name (ttl, lru, gd, ...). Default ttl. */
  keepAlive?: string;
  /** TTL policy's window, ms. Default 10 min. */
  ttlMs?: number;
  /** Memory all instances may hold together, MB. Default 4096. */
  memoryBudgetMb?: number;
  /** Sandbox isolation: auto (lean containers when available), container, process, microvm. */
  isolation?: IsolationMode;
  /** isolation microvm: how instances are restored from VM snapshots (default faasnap). */
  restore?: RestoreMode;
  /** Containers: stems (pre-made containers in pre-made cgroups) kept waiting for cold starts, per kind. Default 0 (none; thaw serve: 2). */
  stemPool?: number;
  /** The CPU scheduling policy of instances: batch (default: a woken instance does not preempt the server; see sandbox/scheduling.ts) or normal. */
  instanceScheduling?: InstanceScheduling;
  /** Idle instances are paused after this long, ms; Infinity never. Default 1000. */
  pauseAfterMs?: number;
  /** How many invocations of a function run at once: fixed (its maxConcurrency; default) or adaptive (invoker/concurrency-limit.ts). */
  concurrencyLimit?: ConcurrencyLimitMode;
  /** Async invocations run at once (default 2 × cores). */
  asyncConcurrency?: number;
  /** Async invocations: attempts, back-off, maximum event age, idempotency window (default DEFAULT_ASYNC_POLICY). */
  asyncPolicy?: Partial<AsyncPolicy>;
  /** Where async invocations wait (default: this node's SQLite queue); cluster mode brings its own. */
  asyncQueue?: AsyncQueue;
  /** Cluster mode (src/platform/cluster/node.ts): where sync invocations run, deploys shared, records read. */
  cluster?: PlatformCluster;
  /** Largest accepted payload, bytes (default 6 MiB, as AWS Lambda's synchronous limit). */
  maxPayloadBytes?: number;
  scheduler?: Scheduler;
  /** Pre-warm policies by name (`fft`: IceBreaker's predictor), carried out on the platform's clock. */
  prewarm?: string[];
  /** Versions the isolate host keeps a spare isolate loaded ahead for (default 4; 0: none). */
  isolateSpares?: number;
  /** When function snapshots are built: at deploy (default) or after a version's first cold start. */
  snapshotWhen?: 'deploy' | 'first-cold-start';
  /** OTLP/HTTP endpoint spans of invocations and their phases are exported to; none: no tracing. */
  otlpUrl?: string;
  /** Tests and benchmarks: tracing as they set it up (default: from otlpUrl). */
  tracing?: Tracing;
  /** Seed of the traffic router that splits aliases' invocations between versions (tests); default random. */
  trafficSeed?: number;
  /** Tests inject a backend; default: detected from the machine. */
  backend?: SandboxBackend;
  deploy?: DeployOptions;
  onWarning?: (message: string) => void;
}

/**
 * What cluster mode adds to a node: the platform stays the same, and asks these at the few points
 * where one node is not the whole cluster.
 */
export interface PlatformCluster {
  /** Runs a synchronous invocation on the node the router picks; `here` runs it on this one. */
  invokeSync(fn: FunctionVersion, payload: unknown, here: () => Promise<InvocationRecord>, traceparent?: string): Promise<InvocationRecord>;
  /** Runs one attempt of an async job on the node the router picks; `here` runs it on this one. */
  runJob(fn: FunctionVersion, job: QueueJob, here: () => Promise<InvocationOutcome>): Promise<InvocationOutcome>;
  /** This node finished a synchronous invocation: its record, for the whole cluster (stored when this resolves). */
  recorded(record: InvocationRecord): Promise<void>;
  /** A version deployed here: shared with every node. */
  deployed(version: FunctionVersion): Promise<void>;
  /** A function removed here: removed everywhere. */
  removed(name: string): Promise<void>;
  /** A schedule set or removed here: the same everywhere. */
  scheduled(name: string, cron: string | null, payload: unknown): Promise<void>;
  /** A timer trigger is due: true on exactly one node of the cluster (a lease). */
  fire(name: string): Promise<boolean>;
  invocation(id: string): Promise<InvocationRecord | undefined>;
  latest(functionName: string, limit: number): Promise<InvocationRecord[]>;
  waitFor(id: string, timeoutMs: number): Promise<InvocationRecord>;
  /** The members as this node sees them (GET /cluster). */
  status(): unknown;
}

export const DEFAULT_MAX_PAYLOAD_BYTES = 6 * 1024 * 1024;

export class Platform {
  readonly store: Store;
  readonly invoker: Invoker;
  readonly asyncQueue: AsyncQueue;
  /** Invocations, the policy's decisions, deploys as they happen (the dashboard's live view). */
  readonly events = new PlatformEvents();
  readonly backend: SandboxBackend;
  /** SOCK zygotes (undefined on a backend that cannot start them, e.g. microVMs). */
  readonly zygotes: ZygoteStartPath | undefined;
  readonly options: Required<Pick<PlatformOptions, 'keepAlive' | 'memoryBudgetMb' | 'maxPayloadBytes' | 'asyncConcurrency'>> & PlatformOptions;
  readonly #triggers: TimerTriggers;
  readonly #metrics = new PlatformMetrics();
  readonly #idleCost: IdleCostBuffer;
  /** Emits an invocation's id when its record is final. */
  readonly #finished = new EventEmitter().setMaxListeners(0);
  readonly #asyncWorker: AsyncWorker;
  readonly #router: TrafficRouter;
  /** Undefined when tracing is off: the invocation path then only checks for it. */
  readonly #tracing: Tracing | undefined;

  private constructor(store: Store, backend: SandboxBackend, options: Platform['options']) {
    this.store = store;
    this.backend = backend;
    this.options = options;
    this.#idleCost = new IdleCostBuffer(store);
    const zygoteMemory = new DeferredZygoteMemory();
    // The start accelerators of the process and container backends; a microVM backend brings its
    // own (VM snapshots), and neither zygotes nor V8 snapshots run inside a VM.
    this.zygotes = isZygoteCapable(backend) ? new ZygoteStartPath({ backend, dataDir: store.dataDir, memory: zygoteMemory, onWarning: options.onWarning }) : undefined;
    const paths: StartPath[] = [];
    // SOCK zygotes for the versions whose start preference is zygote or auto.
    if (this.zygotes) paths.push(this.zygotes);
    if (snapshotSupport(backend)) {
      paths.push(
        new SnapshotStartPath({
          backend,
          dataDir: store.dataDir,
          status: store.functions,
          when: options.snapshotWhen ?? 'deploy',
          // Snapshots are built for the versions that may use them.
          shouldSnapshot: (fn) => fn.start === 'snapshot' || fn.start === 'auto',
          onWarning: options.onWarning,
        }),
      );
    }
    // V8 isolates in one long-running host, for the versions whose preference is isolate or auto
    // (not inside a microVM: the host is a process beside thaw).
    if (!backend.isolation.backend.startsWith('microvm')) {
      paths.push(new IsolateStartPath({ backend, dataDir: store.dataDir, spares: options.isolateSpares, status: store.functions, onWarning: options.onWarning }));
    }
    this.invoker = new Invoker({
      backend,
      zygoteMemory,
      prewarm: (options.prewarm ?? []).map((name) => createPrewarm(name)),
      planner: new StartPlanner(backend, paths),
      keepAlive: createKeepAlive(options.keepAlive, { ttlMs: options.ttlMs }),
      memoryBudgetMb: options.memoryBudgetMb,
      scheduler: options.scheduler ?? new WallScheduler(),
      pauseAfterMs: options.pauseAfterMs,
      concurrencyLimit: options.concurrencyLimit,
      onIdle: (fn, idleMs, provisioned) => this.#idleCost.add(fn, idleMs, provisioned),
      onWarning: options.onWarning,
      onDecision: (decision) => this.events.decision(decision),
      onInstancesChanged: () => this.events.instancesChanged(),
    });
    this.#router = new TrafficRouter(options.trafficSeed);
    this.#tracing =
      options.tracing ?? (options.otlpUrl ? new Tracing({ url: options.otlpUrl, restorePhase: backend.isolation.backend.startsWith('microvm') ? 'sandboxMs' : 'runtimeBootMs' }) : undefined);
    this.asyncQueue = options.asyncQueue ?? new SqliteAsyncQueue(store, { ...DEFAULT_ASYNC_POLICY, ...options.asyncPolicy });
    this.#asyncWorker = new AsyncWorker(this.asyncQueue, (job) => this.#runJob(job), {
      concurrency: options.asyncConcurrency,
      onSettled: (job) => {
        const record = this.store.invocations.get(job.id);
        if (record && record.finishedAt !== null) {
          this.#metrics.record(record);
          this.events.invocation(record);
        }
        this.#finished.emit(job.id);
      },
      onWarning: options.onWarning,
    });
    this.#triggers = new TimerTriggers(
      (name, payload) =>
        void (async () => {
          // In a cluster every node has the schedule; one takes the lease and fires.
          if (options.cluster && !(await options.cluster.fire(name))) return;
          await this.invokeAsync(name, payload, { mode: 'timer' });
        })().catch((error: Error) => options.onWarning?.(`timer trigger of ${name}: ${error.message}`)),
      options.onWarning,
    );
  }

  static async open(options: PlatformOptions): Promise<Platform> {
    // WAL with synchronous=NORMAL: a commit survives thaw crashing or being killed (what "persisted
    // before acknowledged" needs), not a power cut; FULL would fsync every invocation record.
    const store = Store.open(options.dataDir, { synchronous: 'normal' });
    try {
      const backend =
        options.backend ??
        (await createSandboxBackend({ isolation: options.isolation ?? 'auto', dataDir: options.dataDir, stemPoolSize: options.stemPool, instanceScheduling: options.instanceScheduling, microvm: { restore: options.restore, log: options.onWarning, status: store.functions } }));
      const platform = new Platform(store, backend, {
        ...options,
        keepAlive: options.keepAlive ?? 'ttl',
        memoryBudgetMb: options.memoryBudgetMb ?? 4096,
        maxPayloadBytes: options.maxPayloadBytes ?? DEFAULT_MAX_PAYLOAD_BYTES,
        asyncConcurrency: options.asyncConcurrency ?? 2 * availableParallelism(),
      });
      platform.#resume();
      return platform;
    } catch (error) {
      store.close();
      throw error;
    }
  }

  /** After a (re)start: provisioned instances, timer triggers, and async work that was interrupted. */
  #resume(): void {
    for (const info of this.store.functions.list()) for (const version of this.#liveVersions(info.name)) this.#activate(version);
    for (const s of this.store.schedules.list()) {
      try {
        this.#triggers.set(s.functionName, s.cron, s.payload);
      } catch (error) {
        this.options.onWarning?.(`timer trigger of ${s.functionName} not restored: ${(error as Error).message}`);
      }
    }
    if (!this.options.asyncQueue) this.store.queue.recoverRunning();
    this.#asyncWorker.wake();
  }

  async deploy(source: { dir: string } | { upload: Upload }, settings: DeploySettings = {}): Promise<DeployResult> {
    const options = { dataDir: this.store.dataDir, ...this.options.deploy };
    const result = 'dir' in source ? await deployFunction(this.store, source.dir, settings, options) : await deployFromUpload(this.store, source.upload, settings, options);
    if (result.previousVersion !== null) this.#retireUnlessLive(result.name, [result.previousVersion]);
    this.#activate(result.version);
    this.events.changed('deploy', result.name, result.version.version);
    await this.options.cluster?.deployed(result.version);
    return result;
  }

  /** Cluster mode: a version deployed on another node, now recorded here, starts serving. */
  adopt(version: FunctionVersion, previous: number | null): void {
    if (previous !== null) this.#retireUnlessLive(version.functionName, [previous]);
    this.#activate(version);
    this.events.changed('deploy', version.functionName, version.version);
  }

  /** Creates or re-points an alias (rolling out, or back); versions it no longer routes to stop being kept warm. */
  setAlias(name: string, alias: string, routes: AliasRoute[]): Alias {
    const before = this.store.aliases.get(name, alias)?.routes.map((r) => r.version) ?? [];
    const set = this.store.aliases.set(name, alias, routes);
    for (const r of set.routes) if (!before.includes(r.version)) this.#activate(this.store.functions.requireVersion(name, r.version));
    this.#retireUnlessLive(name, before);
    this.events.changed('alias', name);
    return set;
  }

  removeAlias(name: string, alias: string): void {
    const existing = this.store.aliases.require(name, alias);
    this.store.aliases.remove(name, alias);
    this.#retireUnlessLive(name, existing.routes.map((r) => r.version));
    this.events.changed('alias', name);
  }

  /** The version one invocation of `target` runs: a version, the latest, or an alias's weighted pick. */
  resolve(name: string, target: FunctionRef['target']): FunctionVersion {
    if (typeof target === 'object') return this.store.functions.requireVersion(name, this.#router.pick(this.store.aliases.require(name, target.alias).routes));
    return this.store.functions.requireVersion(name, target);
  }

  /** Versions kept warm: the latest and every version an alias routes to. */
  #liveVersions(name: string): FunctionVersion[] {
    const numbers = new Set(this.store.aliases.list(name).flatMap((a) => a.routes.map((r) => r.version)));
    const latest = this.store.functions.latest(name);
    if (latest) numbers.add(latest.version);
    return [...numbers].flatMap((n) => this.store.functions.getVersion(name, n) ?? []);
  }

  #retireUnlessLive(name: string, versions: number[]): void {
    const live = new Set(this.#liveVersions(name).map((v) => v.version));
    for (const n of versions) {
      const version = live.has(n) ? undefined : this.store.functions.getVersion(name, n);
      if (version) this.invoker.retire(toDeployed(version));
    }
  }

  /** Removes a function (`fromCluster`: another node removed it, so it is not announced again). */
  remove(name: string, fromCluster = false): boolean {
    this.store.functions.require(name);
    if (!fromCluster) void this.options.cluster?.removed(name).catch((error: Error) => this.options.onWarning?.(`cluster: removing ${name}: ${error.message}`));
    for (const version of this.store.functions.versions(name)) this.invoker.retire(toDeployed(version));
    this.#triggers.remove(name);
    this.store.schedules.remove(name);
    const removed = removeFunction(this.store, name, { dataDir: this.store.dataDir });
    this.events.changed('remove', name);
    return removed;
  }

  /**
   * Stops the function's idle instances so that its next invocation starts cold (and, with
   * `waitForBusy`, its busy ones as their invocations end); resolves once they have exited.
   */
  evict(name: string, options: { waitForBusy?: boolean } = {}): Promise<{ stopped: number; waitedFor: number }> {
    this.store.functions.require(name);
    return this.invoker.evict(name, options);
  }

  /** Sets (or with null removes) a function's timer trigger: a cron expression and its payload. */
  setSchedule(name: string, cron: string | null, payload: unknown = {}, fromCluster = false): void {
    this.store.functions.require(name);
    if (!fromCluster) void this.options.cluster?.scheduled(name, cron, payload).catch((error: Error) => this.options.onWarning?.(`cluster: schedule of ${name}: ${error.message}`));
    if (cron === null) {
      this.#triggers.remove(name);
      this.store.schedules.remove(name);
    } else {
      this.#triggers.set(name, cron, payload); // validates the expression before it is stored
      this.store.schedules.set(name, cron, payload);
    }
  }

  schedules(): Array<{ name: string; cron: string; next: string | null }> {
    return this.#triggers.list();
  }

  /** Runs an invocation now and waits for it; the record says how it went. */
  /** `payloadJson`: the payload's JSON text as received (JSON.parse of it is `payload`), handed to the function as it is. */
  async invokeSync(name: string, payload: unknown, target: FunctionRef['target'] = 'latest', options: { traceparent?: string; payloadJson?: string } = {}): Promise<InvocationRecord> {
    const fn = this.resolve(name, target);
    this.#checkPayload(payload, options.payloadJson);
    const cluster = this.options.cluster;
    const here = () => this.invokeHere(fn, payload, options.traceparent, options.payloadJson);
    return cluster ? cluster.invokeSync(fn, payload, here, options.traceparent) : here();
  }

  /** Runs a synchronous invocation on this node (in a cluster: the router chose it). */
  async invokeHere(fn: FunctionVersion, payload: unknown, traceparent?: string, payloadJson?: string): Promise<InvocationRecord> {
    const name = fn.functionName;
    const createdAt = Date.now();
    const id = this.store.invocations.newId();
    const report = await this.#invoke(fn, payload, id, 'sync', traceparent, payloadJson);
    // One write per synchronous invocation, after it ran: the caller is waiting for it anyway.
    const finished = this.store.invocations.record({ id, functionName: name, version: fn.version, mode: 'sync', createdAt, startedAt: createdAt }, outcomeOf(report));
    this.#metrics.record(finished);
    this.events.invocation(finished);
    this.#finished.emit(finished.id);
    await this.options.cluster?.recorded(finished);
    return finished;
  }

  /** An invocation's record: this node's, else (in a cluster) the cluster's. */
  async invocation(id: string): Promise<InvocationRecord> {
    // In a cluster the cluster's record says which node ran each attempt: it comes first.
    const record = (await this.options.cluster?.invocation(id)) ?? this.store.invocations.get(id);
    if (!record) throw new ThawError('ERR_NOT_FOUND', `no invocation with id '${id}'`);
    return record;
  }

  /** A function's latest records (in a cluster: of every node). */
  async latestInvocations(name: string, limit: number): Promise<InvocationRecord[]> {
    this.store.functions.require(name);
    return this.options.cluster ? this.options.cluster.latest(name, limit) : this.store.invocations.latest(name, limit);
  }

  /** The invocation's record once it is final (succeeded, or failed for good), waiting up to `timeoutMs`. */
  async waitForInvocation(id: string, timeoutMs: number): Promise<InvocationRecord> {
    const isFinal = (r: InvocationRecord) => r.status === 'succeeded' || (r.status === 'failed' && this.store.queue.get(r.id)?.status !== 'pending');
    if (this.options.cluster) return this.options.cluster.waitFor(id, timeoutMs);
    let record = this.store.invocations.require(id);
    if (isFinal(record)) return record;
    const signal = AbortSignal.timeout(timeoutMs);
    try {
      for (;;) {
        await once(this.#finished, id, { signal });
        record = this.store.invocations.require(id);
        if (isFinal(record)) return record;
      }
    } catch {
      return this.store.invocations.require(id); // timed out: as it is now
    }
  }

  /** Writes the idle costs summed in memory so far (before reading them). */
  flushCosts(): void {
    this.#idleCost.flush();
  }

  /** Prometheus metrics: invocations, latencies by start kind and phase, instances, memory. */
  renderMetrics(): string {
    this.flushCosts();
    const idleGbSeconds = this.store.costs.totals().reduce((sum, c) => sum + c.idleGbSeconds, 0);
    return this.#metrics.render({ ...this.invoker.snapshot(), idleGbSeconds });
  }

  /**
   * Persists the invocation, then returns; it runs from the queue (and survives a restart). With an
   * idempotency key used before (same function, within the window): the first invocation, `duplicate`.
   */
  async invokeAsync(
    name: string,
    payload: unknown,
    { target = 'latest', ...options }: { target?: FunctionRef['target']; mode?: 'async' | 'timer'; idempotencyKey?: string; traceparent?: string } = {},
  ): Promise<Enqueued> {
    const fn = this.resolve(name, target); // an alias picks the version when the invocation is accepted
    this.#checkPayload(payload);
    const enqueued = await this.asyncQueue.enqueue({ functionName: name, version: fn.version, payload, ...options });
    if (!enqueued.duplicate) this.#asyncWorker.wake();
    return enqueued;
  }

  /** Puts dead letters back in the async queue (one by id, or all of them, of one function if given). */
  async redrive(target: RedriveTarget): Promise<QueueJob[]> {
    const jobs = await this.asyncQueue.redrive(target);
    if (jobs.length > 0) this.#asyncWorker.wake();
    return jobs;
  }

  async close(): Promise<void> {
    this.#asyncWorker.close();
    this.#triggers.close();
    await this.invoker.close();
    await this.backend.close?.();
    await this.#tracing?.close().catch((error: Error) => this.options.onWarning?.(`tracing: could not send the last spans to ${this.#tracing!.url}: ${error.message}`));
    this.#idleCost.close();
    this.store.close();
  }

  #activate(version: FunctionVersion): void {
    const fn = toDeployed(version);
    this.invoker.planner.onDeploy(fn);
    if (fn.provisioned > 0) this.invoker.provision(fn);
  }

  /** The payload's size as it goes to the function: its JSON text as received when there is one, else encoded. */
  #checkPayload(payload: unknown, payloadJson?: string): void {
    const bytes = Buffer.byteLength(payloadJson ?? JSON.stringify(payload ?? null));
    if (bytes > this.options.maxPayloadBytes) throw new ThawError('ERR_PAYLOAD_TOO_LARGE', `payload is ${bytes} bytes, over the limit of ${this.options.maxPayloadBytes} bytes`);
  }

  /** One attempt of a queued invocation, on the version it was accepted for. */
  async #runJob(job: QueueJob): Promise<InvocationOutcome | { gone: string }> {
    const version = this.store.functions.getVersion(job.functionName, job.version);
    if (!version) return { gone: `function ${job.functionName} version ${job.version} no longer exists` };
    const here = () => this.runHere(version, job.payload, job.id, job.mode, job.traceparent ?? undefined);
    return this.options.cluster ? this.options.cluster.runJob(version, job, here) : here();
  }

  /** One attempt of an async invocation on this node (in a cluster: the router chose it). */
  async runHere(fn: FunctionVersion, payload: unknown, id: string, mode: InvocationMode = 'async', traceparent?: string): Promise<InvocationOutcome> {
    return outcomeOf(await this.#invoke(fn, payload, id, mode, traceparent));
  }
  /** One invocation on the invoker, traced when tracing is on; the function gets the trace context either way. */
  async #invoke(fn: FunctionVersion, payload: unknown, id: string, mode: InvocationMode, traceparent: string | undefined, payloadJson?: string): Promise<InvocationReport> {
    if (!this.#tracing) return this.invoker.invoke(toDeployed(fn), payload, id, { traceparent, payloadJson });
    const traced = this.#tracing.startInvocation({ name: fn.functionName, version: fn.version }, id, { mode, traceparent, startedAt: performance.timeOrigin + performance.now() });
    const report = await this.invoker.invoke(toDeployed(fn), payload, id, { traceparent: traced.traceparent, payloadJson });
    traced.end(report);
    return report;
  }
}

/**
 * Idle periods end on every warm start; writing each to SQLite would double the warm path's writes.
 * They are summed in memory per function and written once a second (and on demand, and at close).
 */
class IdleCostBuffer {
  readonly #pending = new Map<string, { functionName: string; memoryMb: number; idleMs: number; reason: 'keepalive' | 'provisioned' }>();
  readonly #timer: NodeJS.Timeout;

  constructor(readonly store: Store) {
    this.#timer = setInterval(() => this.flush(), 1000);
    this.#timer.unref();
  }

  add(fn: DeployedFunction, idleMs: number, provisioned: boolean): void {
    if (!(idleMs > 0)) return;
    const reason = provisioned ? 'provisioned' : 'keepalive';
    const key = `${fn.name}\0${fn.memoryMb}\0${reason}`;
    const entry = this.#pending.get(key);
    if (entry) entry.idleMs += idleMs;
    else this.#pending.set(key, { functionName: fn.name, memoryMb: fn.memoryMb, idleMs, reason });
  }

  flush(): void {
    if (this.#pending.size === 0 || !this.store.isOpen) return;
    const samples = [...this.#pending.values()];
    this.#pending.clear();
    this.store.transaction(() => samples.forEach((s) => this.store.costs.addIdle(s)));
  }

  close(): void {
    clearInterval(this.#timer);
    this.flush();
  }
}


function outcomeOf(report: InvocationReport): InvocationOutcome {
  return {
    status: report.ok ? 'succeeded' : 'failed',
    startKind: report.startKind,
    instanceId: report.instanceId,
    timings: report.phases,
    totalMs: report.totalMs,
    result: report.value,
    error: report.error ? { kind: report.error.kind === 'capacity' ? 'throttled' : (report.error.kind as InvocationErrorKind), message: report.error.message } : undefined,
    stdout: report.stdout,
    stderr: report.stderr,
  };
}
