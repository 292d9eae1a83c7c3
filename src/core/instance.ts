// Instances and the per-server group of one function's instances. A group keeps its idle instances
// in a doubly linked list from least to most recently used: a warm start takes the most recent one
// (the older ones are then the first to expire or be evicted), eviction takes the least recent one.

import type { FunctionSpec } from './trace.ts';
import type { Server } from './server.ts';

export type InstanceState = 'starting' | 'idle' | 'busy' | 'paused' | 'dead';

/** How an invocation found its instance. Later start paths (snapshot, zygote) add kinds. */
export type StartKind = 'cold' | 'warm' | 'resumed';

export class Instance {
  state: InstanceState = 'starting';
  /** How the current (or last) invocation started on this instance. */
  startKind: StartKind = 'cold';
  readonly createdAt: number;
  /** When the instance last became idle (or paused); meaningful only while idle or paused. */
  idleSince = 0;
  /** When its keep-alive window ends; Infinity when the policy keeps it until evicted. */
  expiresAt = Infinity;
  /** Invocations it has served. */
  uses = 0;
  /** Started ahead of demand (pre-warm, provisioned concurrency) and not used yet. */
  prewarmed = false;
  /** Its server's eviction clock when it was last used (per-instance Greedy-Dual). */
  clockAtLastUse = 0;
  /** Idle-list links, owned by the group. */
  prevIdle: Instance | undefined;
  nextIdle: Instance | undefined;

  constructor(
    readonly id: number,
    readonly fn: FunctionSpec,
    readonly group: FunctionGroup,
    now: number,
  ) {
    this.createdAt = now;
  }

  get server(): Server {
    return this.group.server;
  }

  get memoryMb(): number {
    return this.fn.memoryMb;
  }
}

/** All instances of one function on one server, and the state keep-alive policies reason about. */
export class FunctionGroup {
  /** Instances starting or serving an invocation. */
  active = 0;
  idleCount = 0;
  /** Least recently used idle instance (evicted first) and most recently used one (reused first). */
  oldestIdle: Instance | undefined;
  newestIdle: Instance | undefined;
  /** Invocations of the function on this server since the group last had no instance (GD's freq). */
  freq = 0;
  /** The server's eviction clock when the function was last used (GD's `clock` term). */
  clockAtLastUse = 0;
  /** Time of the last invocation. */
  lastUseAt = 0;
  /** The eviction priority the group is queued under, NaN when it is not queued. */
  queuedPriority = NaN;
  /** The earliest expiry of its idle instances it is queued under for expiry, Infinity if none. */
  queuedExpiry = Infinity;

  constructor(
    readonly fn: FunctionSpec,
    readonly server: Server,
  ) {}

  get instanceCount(): number {
    return this.active + this.idleCount;
  }

  pushIdle(instance: Instance): void {
    instance.prevIdle = this.newestIdle;
    instance.nextIdle = undefined;
    if (this.newestIdle) this.newestIdle.nextIdle = instance;
    else this.oldestIdle = instance;
    this.newestIdle = instance;
    this.idleCount++;
  }

  unlinkIdle(instance: Instance): void {
    if (instance.prevIdle) instance.prevIdle.nextIdle = instance.nextIdle;
    else this.oldestIdle = instance.nextIdle;
    if (instance.nextIdle) instance.nextIdle.prevIdle = instance.prevIdle;
    else this.newestIdle = instance.prevIdle;
    instance.prevIdle = instance.nextIdle = undefined;
    this.idleCount--;
  }

  *idleInstances(): IterableIterator<Instance> {
    for (let i = this.oldestIdle; i; i = i.nextIdle) yield i;
  }
}
