import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { VirtualClock } from '../../src/core/clock.ts';
import { Pool } from '../../src/core/pool.ts';
import type { FunctionSpec } from '../../src/core/trace.ts';
import { LruKeepAlive, TtlKeepAlive } from '../../src/policies/keepalive/index.ts';
import { LeastLoadedPlacement } from '../../src/policies/placement/index.ts';

const spec = (index: number, id: string, memoryMb = 100): FunctionSpec => ({ index, id, app: id, memoryMb, warmMs: 10, coldStartMs: 100 });
const A = spec(0, 'A');
const B = spec(1, 'B');

function pool(memoryMb: number, keepAlive = new LruKeepAlive()) {
  const clock = new VirtualClock();
  return { clock, pool: new Pool({ servers: [{ memoryMb }], keepAlive, placement: new LeastLoadedPlacement(), clock }) };
}

describe('Pool', () => {
  it('pre-warms only into free memory and counts no use', () => {
    const { pool: p } = pool(200);
    const warm = p.prewarm(A)!;
    assert.equal(warm.state, 'starting');
    assert.equal(warm.uses, 0);
    p.started(warm);
    p.release(warm);
    const busy = p.acquire(B)!;
    assert.equal(p.prewarm(B), undefined, 'no free memory: pre-warming never evicts');
    assert.equal(busy.startKind, 'cold');
    const reuse = p.acquire(A)!;
    assert.equal(reuse, warm);
    assert.equal(reuse.startKind, 'warm');
  });

  it('keeps provisioned instances: neither evicted nor expired at the floor', () => {
    const { pool: p, clock } = pool(200, new TtlKeepAlive({ ttlMs: 1000 }));
    p.setMinInstances(A, 1);
    const a = p.prewarm(A)!;
    p.started(a);
    p.release(a);
    clock.set(5000);
    assert.deepEqual(p.expire(), []);
    assert.equal(a.state, 'idle');
    const b1 = p.acquire(B)!;
    assert.ok(b1);
    assert.equal(p.acquire(B), undefined, 'the only idle instance is provisioned');
    assert.equal(a.state, 'idle');
    p.setMinInstances(A, 0);
    const b2 = p.acquire(B)!;
    assert.equal(b2.startKind, 'cold');
    assert.equal(a.state, 'dead');
  });

  it('evicts instances above the floor', () => {
    const { pool: p, clock } = pool(300);
    p.setMinInstances(A, 1);
    const a1 = p.acquire(A)!;
    const a2 = p.acquire(A)!;
    clock.set(10);
    p.release(a1);
    p.release(a2);
    assert.ok(p.acquire(B));
    assert.ok(p.acquire(B), 'one of A’s two instances can go');
    assert.equal(p.instanceCount(A), 1);
    assert.equal(p.acquire(B), undefined);
  });

  it('pauses idle instances and reuses them as resumed starts', () => {
    const { pool: p, clock } = pool(200);
    const a = p.acquire(A)!;
    clock.set(10);
    p.release(a);
    p.pause(a);
    assert.equal(a.state, 'paused');
    const again = p.acquire(A)!;
    assert.equal(again, a);
    assert.equal(again.startKind, 'resumed');
    assert.throws(() => p.pause(a), /pause: instance .* is busy, expected idle/);
  });

  it('shrinking capacity evicts idle instances until what is held fits', () => {
    const { pool: p, clock } = pool(300);
    const a = p.acquire(A)!;
    const b = p.acquire(B)!;
    clock.set(10);
    p.release(a);
    p.setCapacity(p.servers[0]!, 100);
    assert.equal(a.state, 'dead');
    assert.equal(b.state, 'starting');
    assert.equal(p.servers[0]!.usedMb, 100);
  });
});

describe('Pool: instance concurrency', () => {
  const shared = (n: number): FunctionSpec => ({ ...spec(0, 'S'), concurrency: n });

  it('joins an instance with a free slot before starting another: cold while it starts, warm once it runs', () => {
    const { pool: p } = pool(1000);
    const S = shared(3);
    const first = p.acquire(S)!;
    assert.equal(first.startKind, 'cold');
    const whileStarting = p.acquire(S)!;
    assert.equal(whileStarting, first, 'a burst waits for the one start');
    assert.equal(whileStarting.startKind, 'cold');
    p.started(first);
    const joined = p.acquire(S)!;
    assert.equal(joined, first);
    assert.equal(joined.startKind, 'warm');
    assert.equal(first.inFlight, 3);
    assert.notEqual(p.acquire(S), first, 'full: the next invocation goes elsewhere');
    assert.equal(first.uses, 3);
  });

  it('a pre-warmed instance still starting takes no invocation', () => {
    const { pool: p } = pool(1000);
    const S = shared(3);
    const ahead = p.prewarm(S)!;
    assert.notEqual(p.acquire(S), ahead);
    assert.equal(ahead.inFlight, 0);
  });

  it('goes idle only when its last invocation is released', () => {
    const { pool: p } = pool(1000);
    const S = shared(2);
    const i = p.acquire(S)!;
    p.started(i);
    assert.equal(p.acquire(S), i);
    p.release(i);
    assert.equal(i.state, 'busy');
    assert.equal(i.inFlight, 1);
    assert.equal(p.acquire(S), i, 'a released slot is taken again');
    p.release(i);
    p.release(i);
    assert.equal(i.state, 'idle');
    assert.equal(i.inFlight, 0);
    assert.equal(i.server.load, 0);
    const again = p.acquire(S)!;
    assert.equal(again, i);
    assert.equal(again.inFlight, 1);
  });

  it('serves one invocation per instance without concurrency', () => {
    const { pool: p } = pool(1000);
    const a = p.acquire(A)!;
    p.started(a);
    assert.notEqual(p.acquire(A), a);
    assert.equal(a.group.open.size, 0);
  });

  it('shares an instance only as far as limitConcurrency allows', () => {
    const { pool: p } = pool(1000);
    const S = shared(4);
    const i = p.acquire(S)!;
    p.started(i);
    assert.equal(p.acquire(S), i);
    p.limitConcurrency(i, 2);
    assert.notEqual(p.acquire(S), i, 'full at its new limit');
    assert.ok(!i.group.open.has(i));
    p.release(i);
    assert.ok(i.group.open.has(i), 'a slot free again');
    assert.throws(() => p.limitConcurrency(i, 0), /at least one/);
  });

  it('a killed shared instance takes no more invocations', () => {
    const { pool: p } = pool(1000);
    const S = shared(4);
    const i = p.acquire(S)!;
    p.started(i);
    p.kill(i);
    assert.equal(i.state, 'dead');
    assert.equal(i.group.open.size, 0);
    assert.notEqual(p.acquire(S), i);
  });

  it('a router-chosen server reuses only its own shared instances', () => {
    const clock = new VirtualClock();
    const p = new Pool({ servers: [{ memoryMb: 1000 }, { memoryMb: 1000 }], keepAlive: new LruKeepAlive(), placement: new LeastLoadedPlacement(), clock });
    const S = shared(4);
    const on0 = p.acquire(S, p.servers[0])!;
    p.started(on0);
    const on1 = p.acquire(S, p.servers[1])!;
    assert.equal(on1.server, p.servers[1]);
    assert.notEqual(on1, on0);
    assert.equal(p.acquire(S, p.servers[0]), on0);
  });
});
