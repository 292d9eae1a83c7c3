// Instances, the per-server group of one function's instances, and the servers (invokers) they
// live on: the Pool's state, one module because each refers to the others. A group keeps its idle
// instances in a doubly linked list from least to most recently used: a warm start takes the most
// recent one (the older ones are then the first to expire or be evicted), eviction takes the least
// recent one. A server has a memory capacity that its instances share.

import { KeyedHeap } from './heap.ts';
import type { FunctionSpec } from './trace.ts';

export type InstanceState = 'starting' | 'idle' | 'busy' | 'paused' | 'dead';

/**
 * How an invocation found its instance: a warm one, a paused one thawed (`resumed`), or a new one
 * started along a start path (`cold`, or the platform's accelerators `snapshot`, `zygote` and `isolate`). The
 * Pool itself only tells cold, warm and resumed apart; a start path refines `cold`.
 */
export type StartKind = 'cold' | 'warm' | 'resumed' | 'snapshot' | 'zygote' | 'isolate';
export const START_KINDS: readonly StartKind[] = ['cold', 'warm', 'resumed', 'snapshot', 'zygote', 'isolate'];
/** How a new instance comes to life (the start kinds of a new instance). */
export type StartPathKind = Extract<StartKind, 'cold' | 'snapshot' | 'zygote' | 'isolate'>;

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
  /** Invocations it serves now (at most maxInFlight; 0 while idle or starting ahead). */
  inFlight = 0;
  /** Invocations it serves at once: its function's concurrency, unless its sandbox serves fewer (Pool.limitConcurrency). */
  maxInFlight: number;
  /** Takes no further invocations until it is idle again (Pool.drain: an operator stops it once it is). */
  draining = false;
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
    this.maxInFlight = fn.concurrency ?? 1;
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
  /**
   * Busy, started instances serving fewer invocations than their function's concurrency: the next
   * invocation joins one of them before it takes an idle instance or starts a new one (empty for a
   * function that serves one invocation per instance).
   */
  readonly open = new Set<Instance>();
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

// ------------------------------------------------------------------ servers

export interface ServerSpec {
  name?: string;
  memoryMb: number;
  /** Relative speed: start and execution times are divided by it (heterogeneous clusters). */
  speed?: number;
  /** Price of holding 1 GB for 1 s on this server (heterogeneous clusters). */
  pricePerGBs?: number;
  /** Tier the server belongs to (heterogeneous clusters: `high`, `low`, ...). */
  tier?: string;
}

export class Server {
  readonly name: string;
  readonly speed: number;
  readonly pricePerGBs: number;
  readonly tier: string;
  capacityMb: number;
  /** Memory held by every live instance (starting, busy, idle, paused). */
  usedMb = 0;
  /** Memory held by idle and paused instances only (what eviction can free). */
  idleMb = 0;
  /** Instances starting or serving an invocation (a router's load: a Server is a core NodeView). */
  load = 0;
  /** Greedy-Dual's logical clock L: raised to the priority of each evicted instance. */
  clock = 0;
  /** Groups with idle instances, by eviction priority (lazy: stale entries are skipped on pop). */
  readonly evictionQueue = new KeyedHeap<FunctionGroup>();
  readonly groups = new Map<number, FunctionGroup>();

  constructor(
    readonly index: number,
    spec: ServerSpec,
  ) {
    this.name = spec.name ?? `server-${index}`;
    this.capacityMb = spec.memoryMb;
    this.speed = spec.speed ?? 1;
    this.pricePerGBs = spec.pricePerGBs ?? 0;
    this.tier = spec.tier ?? 'default';
  }

  get freeMb(): number {
    return this.capacityMb - this.usedMb;
  }

  /** Memory a new instance could get here, evicting every idle instance if need be. */
  get reclaimableMb(): number {
    return this.capacityMb - this.usedMb + this.idleMb;
  }

  /** Idle (warm or paused) instances of `fn` here. */
  idleOf(fn: FunctionSpec): number {
    return this.groups.get(fn.index)?.idleCount ?? 0;
  }
}
