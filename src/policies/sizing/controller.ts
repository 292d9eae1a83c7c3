// FaaSCache's dynamic sizing (docs/techniques.md §1.1) as a pure controller that the simulator drives one
// invocation at a time. It keeps the miss speed (cold starts per second) near a target by resizing
// the cache along the hit-ratio curve.
//
// Reading of HR(c') = 1 − h·λ̄/λ implemented here, as in the authors' notebook (faascache-sim,
// code/split/dyn-scale.ipynb): λ is the current arrival rate, the inverse of the mean of the last
// 10,000 inter-arrival times; λ̄ is the long-run mean arrival rate; the target miss speed is the
// constant h·λ̄ (the notebook: 0.1 / mean inter-arrival time). Choosing c' with miss ratio h·λ̄/λ makes
// the expected miss speed λ·(1 − HR(c')) = h·λ̄: when load rises above its mean the cache grows so
// misses per second stay where they would be at mean load with miss ratio h. The notebook computes λ̄
// over the whole trace, which an online controller cannot; by default λ̄ here is the running mean
// since the first arrival, (arrivals − 1) / elapsed time, which converges to it. Pass
// meanArrivalRatePerSec (e.g. invocations / span of the trace) to reproduce the notebook exactly.
//
// Miss speed compared with the target: `missSpeed: 'measured'` (default) counts the cold starts the
// simulator reports over the same window as λ; `'curve'` is the notebook's λ·(1 − HR(c)) from the
// curve alone. The two differ by the "false hits" (the function is cached but all its instances are
// busy, so the simulator starts a new one) and by what the curve's window misses. With measured miss
// speed the curve's prediction is corrected by the gap observed at the current size,
// δ = measured miss ratio − (1 − HR(c)), assumed the same at the new size: HR(c') = 1 − h·λ̄/λ + δ.
// This keeps the direction right (misses above target always grow the cache); δ = 0 in 'curve' mode.
//
// Actuation, as in the notebook: act only when |miss speed − target| / target exceeds the dead band
// (30 %) and at least `minSpacing` (10,000) invocations after the previous action; an action whose
// size change is under `minStepMb` (100 MB) is dropped, but still restarts the spacing (so a size
// that cannot be improved is not re-evaluated on every invocation). The curve is rebuilt every
// `curveRebuildEvery` invocations from the last `curveWindow` invocations (sliding-curve.ts); the
// controller does nothing until it has a curve (or is given an initial one).

import { ThawError } from '../../core/errors.ts';
import type { FunctionSpec } from '../../core/trace.ts';
import { ArrivalWindow } from './arrival-window.ts';
import { type DynamicSizingOptions, resolveControllerOptions, type ResolvedControllerOptions } from './controller-options.ts';
import { type HitRatioCurve, hitRatioAt, sizeForHitRatio } from './hit-ratio-curve.ts';
import { SlidingReuseCurve } from './sliding-curve.ts';

/** What a run with dynamic sizing reports (SimResult.dynamicSizing). */
export interface DynamicSizingResult {
  targetMissRatio: number;
  /** Each resize the controller made. */
  resizes: Array<{ t: number; invocation: number; fromMb: number; toMb: number; missSpeed: number; targetMissSpeed: number }>;
  meanCapacityMb: number;
  /** Observed cold starts per second against the controller's target over time (per timeline interval). */
  missSpeed: number[];
  targetMissSpeed: number[];
}

export { DYNAMIC_SIZING_DEFAULTS, type DynamicSizingOptions, type MissSpeedSource } from './controller-options.ts';

/** One resize: the fields of DynamicSizingResult's resizes, plus what the decision was based on. */
export type ResizeEvent = DynamicSizingResult['resizes'][number] & {
  /** λ and λ̄ at the decision, arrivals per second. */
  arrivalRatePerSec: number;
  meanArrivalRatePerSec: number;
  /** Hit ratio the curve was asked for. */
  targetHitRatio: number;
  /** Theoretical hit ratio at the old size, from the reuse-distance curve. */
  curveHitRatio: number;
  /** Hit ratio measured over the rate window (1 − cold starts / invocations). */
  measuredHitRatio: number;
};

/** What the controller sees now: sample it per timeline interval for DynamicSizingResult's series. */
export interface ControllerState {
  invocations: number;
  capacityMb: number;
  arrivalRatePerSec: number | undefined;
  meanArrivalRatePerSec: number | undefined;
  /** Cold starts per second measured over the rate window. */
  measuredMissSpeed: number | undefined;
  /** λ·(1 − HR(capacity)) from the current curve. */
  curveMissSpeed: number | undefined;
  targetMissSpeed: number | undefined;
}

export class DynamicSizingController {
  readonly options: Readonly<ResolvedControllerOptions>;
  readonly #arrivals: ArrivalWindow;
  readonly #sliding: SlidingReuseCurve;
  readonly #functionCount: number;
  readonly #resizes: ResizeEvent[] = [];
  /** Measured hits per capacity level, for the measured curve. */
  readonly #measured = new Map<number, { invocations: number; hits: number }>();
  #curve: HitRatioCurve | undefined;
  #capacityMb: number;
  #invocations = 0;
  #lastActionAt = 0;
  #firstTimeMs = NaN;
  #lastTimeMs = -Infinity;
  /** ∫ capacity dt since time 0 up to the last resize, MB·ms. */
  #capacityArea = 0;
  #capacitySince = 0;

  constructor(options: DynamicSizingOptions, functions: readonly FunctionSpec[]) {
    this.options = resolveControllerOptions(options, functions);
    const o = this.options;
    this.#functionCount = functions.length;
    this.#arrivals = new ArrivalWindow(o.rateWindow);
    this.#sliding = new SlidingReuseCurve(
      functions.map((f) => f.memoryMb),
      o.curveWindow,
      o.maxMb,
      o.curveResolutionMb,
    );
    this.#curve = o.initialCurve;
    this.#capacityMb = o.initialMb;
  }

  get capacityMb(): number {
    return this.#capacityMb;
  }

  /**
   * Records one invocation (in arrival order) and whether it started cold. Returns the new capacity,
   * MB, when the controller decides to resize, else undefined.
   */
  observe(fnIndex: number, timeMs: number, wasCold: boolean): number | undefined {
    if (!(fnIndex >= 0 && fnIndex < this.#functionCount)) {
      throw new ThawError('ERR_UNKNOWN_FUNCTION', `function index ${fnIndex} is outside 0..${this.#functionCount - 1}`);
    }
    if (!(timeMs >= this.#lastTimeMs)) {
      throw new ThawError('ERR_INVALID_STATE', `observe: time ${timeMs} ms is before the previous invocation's ${this.#lastTimeMs} ms`);
    }
    if (this.#invocations === 0) this.#firstTimeMs = timeMs;
    this.#lastTimeMs = timeMs;
    this.#invocations++;
    this.#sliding.access(fnIndex);
    this.#arrivals.add(timeMs, wasCold);
    this.#recordMeasured(wasCold);

    const o = this.options;
    if (this.#invocations % o.curveRebuildEvery === 0) this.#curve = this.#sliding.curve();
    if (this.#curve === undefined || this.#invocations - this.#lastActionAt < o.minSpacing) return undefined;
    return this.#decide(timeMs, this.#curve);
  }

  #decide(timeMs: number, curve: HitRatioCurve): number | undefined {
    const o = this.options;
    const lambda = this.#arrivals.arrivalRatePerSec();
    const meanLambda = this.#meanArrivalRate();
    const measuredMissRatio = this.#arrivals.missRatio();
    if (lambda === undefined || meanLambda === undefined || measuredMissRatio === undefined) return undefined;
    const targetMissSpeed = o.targetMissRatio * meanLambda;
    const curveHitRatio = hitRatioAt(curve, this.#capacityMb);
    const missSpeed = o.missSpeed === 'measured' ? lambda * measuredMissRatio : lambda * (1 - curveHitRatio);
    if (Math.abs(missSpeed - targetMissSpeed) / targetMissSpeed <= o.deadBand) return undefined;

    this.#lastActionAt = this.#invocations;
    const falseHitGap = o.missSpeed === 'measured' ? measuredMissRatio - (1 - curveHitRatio) : 0;
    const targetHitRatio = 1 - (o.targetMissRatio * meanLambda) / lambda + falseHitGap;
    const newMb = clamp(this.#sizeReaching(curve, targetHitRatio), o.minMb, o.maxMb);
    const fromMb = this.#capacityMb;
    if (Math.abs(newMb - fromMb) < o.minStepMb || newMb === fromMb) return undefined;

    this.#resizes.push({
      t: timeMs,
      invocation: this.#invocations,
      fromMb,
      toMb: newMb,
      missSpeed,
      targetMissSpeed,
      arrivalRatePerSec: lambda,
      meanArrivalRatePerSec: meanLambda,
      targetHitRatio,
      curveHitRatio,
      measuredHitRatio: 1 - measuredMissRatio,
    });
    this.#capacityArea += fromMb * (timeMs - this.#capacitySince);
    this.#capacitySince = timeMs;
    this.#capacityMb = newMb;
    return newMb;
  }

  /** Smallest size the curve says reaches `hitRatio`; the top of the range when it never does. */
  #sizeReaching(curve: HitRatioCurve, hitRatio: number): number {
    if (hitRatio <= 0) return 0;
    if (hitRatio > 1) return this.options.maxMb;
    return sizeForHitRatio(curve, hitRatio) ?? this.options.maxMb;
  }

  #meanArrivalRate(): number | undefined {
    if (this.options.meanArrivalRatePerSec !== undefined) return this.options.meanArrivalRatePerSec;
    const elapsed = this.#lastTimeMs - this.#firstTimeMs;
    return elapsed > 0 ? ((this.#invocations - 1) * 1000) / elapsed : undefined;
  }

  #recordMeasured(wasCold: boolean): void {
    let level = this.#measured.get(this.#capacityMb);
    if (!level) this.#measured.set(this.#capacityMb, (level = { invocations: 0, hits: 0 }));
    level.invocations++;
    if (!wasCold) level.hits++;
  }

  /** Every resize so far, oldest first. */
  history(): readonly ResizeEvent[] {
    return this.#resizes;
  }

  /** The theoretical curve the controller currently uses (from reuse distances), if any yet. */
  theoreticalCurve(): HitRatioCurve | undefined {
    return this.#curve;
  }

  /**
   * The measured curve: at each capacity the controller has held, the hit ratio the simulator
   * reported while it held it (warm / invocations). Below the theoretical curve by the false hits.
   */
  measuredCurve(): HitRatioCurve & { invocations: number[] } {
    const levels = [...this.#measured.entries()].sort((a, b) => a[0] - b[0]);
    return {
      sizesMb: levels.map(([size]) => size),
      hitRatio: levels.map(([, l]) => l.hits / l.invocations),
      invocations: levels.map(([, l]) => l.invocations),
    };
  }

  state(): ControllerState {
    const lambda = this.#arrivals.arrivalRatePerSec();
    const meanLambda = this.#meanArrivalRate();
    const curve = this.#curve;
    return {
      invocations: this.#invocations,
      capacityMb: this.#capacityMb,
      arrivalRatePerSec: lambda,
      meanArrivalRatePerSec: meanLambda,
      measuredMissSpeed: this.#arrivals.missSpeedPerSec(),
      curveMissSpeed: lambda !== undefined && curve ? lambda * (1 - hitRatioAt(curve, this.#capacityMb)) : undefined,
      targetMissSpeed: meanLambda !== undefined ? this.options.targetMissRatio * meanLambda : undefined,
    };
  }

  /** Capacity averaged over time from 0 to endTimeMs (the trace's span), MB. */
  meanCapacityMb(endTimeMs: number): number {
    const until = Math.max(endTimeMs, this.#capacitySince);
    if (until <= 0) return this.#capacityMb;
    return (this.#capacityArea + this.#capacityMb * (until - this.#capacitySince)) / until;
  }

  /** The parts of DynamicSizingResult the controller knows; the simulator adds the per-interval series. */
  summary(endTimeMs: number): Pick<DynamicSizingResult, 'targetMissRatio' | 'resizes' | 'meanCapacityMb'> {
    return { targetMissRatio: this.options.targetMissRatio, resizes: [...this.#resizes], meanCapacityMb: this.meanCapacityMb(endTimeMs) };
  }
}

function clamp(x: number, min: number, max: number): number {
  return x < min ? min : x > max ? max : x;
}
