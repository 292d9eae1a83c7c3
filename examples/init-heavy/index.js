// init-heavy — initialisation dominates its cold start: `thaw deploy examples/init-heavy`, then invoke it with {"n": 1000003}.
// init() sieves the primes below 16 M and builds two tables (16 MB of flags + 64 MB of prefix counts,
// ~80 MB); the handler answers "is n prime, how many primes are ≤ n, which is the next prime" from
// them without computing. A cold start pays for init(); warm, snapshot and zygote starts should not.

const LIMIT = 16 * 1024 * 1024;

/** isComposite[n] = 1 for composite n (and 0, 1). */
let isComposite = null;
/** primeCount[n] = π(n), the number of primes ≤ n. */
let primeCount = null;
let builtInMs = 0;

function build() {
  const started = performance.now();
  const composite = new Uint8Array(LIMIT);
  composite[0] = 1;
  composite[1] = 1;
  for (let p = 2; p * p < LIMIT; p++) {
    if (composite[p]) continue;
    for (let m = p * p; m < LIMIT; m += p) composite[m] = 1;
  }
  const counts = new Uint32Array(LIMIT);
  let count = 0;
  for (let n = 0; n < LIMIT; n++) {
    if (!composite[n]) count++;
    counts[n] = count;
  }
  isComposite = composite;
  primeCount = counts;
  builtInMs = performance.now() - started;
}

export function init() {
  build();
}

export async function handler(event) {
  if (!primeCount) build(); // a runtime that skips init() still gets an answer
  const n = Number(event?.n ?? 1_000_003);
  if (!Number.isInteger(n) || n < 0 || n >= LIMIT) {
    throw new RangeError(`n must be an integer from 0 to ${LIMIT - 1}, got ${JSON.stringify(event?.n)}`);
  }
  let next = n + 1;
  while (next < LIMIT && isComposite[next]) next++;
  return {
    n,
    isPrime: isComposite[n] === 0,
    primesUpToN: primeCount[n],
    nextPrime: next < LIMIT ? next : null,
    tableMb: Math.round((isComposite.byteLength + primeCount.byteLength) / 1024 / 1024),
    initMs: Math.round(builtInMs),
  };
}
