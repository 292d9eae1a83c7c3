// The decisions the Pool delegates. Implementations live in src/policies/; the core only calls them.

import type { FunctionGroup, Server } from './instance.ts';
import type { FunctionSpec } from './trace.ts';

/**
 * Which idle instances to keep and for how long. The Pool evicts the group with the lowest
 * priority first (its least recently used idle instance) and only when a new instance does not fit.
 */
export interface KeepAlivePolicy {
  readonly name: string;
  /**
   * Eviction priority of the group's next victim; lower goes first. Called when the group gains or
   * loses idle instances or is used, so it may depend on any group or server state.
   */
  priority(group: FunctionGroup): number;
  /** How long an instance of the group may stay idle before it is removed; Infinity = until evicted. */
  keepAliveMs(group: FunctionGroup): number;
  /** Whether the priority can change when an instance is used (false lets the Pool skip work). */
  readonly priorityDependsOnUse: boolean;
}

/** Where a new instance goes when the function has no idle instance anywhere. */
export interface PlacementPolicy {
  readonly name: string;
  /** A server that can hold the instance (possibly after evicting idle ones), or undefined. */
  choose(fn: FunctionSpec, servers: readonly Server[]): Server | undefined;
}

/** What a router needs to know of a function: a stable key to hash and the memory an instance holds. */
export interface RoutedFunction {
  readonly id: string;
  readonly memoryMb: number;
}

/**
 * A node as a router sees it: the simulator's Server, or a cluster node as its adverts describe it.
 * `load` counts invocations running or starting there.
 */
export interface NodeView<F extends RoutedFunction = FunctionSpec> {
  readonly name: string;
  readonly capacityMb: number;
  readonly freeMb: number;
  /** Memory a new instance could get, evicting idle instances if need be. */
  readonly reclaimableMb: number;
  readonly load: number;
  /** Idle (warm or paused) instances of `fn` the node holds. */
  idleOf(fn: F): number;
  /** Whether the node can start `fn` from a snapshot it already holds (undefined: unknown, treated as no). */
  snapshotReady?(fn: F): boolean;
}

/**
 * Where a request goes when each node reuses only its own instances (a cluster of invokers, each
 * with its own Pool). Undefined when no node can take it.
 */
export interface RoutingPolicy {
  readonly name: string;
  route<F extends RoutedFunction, N extends NodeView<F>>(fn: F, nodes: readonly N[]): N | undefined;
}
