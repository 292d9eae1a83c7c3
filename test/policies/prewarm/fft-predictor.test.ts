// IceBreaker's function invocation predictor: the DFT (fft.js, Bluestein for other lengths) against
// a direct computation, the detrending fit, and prediction on a synthetic periodic signal with trend.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Dft, FftPredictor, polynomialTrend, TrendPlan } from '../../../src/policies/prewarm/fft-predictor.ts';
import { seededRandom } from '../../../src/core/random.ts';

function naiveDft(x: number[]): { re: number[]; im: number[] } {
  const n = x.length;
  const re: number[] = [];
  const im: number[] = [];
  for (let k = 0; k < n; k++) {
    let r = 0;
    let i = 0;
    for (let j = 0; j < n; j++) {
      r += x[j]! * Math.cos((-2 * Math.PI * j * k) / n);
      i += x[j]! * Math.sin((-2 * Math.PI * j * k) / n);
    }
    re.push(r);
    im.push(i);
  }
  return { re, im };
}

describe('DFT', () => {
  for (const n of [1, 2, 7, 16, 60, 64, 100]) {
    it(`equals the direct DFT for n = ${n}`, () => {
      const rnd = seededRandom(n);
      const x = Array.from({ length: n }, () => rnd() * 10 - 3);
      const re = new Float64Array(n);
      const im = new Float64Array(n);
      new Dft(n).transform(x, re, im);
      const want = naiveDft(x);
      for (let k = 0; k < n; k++) {
        assert.ok(Math.abs(re[k]! - want.re[k]!) < 1e-9, `re[${k}]`);
        assert.ok(Math.abs(im[k]! - want.im[k]!) < 1e-9, `im[${k}]`);
      }
    });
  }
});

describe('detrending', () => {
  it('fits a quadratic exactly and extrapolates it one step', () => {
    const y = Array.from({ length: 60 }, (_, t) => 0.02 * t * t - 0.5 * t + 3);
    const fitted = new Float64Array(60);
    const next = new TrendPlan(60, 2).fit(y, fitted);
    assert.ok(Math.abs(next - (0.02 * 3600 - 30 + 3)) < 1e-9);
    for (let t = 0; t < 60; t++) assert.ok(Math.abs(fitted[t]! - y[t]!) < 1e-9);
    // The plan equals solving the normal equations.
    assert.ok(Math.abs(polynomialTrend(y, 60, 2, 60) - next) < 1e-9);
  });

  it('a linear fit of a quadratic is its least-squares line', () => {
    const y = Array.from({ length: 10 }, (_, t) => t * t);
    assert.ok(Math.abs(new TrendPlan(10, 1).fit(y, new Float64Array(10)) - polynomialTrend(y, 10, 1, 10)) < 1e-9);
  });
});

describe('FFT predictor', () => {
  // Per-minute concurrency: a 12-minute cycle (and its second harmonic) on a rising trend, plus noise.
  const rnd = seededRandom(42);
  const signal = Array.from({ length: 240 }, (_, t) => 6 + 0.03 * t + 4 * Math.sin((2 * Math.PI * t) / 12) + 1.5 * Math.cos((2 * Math.PI * t) / 6) + (rnd() - 0.5) * 0.4);

  it('recovers the period of the strongest harmonic', () => {
    const p = new FftPredictor();
    assert.equal(p.predict(signal.slice(0, 60)).dominantPeriod, 12);
    assert.equal(new FftPredictor({ degree: 1 }).predict(signal.slice(100, 160)).dominantPeriod, 12);
  });

  for (const degree of [2, 1]) {
    it(`beats a last-value predictor one step ahead (degree ${degree})`, () => {
      const p = new FftPredictor({ degree, harmonics: 10 });
      let fftError = 0;
      let lastError = 0;
      for (let t = 60; t < 240; t++) {
        const window = signal.slice(t - 60, t);
        fftError += Math.abs(p.predict(window).value - signal[t]!);
        lastError += Math.abs(window[59]! - signal[t]!);
      }
      fftError /= 180;
      lastError /= 180;
      assert.ok(fftError < lastError / 2, `FFT MAE ${fftError.toFixed(3)} vs last value ${lastError.toFixed(3)}`);
    });
  }

  it('clamps at 0 and predicts 0 for an empty window', () => {
    const p = new FftPredictor({ degree: 1 });
    const falling = Array.from({ length: 60 }, (_, t) => Math.max(0, 30 - t));
    assert.ok(p.predict(falling).value >= 0);
    assert.equal(p.predict([], 0).value, 0);
  });

  it('with 0 harmonics it is the trend alone', () => {
    const p = new FftPredictor({ harmonics: 0, degree: 1 });
    const y = Array.from({ length: 60 }, (_, t) => 2 + t);
    assert.ok(Math.abs(p.predict(y).value - 62) < 1e-9);
  });
});
