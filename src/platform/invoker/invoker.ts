// The invoker: the core Pool driven by the platform's clock, with real sandboxes behind its
// instances. It decides nothing itself — warm or cold, what to keep, what to evict, when to expire
// are the Pool's and its keep-alive policy's decisions, exactly as in the simulator — it carries
// them out: starts, pauses, resumes and destroys sandboxes, runs invocations, times every phase.

import { randomBytes } from 'node:crypto';
import { availableParallelism } from 'node:os';
import { ThawError } from '../../core/errors.ts';
import type { Instance, StartKind } from '../../core/instance.ts';
import type { KeepAlivePolicy } from '../../core/policy.ts';
import { ActionExecutor, actingPolicies, type AheadReason, type LifecycleObserver } from '../../core/executor.ts';
import type { PrewarmPolicy } from '../../core/prewarm.ts';
import { Pool, type RemovalReason } from '../../core/pool.ts';
import type { FunctionSpec } from '../../core/trace.ts';
import { LeastLoadedPlacement } from '../../policies/placement/index.ts';
import type { ErrorKind } from '../../runtime/protocol.ts';
import type { Decision, DecisionKind } from '../events.ts';
import type { InvokeOutcome, SandboxBackend, StartTimings } from '../sandbox/types.ts';
import type { DeployedFunction } from '../function.ts';
import type { PhaseTimings } from '../store/types.ts';
import { StartPlanner, startKindOf } from '../accelerators/planner.ts';
import { PoolZygoteMemory, type DeferredZygoteMemory } from '../accelerators/zygote/memory.ts';
import { AdaptiveConcurrencyLimit, type ConcurrencyLimitMode } from './concurrency-limit.ts';
import { ManagedSandbox } from './managed-sandbox.ts';
import { sandboxSpecFor } from './sandbox-spec.ts';
import type { Scheduler, Timer } from './scheduler.ts';
import { cpuSharesFor, IDLE_CPU_SHARES } from './vertical-scaling.ts';

/** Phase durations: the invocation record's (queue, sandbox, runtime boot, import, init, exec, platform). */
export type Phases = PhaseTimings;

export interface InvocationReport {
  id: string;
  function: string;
  version: number;
  ok: boolean;
  value?: unknown;
  /** `capacity`: no instance could be had in time; `platform`: thaw failed to start a sandbox. */
  error?: { kind: ErrorKind | 'capacity' | 'platform'; name?: string; message: string; stack?: string };
  startKind: StartKind;
  phases: Phases;
  totalMs: number;
  stdout: string;
  stderr: string;
  instanceId?: string;
}

export interface InvokerOptions {
  backend: SandboxBackend;
  /** How new instances start (cold, snapshot, zygote); default: always cold. */
  planner?: StartPlanner;
  /** Pre-warm policies whose decisions the invoker carries out (e.g. IceBreaker's `fft`). */
  prewarm?: PrewarmPolicy[];
  /** Zygotes hold memory: bound here to this invoker's Pool, so they count and are evicted as instances. */
  zygoteMemory?: DeferredZygoteMemory;
  keepAlive: KeepAlivePolicy;
  /** Memory the invoker's instances may hold together, MB. */
  memoryBudgetMb: number;
  scheduler: Scheduler;
  /** An idle instance is paused (frozen) after this long; Infinity never pauses. Default 1 s. */
  pauseAfterMs?: number;
  /** Longest wait for memory or concurrency before a request fails; default: the function's timeout. */
  queueTimeoutMs?: number;
  /**
   * How many invocations of a function run at once: `fixed`, up to its maxConcurrency (default);
   * `adaptive`, up to a limit learnt from the invocations' delays under it (concurrency-limit.ts).
   */
  concurrencyLimit?: ConcurrencyLimitMode;
  /** With an adaptive limit: the lowest it goes (default: the machine's CPUs). */
  leastConcurrencyLimit?: number;
  /** Idle instances cost the platform memory: each idle period, as it ends. */
  onIdle?: (fn: DeployedFunction, idleMs: number, provisioned: boolean) => void;
  /** Something went wrong in the background (a sandbox that would not pause, die, ...). */
  onWarning?: (message: string) => void;
  /** The policy decided (pre-warm, provision, evict, expire) or an operator stopped instances: for live views. */
  onDecision?: (decision: Decision) => void;
  /** An instance changed state (acquired, started, released, paused, stopped): for live views. */
  onInstancesChanged?: () => void;
  /** Sees every lifecycle decision with its time on the scheduler's clock, as the simulator reports them (conformance tests). */
  observer?: LifecycleObserver;
}

/** A function version's instances by state, and the memory they hold. */
export interface FunctionInstances {
  functionName: string;
  version: number;
  starting: number;
  busy: number;
  idle: number;
  paused: number;
  memoryMb: number;
  /** With --concurrency-limit adaptive: the invocations it may run at once now (under its maxConcurrency). */
  concurrencyLimit?: number;
}

interface Waiter {
  fn: DeployedFunction;
  spec: FunctionSpec;
  resolve: (instance: Instance) => void;
  reject: (error: Error) => void;
  timer: Timer;
}

export class Invoker {
  readonly pool: Pool;
  readonly planner: StartPlanner;
  readonly #zygoteMemory: PoolZygoteMemory;
  /**
   * Carries out the pre-warm policies' decisions (and those of a keep-alive policy that also
   * pre-warms, like the hybrid histogram) and the Pool's expiries: the simulator's executor.
   */
  readonly #executor: ActionExecutor;
  readonly #options: InvokerOptions;
  readonly #scheduler: Scheduler;
  readonly #specs = new Map<string, { spec: FunctionSpec; fn: DeployedFunction }>();
  readonly #sandboxes = new Map<Instance, ManagedSandbox>();
  readonly #busy = new Map<FunctionSpec, number>();
  /** With --concurrency-limit adaptive: each function version's learnt limit. */
  readonly #limits: Map<FunctionSpec, AdaptiveConcurrencyLimit> | undefined;
  readonly #waiters: Waiter[] = [];
  /** Busy or starting instances an operator evicted: stopped when their invocation ends. */
  readonly #stopWhenReleased = new Set<Instance>();
  /** Each cold start an invocation began, for the invocations that joined its shared instance while it started. */
  readonly #starts = new Map<Instance, Promise<{ sandbox: ManagedSandbox; timings: StartTimings; kind: StartKind }>>();
  /** Start costs measured so far per function (the first replaces the guess). */
  readonly #measuredStarts = new WeakSet<FunctionSpec>();
  #actionTimer: { at: number; timer: Timer } | undefined;
  #nextSpecIndex = 0;
  #closed = false;

  constructor(options: InvokerOptions) {
    if (!(options.memoryBudgetMb > 0)) throw new ThawError('ERR_INVALID_OPTION', `memory budget must be > 0 MB, got ${options.memoryBudgetMb}`);
    this.#options = options;
    this.#scheduler = options.scheduler;
    if (options.concurrencyLimit === 'adaptive') this.#limits = new Map();
    this.planner = options.planner ?? new StartPlanner(options.backend);
    this.pool = new Pool({
      servers: [{ name: 'local', memoryMb: options.memoryBudgetMb }],
      keepAlive: options.keepAlive,
      placement: new LeastLoadedPlacement(),
      clock: options.scheduler,
      listener: {
        idleEnded: (instance, start, end) => {
          const entry = this.#specs.get(instance.fn.id);
          if (entry) this.#options.onIdle?.(entry.fn, end - start, entry.fn.provisioned > 0);
        },
        removed: (instance, reason, at) => {
          if (reason === 'evicted' || reason === 'expired') this.#decided(reason === 'evicted' ? 'evict' : 'expire', instance.fn);
          this.#options.observer?.removed?.(instance.fn, at, reason);
          if (!this.#zygoteMemory.onRemoved(instance, reason)) this.#onRemoved(instance, reason);
        },
      },
    });
    // Zygotes are idle instances of pseudo-functions `zygote:<set>` in this Pool: pre-warmed (never
    // evicting to make one), evicted or expired by the keep-alive policy, killed when specialised.
    this.#zygoteMemory = new PoolZygoteMemory(this.pool, {
      allocateIndex: () => this.#nextSpecIndex++,
      onChange: () => {
        this.#arm();
        this.#pump();
      },
    });
    options.zygoteMemory?.bind(this.#zygoteMemory);
    this.#executor = new ActionExecutor({
      pool: this.pool,
      clock: this.#scheduler,
      policies: actingPolicies(options.keepAlive, options.prewarm),
      // Policies that size their state by the function set (IceBreaker) see it in index order.
      functions: () => [...this.#specs.values()].map((e) => e.spec).sort((a, b) => a.index - b.index),
      isLive: (spec) => !this.#closed && this.#specs.has(spec.id),
      startAhead: (instance, reason) => this.#startAhead(instance, reason),
      observer: options.observer,
    });
    this.#arm();
  }

  /**
   * Registers functions before any traffic and lets the pre-warm policies attach to them, so that
   * those that size their state by the function set (IceBreaker) see them all (a replay deploys its
   * functions first). Calling it again attaches them again: their history starts over.
   */
  prepare(fns: readonly DeployedFunction[]): void {
    for (const fn of fns) this.#specOf(fn);
    this.#executor.attach();
    this.#arm();
  }

  /**
   * Runs one invocation of `fn` and reports how it went; function errors are reports, not throws.
   * `payloadJson`: the payload's JSON text as received, handed on as it is (see Sandbox.invoke).
   */
  async invoke(fn: DeployedFunction, payload: unknown, invocationId: string, options: { traceparent?: string; payloadJson?: string } = {}): Promise<InvocationReport> {
    if (this.#closed) throw new ThawError('ERR_INVALID_STATE', 'the invoker is shut down');
    const spec = this.#specOf(fn);
    // Policies attach to the functions known by the first invocation, unless prepare() came first.
    if (!this.#executor.attached) this.prepare([]);
    this.#executor.arrived(spec, this.#scheduler.now());
    // Phases are measured on the real clock even when decisions run on a manual one (tests).
    const t0 = performance.now();
    let instance: Instance;
    try {
      instance = await this.#obtain(fn, spec);
    } catch (error) {
      this.#executor.dropped(spec, this.#scheduler.now());
      this.#options.observer?.invocation?.(spec, this.#scheduler.now(), 'dropped');
      return this.#failedBeforeStart(fn, invocationId, t0, error as Error);
    }
    const tAcquired = performance.now();
    this.#options.observer?.invocation?.(spec, this.#scheduler.now(), instance.startKind === 'cold' ? 'cold' : 'warm', instance.server);
    this.#options.onInstancesChanged?.();
    const acquiredAs = instance.startKind;
    let startKind: StartKind = acquiredAs;
    let timings: StartTimings = { sandboxMs: 0, runtimeBootMs: 0, importMs: 0, initMs: 0 };
    let sandbox = this.#sandboxes.get(instance);
    /** An invocation that joined a shared instance while it started: how long it waited for that start. */
    let waitedForStartMs = 0;
    let outcome: InvokeOutcome;
    /** The invocation's time in its sandbox (NaN: it never got there). */
    let inSandboxMs = NaN;
    try {
      if (startKind === 'cold') {
        const joined = this.#starts.has(instance);
        const start = await this.#startOf(fn, instance);
        sandbox = start.sandbox;
        startKind = start.kind;
        if (joined) waitedForStartMs = performance.now() - tAcquired;
        else timings = start.timings;
      } else if (startKind === 'resumed') {
        await sandbox!.resume({ cpuShares: cpuSharesFor(fn.memoryMb) });
      }
      const context = { invocationId, functionName: fn.name, version: fn.version, memoryMb: fn.memoryMb, deadlineMs: Date.now() + fn.timeoutMs };
      const tInvoke = performance.now();
      outcome = await sandbox!.invoke(payload, options.traceparent ? { ...context, traceparent: options.traceparent } : context, fn.timeoutMs, options.payloadJson);
      inSandboxMs = performance.now() - tInvoke;
    } catch (error) {
      // The function's init() failing is its own fault; anything else that stops a sandbox from
      // starting (cgroups, bubblewrap, the agent not answering) is the platform's.
      const code = (error as { code?: string }).code;
      const kind = code === 'ERR_SANDBOX_INIT' ? 'init' : acquiredAs === 'cold' ? 'platform' : 'exit';
      outcome = { ok: false, error: { kind: kind as ErrorKind, message: (error as Error).message }, durationMs: 0, stdout: '', stderr: '', fatal: true };
    }
    // A sandbox that timed out, crashed or ran out of memory is not reused.
    const fatal = !outcome.ok && (outcome.fatal ?? outcome.error!.kind !== 'error');
    // The adaptive limit learns from the delay: the time in the sandbox beyond the function's own.
    if (!fatal) this.#limits?.get(spec)?.observe(inSandboxMs - outcome.durationMs, this.#busy.get(spec) ?? 1, fn.maxConcurrency);
    this.#finish(fn, spec, instance, fatal, outcome.durationMs);
    const totalMs = performance.now() - t0;
    const phases: Phases = {
      // (Waiting for a shared instance's start is waiting for an instance.)
      queueMs: tAcquired - t0 + waitedForStartMs,
      sandboxMs: timings.sandboxMs,
      // The runtime phase is node's boot plus the agent's own setup before it loads the function.
      runtimeBootMs: timings.runtimeBootMs + (timings.agentSetupMs ?? 0),
      importMs: timings.importMs,
      initMs: timings.initMs,
      execMs: outcome.durationMs,
      platformMs: 0,
    };
    phases.platformMs = Math.max(0, totalMs - phases.queueMs - phases.sandboxMs - phases.runtimeBootMs - phases.importMs - phases.initMs - phases.execMs);
    return {
      id: invocationId,
      function: fn.name,
      version: fn.version,
      ok: outcome.ok,
      value: outcome.value,
      error: outcome.error && { ...outcome.error, message: describeError(outcome.error.kind, outcome.error.message, fn) },
      startKind,
      phases,
      totalMs,
      stdout: outcome.stdout,
      stderr: outcome.stderr,
      instanceId: sandbox?.id,
    };
  }

  /**
   * The cold start of `instance`: begun by the first invocation that asks (the one the Pool started
   * it for), awaited by those that joined it while it starts. Once it is ready the Pool runs it.
   */
  #startOf(fn: DeployedFunction, instance: Instance): Promise<{ sandbox: ManagedSandbox; timings: StartTimings; kind: StartKind }> {
    let start = this.#starts.get(instance);
    if (start === undefined && instance.state === 'dead') return Promise.reject(new ThawError('ERR_INVALID_STATE', `${fn.name}: its instance was stopped before it started`));
    if (start === undefined) {
      const sandbox = this.#createSandbox(fn, instance);
      start = sandbox.start().then((timings) => {
        const kind = this.#started(fn, instance, sandbox, timings);
        if (instance.state === 'starting') this.pool.started(instance);
        this.#options.onInstancesChanged?.();
        return { sandbox, timings, kind };
      });
      this.#starts.set(instance, start);
    }
    return start;
  }

  /** Starts instances until `fn` has its provisioned concurrency (as far as memory allows). */
  provision(fn: DeployedFunction): void {
    const spec = this.#specOf(fn);
    if (!this.#executor.provision(spec, fn.provisioned)) {
      this.#options.onWarning?.(`${fn.name}: memory budget too small for ${fn.provisioned} provisioned instances`);
    }
  }

  /** Brings an instance the executor started ahead of demand to life in a real sandbox. */
  #startAhead(instance: Instance, reason: AheadReason): void {
    const spec = instance.fn;
    const fn = this.#specs.get(spec.id)!.fn;
    this.#decided(reason, spec);
    const sandbox = this.#createSandbox(fn, instance);
    sandbox.start().then(
      (timings) => {
        this.#started(fn, instance, sandbox, timings);
        if (instance.state === 'dead' || this.#stopWhenReleased.delete(instance)) {
          this.#executor.failed(instance);
          return this.#kill(instance);
        }
        this.#executor.ready(instance);
        this.#afterRelease(fn, instance);
        this.#pump();
      },
      (error: Error) => {
        this.#options.onWarning?.(`${fn.name}: ${reason === 'provision' ? 'provisioned' : 'pre-warmed'} instance failed to start: ${error.message}`);
        this.#executor.failed(instance);
        this.#kill(instance);
      },
    );
  }

  /** Stops keeping `fn`'s version warm: its idle instances go now, busy ones when they finish. */
  retire(fn: DeployedFunction): void {
    const entry = this.#specs.get(keyOf(fn));
    if (!entry) return;
    this.planner.onRetire(fn);
    this.pool.setMinInstances(entry.spec, 0);
    for (const group of this.pool.groupsOf(entry.spec)) for (const instance of [...group.idleInstances()]) this.#kill(instance);
    this.#specs.delete(keyOf(fn));
  }

  /**
   * Stops a function's idle and paused instances (of every version), so that its next invocation
   * starts cold; with `waitForBusy`, busy and starting ones too, each as soon as its invocation
   * ends. Resolves once every instance stopped has exited. Provisioned instances are started again
   * (that is what provisioned concurrency means).
   */
  async evict(name: string, options: { waitForBusy?: boolean } = {}): Promise<{ stopped: number; waitedFor: number }> {
    const exits: Promise<unknown>[] = [];
    let stopped = 0;
    let waitedFor = 0;
    for (const [instance, sandbox] of this.#sandboxes) {
      if (instance.fn.app !== name) continue;
      if (instance.state === 'idle' || instance.state === 'paused') {
        stopped++;
        this.#decided('stop', instance.fn);
        this.#kill(instance);
      } else if (options.waitForBusy) {
        waitedFor++;
        this.#decided('stop', instance.fn);
        // (A shared instance takes no more invocations; it stops when its last one ends.)
        this.pool.drain(instance);
        this.#stopWhenReleased.add(instance);
      } else {
        continue;
      }
      exits.push(sandbox.exited);
    }
    for (const { fn } of this.#specs.values()) if (fn.name === name && fn.provisioned > 0) this.provision(fn);
    await Promise.all(exits);
    return { stopped, waitedFor };
  }

  /** Instances of every function version that has any, by state, and the memory they hold. */
  instancesByFunction(): FunctionInstances[] {
    const byKey = new Map<string, FunctionInstances>();
    for (const instance of this.#sandboxes.keys()) {
      const entry = this.#specs.get(instance.fn.id);
      if (!entry || instance.state === 'dead') continue;
      let row = byKey.get(instance.fn.id);
      if (!row) {
        row = { functionName: entry.fn.name, version: entry.fn.version, starting: 0, busy: 0, idle: 0, paused: 0, memoryMb: 0 };
        if (this.#limits) row.concurrencyLimit = this.#concurrencyLimitOf(entry.fn, entry.spec);
        byKey.set(instance.fn.id, row);
      }
      row[instance.state]++;
      row.memoryMb += instance.memoryMb;
    }
    return [...byKey.values()].sort((a, b) => a.functionName.localeCompare(b.functionName) || a.version - b.version);
  }

  /** Instances by state and the memory they hold. */
  snapshot(): { instances: Record<string, number>; usedMb: number; idleMb: number; budgetMb: number; waiting: number } {
    const instances: Record<string, number> = { starting: 0, busy: 0, idle: 0, paused: 0 };
    for (const instance of this.#sandboxes.keys()) instances[instance.state] = (instances[instance.state] ?? 0) + 1;
    const server = this.pool.servers[0]!;
    return { instances, usedMb: server.usedMb, idleMb: server.idleMb, budgetMb: server.capacityMb, waiting: this.#waiters.length };
  }

  /** Destroys every sandbox and fails every waiting request. */
  async close(): Promise<void> {
    this.#closed = true;
    this.#actionTimer?.timer.cancel();
    for (const w of this.#waiters.splice(0)) {
      w.timer.cancel();
      w.reject(new ThawError('ERR_INVALID_STATE', 'thaw is shutting down'));
    }
    await Promise.all([...this.#sandboxes.values()].map((s) => s.destroy()));
    this.#sandboxes.clear();
    await this.planner.close();
  }

  #specOf(fn: DeployedFunction): FunctionSpec {
    const key = keyOf(fn);
    let entry = this.#specs.get(key);
    if (!entry) {
      // Cost and warm time start as guesses and are learnt from measured starts and executions:
      // Greedy-Dual's cost term is then the function's real cold-start time.
      const spec = { index: this.#nextSpecIndex++, id: key, app: fn.name, memoryMb: fn.memoryMb, warmMs: 100, coldStartMs: 500, concurrency: fn.instanceConcurrency ?? 1 };
      entry = { spec, fn };
      this.#specs.set(key, entry);
    }
    entry.fn = fn;
    return entry.spec;
  }

  /**
   * A new instance is ready: which path it really took (a snapshot may have fallen back to cold),
   * and what the start cost, learnt by the planner (for `auto`) and by the keep-alive policy (GD's
   * cost is the function's measured start time, so cheap restores make instances cheap to evict).
   */
  #started(fn: DeployedFunction, instance: Instance, sandbox: ManagedSandbox, t: StartTimings): StartKind {
    const spec = instance.fn;
    const kind = startKindOf(sandbox.sandbox, sandbox.path);
    // (A snapshot or zygote start that fell back to a cold one may serve a different number at once.)
    if (sandbox.concurrency < instance.maxInFlight) this.pool.limitConcurrency(instance, sandbox.concurrency);
    const measured = t.sandboxMs + t.runtimeBootMs + (t.agentSetupMs ?? 0) + t.importMs + t.initMs;
    this.planner.observe(fn, kind, measured);
    // The first measurement replaces the guess; then a moving average (exact when starts cost the same).
    const cost = this.#measuredStarts.has(spec) ? spec.coldStartMs + 0.3 * (measured - spec.coldStartMs) : measured;
    this.#measuredStarts.add(spec);
    (spec as { coldStartMs: number }).coldStartMs = cost;
    return kind;
  }

  /** An instance for one invocation: now if memory and the concurrency limit allow, else in turn. */
  #obtain(fn: DeployedFunction, spec: FunctionSpec): Promise<Instance> {
    const instance = this.#waiters.length === 0 ? this.#tryAcquire(fn, spec) : undefined;
    if (instance) return Promise.resolve(instance);
    return new Promise((resolve, reject) => {
      const waitMs = this.#options.queueTimeoutMs ?? fn.timeoutMs;
      const waiter: Waiter = {
        fn,
        spec,
        resolve,
        reject,
        timer: this.#scheduler.at(this.#scheduler.now() + waitMs, () => {
          const i = this.#waiters.indexOf(waiter);
          if (i >= 0) this.#waiters.splice(i, 1);
          reject(new ThawError('ERR_CAPACITY', `${fn.name}: no instance within ${waitMs} ms (memory budget ${this.#options.memoryBudgetMb} MB full of busy instances, or ${this.#concurrencyLimitOf(fn, spec)} invocations already running${this.#limits ? `: its adaptive limit, under maxConcurrency ${fn.maxConcurrency}` : ''})`));
        }),
      };
      this.#waiters.push(waiter);
      this.#pump();
    });
  }

  #tryAcquire(fn: DeployedFunction, spec: FunctionSpec): Instance | undefined {
    const busy = this.#busy.get(spec) ?? 0;
    if (busy >= this.#concurrencyLimitOf(fn, spec)) return undefined;
    const instance = this.pool.acquire(spec);
    if (instance) this.#busy.set(spec, busy + 1);
    return instance;
  }

  /** Invocations of `fn` that may run at once now: its maxConcurrency, or under it the adaptive limit. */
  #concurrencyLimitOf(fn: DeployedFunction, spec: FunctionSpec): number {
    const limits = this.#limits;
    if (limits === undefined) return fn.maxConcurrency;
    let limit = limits.get(spec);
    if (limit === undefined) limits.set(spec, (limit = new AdaptiveConcurrencyLimit(fn.maxConcurrency, this.#options.leastConcurrencyLimit ?? availableParallelism())));
    return limit.limit(fn.maxConcurrency);
  }

  /** Serves waiting requests, first come first served, as far as memory and limits now allow. */
  #pump(): void {
    for (let i = 0; i < this.#waiters.length; ) {
      const w = this.#waiters[i]!;
      const instance = this.#tryAcquire(w.fn, w.spec);
      if (instance) {
        this.#waiters.splice(i, 1);
        w.timer.cancel();
        w.resolve(instance);
      } else {
        i++;
      }
    }
  }

  #createSandbox(fn: DeployedFunction, instance: Instance): ManagedSandbox {
    // The id is unique across restarts too: a crashed thaw may leave an instance's cgroup behind.
    const planned = this.planner.plan(fn, sandboxSpecFor(fn, `${fn.name}-${fn.version}-${RUN_ID}-${instance.id}`));
    const sandbox = new ManagedSandbox(planned.sandbox, planned.path);
    this.#sandboxes.set(instance, sandbox);
    // A start path whose sandbox serves fewer at once than the function asks (one, in a microVM):
    // the Pool shares the instance only as far as the sandbox can.
    if (sandbox.concurrency < instance.maxInFlight) this.pool.limitConcurrency(instance, sandbox.concurrency);
    // A sandbox that dies while idle is simply gone; one that dies mid-invocation is reported there.
    void sandbox.exited.then(() => {
      if (instance.state === 'idle' || instance.state === 'paused') this.#kill(instance);
    });
    return sandbox;
  }

  #finish(fn: DeployedFunction, spec: FunctionSpec, instance: Instance, fatal: boolean, execMs: number): void {
    this.#busy.set(spec, (this.#busy.get(spec) ?? 1) - 1);
    this.#executor.completed(spec, this.#scheduler.now());
    (spec as { warmMs: number }).warmMs = spec.warmMs * 0.8 + execMs * 0.2;
    const last = instance.inFlight <= 1;
    if (fatal || instance.state === 'dead' || (last && this.#stopWhenReleased.delete(instance))) {
      // A timeout, crash or OOM leaves the sandbox unusable (its other invocations, if it serves
      // several, fail with it): replace it.
      this.#kill(instance);
      if (fn.provisioned > 0) this.provision(fn);
    } else {
      if (instance.state === 'starting') this.pool.started(instance);
      this.pool.release(instance);
      if (instance.state === 'idle') this.#afterRelease(fn, instance);
    }
    this.#arm();
    this.#pump();
    this.#options.onInstancesChanged?.();
  }

  #afterRelease(fn: DeployedFunction, instance: Instance): void {
    const sandbox = this.#sandboxes.get(instance);
    const idleSince = instance.idleSince;
    const pauseAfterMs = this.#options.pauseAfterMs ?? 1000;
    if (pauseAfterMs !== Infinity && sandbox) {
      this.#scheduler.at(this.#scheduler.now() + pauseAfterMs, () => {
        if (instance.state !== 'idle' || instance.idleSince !== idleSince) return;
        this.pool.pause(instance);
        this.#options.onInstancesChanged?.();
        // Vertical scaling: a paused instance keeps its memory but gives up its CPU weight.
        sandbox.pause({ cpuShares: IDLE_CPU_SHARES }).catch((error: Error) => this.#options.onWarning?.(`${fn.name}: could not pause instance ${sandbox.id}: ${error.message}`));
      });
    }
    this.#arm();
  }

  /** One timer, at the executor's next expiry, action or tick: it runs everything then due, in order. */
  #arm(): void {
    const at = this.#executor.nextAt();
    if (at === Infinity || this.#closed || (this.#actionTimer && this.#actionTimer.at <= at)) return;
    this.#actionTimer?.timer.cancel();
    this.#actionTimer = {
      at,
      timer: this.#scheduler.at(at, () => {
        this.#actionTimer = undefined;
        if (this.#closed) return;
        while (this.#executor.nextAt() <= this.#scheduler.now()) this.#executor.step();
        this.#arm();
        this.#pump();
      }),
    };
  }

  #decided(kind: DecisionKind, spec: FunctionSpec): void {
    if (!this.#options.onDecision) return;
    const entry = this.#specs.get(spec.id);
    this.#options.onDecision({ kind, functionName: entry?.fn.name ?? spec.id, version: entry?.fn.version ?? null, memoryMb: spec.memoryMb });
  }

  #kill(instance: Instance): void {
    if (instance.state !== 'dead') this.pool.kill(instance);
    this.#destroy(instance);
    this.#pump();
  }

  #onRemoved(instance: Instance, reason: RemovalReason): void {
    if (reason !== 'killed') this.#destroy(instance); // evicted or expired: scale down (to zero)
  }

  #destroy(instance: Instance): void {
    this.#starts.delete(instance);
    const sandbox = this.#sandboxes.get(instance);
    if (!sandbox) return;
    this.#sandboxes.delete(instance);
    this.#options.onInstancesChanged?.();
    sandbox.destroy().catch((error: Error) => this.#options.onWarning?.(`could not destroy sandbox ${sandbox.id}: ${error.message}`));
  }

  #failedBeforeStart(fn: DeployedFunction, id: string, t0: number, error: Error): InvocationReport {
    const queueMs = performance.now() - t0;
    return {
      id,
      function: fn.name,
      version: fn.version,
      ok: false,
      error: { kind: 'capacity', message: error.message },
      startKind: 'cold',
      phases: { queueMs, sandboxMs: 0, runtimeBootMs: 0, importMs: 0, initMs: 0, execMs: 0, platformMs: 0 },
      totalMs: queueMs,
      stdout: '',
      stderr: '',
    };
  }
}

/** Distinguishes this thaw process's instances from those of earlier runs. */
const RUN_ID = randomBytes(3).toString('hex');

function keyOf(fn: DeployedFunction): string {
  return `${fn.name}@${fn.version}`;
}

/** Errors name which fault it was, in words a function author understands. */
function describeError(kind: ErrorKind, message: string, fn: DeployedFunction): string {
  switch (kind) {
    case 'timeout':
      return `function timed out after ${fn.timeoutMs} ms${message ? `: ${message}` : ''}`;
    case 'oom':
      return `function exceeded its memory limit of ${fn.memoryMb} MB${message ? `: ${message}` : ''}`;
    case 'exit':
      return `function's process exited during the invocation${message ? `: ${message}` : ''}`;
    case 'init':
      return `function failed to initialise: ${message}`;
    case 'platform' as ErrorKind:
      return `thaw could not start a sandbox: ${message}`;
    default:
      return message;
  }
}
