// The one executor of policy actions, shared by the simulator's engine and the platform's invoker.
// Policies decide (src/core/prewarm.ts: warm and provision actions, ticks); the Pool keeps, expires
// and evicts; this module carries the decisions out on the Pool at their time: it queues timed
// actions (a later action with the same key supersedes a pending one), ticks policies, counts
// instances already warming or idle towards a warm action and extends the keep-alive window of the
// idle ones it keeps, starts the missing ones on the action's tier in free memory, and releases each
// pre-warmed instance, once ready, for the window its action asked for. It also runs the Pool's
// expiries, so both drivers interleave expiries, actions and ticks in one order.
//
// A driver owns only what differs between the worlds: how an instance comes to life (the engine
// schedules a completion `coldStartMs` ahead; the invoker starts a real sandbox) and when time
// moves (the engine's event loop; the invoker's timer at nextAt()). At equal times the order is:
// the driver's completions first, then expiries, then actions (in the order they were scheduled),
// then ticks.

import type { Clock } from './clock.ts';
import { KeyedHeap } from './heap.ts';
import type { Instance, Server } from './instance.ts';
import type { Pool, RemovalReason } from './pool.ts';
import type { KeepAlivePolicy } from './policy.ts';
import { isPrewarmPolicy, type PrewarmAction, type PrewarmContext, type PrewarmPolicy, type WarmAction } from './prewarm.ts';
import type { FunctionSpec } from './trace.ts';

export type InvocationOutcome = 'warm' | 'cold' | 'dropped' | 'queued';

/** What both drivers report of instance lifecycles, with the time on their clock (conformance, golden traces, debugging). */
export interface LifecycleObserver {
  invocation?(fn: FunctionSpec, timeMs: number, outcome: InvocationOutcome, server?: Server): void;
  removed?(fn: FunctionSpec, timeMs: number, reason: RemovalReason): void;
  /** A pre-warm started an instance (`server`) or kept an idle one (its window extended). */
  prewarmed?(fn: FunctionSpec, timeMs: number, server: Server, kind: 'started' | 'kept'): void;
}

/** Why an instance is started ahead of demand. */
export type AheadReason = 'prewarm' | 'provision';

export interface ActionExecutorOptions {
  pool: Pool;
  clock: Clock;
  policies: readonly PrewarmPolicy[];
  /** The functions policies see when they attach (the trace's, or the deployed ones). */
  functions(): readonly FunctionSpec[];
  /**
   * Brings an instance `pool.prewarm()` just created to life; the driver calls ready() once it is,
   * or failed() if it never will be.
   */
  startAhead(instance: Instance, reason: AheadReason): void;
  /** Whether actions for `fn` still apply (the platform retires functions); default: always. */
  isLive?(fn: FunctionSpec): boolean;
  observer?: LifecycleObserver;
}

/** A scheduled action and the policy that asked for it. */
interface Timer {
  action: PrewarmAction;
  policy: PrewarmPolicy;
  seq: number;
}

export class ActionExecutor {
  readonly #pool: Pool;
  readonly #clock: Clock;
  readonly #policies: readonly PrewarmPolicy[];
  readonly #options: ActionExecutorOptions;
  readonly #timers = new KeyedHeap<Timer>();
  readonly #latestByKey = new Map<PrewarmPolicy, Map<number, number>>();
  #timerSeq = 0;
  readonly #tickPolicies: PrewarmPolicy[];
  /** Per tick policy, when it ticks next (a multiple of its period). */
  readonly #nextTicks: number[];
  /** Pre-warm starts in progress per function (counted as warm by later actions). */
  readonly #warming = new Map<number, Instance[]>();
  /** The keep-alive window each pre-warm start asked for, applied when it is ready. */
  readonly #keepMs = new Map<Instance, number>();
  readonly #context: PrewarmContext;

  constructor(options: ActionExecutorOptions) {
    this.#options = options;
    this.#pool = options.pool;
    this.#clock = options.clock;
    this.#policies = options.policies;
    this.#tickPolicies = this.#policies.filter((p) => p.tickMs > 0 && p.tick);
    const now = this.#clock.now();
    this.#nextTicks = this.#tickPolicies.map((p) => (Math.floor(now / p.tickMs) + 1) * p.tickMs);
    const pool = this.#pool;
    this.#context = {
      get functions() {
        return options.functions();
      },
      servers: pool.servers,
      idleCount: (fn, tier) => {
        let n = 0;
        for (const g of pool.groupsOf(fn)) if (matches(g.server, tier)) n += g.idleCount;
        return n;
      },
    };
  }

  get policies(): readonly PrewarmPolicy[] {
    return this.#policies;
  }

  #attached = false;

  /** Whether attach() has run. */
  get attached(): boolean {
    return this.#attached;
  }

  /** Lets every policy see the cluster and schedules what it asks for at once (call before the first arrival). */
  attach(): void {
    this.#attached = true;
    for (const policy of this.#policies) this.#schedule(policy, policy.attach?.(this.#context));
  }

  /** When the next expiry, action or tick falls due (Infinity: nothing pending). */
  nextAt(): number {
    let next = this.#pool.nextExpiry();
    const timer = this.#timers.peekKey();
    if (timer < next) next = timer;
    for (const t of this.#nextTicks) if (t < next) next = t;
    return next;
  }

  /**
   * Runs one thing due at the clock's time, in order: expiries, else the earliest action, else the
   * ticks due. The driver calls it while nextAt() ≤ now, after its own completions at that time.
   */
  step(): void {
    const now = this.#clock.now();
    const expiry = this.#pool.nextExpiry();
    const timer = this.#timers.peekKey();
    let tick = Infinity;
    for (const t of this.#nextTicks) if (t < tick) tick = t;
    if (expiry <= now && expiry <= timer && expiry <= tick) {
      this.#pool.expire();
    } else if (timer <= now && timer <= tick) {
      this.#run(this.#timers.pop()!, now);
    } else if (tick <= now) {
      this.#tickPolicies.forEach((policy, k) => {
        if (this.#nextTicks[k]! !== tick) return;
        this.#schedule(policy, policy.tick!(tick));
        this.#nextTicks[k] = (Math.floor(tick / policy.tickMs) + 1) * policy.tickMs;
      });
    }
  }

  /** A request of `fn` arrived (before it is served). */
  arrived(fn: FunctionSpec, now: number): void {
    for (const policy of this.#policies) policy.invoked?.(fn, now);
  }

  /** A request of `fn` will not be served (no instance could be had). */
  dropped(fn: FunctionSpec, now: number): void {
    for (const policy of this.#policies) policy.dropped?.(fn, now);
  }

  /** An invocation of `fn` finished (call before its instance is released). */
  completed(fn: FunctionSpec, now: number): void {
    for (const policy of this.#policies) if (policy.completed) this.#schedule(policy, policy.completed(fn, now));
  }

  /** An instance started ahead of demand is ready: it waits idle for the window its action set. */
  ready(instance: Instance): void {
    this.#forget(instance);
    const keepMs = this.#keepMs.get(instance)!;
    this.#keepMs.delete(instance);
    this.#pool.started(instance);
    this.#pool.release(instance, keepMs);
  }

  /** An instance started ahead of demand will never be ready (its start failed or it was stopped). */
  failed(instance: Instance): void {
    this.#forget(instance);
    this.#keepMs.delete(instance);
  }

  /** Whether `instance` is a pre-warm start still on its way (not ready yet). */
  isStartingAhead(instance: Instance): boolean {
    return this.#keepMs.has(instance);
  }

  /**
   * Provisioned concurrency: sets the floor of `fn` and starts the missing instances in free memory
   * (kept until evicted; the floor keeps them from that too). False if not all of them fit.
   */
  provision(fn: FunctionSpec, count: number): boolean {
    this.#pool.setMinInstances(fn, count);
    for (let missing = count - this.#pool.instanceCount(fn); missing > 0; missing--) {
      if (!this.#startOne(fn, this.#pool.servers, Infinity, 'provision')) return false;
    }
    return true;
  }

  #schedule(policy: PrewarmPolicy, actions: readonly PrewarmAction[] | void): void {
    if (!actions) return;
    for (const action of actions) {
      const seq = this.#timerSeq++;
      if (action.kind === 'warm' && action.key !== undefined) {
        let keys = this.#latestByKey.get(policy);
        if (!keys) this.#latestByKey.set(policy, (keys = new Map()));
        keys.set(action.key, seq);
      }
      this.#timers.push(Math.max(action.at, this.#clock.now()), { action, policy, seq });
    }
  }

  #run(timer: Timer, now: number): void {
    const { action, policy } = timer;
    if (action.kind === 'warm' && action.key !== undefined && this.#latestByKey.get(policy)?.get(action.key) !== timer.seq) return; // superseded
    if (this.#options.isLive && !this.#options.isLive(action.fn)) return; // retired meanwhile
    if (action.kind === 'provision') this.provision(action.fn, action.count);
    else this.#warm(action, policy, now);
  }

  /** Makes `count` instances of fn warm on the tier: warming and idle ones count (idle ones are kept longer), the rest start. */
  #warm(action: WarmAction, policy: PrewarmPolicy, now: number): void {
    const fn = action.fn;
    const want = action.count ?? 1;
    const until = now + action.keepAliveMs;
    let kept = 0;
    // Instances already warming count first, then idle ones (most recently used first).
    const pending = this.#warming.get(fn.index);
    if (pending) for (const i of pending) if (kept < want && matches(i.server, action.tier)) kept++;
    for (const group of this.#pool.groupsOf(fn)) {
      if (kept >= want) break;
      if (!matches(group.server, action.tier)) continue;
      for (let i = group.newestIdle; i && kept < want; i = i.prevIdle) {
        this.#pool.keepIdleUntil(i, until);
        kept++;
        this.#options.observer?.prewarmed?.(fn, now, i.server, 'kept');
      }
    }
    let started = 0;
    let refused = 0;
    const candidates = action.tier === undefined ? this.#pool.servers : this.#pool.servers.filter((s) => s.tier === action.tier);
    for (let k = kept; k < want; k++) {
      if (!this.#startOne(fn, candidates, action.keepAliveMs, 'prewarm')) {
        refused = want - k;
        break;
      }
      started++;
    }
    policy.executed?.({ action, kept, started, refused });
  }

  /** Starts one instance of fn ahead of demand on one of `candidates` (free memory only). */
  #startOne(fn: FunctionSpec, candidates: readonly Server[], keepAliveMs: number, reason: AheadReason): boolean {
    const instance = this.#pool.prewarm(fn, candidates);
    if (!instance) return false;
    this.#keepMs.set(instance, keepAliveMs);
    let list = this.#warming.get(fn.index);
    if (!list) this.#warming.set(fn.index, (list = []));
    list.push(instance);
    this.#options.startAhead(instance, reason);
    this.#options.observer?.prewarmed?.(fn, this.#clock.now(), instance.server, 'started');
    return true;
  }

  #forget(instance: Instance): void {
    const list = this.#warming.get(instance.fn.index);
    const at = list ? list.indexOf(instance) : -1;
    if (at >= 0) list!.splice(at, 1);
  }
}

/**
 * The policies whose actions a driver carries out: a keep-alive policy that also pre-warms (the
 * hybrid histogram) first, then the pre-warm policies, in both drivers in this order.
 */
export function actingPolicies(keepAlive: KeepAlivePolicy, prewarm: readonly PrewarmPolicy[] = []): PrewarmPolicy[] {
  const policies: PrewarmPolicy[] = isPrewarmPolicy(keepAlive) ? [keepAlive] : [];
  for (const p of prewarm) if (!policies.includes(p)) policies.push(p);
  return policies;
}

function matches(server: Server, tier: string | undefined): boolean {
  return tier === undefined || server.tier === tier;
}
