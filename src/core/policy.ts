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
