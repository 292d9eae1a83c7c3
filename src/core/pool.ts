// The Pool: every instance on every server and the state machine they move through. It applies the
// keep-alive policy (which idle instance to keep, for how long, which to evict) and the placement
// policy (where a new instance goes). It never reads the time itself and does no I/O: the simulator
// drives it with a virtual clock, the platform with the wall clock and real sandboxes.
//
//   acquire ──► starting ──started()──► busy ──release()──► idle ──pause()──► paused
//                  ▲                     ▲                  │  │                 │
//                  └──── cold start ─────┴──── warm start ──┘  │ resumed start ──┘
//                                                               └─► dead (evicted, expired, killed)
//
// Resource-conserving: nothing is evicted while memory is free; a busy instance is never evicted; a
// new instance that cannot fit even after evicting every idle instance evicts nothing.
//
// A function whose instances serve several invocations at once (FunctionSpec.concurrency > 1) has
// its instances serving invocations with a slot free in their group's `open` set: an invocation
// joins one of them before it takes an idle instance or starts a new one, and the instance goes idle
// only when its last invocation is released. Joining a running instance is a warm start; joining one
// that is still starting for an invocation is a cold start that waits for the rest of that start
// (as Knative's activator holds requests for a revision scaled from zero until its pod is ready):
// a burst reaching a function with no instance starts one, not one per request.

import type { Clock } from './clock.ts';
import { ThawError } from './errors.ts';
import { KeyedHeap } from './heap.ts';
import { FunctionGroup, Instance, Server, type ServerSpec } from './instance.ts';
import type { KeepAlivePolicy, PlacementPolicy } from './policy.ts';
import type { FunctionSpec } from './trace.ts';

export type RemovalReason = 'evicted' | 'expired' | 'killed' | 'resized';

/** Observers of what the Pool does, for metrics. Called synchronously. */
export interface PoolListener {
  /** An idle or paused period of `instance` ended at `end` (reuse, eviction, expiry, kill). */
  idleEnded?(instance: Instance, start: number, end: number): void;
  /** `instance` left the pool at `at`. */
  removed?(instance: Instance, reason: RemovalReason, at: number): void;
}

export interface PoolOptions {
  servers: readonly ServerSpec[];
  keepAlive: KeepAlivePolicy;
  placement: PlacementPolicy;
  clock: Clock;
  listener?: PoolListener;
}

export class Pool {
  readonly servers: readonly Server[];
  readonly keepAlive: KeepAlivePolicy;
  readonly placement: PlacementPolicy;
  readonly #clock: Clock;
  readonly #listener: PoolListener;
  /** Groups of each function (by FunctionSpec.index), one per server it has ever run on. */
  readonly #groupsByFunction: FunctionGroup[][] = [];
  /**
   * Groups with idle instances that have a finite keep-alive, by their earliest expiry. Queuing
   * groups rather than instances means a warm start (which takes the newest instance and leaves the
   * group's earliest expiry alone) costs no heap operation. Entries may be stale or early; expire()
   * checks the instances themselves.
   */
  readonly #expiries = new KeyedHeap<FunctionGroup>();
  #nextInstanceId = 1;
  /** Provisioned concurrency: instances a function keeps whatever the keep-alive policy says. */
  readonly #minInstances = new Map<number, number>();

  constructor(options: PoolOptions) {
    if (options.servers.length === 0) throw new ThawError('ERR_INVALID_OPTION', 'a pool needs at least one server');
    this.servers = options.servers.map((spec, i) => {
      if (!(spec.memoryMb >= 0)) throw new ThawError('ERR_INVALID_OPTION', `server ${i}: memory must be ≥ 0 MB, got ${spec.memoryMb}`);
      return new Server(i, spec);
    });
    this.keepAlive = options.keepAlive;
    this.placement = options.placement;
    this.#clock = options.clock;
    this.#listener = options.listener ?? {};
  }

  /**
   * An instance to run one invocation of `fn`: an idle one if any server has one (warm, or resumed
   * if it was paused), else a new one in state `starting` (cold). `instance.startKind` says which.
   * Returns undefined when no server can hold a new instance: the caller drops or queues the request.
   * With `on` (a router chose the server), only that server's instances are reused, and a new one
   * goes there.
   */
  acquire(fn: FunctionSpec, on?: Server): Instance | undefined {
    const now = this.#clock.now();
    const shared = (fn.concurrency ?? 1) > 1 ? this.#openInstance(fn, on) : undefined;
    if (shared) {
      shared.inFlight++;
      shared.startKind = shared.state === 'starting' ? 'cold' : 'warm';
      this.#reopen(shared);
      this.#recordUse(shared.group, shared, now);
      return shared;
    }
    const idle = on ? on.groups.get(fn.index)?.newestIdle : this.#newestIdle(fn);
    if (idle) {
      const group = idle.group;
      this.#leaveIdle(idle, now);
      idle.prewarmed = false;
      idle.startKind = idle.state === 'paused' ? 'resumed' : 'warm';
      idle.state = 'busy';
      idle.inFlight = 1;
      this.#reopen(idle);
      group.active++;
      group.server.load++;
      this.#recordUse(group, idle, now);
      return idle;
    }
    const instance = this.#newInstance(fn, now, true, on ? [on] : this.servers);
    if (instance) {
      instance.inFlight = 1;
      this.#reopen(instance);
      this.#recordUse(instance.group, instance, now);
    }
    return instance;
  }

  /** An instance of `fn` serving (or starting for) invocations with a slot free: on `on` only when given, else on the first server that has one. */
  #openInstance(fn: FunctionSpec, on: Server | undefined): Instance | undefined {
    const groups = on ? [on.groups.get(fn.index)] : this.#groupsByFunction[fn.index];
    if (groups) for (const group of groups) if (group) for (const instance of group.open) return instance;
    return undefined;
  }

  /** Keeps `instance` in its group's open set exactly while it runs and has a free slot. */
  #reopen(instance: Instance): void {
    const open = instance.group.open;
    if ((instance.state === 'busy' || instance.state === 'starting') && !instance.draining && instance.inFlight > 0 && instance.inFlight < instance.maxInFlight) open.add(instance);
    else if (open.size > 0) open.delete(instance);
  }

  /** The most recently used idle instance of `fn` on the first server (in the order it first ran there) that has one. */
  #newestIdle(fn: FunctionSpec): Instance | undefined {
    const groups = this.#groupsByFunction[fn.index];
    if (groups) for (const group of groups) if (group.newestIdle) return group.newestIdle;
    return undefined;
  }

  /**
   * Starts an instance of `fn` ahead of demand (pre-warming, provisioned concurrency), only where
   * memory is free: pre-warming never evicts. The instance is `starting`; call started() and
   * release() once it is ready, and it waits idle for its first request like any other.
   */
  prewarm(fn: FunctionSpec, servers?: readonly Server[]): Instance | undefined {
    const instance = this.#newInstance(fn, this.#clock.now(), false, servers);
    if (instance) instance.prewarmed = true;
    return instance;
  }

  /**
   * Extends an idle instance's keep-alive window to end no earlier than `until` (a pre-warm decision
   * that finds an instance already idle keeps it instead of starting another). The expiry queue is
   * lazy: its entry for the group is early, and expire() re-queues the group at the new time.
   */
  keepIdleUntil(instance: Instance, until: number): void {
    if (instance.state !== 'idle' && instance.state !== 'paused') this.#expectState(instance, 'idle', 'keepIdleUntil');
    if (instance.expiresAt < until) instance.expiresAt = until;
  }

  /**
   * Provisioned concurrency: keep at least `count` instances of `fn` (across servers). Instances at
   * that floor are neither evicted nor expired; the caller starts them with prewarm().
   */
  setMinInstances(fn: FunctionSpec, count: number): void {
    if (!Number.isInteger(count) || count < 0) throw new ThawError('ERR_INVALID_OPTION', `provisioned concurrency must be an integer ≥ 0, got ${count}`);
    const previous = this.#minInstances.get(fn.index) ?? 0;
    if (count === 0) this.#minInstances.delete(fn.index);
    else this.#minInstances.set(fn.index, count);
    const now = this.#clock.now();
    for (const group of this.groupsOf(fn)) {
      if (group.idleCount === 0) continue;
      // Instances the floor held back (expiry set to Infinity) get a keep-alive window again.
      if (count < previous) {
        const keepAliveMs = this.keepAlive.keepAliveMs(group);
        if (keepAliveMs !== Infinity) {
          for (let i = group.oldestIdle; i; i = i.nextIdle) {
            if (i.expiresAt === Infinity) i.expiresAt = now + keepAliveMs;
            if (i.expiresAt < group.queuedExpiry) {
              group.queuedExpiry = i.expiresAt;
              this.#expiries.push(i.expiresAt, group);
            }
          }
        }
      }
      this.#requeue(group, true);
    }
  }

  /** Instances of `fn` that exist now, in any live state, across servers. */
  instanceCount(fn: FunctionSpec): number {
    let count = 0;
    for (const group of this.groupsOf(fn)) count += group.instanceCount;
    return count;
  }

  #isProtected(group: FunctionGroup): boolean {
    const min = this.#minInstances.get(group.fn.index);
    return min !== undefined && this.instanceCount(group.fn) <= min;
  }

  /** Provisioned concurrency of `fn` (0 when none). */
  minInstances(fn: FunctionSpec): number {
    return this.#minInstances.get(fn.index) ?? 0;
  }

  #newInstance(fn: FunctionSpec, now: number, mayEvict: boolean, servers: readonly Server[] = this.servers): Instance | undefined {
    const server = servers.length ? this.placement.choose(fn, servers) : undefined;
    if (!server || (mayEvict ? server.reclaimableMb : server.freeMb) < fn.memoryMb) return undefined;
    if (server.freeMb < fn.memoryMb) {
      this.#evictUntilFree(server, fn.memoryMb, now);
      // Idle instances held back by provisioned concurrency may leave it short.
      if (server.freeMb < fn.memoryMb) return undefined;
    }
    const group = this.#groupOf(fn, server);
    const instance = new Instance(this.#nextInstanceId++, fn, group, now);
    server.usedMb += fn.memoryMb;
    group.active++;
    server.load++;
    return instance;
  }

  /** A cold start finished: the instance now runs its first invocation. */
  started(instance: Instance): void {
    this.#expectState(instance, 'starting', 'started');
    instance.state = 'busy';
  }

  /**
   * The invocation finished: the instance becomes idle, kept by the keep-alive policy, or for
   * `keepAliveMs` when given (a pre-warmed instance kept for the window its pre-warm decision set).
   * An instance still serving other invocations stays busy, with a slot free again.
   */
  release(instance: Instance, keepAliveOverrideMs?: number): void {
    if (instance.state !== 'busy' && instance.state !== 'starting') this.#expectState(instance, 'busy', 'release');
    if (instance.inFlight > 1) {
      instance.inFlight--;
      this.#reopen(instance);
      return;
    }
    const now = this.#clock.now();
    const group = instance.group;
    instance.inFlight = 0;
    instance.draining = false;
    if (group.open.size > 0) group.open.delete(instance);
    instance.state = 'idle';
    instance.idleSince = now;
    group.active--;
    group.server.load--;
    group.pushIdle(instance);
    instance.server.idleMb += instance.memoryMb;
    const keepAliveMs = keepAliveOverrideMs ?? this.keepAlive.keepAliveMs(group);
    if (keepAliveMs !== Infinity) {
      instance.expiresAt = now + keepAliveMs;
      if (instance.expiresAt < group.queuedExpiry) {
        group.queuedExpiry = instance.expiresAt;
        this.#expiries.push(instance.expiresAt, group);
      }
    }
    if (group.idleCount === 1) this.#requeue(group);
  }

  /**
   * The instance serves at most `n` invocations at once, fewer than its function's concurrency (the
   * platform's sandbox for it cannot serve more: a start path whose runtime serves one at a time).
   */
  limitConcurrency(instance: Instance, n: number): void {
    if (!(Number.isInteger(n) && n >= 1)) throw new ThawError('ERR_INVALID_OPTION', `an instance serves at least one invocation at a time, got ${n}`);
    if (n >= instance.maxInFlight) return;
    instance.maxInFlight = n;
    this.#reopen(instance);
  }

  /**
   * A busy or starting instance takes no further invocations: those in flight finish, and the
   * release of the last one is the caller's moment to stop it (or it goes idle as usual).
   */
  drain(instance: Instance): void {
    if (instance.state !== 'busy' && instance.state !== 'starting') this.#expectState(instance, 'busy', 'drain');
    instance.draining = true;
    this.#reopen(instance);
  }

  /** Marks an idle instance paused (its processes frozen); it is still reused, as a `resumed` start. */
  pause(instance: Instance): void {
    this.#expectState(instance, 'idle', 'pause');
    instance.state = 'paused';
  }

  /** Removes an instance in any live state (its sandbox died or was destroyed). */
  kill(instance: Instance): void {
    if (instance.state === 'dead') return;
    const now = this.#clock.now();
    if (instance.state === 'idle' || instance.state === 'paused') {
      this.#removeIdle(instance, 'killed', now);
      return;
    }
    instance.group.active--;
    instance.server.load--;
    instance.server.usedMb -= instance.memoryMb;
    instance.state = 'dead';
    instance.inFlight = 0;
    instance.group.open.delete(instance);
    this.#afterRemoval(instance.group);
    this.#listener.removed?.(instance, 'killed', now);
  }

  /** Removes idle instances whose keep-alive window has ended by now. Returns them. */
  expire(): Instance[] {
    const now = this.#clock.now();
    const expired: Instance[] = [];
    while (this.#expiries.peekKey() <= now) {
      const at = this.#expiries.peekKey();
      const group = this.#expiries.pop()!;
      if (at !== group.queuedExpiry) continue; // superseded by an earlier entry
      group.queuedExpiry = Infinity;
      let next = Infinity;
      for (let instance = group.oldestIdle; instance; ) {
        const following = instance.nextIdle;
        if (instance.expiresAt <= now) {
          if (this.#isProtected(group)) {
            instance.expiresAt = Infinity; // provisioned: it stays
          } else {
            this.#removeIdle(instance, 'expired', instance.expiresAt);
            expired.push(instance);
          }
        } else if (instance.expiresAt < next) {
          next = instance.expiresAt;
        }
        instance = following;
      }
      if (next !== Infinity) {
        group.queuedExpiry = next;
        this.#expiries.push(next, group);
      }
    }
    return expired;
  }

  /** When the next keep-alive window may end (Infinity if none): the platform sets a timer for it. */
  nextExpiry(): number {
    return this.#expiries.peekKey();
  }

  /** Changes a server's memory; evicts idle instances until what is held fits (busy ones stay). */
  setCapacity(server: Server, memoryMb: number): void {
    if (!(memoryMb >= 0)) throw new ThawError('ERR_INVALID_OPTION', `capacity must be ≥ 0 MB, got ${memoryMb}`);
    server.capacityMb = memoryMb;
    if (server.usedMb > memoryMb) this.#evictUntilFree(server, 0, this.#clock.now(), 'resized');
  }

  /** Every idle or paused instance (for end-of-run accounting and inspection). */
  *idleInstances(): IterableIterator<Instance> {
    for (const server of this.servers) for (const group of server.groups.values()) yield* group.idleInstances();
  }

  groupsOf(fn: FunctionSpec): readonly FunctionGroup[] {
    return this.#groupsByFunction[fn.index] ?? [];
  }

  #groupOf(fn: FunctionSpec, server: Server): FunctionGroup {
    let group = server.groups.get(fn.index);
    if (!group) {
      group = new FunctionGroup(fn, server);
      server.groups.set(fn.index, group);
      (this.#groupsByFunction[fn.index] ??= []).push(group);
    }
    return group;
  }

  #recordUse(group: FunctionGroup, instance: Instance, now: number): void {
    instance.uses++;
    instance.clockAtLastUse = group.server.clock;
    group.freq++;
    group.clockAtLastUse = group.server.clock;
    group.lastUseAt = now;
    if (this.keepAlive.priorityDependsOnUse && group.idleCount > 0) this.#requeue(group);
  }

  /** Takes an idle instance out of its group's idle list for reuse. */
  #leaveIdle(instance: Instance, now: number): void {
    const group = instance.group;
    const wasOldest = group.oldestIdle === instance;
    group.unlinkIdle(instance);
    instance.server.idleMb -= instance.memoryMb;
    instance.expiresAt = Infinity;
    this.#listener.idleEnded?.(instance, instance.idleSince, now);
    if (group.idleCount === 0) group.queuedPriority = NaN;
    else if (wasOldest) this.#requeue(group);
  }

  #removeIdle(instance: Instance, reason: RemovalReason, at: number): void {
    this.#leaveIdle(instance, at);
    instance.server.usedMb -= instance.memoryMb;
    instance.state = 'dead';
    this.#afterRemoval(instance.group);
    this.#listener.removed?.(instance, reason, at);
  }

  #afterRemoval(group: FunctionGroup): void {
    // GD's frequency counts the function's uses while it stays cached; it starts over once the
    // function has no instance left on this server.
    if (group.instanceCount === 0) group.freq = 0;
  }

  /** Evicts lowest-priority idle instances until `needMb` is free (0: until usage fits capacity). */
  #evictUntilFree(server: Server, needMb: number, now: number, reason: RemovalReason = 'evicted'): void {
    const queue = server.evictionQueue;
    // Groups held at their provisioned floor are passed over, and go back into the queue at the
    // priority they had: they stay queued (never NaN) so they are candidates again once above it.
    const heldBack: FunctionGroup[] = [];
    while (server.freeMb < needMb || server.usedMb > server.capacityMb) {
      const priority = queue.peekKey();
      const group = queue.pop();
      if (!group) break;
      if (group.idleCount === 0 || priority !== group.queuedPriority) continue; // stale entry
      if (this.#isProtected(group)) {
        heldBack.push(group);
        continue;
      }
      group.queuedPriority = NaN;
      const victim = group.oldestIdle!;
      this.#removeIdle(victim, reason, now);
      if (priority > server.clock) server.clock = priority;
      if (group.idleCount > 0) this.#requeue(group);
    }
    for (const group of heldBack) queue.push(group.queuedPriority, group);
  }

  /** (Re)enters a group with idle instances in its server's eviction queue at its current priority. */
  #requeue(group: FunctionGroup, force = false): void {
    const priority = this.keepAlive.priority(group);
    if (priority === group.queuedPriority && !force) return;
    group.queuedPriority = priority;
    const server = group.server;
    const queue = server.evictionQueue;
    queue.push(priority, group);
    // Each re-queue leaves a stale entry behind; rebuild before they outnumber live ones.
    if (queue.size > 64 + 4 * server.groups.size) this.#rebuildQueue(server);
  }

  #rebuildQueue(server: Server): void {
    server.evictionQueue.clear();
    for (const group of server.groups.values()) {
      // Every group with idle instances is queued under a number; an unqueued one would be NaN, and
      // a NaN key breaks the heap's order for every entry (comparisons with NaN are all false).
      if (group.idleCount > 0) server.evictionQueue.push(group.queuedPriority, group);
    }
  }

  #expectState(instance: Instance, expected: string, operation: string): void {
    if (instance.state !== expected) {
      throw new ThawError('ERR_INVALID_STATE', `${operation}: instance ${instance.id} of ${instance.fn.id} is ${instance.state}, expected ${expected}`);
    }
  }
}
