// Placement of new instances across servers.

import { ThawError } from '../../core/errors.ts';
import type { PlacementPolicy, RoutingPolicy } from '../../core/policy.ts';
import type { Server } from '../../core/instance.ts';
import type { FunctionSpec } from '../../core/trace.ts';
import { BoundedLoadRouting, RandomRouting, RoundRobinRouting, type BoundedLoadOptions } from './routing.ts';

export { BoundedLoadRouting, RandomRouting, RoundRobinRouting, type BoundedLoadOptions } from './routing.ts';
export { HashRing, hash32 } from './hash-ring.ts';

/**
 * The server with the most free memory; if none has room, the one where evicting idle instances
 * frees the most. Spreads load and evicts only where it must.
 */
export class LeastLoadedPlacement implements PlacementPolicy {
  readonly name = 'least-loaded';
  choose(fn: FunctionSpec, servers: readonly Server[]): Server | undefined {
    let best: Server | undefined;
    for (const s of servers) if (s.freeMb >= fn.memoryMb && (!best || s.freeMb > best.freeMb)) best = s;
    if (best) return best;
    for (const s of servers) if (s.reclaimableMb >= fn.memoryMb && (!best || s.reclaimableMb > best.reclaimableMb)) best = s;
    return best;
  }
}

/** The first server (in order) with room, evicting on the first where eviction makes room. Packs servers. */
export class FirstFitPlacement implements PlacementPolicy {
  readonly name = 'first-fit';
  choose(fn: FunctionSpec, servers: readonly Server[]): Server | undefined {
    return servers.find((s) => s.freeMb >= fn.memoryMb) ?? servers.find((s) => s.reclaimableMb >= fn.memoryMb);
  }
}

/**
 * A home server per function from a hash of its id (like OpenWhisk's home invoker), then the next
 * ones in ring order: keeps a function's instances together so they are reused.
 */
export class AffinityPlacement implements PlacementPolicy {
  readonly name = 'affinity';
  choose(fn: FunctionSpec, servers: readonly Server[]): Server | undefined {
    const home = hashString(fn.id) % servers.length;
    for (let pass = 0; pass < 2; pass++) {
      for (let k = 0; k < servers.length; k++) {
        const s = servers[(home + k) % servers.length]!;
        if (pass === 0 ? s.freeMb >= fn.memoryMb : s.reclaimableMb >= fn.memoryMb) return s;
      }
    }
    return undefined;
  }
}

function hashString(s: string): number {
  let h = 2166136261;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 16777619);
  return h >>> 0;
}

const factories: Record<string, () => PlacementPolicy> = {
  'least-loaded': () => new LeastLoadedPlacement(),
  'first-fit': () => new FirstFitPlacement(),
  affinity: () => new AffinityPlacement(),
};

export const PLACEMENT_POLICIES = Object.keys(factories);

export function createPlacement(name: string): PlacementPolicy {
  const factory = factories[name];
  if (!factory) throw new ThawError('ERR_UNKNOWN_POLICY', `unknown placement policy '${name}' (known: ${PLACEMENT_POLICIES.join(', ')})`);
  return factory();
}

export interface RoutingOptions {
  /** chbl: its ε and home-set size. */
  chbl?: BoundedLoadOptions;
  /** random: the seed of its choices. */
  seed?: number;
}

const routers: Record<string, (options: RoutingOptions) => RoutingPolicy> = {
  chbl: (options) => new BoundedLoadRouting(options.chbl),
  random: (options) => new RandomRouting(options.seed),
  'round-robin': () => new RoundRobinRouting(),
};

/** Routers: each request goes to one node, which reuses only its own instances (routing.ts). */
export const ROUTING_POLICIES = Object.keys(routers);

export function isRouting(name: string): boolean {
  return name in routers;
}

export function createRouting(name: string, options: RoutingOptions = {}): RoutingPolicy {
  const factory = routers[name];
  if (!factory) throw new ThawError('ERR_UNKNOWN_POLICY', `unknown routing policy '${name}' (known: ${ROUTING_POLICIES.join(', ')})`);
  return factory(options);
}
