// Model-based test of the Pool: seeded random sequences of operations (acquire, release, pre-warm,
// pause, kill, provisioned floors, keep-window extensions, expiry, resizing) under memory pressure,
// for every keep-alive policy, each checked step by step against a brute-force reference
// (pool-reference.ts). THAW_POOL_MODEL_SEEDS raises the number of sequences per policy.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { VirtualClock } from '../../src/core/clock.ts';
import type { Instance } from '../../src/core/instance.ts';
import { Pool } from '../../src/core/pool.ts';
import { seededRandom } from '../../src/core/random.ts';
import type { FunctionSpec } from '../../src/core/trace.ts';
import { createKeepAlive, KEEP_ALIVE_POLICIES } from '../../src/policies/keepalive/index.ts';
import { FirstFitPlacement } from '../../src/policies/placement/index.ts';
import { ReferencePool, refPolicy, type RemovalEvent } from './pool-reference.ts';

const SEEDS = Number(process.env.THAW_POOL_MODEL_SEEDS ?? 250);
const STEPS = 150;
const WINDOW_MS = 3_000;

/** Runs one seeded sequence; throws (with the seed and step) where the Pool and the reference part. */
export function runSequence(policyName: string, seed: number, steps = STEPS): { evictions: number; expiries: number } {
  const random = seededRandom(seed);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(random() * xs.length)]!;
  const functions: FunctionSpec[] = Array.from({ length: 3 + Math.floor(random() * 5) }, (_, index) => ({
    index,
    id: `f${index}`,
    app: `app${index % 3}`,
    memoryMb: pick([100, 100, 200, 300]),
    warmMs: 10,
    // Few distinct costs, so Greedy-Dual priorities tie often.
    coldStartMs: pick([100, 200, 400]),
  }));
  const capacities = Array.from({ length: random() < 0.7 ? 1 : 2 }, () => pick([500, 600, 800]));
  const clock = new VirtualClock();
  const events: RemovalEvent[] = [];
  const keepAlive = createKeepAlive(policyName, { ttlMs: WINDOW_MS, hybrid: { rangeMs: WINDOW_MS, binMs: 1_000 } });
  const pool = new Pool({
    servers: capacities.map((memoryMb) => ({ memoryMb })),
    keepAlive,
    placement: new FirstFitPlacement(),
    clock,
    listener: { removed: (i, reason, at) => events.push({ id: i.id, reason, at }) },
  });
  const ref = new ReferencePool(capacities, refPolicy(policyName, WINDOW_MS));
  const live = new Map<number, Instance>();
  const inState = (...states: string[]) => [...live.values()].filter((i) => states.includes(i.state));
  let evictions = 0;
  let expiries = 0;

  for (let step = 0; step < steps; step++) {
    const r = random();
    let op = '';
    try {
      if (r < 0.3) {
        const fn = pick(functions);
        const on = capacities.length > 1 && random() < 0.2 ? Math.floor(random() * capacities.length) : undefined;
        op = `acquire ${fn.id}${on === undefined ? '' : ` on ${on}`}`;
        const got = pool.acquire(fn, on === undefined ? undefined : pool.servers[on]);
        evictions += events.filter((e) => e.reason === 'evicted').length;
        ref.acquire(fn, on, got && { id: got.id, server: got.server.index, startKind: got.startKind }, events);
        if (got) live.set(got.id, got);
      } else if (r < 0.36) {
        const fn = pick(functions);
        op = `prewarm ${fn.id}`;
        const got = pool.prewarm(fn);
        ref.prewarm(fn, got && { id: got.id, server: got.server.index });
        if (got) live.set(got.id, got);
      } else if (r < 0.44) {
        const starting = inState('starting').filter((i) => !i.prewarmed);
        if (!starting.length) continue;
        const i = pick(starting);
        op = `started ${i.id}`;
        pool.started(i);
        ref.started(i.id);
      } else if (r < 0.66) {
        const candidates = inState('busy', 'starting');
        if (!candidates.length) continue;
        const i = pick(candidates);
        const override = random() < 0.2 ? pick([0, 500, 5_000, Infinity]) : undefined;
        op = `release ${i.id}${override === undefined ? '' : ` keeping ${override} ms`}`;
        pool.release(i, override);
        ref.release(i.id, override);
      } else if (r < 0.7) {
        const idle = inState('idle');
        if (!idle.length) continue;
        const i = pick(idle);
        op = `pause ${i.id}`;
        pool.pause(i);
        ref.pause(i.id);
      } else if (r < 0.73) {
        if (!live.size) continue;
        const i = pick([...live.values()]);
        op = `kill ${i.id}`;
        pool.kill(i);
        ref.kill(i.id, events);
      } else if (r < 0.77) {
        const idle = inState('idle', 'paused');
        if (!idle.length) continue;
        const i = pick(idle);
        const until = clock.now() + pick([100, 2_000, 10_000]);
        op = `keep ${i.id} until ${until}`;
        pool.keepIdleUntil(i, until);
        ref.keepIdleUntil(i.id, until);
      } else if (r < 0.82) {
        const fn = pick(functions);
        const count = pick([0, 0, 1, 2]);
        op = `provision ${fn.id} × ${count}`;
        pool.setMinInstances(fn, count);
        ref.setMin(fn, count);
      } else if (r < 0.84) {
        const s = Math.floor(random() * capacities.length);
        const memoryMb = pick([300, 500, 600, 800]);
        op = `resize server ${s} to ${memoryMb} MB`;
        pool.setCapacity(pool.servers[s]!, memoryMb);
        ref.setCapacity(s, memoryMb, events);
      } else {
        const ms = pick([1, 10, 250, 1_000, 2_500]);
        op = `advance ${ms} ms and expire`;
        clock.advance(ms);
        ref.now = clock.now();
        // The expiry queue may be early, never late: a window ending unnoticed would keep memory.
        assert.ok(pool.nextExpiry() <= ref.earliestExpiry(), `next expiry ${pool.nextExpiry()} is after the earliest window end ${ref.earliestExpiry()}`);
        const expired = pool.expire();
        expiries += expired.length;
        assert.deepEqual(expired.map((i) => i.id).sort(), events.map((e) => e.id).sort());
        ref.expire(events);
      }
      events.length = 0;
      for (const [id, i] of live) if (i.state === 'dead') live.delete(id);
      compare(pool, ref, live);
    } catch (error) {
      (error as Error).message = `${policyName} seed ${seed} step ${step} (${op}): ${(error as Error).message}`;
      throw error;
    }
  }
  return { evictions, expiries };
}

/** Instance states and memory accounting agree after every step. */
function compare(pool: Pool, ref: ReferencePool, live: Map<number, Instance>): void {
  for (const [id, r] of ref.instances) {
    if (r.state === 'dead') assert.ok(!live.has(id), `instance ${id} should be gone`);
    else assert.equal(live.get(id)?.state, r.state, `state of instance ${id}`);
  }
  pool.servers.forEach((server, s) => {
    assert.equal(server.usedMb, ref.usedMb(s), `memory used on server ${s}`);
    assert.equal(server.idleMb, ref.idleMb(s), `idle memory on server ${s}`);
  });
}

describe('Pool against a brute-force reference', () => {
  for (const policy of KEEP_ALIVE_POLICIES) {
    it(`${policy}: ${SEEDS} random sequences of ${STEPS} operations`, () => {
      let evictions = 0;
      let expiries = 0;
      for (let seed = 1; seed <= SEEDS; seed++) {
        const r = runSequence(policy, seed);
        evictions += r.evictions;
        expiries += r.expiries;
      }
      // The sequences must exercise what they test.
      assert.ok(evictions > SEEDS, `only ${evictions} evictions`);
      if (refPolicy(policy, WINDOW_MS).keepAliveMs !== Infinity) assert.ok(expiries > SEEDS, `only ${expiries} expiries`);
    });
  }
});
