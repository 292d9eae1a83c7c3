// What happens on the platform, as it happens: finished invocations, the policy's decisions
// (pre-warms, provisioned starts, evictions, expiries, and instances an operator stopped), deploys
// and removals. The dashboard's live view (GET /events, server-sent events) subscribes here; the
// latest decisions and invocations are kept so that a page loaded later sees the recent past.

import type { InvocationRecord, PhaseTimings } from './store/types.ts';

/** prewarm/provision: started ahead of demand; evict: to make room; expire: keep-alive ended; stop: an operator's evict. */
export type DecisionKind = 'prewarm' | 'provision' | 'evict' | 'expire' | 'stop';
export const DECISION_KINDS: readonly DecisionKind[] = ['prewarm', 'provision', 'evict', 'expire', 'stop'];

export interface Decision {
  kind: DecisionKind;
  /** The function (or `zygote:<packages>` for a zygote). */
  functionName: string;
  version: number | null;
  memoryMb: number;
}

export interface DecisionEvent extends Decision {
  type: 'decision';
  /** Epoch ms. */
  at: number;
}

export interface InvocationEvent {
  type: 'invocation';
  at: number;
  invocation: InvocationSummary;
}

export interface FunctionEvent {
  type: 'deploy' | 'remove' | 'alias';
  at: number;
  functionName: string;
  version?: number;
}

/** Some instance changed state (acquired, started, released, paused, stopped): live views refresh their counts. */
export interface InstancesEvent {
  type: 'instances';
  at: number;
}

export type PlatformEvent = DecisionEvent | InvocationEvent | FunctionEvent | InstancesEvent;

/** An invocation record without its payloads and logs: what a live view shows. */
export type InvocationSummary = Pick<InvocationRecord, 'id' | 'functionName' | 'version' | 'mode' | 'status' | 'startKind' | 'totalMs' | 'createdAt' | 'finishedAt' | 'attempts'> &
  PhaseTimings & { errorKind: string | null };

export function summarizeInvocation(r: InvocationRecord): InvocationSummary {
  return {
    id: r.id, functionName: r.functionName, version: r.version, mode: r.mode, status: r.status, startKind: r.startKind,
    totalMs: r.totalMs, createdAt: r.createdAt, finishedAt: r.finishedAt, attempts: r.attempts,
    queueMs: r.queueMs, sandboxMs: r.sandboxMs, runtimeBootMs: r.runtimeBootMs, importMs: r.importMs, initMs: r.initMs, execMs: r.execMs, platformMs: r.platformMs,
    errorKind: r.error?.kind ?? null,
  };
}

const KEEP_DECISIONS = 1000;

export class PlatformEvents {
  readonly #listeners = new Set<(event: PlatformEvent) => void>();
  readonly #decisions: DecisionEvent[] = [];
  readonly #now: () => number;

  constructor(now: () => number = Date.now) {
    this.#now = now;
  }

  decision(decision: Decision): void {
    const event: DecisionEvent = { type: 'decision', at: this.#now(), ...decision };
    this.#decisions.push(event);
    if (this.#decisions.length > KEEP_DECISIONS) this.#decisions.splice(0, this.#decisions.length - KEEP_DECISIONS);
    this.#emit(event);
  }

  invocation(record: InvocationRecord): void {
    if (this.#listeners.size === 0) return; // nobody watches: no summary to build on the warm path
    this.#emit({ type: 'invocation', at: this.#now(), invocation: summarizeInvocation(record) });
  }

  changed(type: FunctionEvent['type'], functionName: string, version?: number): void {
    this.#emit({ type, at: this.#now(), functionName, ...(version === undefined ? {} : { version }) });
  }

  instancesChanged(): void {
    if (this.#listeners.size > 0) this.#emit({ type: 'instances', at: this.#now() });
  }

  /** The latest decisions, oldest first (at most the last 1000). */
  recentDecisions(): readonly DecisionEvent[] {
    return this.#decisions;
  }

  /** Calls `listener` with every event from now on; returns the unsubscribe. */
  subscribe(listener: (event: PlatformEvent) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  #emit(event: PlatformEvent): void {
    for (const listener of this.#listeners) {
      try {
        listener(event);
      } catch {
        // a listener's failure (a closed connection) must not stop the platform or other listeners
      }
    }
  }
}
