// Start paths: how a new instance comes to life. `cold` boots the runtime and loads the function from
// nothing; `snapshot` restores a V8 startup snapshot taken after the function's imports and init();
// `zygote` specialises a pre-initialised runtime that has already imported the function's packages.
// The invoker asks the planner which path to take for each new instance and records the path it took
// as the invocation's start kind. A path that cannot serve (no snapshot yet, a corrupt one, no
// matching zygote) says so, and the instance starts cold: a start path never fails a request that a
// cold start could serve.

import type { StartPathKind } from '../../core/instance.ts';
import type { DeployedFunction } from '../function.ts';
import type { Sandbox, SandboxSpec } from '../sandbox/types.ts';

export type { StartPathKind } from '../../core/instance.ts';

export interface StartPath {
  readonly kind: StartPathKind;
  /**
   * Whether this path can start an instance of `fn` right now (a verified snapshot exists, a zygote
   * with a contained package set is ready, ...). Must be cheap: it is asked on every cold start.
   */
  available(fn: DeployedFunction): boolean;
  /** The sandbox of a new instance of `fn` started along this path (not started yet). */
  create(fn: DeployedFunction, spec: SandboxSpec): Sandbox;
  /** Called when a version is deployed (build its snapshot, plan zygotes, ...). Must not throw. */
  onDeploy?(fn: DeployedFunction): void;
  /** Called when a version is retired or removed (drop its artefacts). */
  onRetire?(fn: DeployedFunction): void;
  /** Called after every cold start along any path, with what it measured (learning, triggers). */
  onColdStart?(fn: DeployedFunction, path: StartPathKind, startMs: number): void;
  /** Releases what the path holds (zygote processes, caches). */
  close?(): Promise<void>;
}
