// IceBreaker's Placement Decision Maker (Roy et al., ASPLOS'22; docs/techniques.md §1.3), after the
// re-implementation the survey cites. For each function with a positive prediction:
//   r1 = 1 − mem / maxMem                         (small functions are cheap to warm)
//   r2 = 1 − (cold+exec)_high / (cold+exec)_low   (what the high-end tier saves it)
//   r3 = under-prediction over the last 10 steps  (share of steps the predictor fell short)
//   r4 = 1 − over-prediction over the last 10     (share of steps it overshot)
//   wᵢ = ⅓ (1 − rᵢ / Σr)  (Σ wᵢ = 1),  score = Σ wᵢ rᵢ,
// scores min-max normalised over the functions decided together, then compared with two thresholds:
// below `low` → do not warm; below `high` → warm on the low-end tier; else → warm on the high-end tier.
//
// Dynamic thresholds (thaw's rule; the paper says only that they adapt): after each decision round,
// once its outcome is known,
//   - `low` moves down by `step` if the functions it left cold were invoked more often than the
//     functions it warmed went unused (missed > wasted), and up by `step` in the opposite case;
//   - `high` moves up by `step` if a warm on the high-end tier was refused for lack of free memory
//     (the high tier is full), and down by `step` if the high tier's memory is less than half used;
//   both stay within [min, max] and at least `gap` apart.

export type PlacementChoice = 'none' | 'low' | 'high';

export interface PdmInput {
  memoryMb: number;
  /** Start + execution time on the high-end and on the low-end tier, ms. */
  serviceHighMs: number;
  serviceLowMs: number;
  /** Share of the last steps that were under- and over-predicted (0..1). */
  underPredicted: number;
  overPredicted: number;
}

export interface PdmOptions {
  low?: number;
  high?: number;
  step?: number;
  gap?: number;
  min?: number;
  max?: number;
}

export interface PdmFeedback {
  /** Functions scored below `low` (not warmed) that were invoked in the step. */
  missed: number;
  /** Functions warmed that were not invoked in the step. */
  wasted: number;
  /** Warm requests on the high tier refused for lack of free memory. */
  highRefused: number;
  /** Share of the high tier's memory in use (0..1). */
  highUtilisation: number;
}

/** The raw (un-normalised) score of one function. */
export function pdmScore(input: PdmInput, maxMemoryMb: number): number {
  const clamp = (v: number): number => (v < 0 ? 0 : v > 1 ? 1 : v);
  const r = [
    clamp(1 - input.memoryMb / maxMemoryMb),
    clamp(input.serviceLowMs > 0 ? 1 - input.serviceHighMs / input.serviceLowMs : 0),
    clamp(input.underPredicted),
    clamp(1 - input.overPredicted),
  ];
  const total = r[0]! + r[1]! + r[2]! + r[3]!;
  if (total === 0) return 0;
  let score = 0;
  for (const ri of r) score += ((1 - ri / total) / 3) * ri;
  return score;
}

export class PlacementDecisionMaker {
  low: number;
  high: number;
  readonly step: number;
  readonly gap: number;
  readonly min: number;
  readonly max: number;

  constructor(options: PdmOptions = {}) {
    this.low = options.low ?? 0.33;
    this.high = options.high ?? 0.66;
    this.step = options.step ?? 0.01;
    this.gap = options.gap ?? 0.05;
    this.min = options.min ?? 0.05;
    this.max = options.max ?? 0.95;
    if (!(this.min <= this.low && this.low + this.gap <= this.high && this.high <= this.max)) {
      throw new RangeError(`PDM thresholds must satisfy ${this.min} ≤ low (${this.low}) ≤ high − ${this.gap} (${this.high}) ≤ ${this.max}`);
    }
  }

  /** Min-max normalised scores (a single score, or all equal, are left as they are). */
  static normalise(scores: readonly number[]): number[] {
    let lo = Infinity;
    let hi = -Infinity;
    for (const s of scores) {
      if (s < lo) lo = s;
      if (s > hi) hi = s;
    }
    if (!(hi - lo > 1e-12)) return scores.slice();
    return scores.map((s) => (s - lo) / (hi - lo));
  }

  choose(normalisedScore: number): PlacementChoice {
    if (normalisedScore < this.low) return 'none';
    return normalisedScore < this.high ? 'low' : 'high';
  }

  /** Decides for a round of functions: raw scores → normalised → choices. */
  decide(inputs: readonly PdmInput[], maxMemoryMb: number): { scores: number[]; choices: PlacementChoice[] } {
    const scores = PlacementDecisionMaker.normalise(inputs.map((i) => pdmScore(i, maxMemoryMb)));
    return { scores, choices: scores.map((s) => this.choose(s)) };
  }

  /** Adjusts the thresholds from the outcome of the last round (rule in the header). */
  adjust(feedback: PdmFeedback): void {
    if (feedback.missed > feedback.wasted) this.low -= this.step;
    else if (feedback.wasted > feedback.missed) this.low += this.step;
    if (feedback.highRefused > 0) this.high += this.step;
    else if (feedback.highUtilisation < 0.5) this.high -= this.step;
    this.high = Math.min(this.max, Math.max(this.min + this.gap, this.high));
    this.low = Math.min(this.high - this.gap, Math.max(this.min, this.low));
  }
}
