// Conformance of the two drivers of the policy core: the same scripted scenarios run through the
// simulator's engine and through the platform's invoker (injected clock, fake sandboxes), and every
// instance lifecycle event — created cold or pre-warmed, reused warm, kept (window extended),
// expired, evicted, and requests dropped — must happen at the same virtual time in both.
//
// Times are chosen so no completion coincides with an expiry, action or tick: at equal times the
// engine orders completions first, and the platform's timers have no such order.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { seededRandom } from '../../src/core/random.ts';
import { createKeepAlive, KEEP_ALIVE_POLICIES } from '../../src/policies/keepalive/index.ts';
import { IceBreakerPrewarm, ProvisionedConcurrency } from '../../src/policies/prewarm/index.ts';
import { runPlatform, runSimulator, type Scenario, type ScenarioFunction } from './drivers.ts';

const MINUTE = 60_000;

const functions: ScenarioFunction[] = [
  { id: 'a', memoryMb: 128, coldStartMs: 311.5, execMs: 47.25 },
  { id: 'b', memoryMb: 256, coldStartMs: 173.75, execMs: 91.5 },
  { id: 'c', memoryMb: 128, coldStartMs: 523.25, execMs: 13.75 },
  { id: 'd', memoryMb: 384, coldStartMs: 257.5, execMs: 211.25 },
];

/** Seeded arrivals at whole milliseconds plus a fraction no start or execution time shares. */
function randomArrivals(seed: number, count: number, spanMs: number, fns = functions.length): [number, number][] {
  const random = seededRandom(seed);
  const out: [number, number][] = [];
  for (let k = 0; k < count; k++) out.push([Math.floor(random() * fns), Math.floor(random() * spanMs) + 0.0625]);
  return out.sort((x, y) => x[1] - y[1]);
}

/** Arrivals of one function every `periodMs` (with a small seeded jitter), from `startMs`. */
function periodic(fn: number, startMs: number, periodMs: number, until: number, seed: number): [number, number][] {
  const random = seededRandom(seed);
  const out: [number, number][] = [];
  for (let t = startMs; t < until; t += periodMs) out.push([fn, t + Math.floor(random() * 2_000) + 0.125]);
  return out;
}

const merge = (...lists: [number, number][][]) => lists.flat().sort((x, y) => x[1] - y[1]);

const scenarios: Scenario[] = [];

// Every keep-alive policy under memory pressure (evictions) with bursts (several instances per function).
for (const policy of KEEP_ALIVE_POLICIES) {
  scenarios.push({
    name: `${policy} under memory pressure`,
    memoryMb: 640,
    functions,
    arrivals: merge(randomArrivals(7, 400, 20 * MINUTE), randomArrivals(8, 60, 40_000).map(([f, t]) => [f, t + 5 * MINUTE] as [number, number])),
    spanMs: 25 * MINUTE,
    keepAlive: () => createKeepAlive(policy, { ttlMs: 2 * MINUTE }),
  });
}

// Instances that serve several invocations at once: bursts join started instances, a starting one
// takes none, and memory pressure evicts the idle ones.
for (const policy of ['lru', 'gd']) {
  scenarios.push({
    name: `${policy} with instances serving up to 3 at once`,
    memoryMb: 640,
    functions: functions.map((f, i) => ({ ...f, concurrency: i === 3 ? 1 : 3 })),
    arrivals: merge(randomArrivals(11, 400, 20 * MINUTE), randomArrivals(12, 150, 3_000).map(([f, t]) => [f, t + 5 * MINUTE] as [number, number])),
    spanMs: 25 * MINUTE,
    keepAlive: () => createKeepAlive(policy, { ttlMs: 2 * MINUTE }),
  });
}

// The hybrid histogram: regular idle times make it unload after each invocation and pre-warm a
// fresh instance before the next one, kept for its window; one function is irregular.
scenarios.push({
  name: 'hybrid pre-warms (histogram mode) and keeps pre-warmed instances for their window',
  memoryMb: 1024,
  functions,
  arrivals: merge(periodic(0, 1_000, 5 * MINUTE, 120 * MINUTE, 1), periodic(1, 30_000, 3 * MINUTE, 120 * MINUTE, 2), randomArrivals(3, 40, 120 * MINUTE).filter(([f]) => f >= 2)),
  spanMs: 125 * MINUTE,
  keepAlive: () => createKeepAlive('hybrid'),
});

scenarios.push({
  name: 'hybrid under memory pressure',
  memoryMb: 512,
  functions,
  arrivals: merge(periodic(0, 1_000, 4 * MINUTE, 90 * MINUTE, 3), periodic(3, 20_000, 2 * MINUTE, 90 * MINUTE, 4), randomArrivals(5, 200, 90 * MINUTE)),
  spanMs: 95 * MINUTE,
  keepAlive: () => createKeepAlive('hybrid'),
});

// IceBreaker: minute-periodic load it learns to pre-warm for, with TTL keep-alive beside it.
scenarios.push({
  name: 'IceBreaker (fft) pre-warms each minute',
  memoryMb: 1024,
  functions,
  arrivals: merge(periodic(0, 10_000, MINUTE, 40 * MINUTE, 5), periodic(1, 25_000, 2 * MINUTE, 40 * MINUTE, 6), periodic(2, 40_000, 3 * MINUTE, 40 * MINUTE, 7)),
  spanMs: 40 * MINUTE + 30_000,
  keepAlive: () => createKeepAlive('ttl', { ttlMs: 30_000 }),
  prewarm: () => [new IceBreakerPrewarm()],
});

scenarios.push({
  name: 'IceBreaker under memory pressure with LRU',
  memoryMb: 512,
  functions,
  arrivals: merge(periodic(0, 10_000, MINUTE, 30 * MINUTE, 8), periodic(3, 25_000, MINUTE, 30 * MINUTE, 9), randomArrivals(10, 150, 30 * MINUTE)),
  spanMs: 30 * MINUTE + 30_000,
  keepAlive: () => createKeepAlive('lru'),
  prewarm: () => [new IceBreakerPrewarm()],
});

// Provisioned concurrency: a floor set, raised and removed on a schedule, under pressure.
scenarios.push({
  name: 'provisioned concurrency under memory pressure',
  memoryMb: 768,
  functions,
  arrivals: randomArrivals(11, 300, 20 * MINUTE),
  spanMs: 21 * MINUTE,
  keepAlive: () => createKeepAlive('ttl', { ttlMs: MINUTE }),
  prewarm: () => [
    new ProvisionedConcurrency([
      // By index: the platform's function ids carry their version.
      { fn: '#0', count: 2, atMs: 0 },
      { fn: '#1', count: 1, atMs: 3 * MINUTE + 0.5 },
      { fn: '#0', count: 0, atMs: 12 * MINUTE + 0.5 },
    ]),
  ],
});

describe('the simulator and the platform carry out the same lifecycles', () => {
  for (const scenario of scenarios) {
    it(scenario.name, async () => {
      const sim = runSimulator(scenario);
      const platform = await runPlatform(scenario);
      assert.ok(sim.length > scenario.arrivals.length / 2, 'the scenario produces events');
      assert.deepEqual(platform, sim);
    });
  }

  it('the scenarios exercise every kind of lifecycle event', () => {
    const seen = new Set<string>();
    for (const s of scenarios) for (const l of runSimulator(s)) seen.add(l.split(' ')[2]!);
    for (const kind of ['cold', 'warm', 'dropped', 'evicted', 'expired', 'prewarm-started', 'prewarm-kept']) assert.ok(seen.has(kind), `no scenario has a '${kind}' event`);
  });
});
