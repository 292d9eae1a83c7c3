// `--compat faascache`: reproduces FaaSCache's published reference simulator (LambdaScheduler.runActivation
// driven over the arrival stream, then compute_policy_results.analyze_timings) number for number.
// docs/techniques.md Appendix A states the semantics; this file follows the reference's control flow call by
// call, because the results depend on its incidental details:
//
// - The container pool is a heapq list and the reference heapifies it at the end of every request, in
//   cleanup_finished, after each cache-miss insert, after every list.remove and in the TTL purge. Equal
//   priorities are common (clones share one; LRU stamps collide at minute boundaries), and heapify of a
//   valid heap still moves tied items, so which container is found first (the first idle one in heap ARRAY
//   order) and which is evicted depends on every one of those calls. PoolHeap replays them exactly while
//   skipping the work that provably changes nothing (see pool-heap.ts).
// - Per request: cleanup_finished (running containers whose finish time ≤ now become idle, in the running
//   dict's insertion order — it matters for HIST, whose pre-warmed functions' containers are unloaded here);
//   HIST pre-warming and inter-arrival tracking; find_container (TTL / HIST purge stale idle clones lazily,
//   strict `<`, each removal = list.remove + heapify, purges counted as evictions); on a miss, Eviction
//   when the new container does not fit (Landlord charges rent first; pop until the new container's FULL
//   size is freed, running ones pushed back in order; Clock = priority of the LAST evicted; nothing happens
//   when every pooled container is running), then AddToPool or a drop (capacity miss, returns before the
//   final heapify); then the served container runs (miss: cold duration, hit: warm duration), and the
//   priority recomputed with the current Clock is given to every clone of the function, running ones too.
// - Floating point: every formula keeps the reference's operand order (Python float = JS number).
//
// Differences from the reference that do not change results: containers are indexed per function (the
// reference scans the whole pool for clones), GD/FREQ/SIZE's freq is a running sum per function (integer
// counts, so the sum order cannot matter), the running set is a heap on finish times (re-sorted into
// insertion order where order matters), the HIST CDF walks only non-empty bins (adding 0.0 leaves a sum
// unchanged), pre-warming is skipped when not even the smallest function fits in free memory (a failed
// AddToPool has no effect), and PoolHeap skips or defers heapify work that provably changes nothing.
// Not reproduced: RAND (its priority is numpy's unseeded global RNG, so the reference itself is not
// repeatable), and the reference's side logs (memory-usage and pure-cache histories).

import { invalidOption, ThawError } from '../../core/errors.ts';
import type { Trace } from '../../core/trace.ts';
import { frequencyPriority, greedyDualPriority, sizePriority } from '../../policies/keepalive/priorities.ts';
import { PoolHeap } from './pool-heap.ts';

/** The reference's policy names (many_run.py runs GD, TTL, LRU, LND, HIST, FREQ, SIZE; LONG-TTL is its 2-hour TTL). */
export type FaasCachePolicy = 'GD' | 'LRU' | 'TTL' | 'LND' | 'FREQ' | 'SIZE' | 'HIST' | 'LONG-TTL';
export const FAASCACHE_POLICIES: readonly FaasCachePolicy[] = ['GD', 'LRU', 'TTL', 'LND', 'FREQ', 'SIZE', 'HIST', 'LONG-TTL'];

/**
 * How Python's built-in sum() adds floats, which analyze_timings uses for wted_eat and wted_increase:
 * plain left-to-right addition up to Python 3.11 ('sequential', the reference's era and the default), or
 * Neumaier-compensated summation from 3.12 on ('neumaier'); the two can differ in the last bits.
 */
export type PythonSum = 'sequential' | 'neumaier';

export interface FaasCacheOptions {
  policy: FaasCachePolicy;
  /** The server's memory capacity, MB (the reference's mem_capacity). */
  memoryMb: number;
  /** Which Python's sum() to reproduce in the analyze_timings results (default 'sequential'). */
  pythonSum?: PythonSum;
}

export interface FaasCacheFunctionResult {
  id: string;
  /** Requests served by an idle container (the reference's perf log "hit"). */
  hits: number;
  /** Requests that started a container (perf log "miss"). */
  misses: number;
  /** The reference's evdict: containers evicted for room, plus TTL / HIST-TTL purges (not HIST pre-warm unloads). */
  evictions: number;
  /** The reference's capacity_misses: requests dropped because the new container did not fit. */
  drops: number;
}

/**
 * compute_policy_results.analyze_timings's "global" entry, computed exactly as written. Note its naming:
 * the reference's lambdas[k] = (k, mem, cold_dur, warm_dur), and it reads twarm = lambdas[k][3] (the WARM
 * duration) and trun = lambdas[k][2] (the COLD duration), so
 *   server_cold   = Σ warm·misses / Σ accesses                       (ms per access; integer sum)
 *   eat_f         = (misses·cold + hits·(cold − warm)) / accesses
 *   pct_incr_f    = warm·misses / (accesses·(cold − warm))            (0 when cold = warm)
 *   wted_eat      = Σ_f eat_f·accesses_f / Σ accesses
 *   wted_increase = Σ_f pct_incr_f·accesses_f / Σ accesses            (a fraction, not a %)
 * over the functions that were served at least once, the sums taken in the order the functions first
 * appear in the perf log, with Python's sum() (see PythonSum).
 */
export interface FaasCacheReferenceAnalysis {
  server_cold: number;
  wted_eat: number;
  wted_increase: number;
}

export interface FaasCacheResult {
  mode: 'faascache';
  policy: FaasCachePolicy;
  memoryMb: number;
  trace: { name: string; functions: number; invocations: number };
  invocations: number;
  hits: number;
  misses: number;
  drops: number;
  evictions: number;
  /**
   * Cold-start overhead as docs/techniques.md Appendix A defines it: the % increase in total execution time
   * over an all-warm run, 100 × Σ misses·(cold − warm) / Σ (hits + misses)·warm, over served requests.
   * This is NOT the reference's wted_increase, which weights warm·misses / (accesses·(cold − warm)) per
   * function (its twarm/trun naming, see FaasCacheReferenceAnalysis). null when nothing warm ran.
   */
  coldStartOverheadPct: number | null;
  /** analyze_timings "global", under its own names; null when nothing was served (the reference divides by zero). */
  reference: FaasCacheReferenceAnalysis | null;
  /** One entry per trace function, in trace order. */
  functions: FaasCacheFunctionResult[];
  /** State at the end: the reference's Clock, mem_used, and pool size. */
  final: { clock: number; memoryUsedMb: number; poolSize: number };
}

const TTL_MS = 10 * 60 * 1000;
const LONG_TTL_MS = 2 * 60 * 60 * 1000;
const HIST_BINS = 4 * 60;
const HIST_DEFAULT_TTL_MS = 2 * 60 * 60 * 1000;

const enum Pol {
  GD,
  LRU,
  TTL,
  LND,
  FREQ,
  SIZE,
  HIST,
  LONG_TTL,
}

const POLICY_CODES: Record<FaasCachePolicy, Pol> = {
  GD: Pol.GD,
  LRU: Pol.LRU,
  TTL: Pol.TTL,
  LND: Pol.LND,
  FREQ: Pol.FREQ,
  SIZE: Pol.SIZE,
  HIST: Pol.HIST,
  'LONG-TTL': Pol.LONG_TTL,
};

class FaasCacheSim {
  readonly pol: Pol;
  readonly cap: number;
  readonly nf: number;
  // Per function (the reference's LambdaData): memory, warm and cold (whole) durations, cold − warm.
  readonly fMem: Float64Array;
  readonly fWarm: Float64Array;
  readonly fCold: Float64Array;
  readonly fCost: Float64Array;
  readonly minMem: number;

  // Per container id (ids are recycled once a container leaves the pool).
  private cFn: Int32Array;
  private cPrio: Float64Array;
  private cLast: Float64Array; // last_access_t
  private cFreq: Float64Array; // frequency (run count)
  private cPos: Int32Array; // heap position, -1 when not pooled
  private cRun: Uint8Array; // in running_c
  private cFin: Float64Array; // finish time while running
  private cSeq: Float64Array; // running_c insertion sequence
  private cIdx: Int32Array; // index in its function's container list
  private freeIds: number[] = [];
  private nextId = 0;

  private readonly heap: PoolHeap;
  /** Pooled containers of each function (any order; array order comes from positions). */
  private readonly fnConts: number[][];
  /** Σ frequency of each function's pooled containers (the GD/FREQ/SIZE freq). */
  private readonly fnFreq: Float64Array;

  private memUsed = 0;
  private clock = 0;
  private wall = 0;

  // running_c: a min-heap on finish time.
  private runHeap: Int32Array = new Int32Array(1024);
  private runN = 0;
  private runSeq = 0;

  // Outputs.
  readonly hits: Float64Array;
  readonly misses: Float64Array;
  readonly evictions: Float64Array;
  readonly drops: Float64Array;
  /** Functions in the order they first appear in the perf log (miss_stats' dict order). */
  readonly servedOrder: number[] = [];
  private readonly served: Uint8Array;

  // HIST state (per function).
  private readonly hSeen: Uint8Array;
  private readonly hRank: Int32Array; // first-seen order (histPrewarm dict order)
  private nextRank = 0;
  private readonly hLastSeen: Float64Array;
  private readonly hTTL: Float64Array;
  private readonly hPrewarm: Float64Array;
  private readonly hCount: Float64Array;
  private readonly hMean: Float64Array;
  private readonly hM2: Float64Array;
  private readonly hHist: Int32Array; // nf × 240
  private readonly hBins: number[][]; // non-empty bins, ascending
  private readonly hActive: Uint8Array; // in `active`
  /** Functions that may be pre-warmed (prewarm ≠ 0 when added), ascending first-seen rank; pruned lazily. */
  private active: number[] = [];

  // Scratch.
  private scratch: number[] = [];

  constructor(trace: Trace, opts: FaasCacheOptions) {
    this.pol = POLICY_CODES[opts.policy];
    this.cap = opts.memoryMb;
    const fns = trace.functions;
    const nf = (this.nf = fns.length);
    this.fMem = new Float64Array(nf);
    this.fWarm = new Float64Array(nf);
    this.fCold = new Float64Array(nf);
    this.fCost = new Float64Array(nf);
    let minMem = Infinity;
    for (let f = 0; f < nf; f++) {
      const s = fns[f]!;
      this.fMem[f] = s.memoryMb;
      this.fWarm[f] = s.warmMs;
      // The reference's LambdaData(kind, mem, run_time = cold, warm_time = warm); cost = run_time − warm_time.
      this.fCold[f] = s.warmMs + s.coldStartMs;
      this.fCost[f] = this.fCold[f]! - s.warmMs;
      if (s.memoryMb < minMem) minMem = s.memoryMb;
    }
    this.minMem = minMem;
    const cap0 = 1024;
    this.cFn = new Int32Array(cap0);
    this.cPrio = new Float64Array(cap0);
    this.cLast = new Float64Array(cap0);
    this.cFreq = new Float64Array(cap0);
    this.cPos = new Int32Array(cap0).fill(-1);
    this.cRun = new Uint8Array(cap0);
    this.cFin = new Float64Array(cap0);
    this.cSeq = new Float64Array(cap0);
    this.cIdx = new Int32Array(cap0);
    this.heap = new PoolHeap(this.cPrio, this.cPos);
    this.fnConts = Array.from({ length: nf }, () => []);
    this.fnFreq = new Float64Array(nf);
    this.hits = new Float64Array(nf);
    this.misses = new Float64Array(nf);
    this.evictions = new Float64Array(nf);
    this.drops = new Float64Array(nf);
    this.served = new Uint8Array(nf);
    const hist = this.pol === Pol.HIST;
    this.hSeen = new Uint8Array(nf);
    this.hRank = new Int32Array(nf);
    this.hLastSeen = new Float64Array(nf);
    this.hTTL = new Float64Array(nf);
    this.hPrewarm = new Float64Array(nf);
    this.hCount = new Float64Array(nf);
    this.hMean = new Float64Array(nf);
    this.hM2 = new Float64Array(nf);
    this.hHist = new Int32Array(hist ? nf * HIST_BINS : 0);
    this.hBins = hist ? Array.from({ length: nf }, () => []) : [];
    this.hActive = new Uint8Array(nf);
  }

  // ---- container storage -------------------------------------------------------------------------

  private growContainers(): void {
    const cap = this.cFn.length * 2;
    const grow = <A extends Int32Array | Float64Array | Uint8Array>(a: A, make: (n: number) => A): A => {
      const b = make(cap);
      b.set(a);
      return b;
    };
    this.cFn = grow(this.cFn, (n) => new Int32Array(n));
    this.cPrio = grow(this.cPrio, (n) => new Float64Array(n));
    this.cLast = grow(this.cLast, (n) => new Float64Array(n));
    this.cFreq = grow(this.cFreq, (n) => new Float64Array(n));
    const pos = new Int32Array(cap).fill(-1);
    pos.set(this.cPos);
    this.cPos = pos;
    this.cRun = grow(this.cRun, (n) => new Uint8Array(n));
    this.cFin = grow(this.cFin, (n) => new Float64Array(n));
    this.cSeq = grow(this.cSeq, (n) => new Float64Array(n));
    this.cIdx = grow(this.cIdx, (n) => new Int32Array(n));
    this.heap.prio = this.cPrio;
    this.heap.pos = this.cPos;
  }

  /** Container(d): frequency 0, not pooled, not running. */
  private newContainer(f: number): number {
    let id: number;
    if (this.freeIds.length > 0) id = this.freeIds.pop()!;
    else {
      if (this.nextId === this.cFn.length) this.growContainers();
      id = this.nextId++;
    }
    this.cFn[id] = f;
    this.cPrio[id] = 0;
    this.cLast[id] = 0;
    this.cFreq[id] = 0;
    this.cPos[id] = -1;
    this.cRun[id] = 0;
    return id;
  }

  private attach(id: number): void {
    const f = this.cFn[id]!;
    const list = this.fnConts[f]!;
    this.cIdx[id] = list.length;
    list.push(id);
    this.fnFreq[f] = this.fnFreq[f]! + this.cFreq[id]!;
  }

  /** Forget a container that has left the pool. */
  private detach(id: number): void {
    const f = this.cFn[id]!;
    const list = this.fnConts[f]!;
    const i = this.cIdx[id]!;
    const last = list.pop()!;
    if (last !== id) {
      list[i] = last;
      this.cIdx[last] = i;
    }
    this.fnFreq[f] = this.fnFreq[f]! - this.cFreq[id]!;
    this.cPos[id] = -1;
    this.freeIds.push(id);
  }

  // ---- the reference's methods -------------------------------------------------------------------

  /** calc_priority(c) with update=False (the only way the reference calls it). */
  private calcPriority(id: number): number {
    const f = this.cFn[id]!;
    switch (this.pol) {
      case Pol.GD:
        return greedyDualPriority(this.clock, this.fnFreq[f]!, this.fCost[f]!, this.fMem[f]!);
      case Pol.LND:
        return this.fWarm[f]!;
      case Pol.FREQ:
        return frequencyPriority(this.clock, this.fnFreq[f]!, this.fCost[f]!);
      case Pol.SIZE:
        return sizePriority(this.clock, this.fnFreq[f]!, this.fMem[f]!);
      default:
        return this.cLast[id]!;
    }
  }

  /** AddToPool: true when it fit. `at` is the pre-warm time, else the wall time. */
  private addToPool(id: number, at: number): boolean {
    const mem = this.fMem[this.cFn[id]!]!;
    if (!(mem + this.memUsed <= this.cap)) return false;
    this.memUsed = this.memUsed + mem;
    this.cLast[id] = at;
    // calc_priority runs before heappush: the container is not yet among its clones.
    this.cPrio[id] = this.calcPriority(id);
    this.heap.push(id);
    this.attach(id);
    return true;
  }

  /** RemoveFromPool: list.remove + heapify. */
  private removeFromPool(id: number): void {
    this.heap.remove(id);
    this.memUsed -= this.fMem[this.cFn[id]!]!;
    this.heap.heapify();
    this.detach(id);
  }

  private cleanupFinished(): void {
    const t = this.wall;
    const fin = this.cFin;
    const done = this.scratch;
    done.length = 0;
    while (this.runN > 0 && t >= fin[this.runHeap[0]!]!) done.push(this.runPop());
    if (done.length > 0) {
      if (this.pol === Pol.HIST) {
        if (done.length > 1) done.sort((a, b) => this.cSeq[a]! - this.cSeq[b]!); // running_c insertion order
        for (const c of done) {
          this.cRun[c] = 0;
          const f = this.cFn[c]!;
          if (this.hSeen[f] === 1 && this.hPrewarm[f] !== 0) this.removeFromPool(c);
        }
      } else for (const c of done) this.cRun[c] = 0;
    }
    this.heap.heapify();
  }

  private preWarmContainers(): void {
    // A failed AddToPool changes nothing, so skip the pass when not even the smallest function fits.
    if (this.active.length === 0 || !(this.minMem + this.memUsed <= this.cap)) return;
    const wall = this.wall;
    const act = this.active;
    let w = 0;
    // to_warm is decided before any container is added; adding does not change last_seen or prewarm.
    const toWarm = this.scratch;
    toWarm.length = 0;
    for (let r = 0; r < act.length; r++) {
      const f = act[r]!;
      const pw = this.hPrewarm[f]!;
      if (pw !== 0 && pw + this.hLastSeen[f]! >= wall) {
        act[w++] = f;
        toWarm.push(f);
      } else this.hActive[f] = 0; // re-added by trackActivation when it changes
    }
    act.length = w;
    for (const f of toWarm) {
      let at = this.hPrewarm[f]! + this.hLastSeen[f]!;
      if (wall < at) at = wall; // min(at, wall_time)
      const c = this.newContainer(f);
      if (!this.addToPool(c, at)) this.freeIds.push(c);
    }
  }

  private trackActivation(f: number): void {
    const wall = this.wall;
    let iat = 0;
    const seen = this.hSeen[f] === 1;
    if (seen) iat = wall - this.hLastSeen[f]!;
    this.hLastSeen[f] = wall;
    if (!seen) {
      this.hSeen[f] = 1;
      this.hRank[f] = this.nextRank++;
      this.hCount[f] = 0;
      this.hMean[f] = 0;
      this.hM2[f] = 0;
      this.hTTL[f] = HIST_DEFAULT_TTL_MS;
      this.hPrewarm[f] = 0;
      return;
    }
    const minute = Math.floor(iat / (60 * 1000));
    if (minute < HIST_BINS) {
      // Welford update.
      const count = this.hCount[f]! + 1;
      const delta = minute - this.hMean[f]!;
      const mean = this.hMean[f]! + delta / count;
      const delta2 = minute - mean;
      const m2 = this.hM2[f]! + delta * delta2;
      this.hCount[f] = count;
      this.hMean[f] = mean;
      this.hM2[f] = m2;
      const base = f * HIST_BINS;
      if (this.hHist[base + minute]++ === 0) {
        const bins = this.hBins[f]!;
        let k = bins.length;
        bins.push(minute);
        while (k > 0 && bins[k - 1]! > minute) {
          bins[k] = bins[k - 1]!;
          k--;
        }
        bins[k] = minute;
      }
      if (count < 2) {
        this.hTTL[f] = HIST_DEFAULT_TTL_MS;
        this.hPrewarm[f] = 0;
      } else {
        const variance = m2 / count;
        // cdf = cumsum(hist / hist.sum()); hist.sum() is the Welford count (exact integers).
        let head = HIST_BINS;
        let tail = HIST_BINS;
        let cum = 0;
        let first = true;
        for (const b of this.hBins[f]!) {
          const q = this.hHist[base + b]! / count;
          cum = first ? q : cum + q;
          first = false;
          if (head === HIST_BINS && 0.05 < cum) head = Math.max(0, b - 1);
          if (0.99 < cum) {
            tail = Math.min(b + 1, HIST_BINS);
            break;
          }
        }
        if (mean === 0 || variance / mean <= 2) {
          this.hTTL[f] = tail * 60 * 1000 * 1.1;
          this.hPrewarm[f] = head * 60 * 1000 * 0.9;
        } else {
          this.hTTL[f] = HIST_DEFAULT_TTL_MS;
          this.hPrewarm[f] = 0;
        }
      }
    }
    if (this.hPrewarm[f] !== 0 && this.hActive[f] === 0) {
      // Insert in first-seen order (the histPrewarm dict's order).
      this.hActive[f] = 1;
      const act = this.active;
      const rank = this.hRank[f]!;
      let k = act.length;
      act.push(f);
      while (k > 0 && this.hRank[act[k - 1]!]! > rank) {
        act[k] = act[k - 1]!;
        k--;
      }
      act[k] = f;
    }
  }

  private findContainer(f: number): number {
    if (this.heap.n === 0) return -1;
    const list = this.fnConts[f]!;
    const pos = this.cPos;
    const run = this.cRun;
    const pol = this.pol;
    if (pol !== Pol.TTL && pol !== Pol.LONG_TTL && pol !== Pol.HIST) {
      let best = -1;
      let bestPos = 0x7fffffff;
      for (let k = 0; k < list.length; k++) {
        const c = list[k]!;
        if (run[c] === 0 && best < 0) this.heap.settle(); // positions are read from here on
        if (run[c] === 0 && pos[c]! < bestPos) {
          bestPos = pos[c]!;
          best = c;
        }
      }
      return best;
    }
    // containers_for_the_lambda, in pool order.
    const idle: number[] = [];
    for (let k = 0; k < list.length; k++) if (run[list[k]!] === 0) idle.push(list[k]!);
    if (idle.length === 0) return -1;
    this.heap.settle();
    if (idle.length > 1) idle.sort((a, b) => pos[a]! - pos[b]!);
    const ttl = pol === Pol.TTL ? TTL_MS : pol === Pol.LONG_TTL ? LONG_TTL_MS : this.hTTL[f]!;
    const wall = this.wall;
    const last = this.cLast;
    let firstValid = -1;
    for (const c of idle) {
      if (last[c]! + ttl < wall) {
        this.removeFromPool(c);
        this.evictions[f] = this.evictions[f]! + 1;
      } else if (firstValid < 0 && last[c]! + ttl >= wall) firstValid = c;
    }
    if (pol !== Pol.HIST) this.heap.heapify(); // PurgeOldTTL / PurgeOldLongTTL end with a heapify
    return firstValid;
  }

  private landlordChargeRent(): void {
    this.heap.markAll(); // every priority changes (after any deferred heapify is applied)
    const heap = this.heap.heap;
    const n = this.heap.n;
    const prio = this.cPrio;
    let delta = 0;
    for (let i = 0; i < n; i++) {
      const c = heap[i]!;
      const d = prio[c]! / this.fMem[this.cFn[c]!]!;
      if (i === 0 || d < delta) delta = d; // min(): the first of equal values
    }
    for (let i = 0; i < n; i++) {
      const c = heap[i]!;
      prio[c] = prio[c]! - delta * this.fMem[this.cFn[c]!]!;
    }
    this.heap.heapify();
  }

  private eviction(f: number): void {
    const toFree = this.fMem[f]!;
    if (this.runN === this.heap.n) return; // all containers busy
    if (this.pol === Pol.LND) this.landlordChargeRent();
    const heap = this.heap;
    heap.popUntilFreed(toFree, this.cRun, this.cFn, this.fMem);
    const evicted = heap.evicted;
    const ne = heap.evictedN;
    for (let j = 0; j < ne; j++) {
      const k = this.cFn[evicted[j]!]!;
      this.memUsed -= this.fMem[k]!;
      this.evictions[k] = this.evictions[k]! + 1;
    }
    heap.pushSaved();
    if (ne > 0) this.clock = this.cPrio[evicted[ne - 1]!]!;
    for (let j = 0; j < ne; j++) this.detach(evicted[j]!);
  }

  /** cache_miss: the new container, or -1 when it does not fit even after eviction. */
  private cacheMiss(f: number): number {
    if (!(this.fMem[f]! + this.memUsed <= this.cap)) this.eviction(f);
    const c = this.newContainer(f);
    if (!this.addToPool(c, this.wall)) {
      this.freeIds.push(c);
      return -1;
    }
    this.heap.heapify();
    return c;
  }

  private runContainer(c: number, finish: number): void {
    this.cFreq[c] = this.cFreq[c]! + 1;
    const f = this.cFn[c]!;
    this.fnFreq[f] = this.fnFreq[f]! + 1;
    this.cRun[c] = 1;
    this.cFin[c] = finish;
    this.cSeq[c] = this.runSeq++;
    this.runPush(c);
  }

  /** runActivation(d, t). */
  activation(f: number, t: number): void {
    this.wall = t;
    this.cleanupFinished();
    if (this.pol === Pol.HIST) {
      this.preWarmContainers();
      this.trackActivation(f);
    }
    let c = this.findContainer(f);
    if (c < 0) {
      c = this.cacheMiss(f);
      if (c < 0) {
        this.drops[f] = this.drops[f]! + 1;
        return;
      }
      this.runContainer(c, t + this.fCold[f]!);
      this.misses[f] = this.misses[f]! + 1;
    } else {
      this.runContainer(c, t + this.fWarm[f]!);
      this.hits[f] = this.hits[f]! + 1;
    }
    if (this.served[f] === 0) {
      this.served[f] = 1;
      this.servedOrder.push(f);
    }
    this.cLast[c] = this.wall;
    const prio = this.calcPriority(c);
    this.heap.setPrioMany(this.fnConts[f]!, prio); // c and every clone
    this.heap.heapify();
  }

  // ---- running set: min-heap on finish time ------------------------------------------------------

  private runPush(c: number): void {
    if (this.runN === this.runHeap.length) {
      const h = new Int32Array(this.runHeap.length * 2);
      h.set(this.runHeap);
      this.runHeap = h;
    }
    const h = this.runHeap;
    const fin = this.cFin;
    const x = fin[c]!;
    let k = this.runN++;
    while (k > 0) {
      const up = (k - 1) >> 1;
      const u = h[up]!;
      if (fin[u]! <= x) break;
      h[k] = u;
      k = up;
    }
    h[k] = c;
  }

  private runPop(): number {
    const h = this.runHeap;
    const fin = this.cFin;
    const top = h[0]!;
    const last = h[--this.runN]!;
    const n = this.runN;
    if (n > 0) {
      const x = fin[last]!;
      let k = 0;
      for (;;) {
        let ch = 2 * k + 1;
        if (ch >= n) break;
        if (ch + 1 < n && fin[h[ch + 1]!]! < fin[h[ch]!]!) ch++;
        if (!(fin[h[ch]!]! < x)) break;
        h[k] = h[ch]!;
        k = ch;
      }
      h[k] = last;
    }
    return top;
  }

  get finalState(): { clock: number; memoryUsedMb: number; poolSize: number } {
    return { clock: this.clock, memoryUsedMb: this.memUsed, poolSize: this.heap.n };
  }

  /** The pool in heap array order as [function index, priority] (for tests against the reference). */
  poolSnapshot(): Array<[number, number]> {
    this.heap.settle();
    const out: Array<[number, number]> = [];
    for (let i = 0; i < this.heap.n; i++) {
      const c = this.heap.heap[i]!;
      out.push([this.cFn[c]!, this.cPrio[c]!]);
    }
    return out;
  }
}

/** Python's built-in sum(xs) (start 0) over floats, as the given Python version computes it. */
export function pythonSum(xs: readonly number[], mode: PythonSum = 'sequential'): number {
  if (xs.length === 0) return 0;
  if (mode === 'sequential') {
    let s = 0;
    for (const x of xs) s += x;
    return s;
  }
  // CPython ≥ 3.12 (Python/bltinmodule.c, builtin_sum_impl): 0 + first item, then Neumaier's
  // compensated summation; the compensation is added at the end when non-zero and finite.
  let f = 0 + xs[0]!;
  let c = 0;
  for (let i = 1; i < xs.length; i++) {
    const x = xs[i]!;
    const t = f + x;
    if (Math.abs(f) >= Math.abs(x)) c += f - t + x;
    else c += x - t + f;
    f = t;
  }
  if (c !== 0 && Number.isFinite(c)) f += c;
  return f;
}

/** compute_policy_results.analyze_timings' global results, from per-function counts in perf-log order. */
export function analyzeTimings(
  order: readonly number[],
  hits: ArrayLike<number>,
  misses: ArrayLike<number>,
  warmMs: ArrayLike<number>,
  coldMs: ArrayLike<number>,
  sum: PythonSum = 'sequential',
): FaasCacheReferenceAnalysis | null {
  let total = 0;
  let serverCold = 0;
  // The per-key loop runs in sorted(key) order; it only adds integers, so the order cannot matter.
  for (const f of order) {
    total += misses[f]! + hits[f]!;
    serverCold += warmMs[f]! * misses[f]!;
  }
  if (total === 0) return null;
  const eatTerms: number[] = [];
  const incrTerms: number[] = [];
  for (const f of order) {
    const m = misses[f]!;
    const h = hits[f]!;
    const twarm = warmMs[f]!; // lambdas[k][3]
    const trun = coldMs[f]!; // lambdas[k][2]
    const accesses = m + h;
    const eat = (m * trun + h * (trun - twarm)) / (m + h);
    const pct = trun - twarm === 0 ? 0 : (twarm * m) / ((m + h) * (trun - twarm));
    eatTerms.push((eat * accesses) / total);
    incrTerms.push((pct * accesses) / total);
  }
  return { server_cold: serverCold / total, wted_eat: pythonSum(eatTerms, sum), wted_increase: pythonSum(incrTerms, sum) };
}

/** Appendix A's cold-start overhead, % (see FaasCacheResult.coldStartOverheadPct). */
export function coldStartOverheadPct(
  order: readonly number[],
  hits: ArrayLike<number>,
  misses: ArrayLike<number>,
  warmMs: ArrayLike<number>,
  coldMs: ArrayLike<number>,
): number | null {
  let extra = 0;
  let allWarm = 0;
  for (const f of order) {
    extra += misses[f]! * (coldMs[f]! - warmMs[f]!);
    allWarm += (hits[f]! + misses[f]!) * warmMs[f]!;
  }
  return allWarm > 0 ? (100 * extra) / allWarm : null;
}

function validate(trace: Trace, opts: FaasCacheOptions): void {
  if (!(opts.policy in POLICY_CODES)) {
    const known = FAASCACHE_POLICIES.join(', ');
    const why = (opts.policy as string) === 'RAND' ? ' (RAND draws from numpy\'s unseeded RNG in the reference, so it cannot be reproduced)' : '';
    throw new ThawError('ERR_UNKNOWN_POLICY', `faascache compat: unknown policy '${String(opts.policy)}'${why}; known: ${known}`);
  }
  if (opts.pythonSum !== undefined && opts.pythonSum !== 'sequential' && opts.pythonSum !== 'neumaier') {
    throw invalidOption('pythonSum', `must be 'sequential' or 'neumaier', got ${String(opts.pythonSum)}`);
  }
  if (typeof opts.memoryMb !== 'number' || !(opts.memoryMb >= 0)) {
    throw invalidOption('memoryMb', `must be a number ≥ 0 (Infinity allowed), got ${String(opts.memoryMb)}`);
  }
  const divides = opts.policy === 'GD' || opts.policy === 'SIZE' || opts.policy === 'LND';
  for (const f of trace.functions) {
    if (!Number.isFinite(f.memoryMb) || f.memoryMb < 0 || !Number.isFinite(f.warmMs) || !Number.isFinite(f.coldStartMs)) {
      throw new ThawError('ERR_INVALID_STATE', `faascache compat: function '${f.id}' has a non-finite or negative memory or duration`);
    }
    if (divides && f.memoryMb === 0) {
      // The reference divides by the memory size here and would raise ZeroDivisionError.
      throw new ThawError('ERR_INVALID_STATE', `faascache compat: function '${f.id}' has 0 MB memory, which ${opts.policy} divides by`);
    }
  }
}

/** Run the FaaSCache reference simulator's algorithm over a trace (see the file comment). */
export function simulateFaasCache(trace: Trace, opts: FaasCacheOptions): FaasCacheResult {
  return runFaasCache(trace, opts).result;
}

/** As simulateFaasCache, also returning the final pool (heap array order) for tests. @internal */
export function runFaasCache(trace: Trace, opts: FaasCacheOptions): { result: FaasCacheResult; pool: Array<[string, number]>; servedOrder: string[] } {
  validate(trace, opts);
  const sim = new FaasCacheSim(trace, opts);
  let invocations = 0;
  let lastT = -Infinity;
  for (const batch of trace.batches()) {
    const fn = batch.fn;
    const time = batch.time;
    for (let i = 0; i < batch.length; i++) {
      const f = fn[i]!;
      const t = time[i]!;
      if (!(t >= lastT) || f < 0 || f >= sim.nf) {
        throw new ThawError('ERR_TRACE_FORMAT', `${trace.name}: arrival ${invocations + 1} is out of order or names no function`);
      }
      lastT = t;
      sim.activation(f, t);
      invocations++;
    }
  }
  const ids = trace.functions.map((s) => s.id);
  const functions: FaasCacheFunctionResult[] = trace.functions.map((s, f) => ({
    id: s.id,
    hits: sim.hits[f]!,
    misses: sim.misses[f]!,
    evictions: sim.evictions[f]!,
    drops: sim.drops[f]!,
  }));
  const sum = (a: Float64Array): number => a.reduce((x, y) => x + y, 0);
  const result: FaasCacheResult = {
    mode: 'faascache',
    policy: opts.policy,
    memoryMb: opts.memoryMb,
    trace: { name: trace.name, functions: trace.functions.length, invocations },
    invocations,
    hits: sum(sim.hits),
    misses: sum(sim.misses),
    drops: sum(sim.drops),
    evictions: sum(sim.evictions),
    coldStartOverheadPct: coldStartOverheadPct(sim.servedOrder, sim.hits, sim.misses, sim.fWarm, sim.fCold),
    reference: analyzeTimings(sim.servedOrder, sim.hits, sim.misses, sim.fWarm, sim.fCold, opts.pythonSum ?? 'sequential'),
    functions,
    final: sim.finalState,
  };
  return {
    result,
    pool: sim.poolSnapshot().map(([f, p]) => [ids[f]!, p]),
    servedOrder: sim.servedOrder.map((f) => ids[f]!),
  };
}
