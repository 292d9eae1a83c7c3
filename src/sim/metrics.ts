// What a simulation measures, per function and over time. It listens to the Pool (idle periods and
// removals) and is told by the engine about arrivals, starts and drops. Memory integrals are exact:
// between two events the memory held is constant, so each step adds memory × elapsed time.

import type { Instance } from '../core/instance.ts';
import type { Pool, PoolListener, RemovalReason } from '../core/pool.ts';
import type { Server } from '../core/instance.ts';
import type { Trace } from '../core/trace.ts';
import type { FunctionResult, SimResult, SimSummary, TierResult, Timeline } from './result.ts';

const MB_MS_PER_GB_S = 1024 * 1000;

export class SimMetrics implements PoolListener {
  readonly #trace: Trace;
  readonly #intervalMs: number;
  #servers: readonly Server[] = [];
  // Per function, indexed by FunctionSpec.index.
  readonly #invocations: Float64Array;
  readonly #warm: Float64Array;
  readonly #cold: Float64Array;
  readonly #dropped: Float64Array;
  readonly #evictions: Float64Array;
  readonly #expirations: Float64Array;
  readonly #idleMbMs: Float64Array;
  readonly #startMs: Float64Array;
  readonly #execMs: Float64Array;
  /** Idle MB·ms of pre-warmed instances not used yet, and MB·ms of pre-warm starts. */
  readonly #prewarmIdleMbMs: Float64Array;
  readonly #prewarmStartMbMs: Float64Array;
  /** Money: idle (keep-alive) and busy (start + execution) memory × time × the server's price. */
  readonly #keepAliveCost: Float64Array;
  #busyCost = 0;
  #prewarmsStarted = 0;
  #prewarmsUnused = 0;
  /** Per server index: warm, cold, idle MB·ms, keep-alive cost, busy cost. */
  #perServer: Array<{ warm: number; cold: number; idleMbMs: number; keepAliveCost: number; busyCost: number; busyMbMs: number }> = [];
  /** Most invocations running or starting on one server at once. */
  #peakServerLoad = 0;
  #queued = 0;
  #queueWaitMs = 0;
  // Memory integrals over time.
  #lastT = 0;
  #usedMbMs = 0;
  #idleMbMsTotal = 0;
  #peakMb = 0;
  // Timeline.
  #nextSampleAt: number;
  #intervalWarm = 0;
  #intervalCold = 0;
  #intervalDropped = 0;
  readonly #timeline: Timeline;
  /** Whether the last start() was cold (read by the engine for the sizing controller). */
  lastWasCold = false;

  constructor(trace: Trace, intervalMs: number) {
    this.#trace = trace;
    this.#intervalMs = intervalMs;
    const n = trace.functions.length;
    this.#invocations = new Float64Array(n);
    this.#warm = new Float64Array(n);
    this.#cold = new Float64Array(n);
    this.#dropped = new Float64Array(n);
    this.#evictions = new Float64Array(n);
    this.#expirations = new Float64Array(n);
    this.#idleMbMs = new Float64Array(n);
    this.#startMs = new Float64Array(n);
    this.#execMs = new Float64Array(n);
    this.#prewarmIdleMbMs = new Float64Array(n);
    this.#prewarmStartMbMs = new Float64Array(n);
    this.#keepAliveCost = new Float64Array(n);
    this.#nextSampleAt = intervalMs;
    this.#timeline = { intervalMs, t: [], usedMb: [], idleMb: [], capacityMb: [], warm: [], cold: [], dropped: [] };
  }

  attach(pool: Pool): void {
    this.#servers = pool.servers;
    this.#perServer = pool.servers.map(() => ({ warm: 0, cold: 0, idleMbMs: 0, keepAliveCost: 0, busyCost: 0, busyMbMs: 0 }));
  }

  // PoolListener
  idleEnded(instance: Instance, start: number, end: number): void {
    const mbMs = instance.memoryMb * (end - start);
    const fn = instance.fn.index;
    this.#idleMbMs[fn]! += mbMs;
    if (instance.prewarmed) this.#prewarmIdleMbMs[fn]! += mbMs;
    const server = instance.server;
    const cost = (mbMs / MB_MS_PER_GB_S) * server.pricePerGBs;
    this.#keepAliveCost[fn]! += cost;
    const s = this.#perServer[server.index]!;
    s.idleMbMs += mbMs;
    s.keepAliveCost += cost;
  }

  removed(instance: Instance, reason: RemovalReason, _at: number): void {
    if (reason === 'expired') this.#expirations[instance.fn.index]!++;
    else this.#evictions[instance.fn.index]!++;
    if (instance.prewarmed) this.#prewarmsUnused++;
  }

  /** A pre-warm started an instance: its start holds memory without serving anyone (wasted). */
  prewarmStarted(instance: Instance, startMs: number): void {
    const mbMs = instance.memoryMb * startMs;
    const fn = instance.fn.index;
    this.#prewarmsStarted++;
    this.#prewarmStartMbMs[fn]! += mbMs;
    this.#idleMbMs[fn]! += mbMs;
    const cost = (mbMs / MB_MS_PER_GB_S) * instance.server.pricePerGBs;
    this.#keepAliveCost[fn]! += cost;
    const s = this.#perServer[instance.server.index]!;
    s.idleMbMs += mbMs;
    s.keepAliveCost += cost;
  }

  arrived(fn: number): void {
    this.#invocations[fn]!++;
  }

  started(fn: number, cold: boolean, startMs: number, execMs: number, _now: number, server?: Server): void {
    this.lastWasCold = cold;
    if (server) {
      const s = this.#perServer[server.index]!;
      if (cold) s.cold++;
      else s.warm++;
      if (server.load > this.#peakServerLoad) this.#peakServerLoad = server.load;
      if (server.pricePerGBs > 0) {
        const cost = ((this.#trace.functions[fn]!.memoryMb * (startMs + execMs)) / MB_MS_PER_GB_S) * server.pricePerGBs;
        this.#busyCost += cost;
        s.busyCost += cost;
      }
    }
    if (cold) {
      this.#cold[fn]!++;
      this.#intervalCold++;
      this.#startMs[fn]! += startMs;
    } else {
      this.#warm[fn]!++;
      this.#intervalWarm++;
    }
    this.#execMs[fn]! += execMs;
    let used = 0;
    for (const s of this.#servers) used += s.usedMb;
    if (used > this.#peakMb) this.#peakMb = used;
  }

  dropped(fn: number, wasQueued = false): void {
    this.#dropped[fn]!++;
    this.#intervalDropped++;
    if (wasQueued) this.#queued--;
  }

  queued(_fn: number): void {
    this.#queued++;
  }

  dequeued(waitMs: number): void {
    this.#queueWaitMs += waitMs;
  }

  /** Moves the metrics' time to t (the state is constant since the last call). */
  advance(t: number): void {
    while (t >= this.#nextSampleAt) {
      this.#integrate(this.#nextSampleAt);
      this.#sample(this.#nextSampleAt);
      this.#nextSampleAt += this.#intervalMs;
    }
    this.#integrate(t);
  }

  #integrate(t: number): void {
    const dt = t - this.#lastT;
    if (dt <= 0) return;
    let used = 0;
    let idle = 0;
    const servers = this.#servers;
    for (let i = 0; i < servers.length; i++) {
      const s = servers[i]!;
      used += s.usedMb;
      idle += s.idleMb;
      this.#perServer[i]!.busyMbMs += (s.usedMb - s.idleMb) * dt;
    }
    this.#usedMbMs += used * dt;
    this.#idleMbMsTotal += idle * dt;
    this.#lastT = t;
  }

  #sample(t: number): void {
    let used = 0;
    let idle = 0;
    let capacity = 0;
    for (const s of this.#servers) {
      used += s.usedMb;
      idle += s.idleMb;
      capacity += s.capacityMb;
    }
    const tl = this.#timeline;
    tl.t.push(t);
    tl.usedMb.push(used);
    tl.idleMb.push(idle);
    tl.capacityMb.push(capacity);
    tl.warm.push(this.#intervalWarm);
    tl.cold.push(this.#intervalCold);
    tl.dropped.push(this.#intervalDropped);
    this.#intervalWarm = this.#intervalCold = this.#intervalDropped = 0;
  }

  result(run: {
    policy: string;
    servers: readonly Server[];
    endMs: number;
    options: Record<string, unknown>;
    elapsedMs: number;
    prewarm?: string[];
    prewarmReports?: Record<string, unknown>;
  }): SimResult {
    // Instances still idle when the window closes held their memory until then.
    let prewarmsIdleAtEnd = 0;
    for (const server of run.servers) {
      for (const group of server.groups.values()) {
        for (const instance of group.idleInstances()) {
          this.idleEnded(instance, instance.idleSince, run.endMs);
          if (instance.prewarmed) prewarmsIdleAtEnd++;
        }
      }
    }
    if (this.#intervalWarm + this.#intervalCold + this.#intervalDropped > 0 || this.#timeline.t.length === 0) this.#sample(run.endMs);
    const fns = this.#trace.functions;
    const perFunction: FunctionResult[] = fns.map((f, i) => ({
      id: f.id,
      app: f.app,
      memoryMb: f.memoryMb,
      invocations: this.#invocations[i]!,
      warm: this.#warm[i]!,
      cold: this.#cold[i]!,
      dropped: this.#dropped[i]!,
      evictions: this.#evictions[i]!,
      expirations: this.#expirations[i]!,
      wastedMemoryGBs: this.#idleMbMs[i]! / MB_MS_PER_GB_S,
      coldStartOverheadPct: percent(this.#startMs[i]!, this.#execMs[i]!),
      ...(run.prewarm ? { prewarmWastedGBs: (this.#prewarmIdleMbMs[i]! + this.#prewarmStartMbMs[i]!) / MB_MS_PER_GB_S } : {}),
      ...(this.#priced ? { keepAliveCost: this.#keepAliveCost[i]! } : {}),
    }));
    const sum = (a: Float64Array): number => a.reduce((x, y) => x + y, 0);
    const warm = sum(this.#warm);
    const cold = sum(this.#cold);
    const served = warm + cold;
    const summary: SimSummary = {
      invocations: sum(this.#invocations),
      served,
      warm,
      cold,
      dropped: sum(this.#dropped),
      queued: this.#queued,
      meanQueueWaitMs: this.#queued > 0 ? this.#queueWaitMs / this.#queued : 0,
      coldStartRatio: served > 0 ? cold / served : 0,
      coldStartOverheadPct: percent(sum(this.#startMs), sum(this.#execMs)),
      evictions: sum(this.#evictions),
      expirations: sum(this.#expirations),
      wastedMemoryGBs: sum(this.#idleMbMs) / MB_MS_PER_GB_S,
      busyMemoryGBs: (this.#usedMbMs - this.#idleMbMsTotal - sum(this.#prewarmStartMbMs)) / MB_MS_PER_GB_S,
      peakMemoryMb: this.#peakMb,
      meanServiceTimeMs: served > 0 ? (sum(this.#startMs) + sum(this.#execMs)) / served : 0,
      appColdStartPct: appColdStartPercentiles(fns, this.#cold, this.#warm),
    };
    if (run.prewarm) {
      summary.prewarm = {
        started: this.#prewarmsStarted,
        unused: this.#prewarmsUnused,
        idleAtEnd: prewarmsIdleAtEnd,
        idleGBs: sum(this.#prewarmIdleMbMs) / MB_MS_PER_GB_S,
        startGBs: sum(this.#prewarmStartMbMs) / MB_MS_PER_GB_S,
      };
    }
    if (this.#priced) {
      summary.keepAliveCost = sum(this.#keepAliveCost);
      summary.busyCost = this.#busyCost;
      summary.totalCost = summary.keepAliveCost + this.#busyCost;
    }
    if (run.servers.length > 1) summary.loadSpread = this.#loadSpread();
    const invocations = summary.invocations;
    const tiers = this.#tiers(run.servers);
    return {
      ...(tiers ? { tiers } : {}),
      ...(run.prewarm ? { prewarm: run.prewarm } : {}),
      ...(run.prewarmReports ? { prewarmReports: run.prewarmReports } : {}),
      policy: run.policy,
      serverMemoryMb: run.servers.map((s) => s.capacityMb),
      trace: { name: this.#trace.name, functions: fns.length, invocations, spanMs: this.#trace.spanMs },
      options: run.options,
      summary,
      timeline: this.#timeline,
      perFunction,
      elapsedMs: run.elapsedMs,
      invocationsPerSecond: run.elapsedMs > 0 ? (invocations / run.elapsedMs) * 1000 : 0,
    };
  }

  /** How evenly the servers shared the work: the busiest against the mean, by invocations and by busy memory. */
  #loadSpread(): NonNullable<SimSummary['loadSpread']> {
    const spread = (values: number[]): number => {
      const mean = values.reduce((a, b) => a + b, 0) / values.length;
      return mean > 0 ? Math.max(...values) / mean : 1;
    };
    return {
      maxOverMeanInvocations: spread(this.#perServer.map((s) => s.warm + s.cold)),
      maxOverMeanBusyGBs: spread(this.#perServer.map((s) => s.busyMbMs)),
      peakServerLoad: this.#peakServerLoad,
    };
  }

  /** Whether any server has a price (then costs are reported). */
  get #priced(): boolean {
    return this.#servers.some((s) => s.pricePerGBs > 0);
  }

  /** Per-tier figures, when the cluster has more than one tier or prices. */
  #tiers(servers: readonly Server[]): TierResult[] | undefined {
    const names = [...new Set(servers.map((s) => s.tier))];
    if (names.length <= 1 && !this.#priced) return undefined;
    return names.map((tier) => {
      const row: TierResult = { tier, servers: 0, memoryMb: 0, speed: 0, pricePerGBs: 0, warm: 0, cold: 0, wastedMemoryGBs: 0, keepAliveCost: 0, busyCost: 0 };
      for (const server of servers) {
        if (server.tier !== tier) continue;
        const s = this.#perServer[server.index]!;
        row.servers++;
        row.memoryMb += server.capacityMb;
        row.speed = server.speed;
        row.pricePerGBs = server.pricePerGBs;
        row.warm += s.warm;
        row.cold += s.cold;
        row.wastedMemoryGBs += s.idleMbMs / MB_MS_PER_GB_S;
        row.keepAliveCost += s.keepAliveCost;
        row.busyCost += s.busyCost;
      }
      return row;
    });
  }

  /** Idle GB-s integrated over time (equals the per-function sum; exposed for tests). */
  get idleGBsIntegral(): number {
    return this.#idleMbMsTotal / MB_MS_PER_GB_S;
  }
}

/**
 * Cold-start percentage of the applications at the 50th, 75th and 90th percentile (Serverless in the
 * Wild's figure: apps sorted by their own cold-start %, nearest rank), over apps that served anything.
 */
export function appColdStartPercentiles(fns: Trace['functions'], cold: Float64Array, warm: Float64Array): { p50: number; p75: number; p90: number; apps: number; cdf: number[] } {
  const apps = new Map<string, [number, number]>();
  for (const f of fns) {
    const a = apps.get(f.app) ?? [0, 0];
    a[0] += cold[f.index]!;
    a[1] += cold[f.index]! + warm[f.index]!;
    apps.set(f.app, a);
  }
  const pcts = [...apps.values()].filter(([, served]) => served > 0).map(([c, served]) => (100 * c) / served).sort((x, y) => x - y);
  const at = (q: number): number => (pcts.length ? pcts[Math.min(pcts.length - 1, Math.max(0, Math.ceil(q * pcts.length) - 1))]! : 0);
  // The distribution over apps at every whole percentile (Serverless in the Wild's CDF, Figure 15).
  const cdf = Array.from({ length: 101 }, (_, q) => (q === 0 ? (pcts[0] ?? 0) : at(q / 100)));
  return { p50: at(0.5), p75: at(0.75), p90: at(0.9), apps: pcts.length, cdf };
}

function percent(part: number, whole: number): number {
  return whole > 0 ? (100 * part) / whole : 0;
}
