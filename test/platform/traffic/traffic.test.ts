// The traffic router's split, tested statistically: over many seeded draws each version's share is
// what its weight says (a chi-square goodness-of-fit test), and the same seed replays the same picks.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseFunctionRef, TrafficRouter } from '../../../src/platform/traffic.ts';
import type { AliasRoute } from '../../../src/platform/store/aliases.ts';

function counts(router: TrafficRouter, routes: AliasRoute[], n: number): Map<number, number> {
  const seen = new Map<number, number>(routes.map((r) => [r.version, 0]));
  for (let i = 0; i < n; i++) {
    const v = router.pick(routes);
    seen.set(v, seen.get(v)! + 1);
  }
  return seen;
}

/** Pearson's chi-square statistic of observed counts against the routes' weights. */
function chiSquare(seen: Map<number, number>, routes: AliasRoute[], n: number): number {
  return routes.reduce((sum, r) => {
    const expected = (n * r.weight) / 100;
    return sum + (seen.get(r.version)! - expected) ** 2 / expected;
  }, 0);
}

// Critical values of the chi-square distribution at p = 0.001: a correct router fails one seed in a thousand.
const CHI2_CRITICAL_P001: Record<number, number> = { 1: 10.83, 2: 13.82 };

describe('TrafficRouter', () => {
  it('splits 90/10 and 50/30/20 as weighted, for every one of 20 seeds (chi-square, p = 0.001)', () => {
    for (const routes of [
      [{ version: 3, weight: 90 }, { version: 4, weight: 10 }],
      [{ version: 1, weight: 50 }, { version: 2, weight: 30 }, { version: 3, weight: 20 }],
    ]) {
      for (let seed = 1; seed <= 20; seed++) {
        const n = 10_000;
        const seen = counts(new TrafficRouter(seed), routes, n);
        const x2 = chiSquare(seen, routes, n);
        assert.ok(x2 < CHI2_CRITICAL_P001[routes.length - 1]!, `seed ${seed}: ${JSON.stringify([...seen])}, chi-square ${x2.toFixed(2)}`);
      }
    }
  });

  it('sends a small weight its share too, and a single route everything', () => {
    const n = 100_000;
    const seen = counts(new TrafficRouter(7), [{ version: 1, weight: 99.5 }, { version: 2, weight: 0.5 }], n);
    const sd = Math.sqrt(n * 0.005 * 0.995);
    assert.ok(Math.abs(seen.get(2)! - n * 0.005) < 4 * sd, `v2 got ${seen.get(2)} of ${n}`);
    assert.deepEqual([...counts(new TrafficRouter(7), [{ version: 5, weight: 100 }], 1000)], [[5, 1000]]);
  });

  it('replays the same picks from the same seed, and other picks from another', () => {
    const routes = [{ version: 1, weight: 50 }, { version: 2, weight: 50 }];
    const picks = (seed: number) => Array.from({ length: 64 }, ((r) => () => r.pick(routes))(new TrafficRouter(seed)));
    assert.deepEqual(picks(42), picks(42));
    assert.notDeepEqual(picks(42), picks(43));
  });
});

describe('function references', () => {
  it('parses NAME, NAME@VERSION, NAME@latest and NAME@ALIAS', () => {
    assert.deepEqual(parseFunctionRef('hello'), { name: 'hello', target: 'latest' });
    assert.deepEqual(parseFunctionRef('hello@3'), { name: 'hello', target: 3 });
    assert.deepEqual(parseFunctionRef('hello@latest'), { name: 'hello', target: 'latest' });
    assert.deepEqual(parseFunctionRef('hello@prod'), { name: 'hello', target: { alias: 'prod' } });
    assert.throws(() => parseFunctionRef('hello@'), /not a function reference/);
    assert.throws(() => parseFunctionRef('@prod'), /not a function reference/);
  });
});
