// A histogram of reuse distances with fixed-width bins. Bin k holds the distances d with
// (k-1)·w < d ≤ k·w (bin 0 holds d = 0), so "how many distances are ≤ c" is exact whenever c is a
// multiple of the bin width w: the hit-ratio grids are built on such multiples. Distances are exact
// sums of function sizes; only this binning quantises them, and only when w > 1 MB or sizes are
// fractional.

import { invalidOption } from '../../core/errors.ts';

/** Slack for floating-point sums of fractional sizes landing a hair past a bin edge. */
const EDGE_TOLERANCE = 1e-9;

/** Default bound on bins: 2^18 float64 counts = 2 MiB, 1 MB resolution up to 256 GB of distinct functions. */
export const DEFAULT_MAX_BINS = 1 << 18;

export interface HistogramSizing {
  /**
   * Bin width, MB. Default: the smallest 1-2-5 × 10^k width that covers the range in maxBins bins
   * (at least 1 MB when sizes are whole MB), so bin edges and grid points are round numbers.
   */
  binWidthMb?: number;
  /** Upper bound on the number of bins when binWidthMb is not given. Default 2^18. */
  maxBins?: number;
}

/** Marks a reference whose distance is infinite (first access: a compulsory miss). */
export const INFINITE_BIN = -1;

export class DistanceHistogram {
  readonly binWidthMb: number;
  /** Largest distance a bin can hold; larger finite distances go to the overflow count. */
  readonly rangeMb: number;
  readonly #counts: Float64Array;
  #overflow = 0;
  #infinite = 0;
  #total = 0;
  #maxFiniteMb = 0;

  /**
   * A histogram able to hold distances up to `rangeMb`. `integralSizes` says every distance is a whole
   * number of MB, in which case the default bin width is rounded up to a whole number so that bins and
   * grid points fall on integers.
   */
  static forRange(rangeMb: number, integralSizes: boolean, sizing: HistogramSizing = {}): DistanceHistogram {
    const maxBins = sizing.maxBins ?? DEFAULT_MAX_BINS;
    if (!Number.isInteger(maxBins) || maxBins < 2) throw invalidOption('maxBins', `must be an integer ≥ 2, got ${maxBins}`);
    let width = sizing.binWidthMb;
    if (width === undefined) {
      width = niceCeiling((rangeMb > 0 ? rangeMb : 1) / (maxBins - 1));
      if (integralSizes) width = Math.max(1, width);
    } else if (!(width > 0) || !Number.isFinite(width)) {
      throw invalidOption('binWidthMb', `must be a positive number of MB, got ${width}`);
    }
    return new DistanceHistogram(width, Math.max(1, Math.ceil(rangeMb / width - EDGE_TOLERANCE)) + 1);
  }

  constructor(binWidthMb: number, binCount: number) {
    if (!(binWidthMb > 0) || !Number.isFinite(binWidthMb)) throw invalidOption('binWidthMb', `must be a positive number of MB, got ${binWidthMb}`);
    if (!Number.isInteger(binCount) || binCount < 1) throw invalidOption('binCount', `must be a positive integer, got ${binCount}`);
    this.binWidthMb = binWidthMb;
    this.rangeMb = (binCount - 1) * binWidthMb;
    this.#counts = new Float64Array(binCount);
  }

  get binCount(): number {
    return this.#counts.length;
  }
  /** Sum of all weights added: finite, overflowing and infinite references. */
  get total(): number {
    return this.#total;
  }
  get infinite(): number {
    return this.#infinite;
  }
  get overflow(): number {
    return this.#overflow;
  }
  /** Largest finite distance ever added (not lowered by removals). 0 if none. */
  get maxFiniteMb(): number {
    return this.#maxFiniteMb;
  }

  /** Bin of a distance: INFINITE_BIN for Infinity, binCount for finite distances past the range. */
  binOf(distanceMb: number): number {
    if (distanceMb === Infinity) return INFINITE_BIN;
    if (distanceMb <= 0) return 0;
    const bin = Math.ceil(distanceMb / this.binWidthMb - EDGE_TOLERANCE);
    return bin < this.#counts.length ? bin : this.#counts.length;
  }

  /** Adds a reference at `distanceMb` with `weight`; returns its bin so a sliding window can remove it later. */
  add(distanceMb: number, weight = 1): number {
    if (distanceMb !== Infinity && distanceMb > this.#maxFiniteMb) this.#maxFiniteMb = distanceMb;
    const bin = this.binOf(distanceMb);
    this.addToBin(bin, weight);
    return bin;
  }

  /** Adds `weight` (negative to remove) to a bin as returned by binOf(). */
  addToBin(bin: number, weight: number): void {
    this.#total += weight;
    if (bin === INFINITE_BIN) this.#infinite += weight;
    else if (bin >= this.#counts.length) this.#overflow += weight;
    else this.#counts[bin] += weight;
  }

  /** Weight in bin k (0 ≤ k < binCount). */
  countInBin(bin: number): number {
    return this.#counts[bin];
  }

  /** Running sums: cumulative[k] = weight of the distances ≤ k·binWidthMb. */
  cumulative(): Float64Array {
    const out = new Float64Array(this.#counts.length);
    let sum = 0;
    for (let k = 0; k < out.length; k++) {
      sum += this.#counts[k];
      out[k] = sum;
    }
    return out;
  }

  /** Index of the highest non-empty bin, -1 if every bin is empty (useful when removals lowered the max). */
  highestOccupiedBin(): number {
    for (let k = this.#counts.length - 1; k >= 0; k--) if (this.#counts[k] !== 0) return k;
    return -1;
  }

  /**
   * The last bin entirely at or below `sizeMb` (bins whose upper edge is ≤ sizeMb), clamped to the
   * range; -1 for negative sizes. Exact for multiples of the bin width.
   */
  lastBinAtMost(sizeMb: number): number {
    if (sizeMb < 0) return -1;
    const bin = Math.floor(sizeMb / this.binWidthMb + EDGE_TOLERANCE);
    return Math.min(bin, this.#counts.length - 1);
  }
}

/** The smallest value of the series …, 0.5, 1, 2, 5, 10, 20, … that is ≥ x (x > 0). */
function niceCeiling(x: number): number {
  const decade = 10 ** Math.floor(Math.log10(x));
  for (const mantissa of [1, 2, 5, 10]) {
    // Products like 0.1 × 5 are not exact in binary; tolerate the last bits.
    if (mantissa * decade >= x * (1 - 1e-12)) return mantissa * decade;
  }
  return 10 * decade;
}
