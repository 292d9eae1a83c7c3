// A brute-force reference model of the Pool, for the model-based test (pool.model.test.ts). It keeps
// plain arrays of instances and decides by scanning all of them: the cheapest victim is found by
// computing every group's priority afresh, never from a queue. Where the Pool may choose among
// equals (ties in priority, which instance of several expires first at a provisioned floor), the
// reference checks that the Pool's choice is one of the acceptable ones and then follows it, so
// the two states stay comparable.

import assert from 'node:assert/strict';
import type { StartKind } from '../../src/core/instance.ts';
import type { FunctionSpec } from '../../src/core/trace.ts';
import { frequencyPriority, greedyDualPriority, sizePriority } from '../../src/policies/keepalive/priorities.ts';

export type RefState = 'starting' | 'busy' | 'idle' | 'paused' | 'dead';

export interface RefInstance {
  id: number;
  fn: FunctionSpec;
  server: number;
  state: RefState;
  idleSince: number;
  expiresAt: number;
  uses: number;
  clockAtLastUse: number;
}

interface RefGroup {
  fn: FunctionSpec;
  server: number;
  /** Idle or paused instances, least recently released first. */
  idle: RefInstance[];
  active: number;
  freq: number;
  clockAtLastUse: number;
}

interface RefServer {
  capacityMb: number;
  clock: number;
  groups: Map<number, RefGroup>;
}

/** What the Pool reported removing, in order (from its listener). */
export interface RemovalEvent {
  id: number;
  reason: string;
  at: number;
}

/** The keep-alive policies as the reference computes them: priority formula and window. */
export interface RefPolicy {
  name: string;
  priority(group: RefGroup): number;
  keepAliveMs: number;
}

export function refPolicy(name: string, windowMs: number): RefPolicy {
  const oldestIdleSince = (g: RefGroup) => g.idle[0]!.idleSince;
  switch (name) {
    case 'lru':
      return { name, priority: oldestIdleSince, keepAliveMs: Infinity };
    case 'ttl':
    case 'hybrid': // without pre-warm callbacks the hybrid policy keeps every app for its whole range
      return { name, priority: oldestIdleSince, keepAliveMs: windowMs };
    case 'gd':
      return { name, priority: (g) => greedyDualPriority(g.clockAtLastUse, g.freq, g.fn.coldStartMs, g.fn.memoryMb), keepAliveMs: Infinity };
    case 'freq':
      return { name, priority: (g) => frequencyPriority(g.clockAtLastUse, g.freq, g.fn.coldStartMs), keepAliveMs: Infinity };
    case 'size':
      return { name, priority: (g) => sizePriority(g.clockAtLastUse, g.freq, g.fn.memoryMb), keepAliveMs: Infinity };
    case 'landlord':
      return { name, priority: (g) => g.clockAtLastUse + g.fn.coldStartMs / g.fn.memoryMb, keepAliveMs: Infinity };
    case 'gd-instance':
      return { name, priority: (g) => greedyDualPriority(g.idle[0]!.clockAtLastUse, g.idle[0]!.uses, g.fn.coldStartMs, g.fn.memoryMb), keepAliveMs: Infinity };
    default:
      throw new Error(`no reference for policy ${name}`);
  }
}

export class ReferencePool {
  readonly servers: RefServer[];
  readonly instances = new Map<number, RefInstance>();
  /** Groups of each function in the order it first ran on each server (the Pool's reuse order). */
  readonly #groupsOf = new Map<number, RefGroup[]>();
  readonly #min = new Map<number, number>();
  now = 0;

  constructor(
    capacities: readonly number[],
    readonly policy: RefPolicy,
  ) {
    this.servers = capacities.map((capacityMb) => ({ capacityMb, clock: 0, groups: new Map() }));
  }

  usedMb(s: number): number {
    let mb = 0;
    for (const i of this.instances.values()) if (i.server === s && i.state !== 'dead') mb += i.fn.memoryMb;
    return mb;
  }

  idleMb(s: number): number {
    let mb = 0;
    for (const i of this.instances.values()) if (i.server === s && (i.state === 'idle' || i.state === 'paused')) mb += i.fn.memoryMb;
    return mb;
  }

  count(fn: FunctionSpec): number {
    let n = 0;
    for (const i of this.instances.values()) if (i.fn.index === fn.index && i.state !== 'dead') n++;
    return n;
  }

  #protected(fn: FunctionSpec): boolean {
    const min = this.#min.get(fn.index);
    return min !== undefined && this.count(fn) <= min;
  }

  #group(fn: FunctionSpec, server: number): RefGroup {
    const groups = this.servers[server]!.groups;
    let g = groups.get(fn.index);
    if (!g) {
      g = { fn, server, idle: [], active: 0, freq: 0, clockAtLastUse: 0 };
      groups.set(fn.index, g);
      let list = this.#groupsOf.get(fn.index);
      if (!list) this.#groupsOf.set(fn.index, (list = []));
      list.push(g);
    }
    return g;
  }

  #use(g: RefGroup, i: RefInstance): void {
    const clock = this.servers[g.server]!.clock;
    i.uses++;
    i.clockAtLastUse = clock;
    g.freq++;
    g.clockAtLastUse = clock;
  }

  #takeIdle(i: RefInstance): void {
    const g = this.#group(i.fn, i.server);
    g.idle.splice(g.idle.indexOf(i), 1);
    i.expiresAt = Infinity;
  }

  #remove(i: RefInstance): void {
    const g = this.#group(i.fn, i.server);
    if (i.state === 'idle' || i.state === 'paused') this.#takeIdle(i);
    else g.active--;
    i.state = 'dead';
    if (g.active + g.idle.length === 0) g.freq = 0;
  }

  /** First-fit placement on the reference's own memory accounting. */
  #place(fn: FunctionSpec, candidates: readonly number[], mayEvict: boolean): number | undefined {
    const free = (s: number) => this.servers[s]!.capacityMb - this.usedMb(s);
    const first = candidates.find((s) => free(s) >= fn.memoryMb) ?? candidates.find((s) => free(s) + this.idleMb(s) >= fn.memoryMb);
    if (first === undefined) return undefined;
    if ((mayEvict ? free(first) + this.idleMb(first) : free(first)) < fn.memoryMb) return undefined;
    return first;
  }

  /**
   * Evicts, one at a time, the idle instance of lowest priority among groups not held at their
   * floor, until `needMb` is free (or usage fits capacity), checking each against the Pool's event.
   */
  #evict(s: number, needMb: number, events: RemovalEvent[], reason: string): void {
    const server = this.servers[s]!;
    const short = () => server.capacityMb - this.usedMb(s) < needMb || this.usedMb(s) > server.capacityMb;
    while (short()) {
      let min = Infinity;
      const candidates: RefGroup[] = [];
      for (const g of server.groups.values()) {
        if (g.idle.length === 0 || this.#protected(g.fn)) continue;
        const p = this.policy.priority(g);
        if (p < min) {
          min = p;
          candidates.length = 0;
        }
        if (p === min) candidates.push(g);
      }
      if (candidates.length === 0) break;
      const event = events.shift();
      const allowed = candidates.map((g) => g.idle[0]!.id);
      assert.ok(event, `expected an eviction (priority ${min}) of one of ${allowed.join(', ')}, the Pool evicted nothing more`);
      assert.equal(event.reason, reason, `eviction reason of instance ${event.id}`);
      assert.ok(allowed.includes(event.id), `the Pool evicted instance ${event.id} (priority ${this.#priorityOf(event.id)}), brute force allows ${allowed.join(', ')} (priority ${min})`);
      assert.equal(event.at, this.now);
      this.#remove(this.instances.get(event.id)!);
      if (min > server.clock) server.clock = min;
    }
  }

  #priorityOf(id: number): number {
    const i = this.instances.get(id);
    if (!i || (i.state !== 'idle' && i.state !== 'paused')) return NaN;
    return this.policy.priority(this.#group(i.fn, i.server));
  }

  /** Checks the Pool's acquire (its result and the evictions it made) and applies it. */
  acquire(fn: FunctionSpec, on: number | undefined, got: { id: number; server: number; startKind: StartKind } | undefined, events: RemovalEvent[]): void {
    // (Looking must not create a group: the order groups are created in is the Pool's reuse order.)
    const onGroup = on === undefined ? undefined : this.servers[on]!.groups.get(fn.index);
    const groups = on === undefined ? this.#groupsOf.get(fn.index) ?? [] : onGroup ? [onGroup] : [];
    const reuse = groups.find((g) => g.idle.length > 0);
    if (reuse) {
      const i = reuse.idle[reuse.idle.length - 1]!;
      assert.deepEqual(got && { id: got.id, startKind: got.startKind }, { id: i.id, startKind: i.state === 'paused' ? 'resumed' : 'warm' }, `acquire ${fn.id}: reuse the most recent idle instance`);
      assert.equal(events.length, 0, 'a warm start evicts nothing');
      this.#takeIdle(i);
      i.state = 'busy';
      reuse.active++;
      this.#use(reuse, i);
      return;
    }
    const s = this.#place(fn, on === undefined ? this.servers.map((_, k) => k) : [on], true);
    if (s === undefined) {
      assert.equal(got, undefined, `acquire ${fn.id}: no server can hold it`);
      assert.equal(events.length, 0);
      return;
    }
    this.#evict(s, fn.memoryMb, events, 'evicted');
    assert.equal(events.length, 0, `acquire ${fn.id}: the Pool evicted more than it needed (${events.map((e) => e.id).join(', ')})`);
    if (this.servers[s]!.capacityMb - this.usedMb(s) < fn.memoryMb) {
      assert.equal(got, undefined, `acquire ${fn.id}: provisioned instances leave server ${s} short`);
      return;
    }
    assert.ok(got, `acquire ${fn.id}: expected a cold start on server ${s}`);
    assert.equal(got.startKind, 'cold');
    assert.equal(got.server, s);
    const g = this.#group(fn, s);
    const i = this.#add(got.id, fn, s);
    g.active++;
    this.#use(g, i);
  }

  #add(id: number, fn: FunctionSpec, server: number): RefInstance {
    assert.ok(!this.instances.has(id), `instance id ${id} reused`);
    const i: RefInstance = { id, fn, server, state: 'starting', idleSince: 0, expiresAt: Infinity, uses: 0, clockAtLastUse: 0 };
    this.instances.set(id, i);
    return i;
  }

  prewarm(fn: FunctionSpec, got: { id: number; server: number } | undefined): void {
    const s = this.#place(fn, this.servers.map((_, k) => k), false);
    if (s === undefined) {
      assert.equal(got, undefined, `prewarm ${fn.id}: pre-warming never evicts`);
      return;
    }
    assert.ok(got, `prewarm ${fn.id}: expected an instance on server ${s}`);
    assert.equal(got.server, s);
    this.#add(got.id, fn, s);
    this.#group(fn, s).active++;
  }

  started(id: number): void {
    const i = this.instances.get(id)!;
    assert.equal(i.state, 'starting');
    i.state = 'busy';
  }

  release(id: number, overrideMs?: number): void {
    const i = this.instances.get(id)!;
    const g = this.#group(i.fn, i.server);
    g.active--;
    g.idle.push(i);
    i.state = 'idle';
    i.idleSince = this.now;
    const keep = overrideMs ?? this.policy.keepAliveMs;
    i.expiresAt = keep === Infinity ? Infinity : this.now + keep;
  }

  pause(id: number): void {
    this.instances.get(id)!.state = 'paused';
  }

  kill(id: number, events: RemovalEvent[]): void {
    const i = this.instances.get(id)!;
    this.#remove(i);
    const event = events.shift();
    assert.deepEqual(event && { id: event.id, reason: event.reason }, { id, reason: 'killed' });
    assert.equal(events.length, 0);
  }

  keepIdleUntil(id: number, until: number): void {
    const i = this.instances.get(id)!;
    if (i.expiresAt < until) i.expiresAt = until;
  }

  setMin(fn: FunctionSpec, count: number): void {
    const previous = this.#min.get(fn.index) ?? 0;
    if (count === 0) this.#min.delete(fn.index);
    else this.#min.set(fn.index, count);
    const keep = this.policy.keepAliveMs;
    if (count < previous && keep !== Infinity) {
      for (const g of this.#groupsOf.get(fn.index) ?? []) for (const i of g.idle) if (i.expiresAt === Infinity) i.expiresAt = this.now + keep;
    }
  }

  setCapacity(s: number, memoryMb: number, events: RemovalEvent[]): void {
    this.servers[s]!.capacityMb = memoryMb;
    if (this.usedMb(s) > memoryMb) this.#evict(s, 0, events, 'resized');
    assert.equal(events.length, 0, 'resizing evicted more than it needed');
  }

  /** The earliest end of a keep-alive window among idle instances (Infinity: none). */
  earliestExpiry(): number {
    let at = Infinity;
    for (const i of this.instances.values()) if ((i.state === 'idle' || i.state === 'paused') && i.expiresAt < at) at = i.expiresAt;
    return at;
  }

  /**
   * Checks the Pool's expiry at `now`: each function loses its due instances down to its floor, the
   * oldest due ones of a group first; due instances held at the floor are kept until evicted.
   */
  expire(events: RemovalEvent[]): void {
    const expired = new Set<number>();
    for (const e of events) {
      assert.equal(e.reason, 'expired', `expire removed instance ${e.id} as ${e.reason}`);
      const i = this.instances.get(e.id)!;
      assert.equal(e.at, i.expiresAt, `instance ${e.id} expires at the end of its window`);
      expired.add(e.id);
    }
    for (const [fnIndex, groups] of this.#groupsOf) {
      const fn = groups[0]!.fn;
      const due = groups.flatMap((g) => g.idle.filter((i) => i.expiresAt <= this.now));
      const min = this.#min.get(fnIndex);
      const removable = min === undefined ? due.length : Math.min(due.length, Math.max(0, this.count(fn) - min));
      const gone = due.filter((i) => expired.has(i.id));
      assert.equal(gone.length, removable, `${fn.id}: ${due.length} instances due, ${removable} above the floor, the Pool expired ${gone.length}`);
      for (const g of groups) {
        const groupDue = g.idle.filter((i) => i.expiresAt <= this.now);
        const k = groupDue.filter((i) => expired.has(i.id)).length;
        assert.ok(groupDue.slice(0, k).every((i) => expired.has(i.id)), `${fn.id}: the oldest due instances of a group expire first`);
      }
      for (const i of due) if (!expired.has(i.id)) i.expiresAt = Infinity;
    }
    for (const id of expired) this.#remove(this.instances.get(id)!);
  }
}
