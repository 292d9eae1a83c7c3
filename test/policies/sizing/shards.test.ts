import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { ThawError } from '../../../src/core/errors.ts';
import { computeCurves } from '../../../src/policies/sizing/curve.ts';
import { murmur3 } from '../../../src/policies/sizing/hash.ts';
import { exactDistanceHistogram } from '../../../src/policies/sizing/reuse-distance.ts';
import { ShardsSampler, shardsDistanceHistogram } from '../../../src/policies/sizing/shards.ts';
import { randomSizes, traceFromArrays, zipfStream } from './helpers.ts';

describe('murmur3', () => {
  it('matches the reference MurmurHash3_x86_32 test vectors', () => {
    assert.equal(murmur3('', 0), 0);
    assert.equal(murmur3('', 1), 0x514e28b7);
    assert.equal(murmur3('test', 0), 0xba6bd213);
    assert.equal(murmur3('hello', 0), 613153351);
    assert.equal(murmur3('Hello, world!', 0x9747b28c), 0x24884cba);
    assert.equal(murmur3('The quick brown fox jumps over the lazy dog', 0x9747b28c), 0x2fa826cd);
  });

  it('hashes UTF-8 bytes', () => {
    assert.notEqual(murmur3('é'), murmur3('e'));
    assert.equal(murmur3('é'), murmur3('\u00e9'));
  });
});

describe('ShardsSampler', () => {
  const ids = Array.from({ length: 20_000 }, (_, i) => `function-${i}`);

  it('keeps about the requested fraction of keys, the same ones every time', () => {
    const sampler = new ShardsSampler({ rate: 0.1 });
    const kept = ids.filter((id) => sampler.includes(id));
    assert.ok(Math.abs(kept.length / ids.length - 0.1) < 0.01, `kept ${kept.length}`);
    assert.deepEqual(
      ids.filter((id) => new ShardsSampler({ rate: 0.1 }).includes(id)),
      kept,
    );
  });

  it('draws another sample with another seed, and nests samples of one seed by rate', () => {
    const a = new ShardsSampler({ rate: 0.1, seed: 1 });
    const b = new ShardsSampler({ rate: 0.1, seed: 2 });
    const onlyA = ids.filter((id) => a.includes(id) && !b.includes(id));
    assert.ok(onlyA.length > 1000);
    const wider = new ShardsSampler({ rate: 0.3, seed: 1 });
    assert.ok(ids.every((id) => !a.includes(id) || wider.includes(id)));
  });

  it('reports the rate it actually applies, T/P', () => {
    assert.equal(new ShardsSampler({ rate: 0.33, modulus: 10 }).rate, 0.3);
  });

  it('rejects rates outside (0, 1], bad moduli and rates that round to nothing', () => {
    const invalid = (options: ConstructorParameters<typeof ShardsSampler>[0], name: string) =>
      assert.throws(
        () => new ShardsSampler(options),
        (e: unknown) => e instanceof ThawError && e.code === 'ERR_INVALID_OPTION' && e.message.includes(name),
      );
    invalid({ rate: 0 }, 'sampleRate');
    invalid({ rate: 1.5 }, 'sampleRate');
    invalid({ rate: Number.NaN }, 'sampleRate');
    invalid({ modulus: 0 }, 'sampleModulus');
    invalid({ modulus: 2.5 }, 'sampleModulus');
    invalid({ rate: 0.001, modulus: 100 }, 'sampleRate');
    invalid({ seed: -1 }, 'seed');
  });
});

describe('shardsDistanceHistogram', () => {
  it('at rate 1 equals the exact histogram', () => {
    const m = 30;
    const sizesMb = randomSizes(1, m);
    const fn = zipfStream(2, m, 3_000);
    const trace = traceFromArrays({ sizesMb, fn });
    const exact = exactDistanceHistogram(trace);
    const sampled = shardsDistanceHistogram(trace, { rate: 1 });
    assert.equal(sampled.sampledInvocations, fn.length);
    assert.equal(sampled.sampledFunctions, m);
    assert.deepEqual(sampled.histogram.cumulative(), exact.cumulative());
    assert.equal(sampled.histogram.infinite, exact.infinite);
    const curves = computeCurves(trace, { sampleRate: 1 });
    assert.deepEqual(curves.sampled?.hitRatio, curves.exact?.hitRatio);
    assert.deepEqual(curves.sampledError, { meanAbs: 0, maxAbs: 0 });
  });

  it('scales the sampled distances by 1/R', () => {
    // Only f0 and f1 are sampled at this rate and seed: their distances are multiplied by 1/R.
    const ids = ['f0', 'f1', 'f2', 'f3'];
    const sampler = new ShardsSampler({ rate: 0.5, modulus: 2 });
    const kept = ids.filter((id) => sampler.includes(id));
    assert.ok(kept.length >= 2, `need two sampled ids, got ${kept}`);
    const [x, y] = kept.map((id) => ids.indexOf(id));
    const trace = traceFromArrays({ sizesMb: [100, 100, 100, 100], fn: [x, y, x], ids });
    const { histogram, sampledInvocations } = shardsDistanceHistogram(trace, { rate: 0.5, modulus: 2 });
    assert.equal(sampledInvocations, 3);
    assert.equal(histogram.maxFiniteMb, 200);
  });

  it('estimates the exact curve closely on a seeded synthetic stream, more closely at higher rates', () => {
    // 3,000 functions (≈ 300 sampled at R = 0.1), Zipf(0.6) popularity. Sampling whole functions of a
    // skewed popularity is noisy with so few keys, hence the loose bound at 0.1.
    const m = 3_000;
    const sizesMb = randomSizes(3, m, 128, 512);
    const fn = zipfStream(4, m, 150_000, 0.6);
    const trace = traceFromArrays({ sizesMb, fn, batchSize: 4096 });
    const tenth = computeCurves(trace, { sampleRate: 0.1 }).sampledError!;
    assert.ok(tenth.meanAbs < 0.05, `R = 0.1: mean abs error ${tenth.meanAbs}`);
    assert.ok(tenth.maxAbs < 0.1, `R = 0.1: max abs error ${tenth.maxAbs}`);
    const half = computeCurves(trace, { sampleRate: 0.5 }).sampledError!;
    assert.ok(half.meanAbs < 0.01, `R = 0.5: mean abs error ${half.meanAbs}`);
    assert.ok(half.maxAbs < 0.02, `R = 0.5: max abs error ${half.maxAbs}`);
  });

  it('with SHARDS_adj, normalises by the expected sample size R·N', () => {
    const m = 200;
    const trace = traceFromArrays({ sizesMb: randomSizes(7, m), fn: zipfStream(8, m, 10_000) });
    const plain = shardsDistanceHistogram(trace, { rate: 0.1 });
    const adjusted = shardsDistanceHistogram(trace, { rate: 0.1, adjust: true });
    assert.equal(plain.histogram.total, plain.sampledInvocations);
    assert.ok(Math.abs(adjusted.histogram.total - 0.1 * 10_000) < 1e-9);
  });
});
