// The simulator with pre-warming: provisioned concurrency (fixed and scheduled), heterogeneous
// clusters (speed, price, tiers) and IceBreaker's placement on them.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createKeepAlive } from '../../src/policies/keepalive/index.ts';
import { IceBreakerPrewarm, parseProvisioned, ProvisionedConcurrency } from '../../src/policies/prewarm/index.ts';
import { LeastLoadedPlacement } from '../../src/policies/placement/index.ts';
import { parseTiers, serversOfTiers } from '../../src/sim/cluster.ts';
import { simulate } from '../../src/sim/engine.ts';
import { runSimulation } from '../../src/sim/run.ts';
import { parseDuration, parseMemory } from '../../src/cli/units.ts';
import { trace } from '../helpers/sim.ts';

const MIN = 60_000;
const fnA = { id: 'A', memoryMb: 100, warmMs: 1000, coldStartMs: 2000 };

describe('provisioned concurrency', () => {
  it('a fixed floor: instances started ahead, never expired, concurrent requests warm', () => {
    // 3 provisioned instances of A; a TTL of 1 min would expire them, the floor keeps them.
    // At 10 min three concurrent requests all start warm; a fourth one starts cold.
    const t = trace([fnA], [['A', 10 * MIN], ['A', 10 * MIN + 1], ['A', 10 * MIN + 2], ['A', 10 * MIN + 3], ['A', 20 * MIN]], 30 * MIN);
    const outcomes: string[] = [];
    const removals: string[] = [];
    simulate(t, {
      servers: [{ memoryMb: 1000 }],
      keepAlive: createKeepAlive('ttl', { ttlMs: MIN }),
      placement: new LeastLoadedPlacement(),
      prewarm: [new ProvisionedConcurrency([{ fn: 'A', count: 3 }])],
      observer: { invocation: (_f, _t, o) => outcomes.push(o), removed: (f, at, r) => removals.push(`${f.id}:${r}@${at}`) },
    });
    assert.deepEqual(outcomes, ['warm', 'warm', 'warm', 'cold', 'warm']);
    // The floor is a count: one instance above it expires — the first to reach its keep-alive end,
    // the one that served the first request (idle from 10 min + 1 s, expires 1 min later).
    assert.deepEqual(removals, [`A:expired@${10 * MIN + 1000 + MIN}`]);
  });

  it('a schedule: the floor rises and falls; instances above it expire again', () => {
    const t = trace([fnA], [['A', 30 * MIN], ['A', 70 * MIN]], 90 * MIN);
    const removals: string[] = [];
    const outcomes: string[] = [];
    const result = simulate(t, {
      servers: [{ memoryMb: 1000 }],
      keepAlive: createKeepAlive('ttl', { ttlMs: 10 * MIN }),
      placement: new LeastLoadedPlacement(),
      prewarm: [new ProvisionedConcurrency(parseProvisioned('A=0,A=2@20m,A=0@1h', (s) => parseDuration(s, '--provisioned')))],
      observer: { invocation: (_f, _t, o) => outcomes.push(o), removed: (f, at, r) => removals.push(`${f.id}:${r}@${at}`) },
    });
    // Two instances from 20 min; A at 30 min is warm; at 1 h the floor goes and both expire 10 min
    // later (the keep-alive window restarts when the floor is lifted); A at 70 min is cold.
    assert.deepEqual(outcomes, ['warm', 'cold']);
    assert.deepEqual(removals.slice(0, 2), [`A:expired@${70 * MIN}`, `A:expired@${70 * MIN}`]);
    assert.equal(result.summary.prewarm!.started, 2);
  });

  it('parses schedules and rejects bad ones', () => {
    assert.deepEqual(parseProvisioned('f=2,f=0@2h,#3=1@30', (s) => parseDuration(s, 'x')), [
      { fn: 'f', count: 2, atMs: 0 },
      { fn: 'f', count: 0, atMs: 2 * 3_600_000 },
      { fn: '#3', count: 1, atMs: 30 * MIN },
    ]);
    assert.throws(() => parseProvisioned('f=x', (s) => parseDuration(s, 'x')), /fn=N/);
    const t = trace([fnA], [['A', 0]]);
    assert.throws(() => runSimulation(t, { policy: 'ttl', memoryMb: 1000, provisioned: [{ fn: 'nope', count: 1 }] }), /unknown function 'nope'/);
  });
});

describe('heterogeneous clusters', () => {
  const tiers = parseTiers('high:1x1GB:speed=2:price=0.00002,low:2x4GB:speed=1:price=0.000005', parseMemory);

  it('parses --tiers', () => {
    assert.deepEqual(tiers, [
      { name: 'high', count: 1, memoryMb: 1024, speed: 2, pricePerGBs: 0.00002 },
      { name: 'low', count: 2, memoryMb: 4096, speed: 1, pricePerGBs: 0.000005 },
    ]);
    assert.deepEqual(serversOfTiers(tiers).map((s) => s.name), ['high-0', 'low-0', 'low-1']);
    assert.throws(() => parseTiers('high:4x16GB:fast=2', parseMemory), /unknown key 'fast'/);
    assert.throws(() => parseTiers('high:0x16GB', parseMemory), /count/);
    assert.throws(() => parseTiers('a:1GB,a:2GB', parseMemory), /twice/);
  });

  it('divides start and execution by the speed, and prices memory per tier', () => {
    // One 1 GB function on a single high-end server (speed 2): cold 2 s + 1 s → 1.5 s of service.
    const f = { id: 'A', memoryMb: 1024, warmMs: 1000, coldStartMs: 2000 };
    const r = runSimulation(trace([f], [['A', 0]], 11_500), { policy: 'ttl', memoryMb: 0, tiers: [{ name: 'high', count: 1, memoryMb: 2048, speed: 2, pricePerGBs: 0.01 }] });
    assert.equal(r.summary.meanServiceTimeMs, 1500);
    // Busy 1 GB × 1.5 s, idle 1 GB × 10 s (to the end of the trace at 11.5 s).
    assert.ok(Math.abs(r.summary.busyCost! - 0.015) < 1e-12);
    assert.ok(Math.abs(r.summary.keepAliveCost! - 0.1) < 1e-12);
    assert.equal(r.tiers![0]!.cold, 1);
  });

  it('IceBreaker warms predictable functions, on the high-end tier when they score high', () => {
    // P: small, invoked steadily every 20 s (always predicted); Q: large, every 20 s as well.
    // Both are predicted ≥ 1 each minute; P scores higher (smaller memory) and goes to the high
    // tier, Q (normalised score 0) is not warmed at all.
    const fns = [
      { id: 'P', memoryMb: 128, warmMs: 500, coldStartMs: 3000 },
      { id: 'Q', memoryMb: 1024, warmMs: 500, coldStartMs: 3000 },
    ];
    const arrivals: [string, number][] = [];
    for (let s = 0; s < 40 * 60; s += 20) arrivals.push(['P', s * 1000 + 5000], ['Q', s * 1000 + 5000]);
    const prewarmed: string[] = [];
    const ice = new IceBreakerPrewarm({ window: 10 });
    const result = simulate(trace(fns, arrivals, 40 * MIN), {
      servers: serversOfTiers(tiers),
      keepAlive: createKeepAlive('ttl', { ttlMs: 5000 }),
      placement: new LeastLoadedPlacement(),
      prewarm: [ice],
      observer: { prewarmed: (f, _t, server, kind) => prewarmed.push(`${f.id}:${server.tier}:${kind}`) },
    });
    assert.ok(prewarmed.length > 0);
    assert.ok(prewarmed.every((p) => p.startsWith('P:high')), [...new Set(prewarmed)].join(' '));
    const report = result.prewarmReports!.fft as { decisions: { none: number; high: number }; tiers: { high: string } };
    assert.equal(report.tiers.high, 'high');
    assert.ok(report.decisions.high > 30 && report.decisions.none > 30);
    assert.ok(result.tiers!.find((t) => t.tier === 'high')!.warm > 0, 'P is served warm on the high tier');
  });
});
