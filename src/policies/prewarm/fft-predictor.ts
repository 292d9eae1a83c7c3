// IceBreaker's Function Invocation Predictor (Roy et al., ASPLOS'22; docs/techniques.md §1.3): the
// per-minute concurrency of a function over a local window is a signal; remove its trend with a
// least-squares polynomial (degree an option: the survey says quadratic, a re-implementation linear),
// take the discrete Fourier transform of the residual, keep the mean and the strongest harmonics,
// extrapolate them one step past the window (the periodic extension of the kept harmonics), add the
// trend back at that step, clamp at 0.
//
// The transform is fft.js (radix-4, power-of-two sizes). Windows of other lengths (60 samples by
// default) use Bluestein's chirp-z algorithm on top of it: an exact DFT of any length N through
// power-of-two FFTs of size M ≥ 2N − 1. The chirp and its transform are computed once per N.

import FFT from 'fft.js';

export interface PredictorOptions {
  /** Harmonics kept (default 10). */
  harmonics?: number;
  /** Degree of the detrending polynomial (default 2, quadratic; 1 = linear, 0 = mean only). */
  degree?: number;
}

export interface Prediction {
  /** Predicted value at the step after the window, ≥ 0. */
  value: number;
  /** The trend's value at that step. */
  trend: number;
  /** Period (in samples) of the strongest harmonic of the residual, Infinity when there is none. */
  dominantPeriod: number;
}

/** An exact DFT of length n (power of two: fft.js directly; else Bluestein over fft.js). */
export class Dft {
  readonly n: number;
  readonly #m: number;
  readonly #fft: FFT;
  readonly #direct: boolean;
  // Bluestein: chirp w_k = e^{-iπk²/n} (cos, sin parts), and FFT of the conjugate chirp sequence.
  readonly #wRe: Float64Array;
  readonly #wIm: Float64Array;
  readonly #bHat: number[];
  readonly #a: number[];
  readonly #aHat: number[];
  readonly #conv: number[];

  constructor(n: number) {
    if (!Number.isInteger(n) || n < 1) throw new RangeError(`DFT length must be an integer ≥ 1, got ${n}`);
    this.n = n;
    this.#direct = n >= 2 && (n & (n - 1)) === 0;
    let m = 2;
    if (this.#direct) m = n;
    else while (m < 2 * n - 1) m *= 2;
    this.#m = m;
    this.#fft = new FFT(m);
    this.#a = this.#fft.createComplexArray();
    this.#aHat = this.#fft.createComplexArray();
    this.#conv = this.#fft.createComplexArray();
    this.#wRe = new Float64Array(n);
    this.#wIm = new Float64Array(n);
    this.#bHat = this.#fft.createComplexArray();
    if (!this.#direct) {
      const b = this.#fft.createComplexArray();
      for (let k = 0; k < n; k++) {
        // k² mod 2n keeps the angle small and exact for large k.
        const angle = (Math.PI * ((k * k) % (2 * n))) / n;
        this.#wRe[k] = Math.cos(angle);
        this.#wIm[k] = -Math.sin(angle);
        b[2 * k] = this.#wRe[k]!;
        b[2 * k + 1] = -this.#wIm[k]!;
        if (k > 0) {
          b[2 * (m - k)] = this.#wRe[k]!;
          b[2 * (m - k) + 1] = -this.#wIm[k]!;
        }
      }
      this.#fft.transform(this.#bHat, b);
    }
  }

  /** X_k = Σ x_j e^{-2πi jk/n} of a real signal, into re and im (length n each). */
  transform(x: ArrayLike<number>, re: Float64Array, im: Float64Array): void {
    const n = this.n;
    const a = this.#a;
    if (n === 1) {
      re[0] = x[0]!;
      im[0] = 0;
      return;
    }
    if (this.#direct) {
      for (let j = 0; j < n; j++) {
        a[2 * j] = x[j]!;
        a[2 * j + 1] = 0;
      }
      this.#fft.transform(this.#aHat, a);
      for (let k = 0; k < n; k++) {
        re[k] = this.#aHat[2 * k]!;
        im[k] = this.#aHat[2 * k + 1]!;
      }
      return;
    }
    const m = this.#m;
    a.fill(0);
    for (let j = 0; j < n; j++) {
      a[2 * j] = x[j]! * this.#wRe[j]!;
      a[2 * j + 1] = x[j]! * this.#wIm[j]!;
    }
    const aHat = this.#aHat;
    this.#fft.transform(aHat, a);
    const bHat = this.#bHat;
    for (let k = 0; k < m; k++) {
      const ar = aHat[2 * k]!;
      const ai = aHat[2 * k + 1]!;
      const br = bHat[2 * k]!;
      const bi = bHat[2 * k + 1]!;
      a[2 * k] = ar * br - ai * bi;
      a[2 * k + 1] = ar * bi + ai * br;
    }
    this.#fft.inverseTransform(this.#conv, a);
    const c = this.#conv;
    for (let k = 0; k < n; k++) {
      const cr = c[2 * k]!;
      const ci = c[2 * k + 1]!;
      re[k] = cr * this.#wRe[k]! - ci * this.#wIm[k]!;
      im[k] = cr * this.#wIm[k]! + ci * this.#wRe[k]!;
    }
  }
}

/** Least-squares polynomial of `degree` through (t, y[t]), t = 0..n−1; returns its value at `at`. */
export function polynomialTrend(y: ArrayLike<number>, n: number, degree: number, at: number, fitted?: Float64Array): number {
  const d = Math.min(degree, n - 1);
  if (d <= 0) {
    let mean = 0;
    for (let t = 0; t < n; t++) mean += y[t]!;
    mean /= n;
    if (fitted) fitted.fill(mean, 0, n);
    return mean;
  }
  // Normal equations in a centred, scaled time (well conditioned): u = (t − c) / s.
  const c = (n - 1) / 2;
  const s = Math.max(1, c);
  const size = d + 1;
  const A = new Float64Array(size * (size + 1));
  for (let t = 0; t < n; t++) {
    const u = (t - c) / s;
    const powers = [1];
    for (let p = 1; p <= 2 * d; p++) powers.push(powers[p - 1]! * u);
    for (let r = 0; r < size; r++) {
      for (let q = 0; q < size; q++) A[r * (size + 1) + q]! += powers[r + q]!;
      A[r * (size + 1) + size]! += powers[r]! * y[t]!;
    }
  }
  // Gaussian elimination with partial pivoting.
  for (let col = 0; col < size; col++) {
    let pivot = col;
    for (let r = col + 1; r < size; r++) if (Math.abs(A[r * (size + 1) + col]!) > Math.abs(A[pivot * (size + 1) + col]!)) pivot = r;
    if (pivot !== col) for (let q = 0; q <= size; q++) [A[col * (size + 1) + q], A[pivot * (size + 1) + q]] = [A[pivot * (size + 1) + q]!, A[col * (size + 1) + q]!];
    const p = A[col * (size + 1) + col]!;
    if (Math.abs(p) < 1e-12) continue;
    for (let r = 0; r < size; r++) {
      if (r === col) continue;
      const f = A[r * (size + 1) + col]! / p;
      if (f === 0) continue;
      for (let q = col; q <= size; q++) A[r * (size + 1) + q]! -= f * A[col * (size + 1) + q]!;
    }
  }
  const coef = new Float64Array(size);
  for (let r = 0; r < size; r++) {
    const p = A[r * (size + 1) + r]!;
    coef[r] = Math.abs(p) < 1e-12 ? 0 : A[r * (size + 1) + size]! / p;
  }
  const value = (t: number): number => {
    const u = (t - c) / s;
    let v = 0;
    for (let r = size - 1; r >= 0; r--) v = v * u + coef[r]!;
    return v;
  };
  if (fitted) for (let t = 0; t < n; t++) fitted[t] = value(t);
  return value(at);
}

/**
 * The least-squares polynomial fit of a window of length n as a linear operator, computed once per
 * (n, degree): an orthonormal basis q_0..q_d of the polynomials sampled at t = 0..n−1 (Gram-Schmidt on
 * the monomials of a centred, scaled t), so that the fit is Σ (q_j·y) q_j, and the weights h with
 * h·y = the fitted polynomial's value at t = n (the trend one step past the window).
 */
export class TrendPlan {
  readonly basis: Float64Array[] = [];
  readonly extrapolation: Float64Array;

  constructor(
    readonly n: number,
    degree: number,
  ) {
    const d = Math.min(degree, n - 1);
    const c = (n - 1) / 2;
    const s = Math.max(1, c);
    // Columns are polynomials in u, carried as (values at t = 0..n−1, value at t = n).
    const atN: number[] = [];
    for (let k = 0; k <= d; k++) {
      const v = new Float64Array(n);
      for (let t = 0; t < n; t++) v[t] = ((t - c) / s) ** k;
      let vN = ((n - c) / s) ** k;
      for (let pass = 0; pass < 2; pass++) {
        for (let j = 0; j < this.basis.length; j++) {
          const q = this.basis[j]!;
          let dot = 0;
          for (let t = 0; t < n; t++) dot += q[t]! * v[t]!;
          for (let t = 0; t < n; t++) v[t]! -= dot * q[t]!;
          vN -= dot * atN[j]!;
        }
      }
      let norm = 0;
      for (let t = 0; t < n; t++) norm += v[t]! * v[t]!;
      norm = Math.sqrt(norm);
      if (norm < 1e-9) break;
      for (let t = 0; t < n; t++) v[t]! /= norm;
      this.basis.push(v);
      atN.push(vN / norm);
    }
    this.extrapolation = new Float64Array(n);
    for (let j = 0; j < this.basis.length; j++) for (let t = 0; t < n; t++) this.extrapolation[t]! += atN[j]! * this.basis[j]![t]!;
  }

  /** Writes the fit into `fitted` and returns the trend at t = n. */
  fit(y: ArrayLike<number>, fitted: Float64Array): number {
    const n = this.n;
    fitted.fill(0, 0, n);
    let trend = 0;
    for (let t = 0; t < n; t++) trend += this.extrapolation[t]! * y[t]!;
    for (const q of this.basis) {
      let dot = 0;
      for (let t = 0; t < n; t++) dot += q[t]! * y[t]!;
      for (let t = 0; t < n; t++) fitted[t]! += dot * q[t]!;
    }
    return trend;
  }
}

/** The predictor, reusable across functions (buffers and DFT plans are shared; not re-entrant). */
export class FftPredictor {
  readonly harmonics: number;
  readonly degree: number;
  readonly #plans = new Map<number, Dft>();
  readonly #trends = new Map<number, TrendPlan>();
  #fitted = new Float64Array(0);
  #residual = new Float64Array(0);
  #re = new Float64Array(0);
  #im = new Float64Array(0);
  #order: number[] = [];
  #power = new Float64Array(0);

  constructor(options: PredictorOptions = {}) {
    this.harmonics = options.harmonics ?? 10;
    this.degree = options.degree ?? 2;
    if (!Number.isInteger(this.harmonics) || this.harmonics < 0) throw new RangeError(`harmonics must be an integer ≥ 0, got ${this.harmonics}`);
    if (!Number.isInteger(this.degree) || this.degree < 0 || this.degree > 5) throw new RangeError(`degree must be an integer 0..5, got ${this.degree}`);
  }

  /** Predicts the sample after `window` (oldest first). */
  predict(window: ArrayLike<number>, n = window.length): Prediction {
    if (n === 0) return { value: 0, trend: 0, dominantPeriod: Infinity };
    if (this.#fitted.length < n) {
      this.#fitted = new Float64Array(n);
      this.#residual = new Float64Array(n);
      this.#re = new Float64Array(n);
      this.#im = new Float64Array(n);
    }
    let trendPlan = this.#trends.get(n);
    if (!trendPlan) this.#trends.set(n, (trendPlan = new TrendPlan(n, this.degree)));
    const trend = trendPlan.fit(window, this.#fitted);
    const residual = this.#residual;
    for (let t = 0; t < n; t++) residual[t] = window[t]! - this.#fitted[t]!;
    let plan = this.#plans.get(n);
    if (!plan) this.#plans.set(n, (plan = new Dft(n)));
    const re = this.#re;
    const im = this.#im;
    plan.transform(residual, re, im);
    // The strongest harmonics among k = 1..⌊n/2⌋ (each stands for itself and its mirror n − k),
    // selected by insertion into a short sorted list (ties: the lower frequency first).
    const half = Math.floor(n / 2);
    const order = this.#order;
    order.length = 0;
    const power = this.#power.length >= half + 1 ? this.#power : (this.#power = new Float64Array(half + 1));
    const keep = Math.max(1, this.harmonics);
    for (let k = 1; k <= half; k++) {
      const p = (power[k] = re[k]! * re[k]! + im[k]! * im[k]!);
      if (order.length === keep && p <= power[order[keep - 1]!]!) continue;
      let pos = order.length < keep ? order.length : keep - 1;
      if (order.length < keep) order.push(k);
      while (pos > 0 && power[order[pos - 1]!]! < p) {
        order[pos] = order[pos - 1]!;
        pos--;
      }
      order[pos] = k;
    }
    // Periodic extension at t = n: e^{2πik t/n} with t = n.
    const t = n;
    let value = re[0]!;
    const kept = Math.min(this.harmonics, order.length);
    for (let h = 0; h < kept; h++) {
      const k = order[h]!;
      const angle = (2 * Math.PI * k * t) / n;
      const part = re[k]! * Math.cos(angle) - im[k]! * Math.sin(angle);
      value += 2 * k === n ? part : 2 * part;
    }
    value /= n;
    const strongest = order[0];
    const dominantPeriod = strongest !== undefined && re[strongest]! ** 2 + im[strongest]! ** 2 > 1e-18 ? n / strongest : Infinity;
    return { value: Math.max(0, value + trend), trend, dominantPeriod };
  }
}
