// Invocation ids: ULIDs (26 characters of Crockford base32: 48 bits of epoch ms, then 80 random
// bits). They sort by creation time as plain strings, so "newest first" is ORDER BY id DESC, and they
// are monotonic within one process: ids made in the same millisecond (or after the clock stepped
// back) increment the previous random part instead of drawing a new one.

import { randomBytes } from 'node:crypto';

const ALPHABET = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';
const RANDOM_MAX = (1n << 80n) - 1n;

export class IdGenerator {
  #lastTime = -1;
  #lastRandom = 0n;
  readonly #random: (bytes: number) => Buffer;

  constructor(random: (bytes: number) => Buffer = randomBytes) {
    this.#random = random;
  }

  next(nowMs: number): string {
    let time = Math.floor(nowMs);
    if (time <= this.#lastTime) {
      time = this.#lastTime;
      this.#lastRandom = this.#lastRandom === RANDOM_MAX ? 0n : this.#lastRandom + 1n;
      if (this.#lastRandom === 0n) time = ++this.#lastTime; // 2^80 ids in one ms: borrow the next ms
    } else {
      this.#lastTime = time;
      this.#lastRandom = BigInt('0x' + this.#random(10).toString('hex')) >> 1n; // top bit clear: room to increment
    }
    return encode(BigInt(time), 10) + encode(this.#lastRandom, 16);
  }
}

function encode(value: bigint, chars: number): string {
  let out = '';
  for (let i = 0; i < chars; i++) {
    out = ALPHABET[Number(value & 31n)] + out;
    value >>= 5n;
  }
  return out;
}

/** The creation time (epoch ms) encoded in an id. */
export function idTime(id: string): number {
  let t = 0;
  for (let i = 0; i < 10; i++) t = t * 32 + ALPHABET.indexOf(id[i]!);
  return t;
}
