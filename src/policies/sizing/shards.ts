// SHARDS (Waldspurger et al., FAST'15) applied to function keys: keep function k iff
// hash(k) mod P < T, i.e. a rate R = T/P of the functions (the FaaSCache reference uses R = 0.1,
// P = 10000), compute exact reuse distances on the invocations of the kept functions only, and scale
// each distance by 1/R: the distinct sampled functions between two accesses stand for a fraction R of
// all the distinct functions there.
//
// Normalisation: the sample keeps whole functions, so it keeps every invocation of a kept function and
// none of the others. The sampled hit ratio is taken over the sampled references: HR(c) = (sampled
// invocations with scaled distance ≤ c) / (sampled invocations). Because invocation counts are very
// skewed across functions, the number of sampled references can be far from R·N; `adjust` applies
// SHARDS_adj, which adds the difference R·N − (sampled references) to the distance-0 bin so that the
// curve is normalised by the expected count R·N instead (it can then start slightly below 0 or above
// the true value at small sizes; the curve clamps it to [0, 1]).
//
// Differences from the FaaSCache reference (faascache-sim code/split/reuse_dist.py, SHARDS_reusedist):
// it sums the sizes of *all* invocations between two accesses, repeats included, rather than of the
// distinct functions, and it builds its ECDF from the distances multiplied back by R; here distances
// follow the definition above and are scaled by 1/R as docs/techniques.md §1.1 says.

import { invalidOption, ThawError } from '../../core/errors.ts';
import type { ArrivalBatch, FunctionSpec, Trace } from '../../core/trace.ts';
import { murmur3 } from './hash.ts';
import { DistanceHistogram, type HistogramSizing } from './histogram.ts';
import { requireFraction, requireInteger } from './options.ts';
import { allIntegral, ReuseDistanceTracker, type TrackerOptions } from './reuse-distance.ts';
import { type BatchConsumer, feedTrace } from './stream.ts';

export interface ShardsSamplingOptions {
  /** Fraction of the functions to keep, R. Default 0.1. The effective rate is round(R·P)/P. */
  rate?: number;
  /** Modulus P of the hash test. Default 10000. */
  modulus?: number;
  /** Seed of the 32-bit hash, an unsigned 32-bit integer; another seed draws another sample. Default 0. */
  seed?: number;
}

export interface ShardsOptions extends ShardsSamplingOptions, HistogramSizing, TrackerOptions {
  /** SHARDS_adj: normalise by the expected sample size R·N instead of the actual one. Default false. */
  adjust?: boolean;
}

export const SHARDS_DEFAULTS = { rate: 0.1, modulus: 10_000, seed: 0, adjust: false } as const;

/** Decides which function ids are in the sample. */
export class ShardsSampler {
  readonly modulus: number;
  /** T: a key is kept iff hash mod P < T. */
  readonly threshold: number;
  readonly seed: number;

  constructor(options: ShardsSamplingOptions = {}) {
    const rate = requireFraction('sampleRate', options.rate ?? SHARDS_DEFAULTS.rate, { includeOne: true });
    this.modulus = requireInteger('sampleModulus', options.modulus ?? SHARDS_DEFAULTS.modulus, 1, 2 ** 32);
    this.seed = requireInteger('seed', options.seed ?? SHARDS_DEFAULTS.seed, 0, 2 ** 32 - 1);
    this.threshold = Math.round(rate * this.modulus);
    if (this.threshold < 1) {
      throw invalidOption('sampleRate', `${rate} × sampleModulus ${this.modulus} rounds to 0 sampled hash values (raise the rate or the modulus)`);
    }
  }

  /** R = T/P, the rate actually applied. */
  get rate(): number {
    return this.threshold / this.modulus;
  }

  includes(functionId: string): boolean {
    return murmur3(functionId, this.seed) % this.modulus < this.threshold;
  }
}

export interface ShardsHistogram {
  histogram: DistanceHistogram;
  /** Effective sampling rate T/P. */
  rate: number;
  sampledFunctions: number;
  /** Invocations of the sampled functions. */
  sampledInvocations: number;
  totalInvocations: number;
}

/** Feeds the scaled reuse distances of the sampled functions' invocations into a histogram. */
export class ShardsDistanceCollector implements BatchConsumer {
  readonly sampler: ShardsSampler;
  readonly #histogram: DistanceHistogram;
  readonly #tracker: ReuseDistanceTracker;
  /** Dense index of each sampled function (keeps the tracker at O(sampled functions)), -1 if not sampled. */
  readonly #sampledIndex: Int32Array;
  readonly #sampledFunctions: number;
  readonly #scale: number;
  readonly #adjust: boolean;
  #arrivals = 0;
  #finished: ShardsHistogram | undefined;

  constructor(functions: readonly FunctionSpec[], options: ShardsOptions = {}) {
    this.sampler = new ShardsSampler(options);
    this.#adjust = options.adjust ?? SHARDS_DEFAULTS.adjust;
    this.#sampledIndex = new Int32Array(functions.length).fill(-1);
    const sampledSizes: number[] = [];
    let sampledTotalMb = 0;
    for (const fn of functions) {
      if (!this.sampler.includes(fn.id)) continue;
      this.#sampledIndex[fn.index] = sampledSizes.length;
      sampledSizes.push(fn.memoryMb);
      sampledTotalMb += fn.memoryMb;
    }
    this.#sampledFunctions = sampledSizes.length;
    this.#scale = 1 / this.sampler.rate;
    // Scaled distances are whole MB when sizes are and 1/R = P/T is a whole number.
    const integral = allIntegral(sampledSizes) && Number.isInteger(this.sampler.modulus / this.sampler.threshold);
    this.#histogram = DistanceHistogram.forRange(sampledTotalMb * this.#scale, integral, options);
    this.#tracker = new ReuseDistanceTracker(sampledSizes, options);
  }

  consume(batch: ArrivalBatch): void {
    if (this.#finished) throw new ThawError('ERR_INVALID_STATE', 'ShardsDistanceCollector: consume() after finish()');
    const { fn, length } = batch;
    const sampledIndex = this.#sampledIndex;
    const scale = this.#scale;
    this.#arrivals += length;
    for (let i = 0; i < length; i++) {
      const sampled = sampledIndex[fn[i]];
      if (sampled >= 0) this.#histogram.add(this.#tracker.access(sampled) * scale);
    }
  }

  /** The histogram, with the SHARDS_adj correction applied once if asked for. */
  finish(): ShardsHistogram {
    if (!this.#finished) {
      const rate = this.sampler.rate;
      const sampledInvocations = this.#tracker.accesses;
      if (this.#adjust) this.#histogram.addToBin(0, rate * this.#arrivals - sampledInvocations);
      this.#finished = {
        histogram: this.#histogram,
        rate,
        sampledFunctions: this.#sampledFunctions,
        sampledInvocations,
        totalInvocations: this.#arrivals,
      };
    }
    return this.#finished;
  }
}

/** Streams the trace once and returns the histogram of the scaled reuse distances of the sampled invocations. */
export function shardsDistanceHistogram(trace: Trace, options: ShardsOptions = {}): ShardsHistogram {
  const collector = new ShardsDistanceCollector(trace.functions, options);
  feedTrace(trace, [collector]);
  return collector.finish();
}
