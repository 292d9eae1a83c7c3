// Invocation ids: ULIDs (26 characters of Crockford base32: 48 bits of epoch ms, then 80 random
// bits). They sort by creation time as plain strings, so "newest first" is ORDER BY id DESC, and they
// are monotonic within one process: ids made in the same millisecond (or after the clock stepped
// back) increment the previous random part instead of drawing a new one.
//
// One is made per invocation, on the warm path: the random part is kept as its 16 base-32 digits
// (incremented digit by digit, no BigInt), and random bytes are drawn 64 ids' worth at a time.

import { randomBytes } from 'node:crypto';

const ALPHABET = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';
const RANDOM_DIGITS = 16; // 80 bits
const RANDOM_BYTES = 10;
const POOL_IDS = 64;

export class IdGenerator {
  #lastTime = -1;
  /** The last id's random part, base-32 digits, most significant first. */
  readonly #digits = new Uint8Array(RANDOM_DIGITS);
  readonly #random: (bytes: number) => Buffer;
  #pool: Buffer = Buffer.alloc(0);
  #poolAt = 0;

  constructor(random: (bytes: number) => Buffer = randomBytes) {
    this.#random = random;
  }

  next(nowMs: number): string {
    let time = Math.floor(nowMs);
    if (time <= this.#lastTime) {
      time = this.#lastTime;
      if (!increment(this.#digits)) time = ++this.#lastTime; // 2^80 ids in one ms: borrow the next ms
    } else {
      this.#lastTime = time;
      this.#draw();
    }
    let out = encodeTime(time);
    for (let i = 0; i < RANDOM_DIGITS; i++) out += ALPHABET[this.#digits[i]!];
    return out;
  }

  /** A fresh random part, its top bit clear (room to increment). */
  #draw(): void {
    if (this.#poolAt + RANDOM_BYTES > this.#pool.length) {
      this.#pool = this.#random(RANDOM_BYTES * POOL_IDS);
      this.#poolAt = 0;
    }
    const bytes = this.#pool;
    let at = this.#poolAt;
    this.#poolAt += RANDOM_BYTES;
    // 10 bytes = 16 digits of 5 bits: two groups of 5 bytes = 8 digits each.
    for (let group = 0; group < 2; group++, at += 5) {
      const hi = bytes[at]!;
      const lo = bytes.readUInt32BE(at + 1); // with hi: 40 bits
      const d = group * 8;
      this.#digits[d] = hi >> 3;
      this.#digits[d + 1] = ((hi & 7) << 2) | (lo >>> 30);
      for (let k = 0; k < 6; k++) this.#digits[d + 2 + k] = (lo >>> (25 - 5 * k)) & 31;
    }
    this.#digits[0]! &= 15;
  }
}

/** Adds one to base-32 digits; false when they wrapped around to zero. */
function increment(digits: Uint8Array): boolean {
  for (let i = digits.length - 1; i >= 0; i--) {
    if (digits[i]! < 31) {
      digits[i]!++;
      return true;
    }
    digits[i] = 0;
  }
  return false;
}

/** 48 bits of epoch ms as 10 base-32 digits (exact: below 2^53). */
function encodeTime(time: number): string {
  let out = '';
  for (let i = 0; i < 10; i++) {
    out = ALPHABET[time % 32] + out;
    time = Math.floor(time / 32);
  }
  return out;
}

/** The creation time (epoch ms) encoded in an id. */
export function idTime(id: string): number {
  let t = 0;
  for (let i = 0; i < 10; i++) t = t * 32 + ALPHABET.indexOf(id[i]!);
  return t;
}
