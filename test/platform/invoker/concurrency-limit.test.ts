// The adaptive concurrency limit, fed delays from a model of a machine (no clock, no processes):
// a CPU-bound function's delay grows with the invocations running, an I/O-bound one's does not.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { AdaptiveConcurrencyLimit } from '../../../src/platform/invoker/concurrency-limit.ts';

const MAX = 64;

/**
 * Closed-loop load of `clients` on the limiter for `samples` invocations: as many run as the limit
 * allows, and each one's delay is `delayOf(running)`. The limits seen after each window's end.
 */
function drive(limit: AdaptiveConcurrencyLimit, clients: number, samples: number, delayOf: (running: number) => number): number[] {
  const seen: number[] = [];
  for (let i = 0; i < samples; i++) {
    const running = Math.min(clients, limit.limit(MAX));
    const before = limit.limit(MAX);
    limit.observe(delayOf(running), running, MAX);
    if (limit.limit(MAX) !== before || i === samples - 1) seen.push(limit.limit(MAX));
  }
  return seen;
}

/** 2 CPUs: up to 2 run at once at the no-load delay; past that each waits its share of the CPUs. */
const cpuBound = (running: number) => 0.1 * Math.max(1, running / 2);
const ioBound = () => 0.1;

describe('AdaptiveConcurrencyLimit', () => {
  it('starts at the maximum: a burst before any samples scales out as without a limit', () => {
    assert.equal(new AdaptiveConcurrencyLimit(32, 2).limit(32), 32);
    assert.equal(new AdaptiveConcurrencyLimit(32, 2).limit(10), 10, 'never above the function\'s maxConcurrency');
  });

  it('holds a CPU-bound function at saturation to a few invocations, never under the least', () => {
    const limit = new AdaptiveConcurrencyLimit(MAX, 2);
    const seen = drive(limit, 32, 20_000, cpuBound);
    const settled = seen.slice(-20);
    assert.ok(Math.max(...settled) <= 12 && Math.min(...settled) >= 2, `settled between 2 and 12, saw ${settled.join(' ')}`);
    assert.ok(Math.min(...seen) >= 2);
  });

  it('leaves an I/O-bound function (its delay does not grow) at its maximum', () => {
    const limit = new AdaptiveConcurrencyLimit(MAX, 2);
    drive(limit, 64, 20_000, ioBound);
    assert.equal(limit.limit(MAX), MAX);
  });

  it('grows back, one per window, once the delay no longer grows with the load', () => {
    const limit = new AdaptiveConcurrencyLimit(MAX, 2);
    drive(limit, 32, 5_000, cpuBound);
    const low = limit.limit(MAX);
    assert.ok(low < 16);
    drive(limit, 64, 20_000, ioBound);
    assert.equal(limit.limit(MAX), MAX);
  });

  it('does not grow in windows that left room (a light load says nothing about more)', () => {
    const limit = new AdaptiveConcurrencyLimit(MAX, 2);
    drive(limit, 32, 5_000, cpuBound);
    const low = limit.limit(MAX);
    // (The window the load changed in may still grow it once: its first samples used the limit.)
    drive(limit, 1, 1_000, ioBound);
    const light = limit.limit(MAX);
    assert.ok(light <= low + 1);
    drive(limit, 1, 10_000, ioBound);
    assert.equal(limit.limit(MAX), light);
  });

  it('ignores delays that are not ones (a negative, NaN or infinite sample)', () => {
    const limit = new AdaptiveConcurrencyLimit(8, 2);
    for (let i = 0; i < 100; i++) {
      limit.observe(Number.NaN, 8, 8);
      limit.observe(-1, 8, 8);
      limit.observe(Infinity, 8, 8);
    }
    assert.equal(limit.limit(8), 8);
  });

  it('refuses a least limit that is not a positive integer', () => {
    assert.throws(() => new AdaptiveConcurrencyLimit(8, 0), /positive integer/);
    assert.throws(() => new AdaptiveConcurrencyLimit(8, 1.5), /positive integer/);
  });
});
