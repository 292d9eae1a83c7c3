// Golden traces for Serverless in the Wild's hybrid histogram: the windows it derives from known idle
// times (worked out in comments), the three CV readings, the time-series mode, and the pre-warm it
// schedules when the simulator runs it.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { HybridHistogramPolicy } from '../../../src/policies/keepalive/hybrid-histogram.ts';
import { run, trace } from '../../helpers/sim.ts';

const MIN = 60_000;

describe('hybrid histogram: windows', () => {
  it('too few idle times: no pre-warm, keep alive for the whole 4 h range', () => {
    const p = new HybridHistogramPolicy();
    for (let i = 0; i < 9; i++) p.recordIdle('app', 3 * MIN);
    assert.deepEqual(p.windowsOf('app'), { mode: 'unrepresentative', prewarmMs: 0, keepAliveMs: 4 * 60 * MIN });
  });

  it('a concentrated histogram: pre-warm at the 5th percentile − 10 %, keep alive to the 99th + 10 %', () => {
    // 100 idle times: 10 in bin 3 (3.0–3.99 min), 85 in bin 5, 5 in bin 9.
    // 5th percentile: 5 of 100 reached in bin 3 → pre-warm = 3 min × 0.9 = 162 s.
    // 99th percentile: 99 reached only in bin 9 → keep-alive = (9 + 1) min × 1.1 = 660 s.
    const p = new HybridHistogramPolicy();
    for (let i = 0; i < 10; i++) p.recordIdle('app', 3 * MIN + 1000);
    for (let i = 0; i < 85; i++) p.recordIdle('app', 5 * MIN + 30_000);
    for (let i = 0; i < 5; i++) p.recordIdle('app', 9 * MIN);
    const w = p.windowsOf('app');
    assert.equal(w.mode, 'histogram');
    assert.equal(w.prewarmMs, 162_000);
    assert.ok(Math.abs(w.keepAliveMs - 660_000) < 1e-6);
  });

  it('head at 0: do not unload (pre-warm 0), keep alive for the 99th percentile + 10 %', () => {
    // 50 idle times under a minute, 50 in bin 1: 5th in bin 0 → 0; 99th in bin 1 → 2 min × 1.1.
    const p = new HybridHistogramPolicy();
    for (let i = 0; i < 50; i++) p.recordIdle('app', 20_000);
    for (let i = 0; i < 50; i++) p.recordIdle('app', 80_000);
    const w = p.windowsOf('app');
    assert.equal(w.prewarmMs, 0);
    assert.ok(Math.abs(w.keepAliveMs - 132_000) < 1e-6);
  });

  it('percentiles, margins and range are options', () => {
    const p = new HybridHistogramPolicy({ headPercentile: 50, tailPercentile: 95, headMargin: 0, tailMargin: 0.5, rangeMs: 60 * MIN, binMs: 2 * MIN, cvThreshold: 1 });
    // 0.5 .. 19.5 min, bins of 2 min: 2 per bin 0..9 of 30 → CV of the counts √(30/10 − 1) ≈ 1.41 ≥ 1.
    for (let i = 0; i < 20; i++) p.recordIdle('app', (i + 0.5) * MIN);
    const w = p.windowsOf('app');
    // 50th: 10 of 20 reached at bin 4 → 4 × 2 min = 8 min. 95th: 19 reached at bin 9 → 10 × 2 min × 1.5 = 30 min.
    assert.equal(w.mode, 'histogram');
    assert.equal(w.prewarmMs, 8 * MIN);
    assert.equal(w.keepAliveMs, 30 * MIN);
  });

  it('many idle times beyond the range: the time-series model (pre-warm 0.85 × prediction, keep 2 × 0.15 ×)', () => {
    // 12 idle times of exactly 5 h: the smoothed log idle time is log(5 h), prediction 5 h.
    const p = new HybridHistogramPolicy();
    for (let i = 0; i < 12; i++) p.recordIdle('app', 5 * 60 * MIN);
    const w = p.windowsOf('app');
    assert.equal(w.mode, 'time-series');
    assert.ok(Math.abs(w.prewarmMs - 0.85 * 300 * MIN) < 1e-3);
    assert.ok(Math.abs(w.keepAliveMs - w.prewarmMs - 0.3 * 300 * MIN) < 1e-3);
  });
});

describe('hybrid histogram: the three CV readings', () => {
  // Idle times 1, 2, ..., 20 min (one per bin, bins 1..20 of 240): a flat-ish histogram.
  const flat = Array.from({ length: 20 }, (_, i) => (i + 1) * MIN + 1);
  // 20 idle times all of 7 min: everything in one bin.
  const peaked = Array.from({ length: 20 }, () => 7 * MIN + 1);
  const cv = (reading: 'bin-counts' | 'idle-times' | 'variance-mean', idles: number[]) => {
    const p = new HybridHistogramPolicy({ cvReading: reading });
    for (const x of idles) p.recordIdle('a', x);
    return { value: p.cvOf('a'), mode: p.windowsOf('a').mode };
  };

  it('bin counts (default): one full bin of 240 gives CV √239 ≈ 15.5, representative', () => {
    const r = cv('bin-counts', peaked);
    assert.ok(Math.abs(r.value - Math.sqrt(239)) < 1e-9);
    assert.equal(r.mode, 'histogram');
    // 20 bins of one count: mean 20/240, variance (20·(1−m)² + 220·m²)/240 → CV = √(240/20 − 1) = √11 ≈ 3.3.
    const f = cv('bin-counts', flat);
    assert.ok(Math.abs(f.value - Math.sqrt(11)) < 1e-9);
  });

  it('idle times: CV of the values themselves (regular apps read as 0, so unrepresentative)', () => {
    const r = cv('idle-times', peaked);
    assert.equal(r.value, 0);
    assert.equal(r.mode, 'unrepresentative');
    // 1..20 min (+1 ms): std/mean of an arithmetic sequence = √((n²−1)/12) / ((n+1)/2) ≈ 0.55.
    const f = cv('idle-times', flat);
    assert.ok(Math.abs(f.value - Math.sqrt((400 - 1) / 12) / 10.5) < 1e-3);
    assert.equal(f.mode, 'unrepresentative');
  });

  it('variance / mean of the bin counts', () => {
    // One full bin: mean 20/240, variance = 20²·239/240² → variance/mean = 20·239/240 ≈ 19.9.
    const r = cv('variance-mean', peaked);
    assert.ok(Math.abs(r.value - (20 * 239) / 240) < 1e-9);
    assert.equal(r.mode, 'histogram');
    // 20 bins of 1: variance = m(1−m) → variance/mean = 1 − 20/240 ≈ 0.92 < 2: unrepresentative.
    const f = cv('variance-mean', flat);
    assert.ok(Math.abs(f.value - (1 - 20 / 240)) < 1e-9);
    assert.equal(f.mode, 'unrepresentative');
  });
});

describe('hybrid histogram in the simulator', () => {
  it('unloads after the invocation and pre-warms before the next one', () => {
    // A is invoked every 10 min (idle ≈ 10 min − 1 s): after 10 idle times the histogram is
    // representative with head and tail in bin 9: pre-warm 9 × 0.9 = 8.1 min after the end, keep
    // alive to 10 × 1.1 = 11 min. From then on every invocation finds the pre-warmed instance.
    const fns = [{ id: 'A', memoryMb: 100, warmMs: 1000, coldStartMs: 500 }];
    const arrivals: [string, number][] = Array.from({ length: 20 }, (_, i) => ['A', i * 10 * MIN]);
    const r = run(new HybridHistogramPolicy(), trace(fns, arrivals, 200 * MIN), 1000);
    // Arrivals 0..10 warm via the 4 h keep-alive (first cold); the windows switch after the 11th
    // invocation (10 idle times) ends, then A is unloaded and pre-warmed each time.
    assert.equal(r.outcomes[0], 'A:cold');
    assert.deepEqual(r.outcomes.slice(1), Array(19).fill('A:warm'));
    const s = r.result.summary;
    assert.ok(s.prewarm && s.prewarm.started >= 8, `pre-warms: ${JSON.stringify(s.prewarm)}`);
    assert.ok(r.removals.some((x) => x.startsWith('A:expired')), 'unloaded after invocations');
    // Memory held idle is far below keeping the instance for the whole run.
    assert.ok(s.wastedMemoryGBs < (100 / 1024) * 200 * 60 * 0.6);
  });
});
