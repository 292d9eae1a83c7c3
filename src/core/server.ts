// A server (an invoker) with a memory capacity that its instances share.

import { KeyedHeap } from './heap.ts';
import type { FunctionGroup } from './instance.ts';

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
}
