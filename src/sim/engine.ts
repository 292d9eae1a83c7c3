// The discrete-event simulator: replays a trace's arrivals against the core Pool on a virtual clock.
// One invocation per instance at a time unless the function's instances serve several at once
// (FunctionSpec.concurrency); beyond that, a function under concurrency gets several instances.
// Events are arrivals (from the trace stream), the ends of shared instances' cold starts (a heap:
// an invocation that joined such an instance while it started waits until then; from then on it
// runs), completions (a heap) and keep-alive expiries (the Pool's); at equal times those come
// first, so an instance finishing at t serves an arrival at t.

import { VirtualClock } from '../core/clock.ts';
import { KeyedHeap } from '../core/heap.ts';
import type { Instance, Server, ServerSpec } from '../core/instance.ts';
import type { KeepAlivePolicy, PlacementPolicy, RoutingPolicy } from '../core/policy.ts';
import type { PrewarmPolicy } from '../core/prewarm.ts';
import { ActionExecutor, actingPolicies, type LifecycleObserver } from '../core/executor.ts';
import { Pool, type PoolListener, type RemovalReason } from '../core/pool.ts';
import type { FunctionSpec, Trace } from '../core/trace.ts';
import { ThawError } from '../core/errors.ts';
import { SimMetrics } from './metrics.ts';
import { WaitQueue } from './wait-queue.ts';
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
  /**
   * What happens to a request no server can hold: dropped (default) or queued until it can have an
   * instance (served in arrival order, one that cannot start holding back none that can, as the
   * platform's invoker serves its waiters).
   */
  unplaceable?: 'drop' | 'queue';
  /** Queued requests waiting longer than this are dropped (the platform: the function's timeout). Default: never. */
  queueTimeoutMs?: number;
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
  /** Pre-warming policies (IceBreaker, provisioned concurrency), run in order after a keep-alive policy that pre-warms (hybrid). */
  prewarm?: readonly PrewarmPolicy[];
  /**
   * How long a new instance of `fn` starting at `timeMs` takes, ms at speed 1 (default: its
   * function's coldStartMs). Called once per start: thaw replay takes the starts the platform
   * measured around that time.
   */
  startTimeMs?: (fn: FunctionSpec, timeMs: number) => number;
}

export type { InvocationOutcome } from '../core/executor.ts';
/** What the engine reports as it decides: the core's lifecycle observer, as the invoker reports it too. */
export type SimObserver = LifecycleObserver;

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
  /** Cold starts of instances that serve several invocations at once, by when they end, and that time by instance. */
  const startsEnding = new KeyedHeap<Instance>();
  const readyAt = new Map<Instance, number>();
  const queue = new WaitQueue();
  const queueing = (options.unplaceable ?? 'drop') === 'queue';
  const queueTimeoutMs = options.queueTimeoutMs ?? Infinity;
  const controller = options.capacityController;
  const onProgress = options.onProgress;

  /** Starts an invocation at the clock's time, or returns false if no instance can be had. */
  const routing = options.routing;
  const startTimeOf = options.startTimeMs ?? ((fn: FunctionSpec) => fn.coldStartMs);
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
    // An invocation that joined a shared instance still starting waits for the rest of its start.
    const startEnd = cold ? readyAt.get(instance) : undefined;
    const startMs = !cold ? 0 : startEnd !== undefined ? startEnd - now : startTimeOf(fn, now) / speed;
    const execMs = durationMs / speed;
    metrics.started(fn.index, cold, startMs, execMs, now, instance.server);
    observer?.invocation?.(fn, now, instance.startKind === 'cold' ? 'cold' : 'warm', instance.server);
    completions.push(now + startMs + execMs, instance);
    if (cold && startEnd === undefined && (fn.concurrency ?? 1) > 1) {
      startsEnding.push(now + startMs, instance);
      readyAt.set(instance, now + startMs);
    }
    return true;
  };

  // Pre-warming, keep windows, tiers, extensions and expiries: the core's executor, the same one the
  // platform's invoker drives. A pre-warm start is a completion `coldStartMs` ahead.
  const prewarmPolicies = actingPolicies(options.keepAlive, options.prewarm);
  const executor = new ActionExecutor({
    pool,
    clock,
    policies: prewarmPolicies,
    functions: () => functions,
    observer,
    startAhead: (instance) => {
      const startMs = startTimeOf(instance.fn, clock.now()) / instance.server.speed;
      metrics.prewarmStarted(instance, startMs);
      completions.push(clock.now() + startMs, instance);
    },
  });

  /** A completion: a pre-warm start became ready, or an invocation finished. */
  const complete = (instance: Instance): void => {
    if (executor.isStartingAhead(instance)) {
      executor.ready(instance);
      return;
    }
    if (instance.state === 'starting') pool.started(instance);
    executor.completed(instance.fn, clock.now());
    pool.release(instance);
  };

  executor.attach();

  const drainQueue = (): void =>
    queue.drain((q) => {
      if (!start(q.fn, q.durationMs)) return false;
      metrics.dequeued(clock.now() - q.arrival);
      return true;
    });

  /** A request dropped (not served): counted, told to the policies and the observer. */
  const drop = (fn: FunctionSpec, at: number, wasQueued: boolean): void => {
    metrics.dropped(fn.index, wasQueued);
    executor.dropped(fn, at);
    observer?.invocation?.(fn, at, 'dropped');
  };

  /**
   * Processes every start end, completion, queue timeout, expiry, pre-warm action and tick up to and
   * including time t, in time order; at equal times start ends, then completions, then queue
   * timeouts, then expiries, then pre-warm actions, then ticks.
   */
  const advanceTo = (t: number): void => {
    for (;;) {
      const nextStartEnd = startsEnding.peekKey();
      const nextCompletion = completions.peekKey();
      const nextTimeout = queue.oldestArrival() + queueTimeoutMs;
      const nextAction = executor.nextAt();
      const next = Math.min(nextStartEnd, nextCompletion, nextTimeout, nextAction);
      if (next > t) break;
      metrics.advance(next);
      clock.set(next);
      if (nextStartEnd === next) {
        const instance = startsEnding.pop()!;
        readyAt.delete(instance);
        if (instance.state === 'starting') pool.started(instance);
        if (queueing) drainQueue();
      } else if (nextCompletion === next) {
        complete(completions.pop()!);
        if (queueing) drainQueue();
      } else if (nextTimeout === next) {
        drop(queue.shift()!.fn, next, true);
      } else {
        executor.step();
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
      executor.arrived(fn, t);
      // For the capacity controller a request that got no warm instance is a miss, dropped or not.
      // (Those already waiting could not start at the last completion, and nothing since made room.)
      let missed = true;
      if (start(fn, durationMs)) {
        missed = metrics.lastWasCold;
      } else if (queueing) {
        queue.push({ fn, arrival: t, durationMs });
        metrics.queued(fn.index);
        observer?.invocation?.(fn, t, 'queued');
      } else {
        drop(fn, t, false);
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
  while (queue.size > 0 && completions.size > 0) advanceTo(Math.min(completions.peekKey(), queue.oldestArrival() + queueTimeoutMs));
  const end = clock.now();
  for (let q = queue.shift(); q; q = queue.shift()) drop(q.fn, end, true);
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
