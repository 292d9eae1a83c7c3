// IceBreaker (Roy et al., ASPLOS'22; docs/techniques.md §1.3) as a Prewarm policy: once per minute, for
// each function, record the peak number of its invocations in flight during the minute that ended,
// predict the next minute's with the FFT predictor over the last `window` minutes, and for each
// function with a positive prediction let the Placement Decision Maker choose: do not warm, warm on
// the low-end tier, or warm on the high-end tier (the fastest servers). A warm keeps `round(prediction)`
// instances idle on that tier for one minute after they are ready; the next minute's decision extends
// or drops them. Prediction runs per function per minute, never per invocation; functions whose window
// holds only zeros are predicted 0 without a transform.
//
// Accuracy is measured against what happened: per function the mean absolute error of the
// predictions, false positives (predicted ≥ 1 instance, none was needed) and false negatives
// (predicted 0, some were), beside a last-value predictor's error as a baseline.

import type { PrewarmAction, PrewarmContext, PrewarmPolicy, WarmOutcome } from '../../core/prewarm.ts';
import type { Server } from '../../core/instance.ts';
import type { FunctionSpec } from '../../core/trace.ts';
import { PlacementDecisionMaker, type PdmInput, type PdmOptions, type PlacementChoice } from '../placement/icebreaker-pdm.ts';
import { FftPredictor } from './fft-predictor.ts';

export interface IceBreakerOptions {
  /** Samples (minutes) in the predictor's window (default 60). */
  window?: number;
  /** Harmonics kept (default 10). */
  harmonics?: number;
  /** Detrending polynomial degree (default 2, quadratic, as the survey; 1 = linear). */
  degree?: number;
  /** Prediction step, ms (default 1 minute). */
  stepMs?: number;
  /** Steps of history the PDM's under/over-prediction rates look at (default 10). */
  history?: number;
  /** Disable the PDM: warm every positive prediction on the fastest tier. */
  noPdm?: boolean;
  pdm?: PdmOptions;
}

const NOT_CANDIDATE = 255;
const CHOICE_CODE: Record<PlacementChoice, number> = { none: 0, low: 1, high: 2 };

export class IceBreakerPrewarm implements PrewarmPolicy {
  readonly name = 'fft';
  readonly tickMs: number;
  readonly window: number;
  readonly history: number;
  readonly predictor: FftPredictor;
  readonly pdm: PlacementDecisionMaker | undefined;
  #functions: readonly FunctionSpec[] = [];
  #servers: readonly Server[] = [];
  #highTier: string | undefined;
  #lowTier: string | undefined;
  #highServers: Server[] = [];
  #speedHigh = 1;
  #speedLow = 1;
  #maxMemoryMb = 1;
  // Per function.
  #running = new Int32Array(0);
  #peak = new Int32Array(0);
  #ring = new Float64Array(0);
  #nonZero = new Int32Array(0);
  #lastPrediction = new Float64Array(0);
  #under = new Uint32Array(0);
  #over = new Uint32Array(0);
  #absError = new Float64Array(0);
  #lastValueError = new Float64Array(0);
  #falsePositives = new Float64Array(0);
  #falseNegatives = new Float64Array(0);
  #lastChoice = new Uint8Array(0);
  #steps = 0;
  #filled = 0;
  #head = 0;
  #scratch: Float64Array;
  #highRefused = 0;
  readonly #decisions = { none: 0, low: 0, high: 0 };

  constructor(options: IceBreakerOptions = {}) {
    this.window = options.window ?? 60;
    this.history = options.history ?? 10;
    this.tickMs = options.stepMs ?? 60_000;
    if (!Number.isInteger(this.window) || this.window < 2) throw new RangeError(`window must be an integer ≥ 2, got ${this.window}`);
    if (!Number.isInteger(this.history) || this.history < 1 || this.history > 32) throw new RangeError(`history must be an integer 1..32, got ${this.history}`);
    if (!(this.tickMs > 0)) throw new RangeError(`step must be > 0 ms, got ${this.tickMs}`);
    this.predictor = new FftPredictor({ harmonics: options.harmonics ?? 10, degree: options.degree ?? 2 });
    this.pdm = options.noPdm ? undefined : new PlacementDecisionMaker(options.pdm);
    this.#scratch = new Float64Array(this.window);
  }

  attach(context: PrewarmContext): undefined {
    const fns = context.functions;
    const n = fns.length;
    this.#functions = fns;
    this.#servers = context.servers;
    let fast = context.servers[0]!;
    let slow = context.servers[0]!;
    for (const s of context.servers) {
      if (s.speed > fast.speed) fast = s;
      if (s.speed < slow.speed) slow = s;
    }
    const tiers = new Set(context.servers.map((s) => s.tier));
    this.#highTier = tiers.size > 1 ? fast.tier : undefined;
    this.#lowTier = tiers.size > 1 ? slow.tier : undefined;
    this.#highServers = context.servers.filter((s) => s.tier === fast.tier);
    this.#speedHigh = fast.speed;
    this.#speedLow = slow.speed;
    this.#maxMemoryMb = Math.max(1, ...fns.map((f) => f.memoryMb));
    this.#running = new Int32Array(n);
    this.#peak = new Int32Array(n);
    this.#ring = new Float64Array(n * this.window);
    this.#nonZero = new Int32Array(n);
    this.#lastPrediction = new Float64Array(n).fill(NaN);
    this.#under = new Uint32Array(n);
    this.#over = new Uint32Array(n);
    this.#absError = new Float64Array(n);
    this.#lastValueError = new Float64Array(n);
    this.#falsePositives = new Float64Array(n);
    this.#falseNegatives = new Float64Array(n);
    this.#lastChoice = new Uint8Array(n).fill(NOT_CANDIDATE);
    return undefined;
  }

  invoked(fn: FunctionSpec, _now: number): void {
    const i = fn.index;
    const r = ++this.#running[i]!;
    if (r > this.#peak[i]!) this.#peak[i] = r;
  }

  completed(fn: FunctionSpec, _now: number): undefined {
    this.#running[fn.index]!--;
    return undefined;
  }

  dropped(fn: FunctionSpec, _now: number): void {
    this.#running[fn.index]!--;
  }

  executed(outcome: WarmOutcome): void {
    if (outcome.refused > 0 && this.#highTier !== undefined && outcome.action.tier === this.#highTier) this.#highRefused += outcome.refused;
  }

  tick(now: number): PrewarmAction[] {
    const n = this.#functions.length;
    const w = this.window;
    const ring = this.#ring;
    const mask = (1 << this.history) - 1;
    let missed = 0;
    let wasted = 0;
    // 1. What happened in the minute that ended: score the last predictions, push the samples.
    const slot = this.#head;
    for (let i = 0; i < n; i++) {
      const actual = this.#peak[i]!;
      this.#peak[i] = this.#running[i]!;
      const predicted = this.#lastPrediction[i]!;
      if (!Number.isNaN(predicted)) {
        const wanted = Math.round(predicted);
        this.#absError[i]! += Math.abs(predicted - actual);
        if (wanted >= 1 && actual === 0) this.#falsePositives[i]!++;
        if (wanted < 1 && actual > 0) this.#falseNegatives[i]!++;
        this.#under[i] = ((this.#under[i]! << 1) | (actual > wanted ? 1 : 0)) & mask;
        this.#over[i] = ((this.#over[i]! << 1) | (wanted > actual ? 1 : 0)) & mask;
        const choice = this.#lastChoice[i]!;
        if (choice === 0 && actual > 0) missed++;
        if ((choice === 1 || choice === 2) && actual === 0) wasted++;
      }
      if (this.#filled > 0) this.#lastValueError[i]! += Math.abs(ring[i * w + ((slot + w - 1) % w)]! - actual);
      const old = ring[i * w + slot]!;
      if (this.#filled >= w && old !== 0) this.#nonZero[i]!--;
      ring[i * w + slot] = actual;
      if (actual !== 0) this.#nonZero[i]!++;
    }
    if (this.#steps > 0 && this.pdm) {
      let used = 0;
      let capacity = 0;
      for (const s of this.#highServers) {
        used += s.usedMb;
        capacity += s.capacityMb;
      }
      this.pdm.adjust({ missed, wasted, highRefused: this.#highRefused, highUtilisation: capacity > 0 ? used / capacity : 1 });
    }
    this.#highRefused = 0;
    this.#head = (slot + 1) % w;
    if (this.#filled < w) this.#filled++;
    this.#steps++;

    // 2. Predict the next minute; positive predictions go to the PDM.
    const filled = this.#filled;
    const scratch = this.#scratch;
    const candidates: number[] = [];
    const counts: number[] = [];
    for (let i = 0; i < n; i++) {
      this.#lastChoice[i] = NOT_CANDIDATE;
      if (this.#nonZero[i] === 0) {
        this.#lastPrediction[i] = 0;
        continue;
      }
      // Oldest first: the window starts at head once it is full, at 0 before.
      const start = filled < w ? 0 : this.#head;
      for (let k = 0; k < filled; k++) scratch[k] = ring[i * w + ((start + k) % w)]!;
      const value = filled < 4 ? scratch[filled - 1]! : this.predictor.predict(scratch, filled).value;
      this.#lastPrediction[i] = value;
      const wanted = Math.round(value);
      if (wanted >= 1) {
        candidates.push(i);
        counts.push(wanted);
      }
    }
    if (candidates.length === 0) return [];
    let choices: PlacementChoice[];
    if (this.pdm) {
      const inputs: PdmInput[] = candidates.map((i) => {
        const f = this.#functions[i]!;
        const serviceMs = f.coldStartMs + f.warmMs;
        return {
          memoryMb: f.memoryMb,
          serviceHighMs: serviceMs / this.#speedHigh,
          serviceLowMs: serviceMs / this.#speedLow,
          underPredicted: popcount(this.#under[i]!) / this.history,
          overPredicted: popcount(this.#over[i]!) / this.history,
        };
      });
      choices = this.pdm.decide(inputs, this.#maxMemoryMb).choices;
    } else {
      choices = candidates.map(() => 'high');
    }
    const actions: PrewarmAction[] = [];
    for (let c = 0; c < candidates.length; c++) {
      const i = candidates[c]!;
      const choice = choices[c]!;
      this.#lastChoice[i] = CHOICE_CODE[choice];
      this.#decisions[choice]++;
      if (choice === 'none') continue;
      const tier = choice === 'high' ? this.#highTier : this.#lowTier;
      actions.push({ kind: 'warm', fn: this.#functions[i]!, at: now, count: counts[c]!, tier, keepAliveMs: this.tickMs });
    }
    return actions;
  }

  /** The prediction made for the current step, per function index (NaN before the first tick). */
  lastPrediction(fn: number): number {
    return this.#lastPrediction[fn]!;
  }

  report(): Record<string, unknown> {
    const steps = Math.max(0, this.#steps - 1);
    const perFunction = [];
    let abs = 0;
    let lastAbs = 0;
    let fp = 0;
    let fn = 0;
    for (let i = 0; i < this.#functions.length; i++) {
      abs += this.#absError[i]!;
      lastAbs += this.#lastValueError[i]!;
      fp += this.#falsePositives[i]!;
      fn += this.#falseNegatives[i]!;
      perFunction.push({
        id: this.#functions[i]!.id,
        mae: steps > 0 ? this.#absError[i]! / steps : 0,
        lastValueMae: steps > 0 ? this.#lastValueError[i]! / steps : 0,
        falsePositives: this.#falsePositives[i]!,
        falseNegatives: this.#falseNegatives[i]!,
      });
    }
    const cells = Math.max(1, steps * this.#functions.length);
    return {
      window: this.window,
      harmonics: this.predictor.harmonics,
      degree: this.predictor.degree,
      steps,
      mae: abs / cells,
      lastValueMae: lastAbs / cells,
      falsePositives: fp,
      falseNegatives: fn,
      decisions: { ...this.#decisions },
      thresholds: this.pdm ? { low: this.pdm.low, high: this.pdm.high } : null,
      tiers: { high: this.#highTier ?? null, low: this.#lowTier ?? null },
      perFunction,
    };
  }
}

function popcount(x: number): number {
  let c = 0;
  for (let v = x; v; v &= v - 1) c++;
  return c;
}
