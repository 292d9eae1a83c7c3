// Zygote memory in the core Pool: zygotes are idle instances of pseudo-functions, pre-warmed only
// into free memory, evicted and expired by the keep-alive policy like any idle instance.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { VirtualClock } from '../../../../src/core/clock.ts';
import type { Instance } from '../../../../src/core/instance.ts';
import { Pool, type RemovalReason } from '../../../../src/core/pool.ts';
import type { FunctionSpec } from '../../../../src/core/trace.ts';
import { LruKeepAlive, TtlKeepAlive } from '../../../../src/policies/keepalive/index.ts';
import { LeastLoadedPlacement } from '../../../../src/policies/placement/index.ts';
import { BudgetZygoteMemory, DeferredZygoteMemory, PoolZygoteMemory } from '../../../../src/platform/accelerators/zygote/memory.ts';

function setup(memoryMb: number, keepAlive = new LruKeepAlive()) {
  const clock = new VirtualClock();
  const removed: Array<[string, RemovalReason]> = [];
  let zygotes: PoolZygoteMemory | undefined;
  const pool = new Pool({
    servers: [{ memoryMb }],
    keepAlive,
    placement: new LeastLoadedPlacement(),
    clock,
    listener: {
      // What the invoker does: zygote instances go to PoolZygoteMemory, the rest to its own handling.
      removed: (instance: Instance, reason: RemovalReason) => {
        if (zygotes?.onRemoved(instance, reason)) return;
        removed.push([instance.fn.id, reason]);
      },
    },
  });
  let next = 100;
  let changes = 0;
  zygotes = new PoolZygoteMemory(pool, { allocateIndex: () => next++, onChange: () => changes++ });
  return { clock, pool, zygotes, removed, changes: () => changes };
}

const fnSpec = (index: number, id: string, memoryMb: number): FunctionSpec => ({ index, id, app: id, memoryMb, warmMs: 10, coldStartMs: 100 });

describe('PoolZygoteMemory', () => {
  it('counts a zygote against the budget; never evicts to make one; frees it when specialised', () => {
    const { pool, zygotes, changes } = setup(512);
    const server = pool.servers[0]!;
    const evicted: string[] = [];
    const lease = zygotes.reserve('set1', 256, () => evicted.push('set1'))!;
    assert.ok(lease);
    assert.equal(server.usedMb, 256);
    lease.ready(120);
    assert.equal(server.idleMb, 256, 'a waiting zygote is idle memory');
    const [zygoteInstance] = [...pool.idleInstances()];
    assert.equal(zygoteInstance!.fn.id, 'zygote:set1/256');
    assert.equal(zygotes.isZygote(zygoteInstance!), true);
    assert.ok(zygoteInstance!.fn.coldStartMs < 500 && zygoteInstance!.fn.coldStartMs > 120, 'its cost is learnt from its start');

    // The rest of memory is taken by a busy function instance: another zygote does not fit, and
    // reserving it evicts nothing.
    const busy = pool.acquire(fnSpec(0, 'f', 256))!;
    assert.equal(busy.startKind, 'cold');
    assert.equal(zygotes.reserve('set2', 128, () => evicted.push('set2')), undefined);
    assert.equal(zygoteInstance!.state, 'idle');

    // Specialising: the zygote's lease is released (its pseudo-instance killed, memory free).
    lease.release();
    lease.release();
    assert.equal(zygoteInstance!.state, 'dead');
    assert.equal(server.usedMb, 256);
    assert.deepEqual(evicted, [], 'a release is not an eviction');
    assert.ok(changes() >= 2);
  });

  it('lets the keep-alive policy evict a waiting zygote when a function needs the memory', () => {
    const { pool, zygotes, removed } = setup(512);
    const evicted: string[] = [];
    const lease = zygotes.reserve('set1', 384, () => evicted.push('set1'))!;
    lease.ready(100);
    const instance = pool.acquire(fnSpec(0, 'f', 256))!;
    assert.equal(instance.startKind, 'cold');
    assert.deepEqual(evicted, ['set1'], 'the zygote was evicted to make room, like any idle instance');
    assert.deepEqual(removed, [], 'and the invoker saw no function instance removed');
    assert.equal(pool.servers[0]!.usedMb, 256);
    lease.release(); // the path destroys the zygote and releases: nothing more happens
    assert.equal(pool.servers[0]!.usedMb, 256);
  });

  it('lets the keep-alive policy expire a waiting zygote, and not one still starting', () => {
    const { pool, zygotes, clock } = setup(1024, new TtlKeepAlive({ ttlMs: 60_000 }));
    const evicted: string[] = [];
    const ready = zygotes.reserve('a', 128, () => evicted.push('a'))!;
    const starting = zygotes.reserve('b', 128, () => evicted.push('b'))!;
    ready.ready(50);
    clock.set(61_000);
    pool.expire();
    assert.deepEqual(evicted, ['a']);
    assert.equal(pool.servers[0]!.usedMb, 128, 'the starting zygote still holds its memory');
    starting.release();
    assert.equal(pool.servers[0]!.usedMb, 0);
    assert.equal(zygotes.count, 0);
  });

  it('needs an index allocator shared with the invoker', () => {
    const { pool } = setup(100);
    assert.throws(() => new PoolZygoteMemory(pool, {} as never), /allocateIndex/);
  });
});

describe('BudgetZygoteMemory', () => {
  it('admits zygotes while they fit', () => {
    const budget = new BudgetZygoteMemory(300);
    const a = budget.reserve('a', 200)!;
    assert.equal(budget.reserve('b', 200), undefined);
    a.release();
    a.release();
    assert.equal(budget.usedMb, 0);
    assert.ok(budget.reserve('b', 200));
  });
});

describe('DeferredZygoteMemory', () => {
  it('admits nothing until bound to the invoker’s Pool, then forwards', () => {
    const deferred = new DeferredZygoteMemory();
    assert.equal(deferred.reserve('a', 128, () => undefined), undefined);
    const { pool, zygotes } = setup(512);
    deferred.bind(zygotes);
    const lease = deferred.reserve('a', 128, () => undefined)!;
    assert.equal(pool.servers[0]!.usedMb, 128);
    lease.release();
    assert.throws(() => deferred.bind(new BudgetZygoteMemory(1)), /already bound/);
  });
});
