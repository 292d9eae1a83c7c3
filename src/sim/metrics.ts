// What a simulation measures, per function and over time. It listens to the Pool (idle periods and
// removals) and is told by the engine about arrivals, starts and drops. Memory integrals are exact:
// between two events the memory held is constant, so each step adds memory × elapsed time.

import type { Instance } from '../core/instance.ts';
import type { Pool, PoolListener, RemovalReason } from '../core/pool.ts';
import type { Server } from '../core/server.ts';
import type { Trace } from '../core/trace.ts';
import type { FunctionResult, SimResult, SimSummary, Timeline } from './result.ts';

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
    this.#nextSampleAt = intervalMs;
    this.#timeline = { intervalMs, t: [], usedMb: [], idleMb: [], capacityMb: [], warm: [], cold: [], dropped: [] };
  }

  attach(pool: Pool): void {
    this.#servers = pool.servers;
  }

  // PoolListener
  idleEnded(instance: Instance, start: number, end: number): void {
    this.#idleMbMs[instance.fn.index]! += instance.memoryMb * (end - start);
  }

  removed(instance: Instance, reason: RemovalReason, _at: number): void {
    if (reason === 'expired') this.#expirations[instance.fn.index]!++;
    else this.#evictions[instance.fn.index]!++;
  }

  arrived(fn: number): void {
    this.#invocations[fn]!++;
  }

  started(fn: number, cold: boolean, startMs: number, execMs: number, _now: number): void {
    this.lastWasCold = cold;
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
    for (const s of this.#servers) {
      used += s.usedMb;
      idle += s.idleMb;
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

  result(run: { policy: string; servers: readonly Server[]; endMs: number; options: Record<string, unknown>; elapsedMs: number }): SimResult {
    // Instances still idle when the window closes held their memory until then.
    for (const server of run.servers) {
      for (const group of server.groups.values()) {
        for (const instance of group.idleInstances()) this.idleEnded(instance, instance.idleSince, run.endMs);
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
      busyMemoryGBs: (this.#usedMbMs - this.#idleMbMsTotal) / MB_MS_PER_GB_S,
      peakMemoryMb: this.#peakMb,
    };
    const invocations = summary.invocations;
    return {
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

  /** Idle GB-s integrated over time (equals the per-function sum; exposed for tests). */
  get idleGBsIntegral(): number {
    return this.#idleMbMsTotal / MB_MS_PER_GB_S;
  }
}

function percent(part: number, whole: number): number {
  return whole > 0 ? (100 * part) / whole : 0;
}
