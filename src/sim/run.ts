// One simulation from a plain, serialisable description (so sweep workers can receive it): builds the
// policies by name, runs the engine, returns the result.

import { invalidOption } from '../core/errors.ts';
import type { PrewarmPolicy } from '../core/prewarm.ts';
import type { FunctionSpec, Trace } from '../core/trace.ts';
import type { PlacementPolicy, RoutingPolicy } from '../core/policy.ts';
import { createKeepAlive } from '../policies/keepalive/index.ts';
import type { HybridHistogramOptions } from '../policies/keepalive/hybrid-histogram.ts';
import { createPrewarm, ProvisionedConcurrency, type ProvisionedEntry } from '../policies/prewarm/index.ts';
import type { IceBreakerOptions } from '../policies/prewarm/icebreaker.ts';
import { serversOfTiers, type TierSpec } from './cluster.ts';
import { createPlacement, createRouting, isRouting } from '../policies/placement/index.ts';
import { DynamicSizingController, type DynamicSizingOptions } from '../policies/sizing/controller.ts';
import { simulate, type CapacityController, type SimObserver } from './engine.ts';
import type { SimResult } from './result.ts';

export interface RunSpec {
  /** Keep-alive policy name (ttl, lru, gd, freq, size, landlord). */
  policy: string;
  /** Memory of each server, MB. */
  memoryMb: number;
  /** Number of identical servers (default 1). */
  servers?: number;
  /** Placement policy name (default least-loaded), or a router's (chbl, random, round-robin). */
  placement?: string;
  /** chbl: ε of its load bound (default 0.25). */
  chblEpsilon?: number;
  /** Requests that cannot be placed: dropped (default) or queued. */
  unplaceable?: 'drop' | 'queue';
  /** Queued requests waiting longer than this are dropped, ms (default: never). */
  queueTimeoutMs?: number;
  /** TTL policy's keep-alive window, ms (default 10 minutes). */
  ttlMs?: number;
  /** Timeline resolution, ms (default 1 minute). */
  timelineIntervalMs?: number;
  /** Resize memory during the run with FaaSCache's controller (memoryMb is then ignored). */
  dynamicSizing?: DynamicSizingOptions;
  /** Run FaaSCache's reference simulator instead (the trace must be read with compat too). */
  compat?: 'faascache';
  /** Hybrid histogram's options (policy `hybrid`). */
  hybrid?: HybridHistogramOptions;
  /** Pre-warm policy name (`fft`: IceBreaker), and its options. */
  prewarm?: string;
  icebreaker?: IceBreakerOptions;
  /** Provisioned concurrency: floors per function, possibly scheduled. */
  provisioned?: ProvisionedEntry[];
  /** A heterogeneous cluster (then memoryMb and servers are ignored). */
  tiers?: TierSpec[];
  /** Invocations each instance serves at once, for every function of the trace (default 1). */
  instanceConcurrency?: number;
  /** A name for the point in reports (sweeps of settings rather than sizes). */
  label?: string;
  /** Each new instance's start time, ms (default: its function's coldStartMs). In-process runs only: a function does not reach sweep workers. */
  startTimeMs?: (fn: FunctionSpec, timeMs: number) => number;
  /** Told every invocation's outcome and each instance's lifecycle (thaw replay's event-log diff). In-process runs only. */
  observer?: SimObserver;
}

export function runSimulation(trace: Trace, spec: RunSpec, onProgress?: (done: number) => void): SimResult {
  if (spec.instanceConcurrency !== undefined && spec.instanceConcurrency > 1) trace = withInstanceConcurrency(trace, spec.instanceConcurrency);
  const servers = spec.servers ?? 1;
  if (!Number.isInteger(servers) || servers < 1) throw invalidOption('--servers', `must be an integer ≥ 1, got ${spec.servers}`);
  const sizing = spec.dynamicSizing ? new SizingProbe(new DynamicSizingController(spec.dynamicSizing, trace.functions), spec.timelineIntervalMs ?? 60_000) : undefined;
  const memoryMb = sizing ? sizing.controller.capacityMb / servers : spec.memoryMb;
  if (!spec.tiers && !(memoryMb > 0)) throw invalidOption('--memory', `must be > 0, got ${spec.memoryMb} MB`);
  if (spec.tiers && sizing) throw invalidOption('--tiers', 'cannot be combined with --dynamic-sizing');
  const keepAlive = createKeepAlive(spec.policy, { ttlMs: spec.ttlMs, hybrid: spec.hybrid });
  const prewarm: PrewarmPolicy[] = [];
  if (spec.provisioned?.length) prewarm.push(new ProvisionedConcurrency(spec.provisioned));
  if (spec.prewarm && spec.prewarm !== 'none') prewarm.push(createPrewarm(spec.prewarm, { icebreaker: spec.icebreaker }));
  const result = simulate(trace, {
    servers: spec.tiers ? serversOfTiers(spec.tiers) : Array.from({ length: servers }, () => ({ memoryMb })),
    keepAlive,
    prewarm,
    ...placementOf(spec),
    unplaceable: spec.unplaceable ?? 'drop',
    queueTimeoutMs: spec.queueTimeoutMs,
    timelineIntervalMs: spec.timelineIntervalMs,
    capacityController: sizing && { observe: (fn, t, cold) => sizing.observe(fn, t, cold, servers) },
    onProgress,
    startTimeMs: spec.startTimeMs,
    observer: spec.observer,
    describe: { ...spec, startTimeMs: undefined, observer: undefined },
  });
  if (sizing) {
    result.dynamicSizing = {
      ...sizing.controller.summary(trace.spanMs),
      missSpeed: sizing.missSpeed,
      targetMissSpeed: sizing.targetMissSpeed,
    };
  }
  return result;
}

/** `trace` with every function's instances serving up to `n` invocations at once. */
export function withInstanceConcurrency(trace: Trace, n: number): Trace {
  if (!Number.isInteger(n) || n < 1) throw invalidOption('--instance-concurrency', `must be an integer ≥ 1, got ${n}`);
  const functions = trace.functions.map((fn) => ({ ...fn, concurrency: n }));
  return {
    name: trace.name,
    functions,
    invocationCount: trace.invocationCount,
    spanMs: trace.spanMs,
    batches: () => trace.batches(),
  };
}

/** Drives the sizing controller for the engine and samples its miss speed once per timeline interval. */
class SizingProbe {
  readonly missSpeed: number[] = [];
  readonly targetMissSpeed: number[] = [];
  #nextSampleAt: number;

  constructor(
    readonly controller: DynamicSizingController,
    readonly intervalMs: number,
  ) {
    this.#nextSampleAt = intervalMs;
  }

  observe(fn: number, timeMs: number, cold: boolean, servers: number): number | undefined {
    while (timeMs >= this.#nextSampleAt) {
      const state = this.controller.state();
      this.missSpeed.push(state.measuredMissSpeed ?? 0);
      this.targetMissSpeed.push(state.targetMissSpeed ?? 0);
      this.#nextSampleAt += this.intervalMs;
    }
    const totalMb = this.controller.observe(fn, timeMs, cold);
    return totalMb === undefined ? undefined : totalMb / servers;
  }
}

/** A placement policy, or a router and least-loaded placement for the instances it does not place. */
function placementOf(spec: RunSpec): { placement: PlacementPolicy; routing?: RoutingPolicy } {
  const name = spec.placement ?? 'least-loaded';
  if (!isRouting(name)) return { placement: createPlacement(name) };
  return { placement: createPlacement('least-loaded'), routing: createRouting(name, { chbl: { epsilon: spec.chblEpsilon } }) };
}
