// Seeded pseudo-random numbers, so every "random" choice in thaw (synthetic traces, jittered
// arrivals, sampling) can be replayed exactly from a seed. Math.random() cannot be seeded.
//
// Generator: xoshiro128** (Blackman & Vigna), 128 bits of state, period 2^128 − 1, good statistical
// quality and only 32-bit integer operations, which V8 runs fast. Its state is filled from the seed
// with splitmix32, as the authors recommend, so nearby seeds (1, 2, 3, ...) give unrelated streams.

/** One step of splitmix32: a well-mixed 32-bit value from a 32-bit counter. */
function splitmix32(state: number): number {
  let z = (state + 0x9e3779b9) | 0;
  z = Math.imul(z ^ (z >>> 16), 0x21f0aaad);
  z = Math.imul(z ^ (z >>> 15), 0x735a2d97);
  return (z ^ (z >>> 15)) >>> 0;
}

/** Folds any finite number (integers up to 2^53 keep all their bits) into 32 bits. */
function foldSeed(seed: number): number {
  if (!Number.isFinite(seed)) throw new RangeError(`seed must be a finite number, got ${seed}`);
  const integral = Math.trunc(seed);
  const low = integral >>> 0;
  const high = Math.floor(integral / 0x1_0000_0000) >>> 0;
  return (low ^ splitmix32(high)) >>> 0;
}

/**
 * A deterministic generator of uniform numbers in [0, 1) with 32 bits of resolution. The same seed
 * always gives the same sequence. Non-integer seeds are truncated.
 */
export function seededRandom(seed: number): () => number {
  let counter = foldSeed(seed);
  const next = (): number => {
    counter = (counter + 0x9e3779b9) | 0;
    return splitmix32(counter);
  };
  let s0 = next();
  let s1 = next();
  let s2 = next();
  let s3 = next();
  // The all-zero state is the one state xoshiro cannot leave; splitmix32 practically never yields
  // it, but guard anyway.
  if ((s0 | s1 | s2 | s3) === 0) s0 = 1;

  return () => {
    const product = Math.imul(s1, 5);
    const result = Math.imul((product << 7) | (product >>> 25), 9) >>> 0;
    const t = s1 << 9;
    s2 ^= s0;
    s3 ^= s1;
    s1 ^= s2;
    s0 ^= s3;
    s2 ^= t;
    s3 = (s3 << 11) | (s3 >>> 21);
    return result / 0x1_0000_0000;
  };
}

/**
 * A seed for an independent sub-stream (e.g. one per function of a synthetic trace), so adding or
 * removing one stream does not shift the numbers every other stream sees.
 */
export function deriveSeed(seed: number, stream: number): number {
  return splitmix32((foldSeed(seed) ^ Math.imul(splitmix32(stream >>> 0), 0x85ebca6b)) | 0);
}
