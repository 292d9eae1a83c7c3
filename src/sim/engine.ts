// The discrete-event simulator: replays a trace's arrivals against the core Pool on a virtual clock.
// One invocation per instance at a time; a function under concurrency gets several instances. Events
// are arrivals (from the trace stream), completions (a heap) and keep-alive expiries (the Pool's);
// at equal times completions and expiries come first, so an instance finishing at t serves an
// arrival at t.

import { VirtualClock } from '../core/clock.ts';
import { KeyedHeap } from '../core/heap.ts';
import type { Instance, Server, ServerSpec } from '../core/instance.ts';
import type { KeepAlivePolicy, PlacementPolicy, RoutingPolicy } from '../core/policy.ts';
import type { PrewarmAction, PrewarmContext, PrewarmPolicy, WarmAction } from '../core/prewarm.ts';
import { Pool, type PoolListener, type RemovalReason } from '../core/pool.ts';
import type { FunctionSpec, Trace } from '../core/trace.ts';
import { ThawError } from '../core/errors.ts';
import { SimMetrics } from './metrics.ts';
import type { SimResult } from './result.ts';

export interface CapacityController {
  /** Called after every arrival is decided (missed: no warm instance); returns a new capacity (MB, per server) or undefined. */
  observe(fn: number, timeMs: number, missed: boolean): number | undefined;
}

export interface SimulationOptions {
  servers: readonly ServerSpec[];
  keepAlive: KeepAlivePolicy;
  placement: PlacementPolicy;
  /**
   * A router (CH-BL, random, round-robin): each request goes to the server it picks and reuses only
   * that server's instances, as on a cluster of invokers. Without one, a request takes an idle
   * instance on any server (perfect knowledge) and `placement` places new ones.
   */
  routing?: RoutingPolicy;
  /** What happens to a request no server can hold: dropped (default) or queued until memory frees. */
  unplaceable?: 'drop' | 'queue';
  /** Timeline resolution, ms (default 1 minute). */
  timelineIntervalMs?: number;
  /** Changes server memory during the run (FaaSCache's dynamic sizing). */
  capacityController?: CapacityController;
  /** Called now and then with the number of arrivals processed so far. */
  onProgress?: (done: number) => void;
  /** Options to record in the result, as given by the caller. */
  describe?: Record<string, unknown>;
  /** Sees every decision as it happens (golden-trace tests, debugging). Slows the run a little. */
  observer?: SimObserver;
  /** Pre-warming policies (hybrid histogram, IceBreaker, provisioned concurrency), run in order. */
  prewarm?: readonly PrewarmPolicy[];
}

export type InvocationOutcome = 'warm' | 'cold' | 'dropped' | 'queued';

export interface SimObserver {
  invocation?(fn: FunctionSpec, timeMs: number, outcome: InvocationOutcome, server?: Server): void;
  removed?(fn: FunctionSpec, timeMs: number, reason: RemovalReason): void;
  /** A pre-warm started an instance (`server`) or kept an idle one. */
  prewarmed?(fn: FunctionSpec, timeMs: number, server: Server, kind: 'started' | 'kept'): void;
}

/** A scheduled pre-warm action and the policy that asked for it. */
interface Timer {
  action: PrewarmAction;
  policy: PrewarmPolicy;
  seq: number;
}

interface Queued {
  fn: FunctionSpec;
  arrival: number;
  durationMs: number;
}

export function simulate(trace: Trace, options: SimulationOptions): SimResult {
  const started = performance.now();
  const clock = new VirtualClock(0);
  const functions = trace.functions;
  const metrics = new SimMetrics(trace, options.timelineIntervalMs ?? 60_000);
  const pool = new Pool({
    servers: options.servers,
    keepAlive: options.keepAlive,
    placement: options.placement,
    clock,
    listener: options.observer ? observedListener(metrics, options.observer) : metrics,
  });
  const observer = options.observer;
  metrics.attach(pool);
  const completions = new KeyedHeap<Instance>();
  const queue: Queued[] = [];
  let queueHead = 0;
  const queueing = (options.unplaceable ?? 'drop') === 'queue';
  const controller = options.capacityController;
  const onProgress = options.onProgress;

  /** Starts an invocation at the clock's time, or returns false if no instance can be had. */
  const routing = options.routing;
  const start = (fn: FunctionSpec, durationMs: number): boolean => {
    let server: Server | undefined;
    if (routing) {
      server = routing.route(fn, pool.servers);
      if (!server) return false;
    }
    const instance = pool.acquire(fn, server);
    if (!instance) return false;
    const now = clock.now();
    const speed = instance.server.speed;
    const cold = instance.startKind === 'cold';
    const startMs = cold ? fn.coldStartMs / speed : 0;
    const execMs = durationMs / speed;
    metrics.started(fn.index, cold, startMs, execMs, now, instance.server);
    observer?.invocation?.(fn, now, instance.startKind === 'cold' ? 'cold' : 'warm', instance.server);
    completions.push(now + startMs + execMs, instance);
    return true;
  };

  // Pre-warming: timed actions in a heap (like completions), periodic ticks, and the keep-alive each
  // pre-warm start asked for (applied when it is ready).
  const prewarmPolicies = options.prewarm ?? [];
  const timers = new KeyedHeap<Timer>();
  const latestByKey = new Map<PrewarmPolicy, Map<number, number>>();
  const prewarmKeepMs = new Map<Instance, number>();
  let timerSeq = 0;
  const tickPolicies = prewarmPolicies.filter((p) => p.tickMs > 0 && p.tick);
  let nextTick = tickPolicies.length ? Math.min(...tickPolicies.map((p) => p.tickMs)) : Infinity;
  const tiers = [...new Set(pool.servers.map((s) => s.tier))];
  const serversOfTier = new Map(tiers.map((t) => [t, pool.servers.filter((s) => s.tier === t)]));
  const matches = (server: Server, tier: string | undefined): boolean => tier === undefined || server.tier === tier;
  /** Pre-warm starts in progress per function (counted as warm by later actions). */
  const warming = new Map<number, Instance[]>();
  const context: PrewarmContext = {
    functions,
    servers: pool.servers,
    idleCount: (fn, tier) => {
      let n = 0;
      for (const g of pool.groupsOf(fn)) if (matches(g.server, tier)) n += g.idleCount;
      return n;
    },
  };

  const schedule = (policy: PrewarmPolicy, actions: readonly PrewarmAction[] | void): void => {
    if (!actions) return;
    for (const action of actions) {
      const seq = timerSeq++;
      if (action.kind === 'warm' && action.key !== undefined) {
        let keys = latestByKey.get(policy);
        if (!keys) latestByKey.set(policy, (keys = new Map()));
        keys.set(action.key, seq);
      }
      timers.push(Math.max(action.at, clock.now()), { action, policy, seq });
    }
  };

  /** Starts one pre-warmed instance of fn on one of `candidates` (free memory only). */
  const startPrewarm = (fn: FunctionSpec, candidates: readonly Server[], keepAliveMs: number, now: number): boolean => {
    const instance = pool.prewarm(fn, candidates);
    if (!instance) return false;
    const startMs = fn.coldStartMs / instance.server.speed;
    metrics.prewarmStarted(instance, startMs);
    prewarmKeepMs.set(instance, keepAliveMs);
    let list = warming.get(fn.index);
    if (!list) warming.set(fn.index, (list = []));
    list.push(instance);
    completions.push(now + startMs, instance);
    observer?.prewarmed?.(fn, now, instance.server, 'started');
    return true;
  };

  const executeWarm = (action: WarmAction, policy: PrewarmPolicy, now: number): void => {
    const fn = action.fn;
    const want = action.count ?? 1;
    const until = now + action.keepAliveMs;
    let kept = 0;
    // Instances already warming count first, then idle ones (most recently used first), kept longer.
    const pending = warming.get(fn.index);
    if (pending) for (const i of pending) if (kept < want && matches(i.server, action.tier)) kept++;
    for (const group of pool.groupsOf(fn)) {
      if (kept >= want) break;
      if (!matches(group.server, action.tier)) continue;
      for (let i = group.newestIdle; i && kept < want; i = i.prevIdle) {
        pool.keepIdleUntil(i, until);
        kept++;
        observer?.prewarmed?.(fn, now, i.server, 'kept');
      }
    }
    let started = 0;
    let refused = 0;
    const candidates = action.tier === undefined ? pool.servers : serversOfTier.get(action.tier) ?? [];
    for (let k = kept; k < want; k++) {
      if (!startPrewarm(fn, candidates, action.keepAliveMs, now)) {
        refused = want - k;
        break;
      }
      started++;
    }
    policy.executed?.({ action, kept, started, refused });
  };

  const runTimer = (timer: Timer, now: number): void => {
    const { action, policy } = timer;
    if (action.kind === 'warm' && action.key !== undefined && latestByKey.get(policy)?.get(action.key) !== timer.seq) return; // superseded
    if (action.kind === 'provision') {
      // The floor protects the instances from eviction and expiry; they wait idle until used.
      pool.setMinInstances(action.fn, action.count);
      for (let missing = action.count - pool.instanceCount(action.fn); missing > 0; missing--) {
        if (!startPrewarm(action.fn, pool.servers, Infinity, now)) break;
      }
    } else {
      executeWarm(action, policy, now);
    }
  };

  /** A completion: a pre-warm start became ready, or an invocation finished. */
  const complete = (instance: Instance): void => {
    if (instance.prewarmed && instance.state === 'starting') {
      pool.started(instance);
      const list = warming.get(instance.fn.index)!;
      list.splice(list.indexOf(instance), 1);
      const keepMs = prewarmKeepMs.get(instance)!;
      prewarmKeepMs.delete(instance);
      pool.release(instance, keepMs);
      return;
    }
    if (instance.state === 'starting') pool.started(instance);
    for (const policy of prewarmPolicies) if (policy.completed) schedule(policy, policy.completed(instance.fn, clock.now()));
    pool.release(instance);
  };

  for (const policy of prewarmPolicies) schedule(policy, policy.attach?.(context));

  const drainQueue = (): void => {
    while (queueHead < queue.length) {
      const q = queue[queueHead]!;
      if (!start(q.fn, q.durationMs)) return;
      metrics.dequeued(clock.now() - q.arrival);
      queue[queueHead++] = undefined as unknown as Queued;
    }
    queue.length = queueHead = 0;
  };

  /**
   * Processes every completion, expiry, pre-warm action and tick up to and including time t, in time
   * order; at equal times completions, then expiries, then pre-warm actions, then ticks.
   */
  const advanceTo = (t: number): void => {
    for (;;) {
      const nextCompletion = completions.peekKey();
      const nextExpiry = pool.nextExpiry();
      let next = nextCompletion < nextExpiry ? nextCompletion : nextExpiry;
      const nextTimer = timers.peekKey();
      if (nextTimer < next) next = nextTimer;
      if (nextTick < next) next = nextTick;
      if (next > t) break;
      metrics.advance(next);
      clock.set(next);
      if (nextCompletion === next) {
        complete(completions.pop()!);
        if (queueing && queueHead < queue.length) drainQueue();
      } else if (nextExpiry === next) {
        pool.expire();
      } else if (nextTimer === next) {
        runTimer(timers.pop()!, next);
      } else {
        for (const policy of tickPolicies) if (next % policy.tickMs === 0) schedule(policy, policy.tick!(next));
        nextTick = Infinity;
        for (const policy of tickPolicies) nextTick = Math.min(nextTick, (Math.floor(next / policy.tickMs) + 1) * policy.tickMs);
      }
    }
    metrics.advance(t);
    clock.set(t);
  };

  let processed = 0;
  let lastTime = -Infinity;
  for (const batch of trace.batches()) {
    const { fn: fns, time: times, duration: durations, length } = batch;
    for (let i = 0; i < length; i++) {
      const t = times[i]!;
      if (t < lastTime) throw new ThawError('ERR_TRACE_FORMAT', `${trace.name}: arrival ${processed + 1} at ${t} ms comes before the previous one at ${lastTime} ms`);
      lastTime = t;
      advanceTo(t);
      const fn = functions[fns[i]!]!;
      const durationMs = durations ? durations[i]! : fn.warmMs;
      metrics.arrived(fn.index);
      for (const policy of prewarmPolicies) policy.invoked?.(fn, t);
      // For the capacity controller a request that got no warm instance is a miss, dropped or not.
      let missed = true;
      if (queueing && queueHead < queue.length) {
        queue.push({ fn, arrival: t, durationMs }); // first come, first served
        metrics.queued(fn.index);
        observer?.invocation?.(fn, t, 'queued');
      } else if (start(fn, durationMs)) {
        missed = metrics.lastWasCold;
      } else if (queueing) {
        queue.push({ fn, arrival: t, durationMs });
        metrics.queued(fn.index);
        observer?.invocation?.(fn, t, 'queued');
      } else {
        metrics.dropped(fn.index);
        for (const policy of prewarmPolicies) policy.dropped?.(fn, t);
        observer?.invocation?.(fn, t, 'dropped');
      }
      if (controller) {
        const capacity = controller.observe(fn.index, t, missed);
        if (capacity !== undefined) {
          for (const server of pool.servers) pool.setCapacity(server, capacity);
          if (queueing) drainQueue();
        }
      }
      if (onProgress && (++processed & 0xffff) === 0) onProgress(processed);
      else if (!onProgress) processed++;
    }
  }
  // Let the run finish: the trace window closes at its span (or the last arrival, if later), or once
  // the queue has drained; what is still queued when nothing runs any more is counted as dropped.
  advanceTo(Math.max(trace.spanMs, lastTime === -Infinity ? 0 : lastTime));
  while (queueHead < queue.length && completions.size > 0) advanceTo(completions.peekKey());
  const end = clock.now();
  for (; queueHead < queue.length; queueHead++) {
    metrics.dropped(queue[queueHead]!.fn.index, true);
    for (const policy of prewarmPolicies) policy.dropped?.(queue[queueHead]!.fn, end);
  }
  onProgress?.(processed);
  const elapsedMs = performance.now() - started;
  const prewarmReports: Record<string, unknown> = {};
  for (const policy of prewarmPolicies) {
    const report = policy.report?.();
    if (report) prewarmReports[policy.name] = report;
  }
  return metrics.result({
    prewarm: prewarmPolicies.length ? prewarmPolicies.map((p) => p.name) : undefined,
    prewarmReports: Object.keys(prewarmReports).length ? prewarmReports : undefined,
    policy: options.keepAlive.name,
    servers: pool.servers,
    endMs: end,
    options: options.describe ?? {},
    elapsedMs,
  });
}

function observedListener(metrics: SimMetrics, observer: SimObserver): PoolListener {
  return {
    idleEnded: (instance, start, end) => metrics.idleEnded(instance, start, end),
    removed: (instance, reason, at) => {
      metrics.removed(instance, reason, at);
      observer.removed?.(instance.fn, at, reason);
    },
  };
}
