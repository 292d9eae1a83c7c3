// Which start path a new instance takes. A version's `start` preference names one path (cold,
// snapshot, zygote) or `auto`; a named path is used when it can serve right now, else the instance
// starts cold. `auto` chooses by measured cost: the start time each path has shown for that function
// (an exponentially weighted mean), trying each available path once before trusting the numbers.

import type { DeployedFunction } from '../function.ts';
import { SafeSandbox } from '../sandbox/safe.ts';
import type { Sandbox, SandboxBackend, SandboxSpec } from '../sandbox/types.ts';
import type { StartPath, StartPathKind } from './start-path.ts';

export interface PlannedStart {
  /** Destroyed on any failure (see SafeSandbox), whatever the path. */
  sandbox: Sandbox;
  /** The path chosen (the sandbox may still fall back to cold: see startKindOf). */
  path: StartPathKind;
  /** Why: 'preference', 'auto: fastest measured', 'auto: not measured yet', 'fallback: ...'. */
  reason: string;
}

/** Smoothing of measured start times: the newest start weighs 30 %. */
const WEIGHT = 0.3;

export class StartPlanner {
  readonly #paths = new Map<StartPathKind, StartPath>();
  /** Measured start cost per function version and path, ms. */
  readonly #cost = new Map<string, Map<StartPathKind, number>>();

  constructor(
    readonly backend: SandboxBackend,
    paths: readonly StartPath[] = [],
  ) {
    for (const p of paths) this.#paths.set(p.kind, p);
  }

  get paths(): StartPath[] {
    return [...this.#paths.values()];
  }

  plan(fn: DeployedFunction, spec: SandboxSpec): PlannedStart {
    const preference = fn.start ?? 'cold';
    const candidates: StartPathKind[] = preference === 'auto' ? ['cold', ...this.#paths.keys()] : [preference];
    const usable = candidates.filter((k) => k === 'cold' || this.#paths.get(k)?.available(fn));
    let choice: StartPathKind = 'cold';
    let reason = preference === 'cold' ? 'preference' : `fallback: ${preference} not available`;
    if (preference !== 'auto' && usable.includes(preference)) {
      choice = preference;
      reason = 'preference';
    } else if (preference === 'auto') {
      const costs = this.#cost.get(keyOf(fn));
      const untried = usable.find((k) => costs?.get(k) === undefined && k !== 'cold');
      if (untried) {
        choice = untried;
        reason = 'auto: not measured yet';
      } else {
        choice = usable.reduce((best, k) => ((costs?.get(k) ?? Infinity) < (costs?.get(best) ?? Infinity) ? k : best), 'cold' as StartPathKind);
        reason = 'auto: fastest measured';
      }
    }
    if (choice !== 'cold') {
      try {
        return { sandbox: new SafeSandbox(this.#paths.get(choice)!.create(fn, spec)), path: choice, reason };
      } catch (error) {
        // The path changed its mind between available() and create() (a blob gone bad): start cold.
        reason = `fallback: ${(error as Error).message}`;
      }
    }
    return { sandbox: new SafeSandbox(this.backend.create(spec)), path: 'cold', reason };
  }

  /** Records how long a start along `path` took, and tells every path (learning, build triggers). */
  observe(fn: DeployedFunction, path: StartPathKind, startMs: number): void {
    const key = keyOf(fn);
    let costs = this.#cost.get(key);
    if (!costs) this.#cost.set(key, (costs = new Map()));
    const previous = costs.get(path);
    costs.set(path, previous === undefined ? startMs : previous * (1 - WEIGHT) + startMs * WEIGHT);
    for (const p of this.#paths.values()) p.onColdStart?.(fn, path, startMs);
  }

  /** Measured start cost per path for a function version, ms (for stats and tests). */
  costs(fn: DeployedFunction): Partial<Record<StartPathKind, number>> {
    return Object.fromEntries(this.#cost.get(keyOf(fn)) ?? []);
  }

  onDeploy(fn: DeployedFunction): void {
    for (const p of this.#paths.values()) p.onDeploy?.(fn);
  }

  onRetire(fn: DeployedFunction): void {
    for (const p of this.#paths.values()) p.onRetire?.(fn);
    this.#cost.delete(keyOf(fn));
  }

  async close(): Promise<void> {
    await Promise.all([...this.#paths.values()].map((p) => p.close?.()));
  }
}

/** The start kind a started sandbox really took: a snapshot (or isolate) sandbox may have fallen back to cold. */
export function startKindOf(sandbox: Sandbox, planned: StartPathKind): StartPathKind {
  return sandbox.startKind ?? planned;
}

function keyOf(fn: DeployedFunction): string {
  return `${fn.name}@${fn.version}`;
}
