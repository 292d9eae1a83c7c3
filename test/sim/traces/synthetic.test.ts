import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ThawError } from '../../../src/core/errors.ts';
import { deriveSeed, seededRandom } from '../../../src/core/random.ts';
import { parseSyntheticSpec, syntheticTrace, type SyntheticSpec } from '../../../src/sim/traces/synthetic.ts';
import { collect } from './helpers.ts';

const HOUR = 60 * 60_000;

const isInvalidOption = (error: unknown): boolean => error instanceof ThawError && error.code === 'ERR_INVALID_OPTION';

describe('seededRandom', () => {
  it('is deterministic per seed and different across seeds', () => {
    const take = (seed: number): number[] => Array.from({ length: 5 }, seededRandom(seed));
    assert.deepEqual(take(1), take(1));
    assert.notDeepEqual(take(1), take(2));
    assert.notDeepEqual(take(0), take(2 ** 32)); // the high bits of a seed matter too
    assert.notEqual(deriveSeed(1, 0), deriveSeed(1, 1));
    assert.equal(deriveSeed(5, 3), deriveSeed(5, 3));
  });

  it('draws uniformly from [0, 1)', () => {
    const random = seededRandom(42);
    const bins = new Array<number>(10).fill(0);
    let sum = 0;
    const n = 100_000;
    for (let i = 0; i < n; i++) {
      const u = random();
      assert.ok(u >= 0 && u < 1);
      bins[Math.floor(u * 10)]!++;
      sum += u;
    }
    assert.ok(Math.abs(sum / n - 0.5) < 0.005);
    for (const count of bins) assert.ok(Math.abs(count - n / 10) < 500, `bin count ${count}`);
  });
});

describe('syntheticTrace', () => {
  const spec: SyntheticSpec = {
    seed: 3,
    durationMs: HOUR,
    groups: [
      { count: 20, pattern: { kind: 'poisson', ratePerMin: 3 }, memoryMb: { min: 64, max: 512 }, warmMs: { min: 10, max: 100 }, coldStartMs: 800 },
      { count: 5, pattern: { kind: 'periodic', periodMs: 60_000, jitterMs: 1000 } },
      { count: 5, pattern: { kind: 'bursty', onRatePerMin: 60, offRatePerMin: 0, meanOnMs: 60_000, meanOffMs: 240_000 } },
      { count: 5, pattern: { kind: 'diurnal', meanRatePerMin: 4, amplitude: 1, periodMs: HOUR } },
    ],
  };

  it('gives the same functions and arrivals for the same seed, and others for another seed', () => {
    const a = syntheticTrace(spec);
    const b = syntheticTrace(spec);
    assert.deepEqual(a.functions, b.functions);
    assert.deepEqual(collect(a), collect(b));
    assert.deepEqual(collect(a), collect(a)); // each pass starts again
    const other = syntheticTrace({ ...spec, seed: 4 });
    assert.notDeepEqual(collect(other).time, collect(a).time);
  });

  it('streams invocationCount arrivals in time order within the span', () => {
    const trace = syntheticTrace({ ...spec, batchSize: 100 });
    const { fn, time } = collect(trace);
    assert.equal(time.length, trace.invocationCount);
    for (let i = 1; i < time.length; i++) assert.ok(time[i]! >= time[i - 1]!);
    assert.ok(time[0]! >= 0 && time.at(-1)! < HOUR);
    assert.ok(fn.every((f) => f >= 0 && f < 35));
    assert.equal(trace.spanMs, HOUR);
  });

  it('draws parameters from ranges and uses defaults', () => {
    const { functions } = syntheticTrace(spec);
    assert.equal(functions.length, 35);
    assert.deepEqual(functions.map((f) => f.index), functions.map((_, i) => i));
    assert.equal(new Set(functions.map((f) => f.id)).size, 35);
    for (const f of functions.slice(0, 20)) {
      assert.ok(f.memoryMb >= 64 && f.memoryMb <= 512 && f.warmMs >= 10 && f.warmMs <= 100 && f.coldStartMs === 800);
    }
    assert.ok(new Set(functions.slice(0, 20).map((f) => f.memoryMb)).size > 10, 'each function draws its own memory');
    assert.deepEqual(functions[20], { index: 20, id: 'g1-periodic-0', app: 'g1-periodic-0', memoryMb: 256, warmMs: 100, coldStartMs: 1000 });
  });

  it('produces roughly the requested rates', () => {
    const count = (group: SyntheticSpec['groups'][number], durationMs = HOUR): number => syntheticTrace({ seed: 11, durationMs, groups: [group] }).invocationCount;
    // Poisson: 200 functions × 2/min × 60 min = 24,000 (σ ≈ 155).
    assert.ok(Math.abs(count({ count: 200, pattern: { kind: 'poisson', ratePerMin: 2 } }) - 24_000) < 800);
    // Periodic: one per minute each, the last possibly pushed past the end by jitter.
    const periodic = count({ count: 50, pattern: { kind: 'periodic', periodMs: 60_000, jitterMs: 5000 } });
    assert.ok(periodic >= 59 * 50 && periodic <= 60 * 50, `periodic ${periodic}`);
    // Bursty: 60/min on for 1/5 of the time → 12/min on average; 100 functions × 10 h ≈ 720,000 / 10.
    const bursty = count({ count: 100, pattern: { kind: 'bursty', onRatePerMin: 60, offRatePerMin: 0, meanOnMs: 60_000, meanOffMs: 240_000 } }, 10 * HOUR);
    assert.ok(Math.abs(bursty / (100 * 600) - 12) < 1.2, `bursty mean rate ${bursty / (100 * 600)}`);
    // Diurnal over a whole period averages the mean rate; the first half of the sine has more.
    const diurnal = syntheticTrace({ seed: 5, durationMs: HOUR, groups: [{ count: 100, pattern: { kind: 'diurnal', meanRatePerMin: 10, amplitude: 0.8, periodMs: HOUR } }] });
    assert.ok(Math.abs(diurnal.invocationCount - 60_000) < 1500, `diurnal ${diurnal.invocationCount}`);
    const firstHalf = collect(diurnal).time.filter((t) => t < HOUR / 2).length;
    // Expected share of the first half: (1/2 + 0.8/π) ≈ 0.755.
    assert.ok(Math.abs(firstHalf / diurnal.invocationCount - (0.5 + 0.8 / Math.PI)) < 0.02);
  });

  it('refuses invalid specs', () => {
    const bad: Array<Partial<SyntheticSpec>> = [
      { durationMs: 0 },
      { groups: [] },
      { groups: [{ count: 1.5, pattern: { kind: 'poisson', ratePerMin: 1 } }] },
      { groups: [{ count: 1, pattern: { kind: 'poisson', ratePerMin: -1 } }] },
      { groups: [{ count: 1, pattern: { kind: 'periodic', periodMs: 1000, jitterMs: 2000 } }] },
      { groups: [{ count: 1, pattern: { kind: 'diurnal', meanRatePerMin: 1, amplitude: 1.5 } }] },
      { groups: [{ count: 1, pattern: { kind: 'poisson', ratePerMin: 1 }, memoryMb: { min: 10, max: 5 } }] },
      { groups: [{ count: 1, pattern: { kind: 'sawtooth' } as never }] },
    ];
    for (const change of bad) assert.throws(() => syntheticTrace({ ...spec, ...change }), isInvalidOption, JSON.stringify(change));
  });
});

describe('parseSyntheticSpec', () => {
  it('reads the compact form with its defaults', () => {
    assert.deepEqual(parseSyntheticSpec('synthetic:poisson:fns=50,rate=2,minutes=60,seed=1'), {
      seed: 1,
      durationMs: HOUR,
      name: 'synthetic:poisson:fns=50,rate=2,minutes=60,seed=1',
      groups: [{ count: 50, pattern: { kind: 'poisson', ratePerMin: 2 }, memoryMb: 256, warmMs: 100, coldStartMs: 1000 }],
    });
  });

  it('reads several groups, ranges and every pattern', () => {
    const spec = parseSyntheticSpec(
      'synthetic:poisson:fns=4,rate=0.5,mem=64..512,warm=5..50;periodic:periodMs=60000,jitterMs=500,minutes=120;' +
        'bursty:fns=2,onRate=30,offRate=0.1,onMs=1000,offMs=9000,seed=9;diurnal:rate=3,amplitude=0.5,cold=200',
    );
    assert.equal(spec.seed, 9);
    assert.equal(spec.durationMs, 2 * HOUR);
    assert.deepEqual(
      spec.groups.map((g) => [g.count, g.pattern, g.memoryMb, g.warmMs, g.coldStartMs]),
      [
        [4, { kind: 'poisson', ratePerMin: 0.5 }, { min: 64, max: 512 }, { min: 5, max: 50 }, 1000],
        [10, { kind: 'periodic', periodMs: 60_000, jitterMs: 500 }, 256, 100, 1000],
        [2, { kind: 'bursty', onRatePerMin: 30, offRatePerMin: 0.1, meanOnMs: 1000, meanOffMs: 9000 }, 256, 100, 1000],
        [10, { kind: 'diurnal', meanRatePerMin: 3, amplitude: 0.5, periodMs: 24 * HOUR }, 256, 100, 200],
      ],
    );
    assert.equal(syntheticTrace(spec).functions.length, 26);
  });

  it('says what is wrong with a bad string', () => {
    const cases: Array<[string, RegExp]> = [
      ['synthetic:sawtooth:fns=1', /unknown pattern 'sawtooth'/],
      ['synthetic:poisson:fns=1', /needs rate=/],
      ['synthetic:poisson:rate=1,speed=2', /unknown key 'speed'/],
      ['synthetic:poisson:rate=fast', /rate: 'fast' is not a number/],
      ['synthetic:poisson:rate=1..2', /a range is not allowed/],
      ['synthetic:poisson:rate', /'rate' is not key=value/],
      ['synthetic:poisson:rate=1,seed=1;periodic:periodMs=1000,seed=2', /'seed' is given twice/],
      ['synthetic:poisson:rate=1,minutes=0', /durationMs/],
    ];
    for (const [text, message] of cases) {
      assert.throws(() => parseSyntheticSpec(text), (error: unknown) => isInvalidOption(error) && message.test((error as Error).message), text);
    }
  });
});
