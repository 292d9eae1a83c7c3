// Pre-warming: starting instances before requests arrive (docs/techniques.md §1, §1.2, §1.3). A Prewarm
// policy only decides; whoever drives the Pool executes its decisions at their time — the simulator
// on its virtual clock (a heap of timed actions beside its completions), the platform with timers on
// the wall clock. Decisions are plain data, so the same policy runs in both worlds.
//
// An action says: at time `at`, make sure `count` instances of `fn` are warm (idle or starting) on a
// server of `tier` (any server if omitted), and keep each of them idle for `keepAliveMs` after it is
// ready. Idle instances that already exist count towards `count` and have their keep-alive extended;
// only the missing ones are started, and only in free memory (pre-warming never evicts). A `provision`
// action sets the function's provisioned concurrency (Pool.setMinInstances) and then ensures it.

import type { Server } from './instance.ts';
import type { FunctionSpec } from './trace.ts';

export interface WarmAction {
  kind: 'warm';
  fn: FunctionSpec;
  /** When to act, ms on the driver's clock (≥ now; earlier means now). */
  at: number;
  /** Instances wanted warm (default 1). */
  count?: number;
  /** Server tier to warm on (heterogeneous clusters); undefined: any server. */
  tier?: string;
  /** How long each warmed instance stays idle once ready (Infinity: until evicted). */
  keepAliveMs: number;
  /**
   * A later action with the same key replaces a pending earlier one (e.g. the next pre-warm of an
   * application supersedes the one scheduled after its previous invocation).
   */
  key?: number;
}

export interface ProvisionAction {
  kind: 'provision';
  fn: FunctionSpec;
  at: number;
  /** Minimum instances of fn from `at` on (0 removes the floor). */
  count: number;
}

export type PrewarmAction = WarmAction | ProvisionAction;

/** What a Prewarm policy may read about the cluster when it decides (read-only). */
export interface PrewarmContext {
  readonly functions: readonly FunctionSpec[];
  readonly servers: readonly Server[];
  /** Idle instances of fn (optionally on one tier). */
  idleCount(fn: FunctionSpec, tier?: string): number;
}

/** Outcome of a warm action, reported back so policies can adapt (IceBreaker's thresholds). */
export interface WarmOutcome {
  action: WarmAction;
  /** Instances already idle that were kept. */
  kept: number;
  /** Instances started. */
  started: number;
  /** Instances wanted but not started because no server of the tier had free memory. */
  refused: number;
}

export interface PrewarmPolicy {
  readonly name: string;
  /** Period of tick(), ms; 0 when the policy never ticks. Ticks fall at multiples of it. */
  readonly tickMs: number;
  /** Called once before the run with the cluster it will act on; returns actions to schedule. */
  attach?(context: PrewarmContext): readonly PrewarmAction[] | void;
  /** A request of fn arrived at `now` (before it is served). */
  invoked?(fn: FunctionSpec, now: number): void;
  /** A request of fn that arrived was dropped (no server could hold it): it will not complete. */
  dropped?(fn: FunctionSpec, now: number): void;
  /** An invocation of fn finished at `now` (before its instance is released). */
  completed?(fn: FunctionSpec, now: number): readonly PrewarmAction[] | void;
  /** Periodic decision point, at multiples of tickMs. */
  tick?(now: number): readonly PrewarmAction[] | void;
  /** Results of executed warm actions. */
  executed?(outcome: WarmOutcome): void;
  /** What the policy wants in the run's result (e.g. predictor accuracy). Plain data. */
  report?(): Record<string, unknown> | undefined;
}

export function isPrewarmPolicy(value: unknown): value is PrewarmPolicy {
  return typeof value === 'object' && value !== null && typeof (value as PrewarmPolicy).tickMs === 'number' && typeof (value as PrewarmPolicy).name === 'string';
}
