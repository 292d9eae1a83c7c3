// The invocations a sandbox serving several at once (SandboxSpec.concurrency > 1) is waiting on:
// one waiter and one deadline each, keyed by invocation id. (A sandbox serving one at a time keeps
// its single waiter and its one re-armed timer, InvocationDeadline: the warm path builds nothing
// per invocation. Here a timer per invocation is the simple way to give each its own deadline.)
// Whatever ends one invocation's wait — its result, the runtime's exit, its deadline — settles it
// once. A deadline that passes asks the runtime to abandon that invocation (when the sandbox says
// how: `abandon`): it answers with the invocation's output and serves its siblings on. Only when it
// does not answer within ABANDON_GRACE_MS (its event loop is blocked: a loop that never yields)
// is the wait a plain timeout, and every sibling's wait ends with it, since the sandbox is killed.

import type { AgentMessage } from '../../runtime/protocol.ts';
import type { ExitInfo } from './types.ts';

export type ResultMessage = Extract<AgentMessage, { type: 'result' }>;
export type AbandonedMessage = Extract<AgentMessage, { type: 'abandoned' }>;

/** How long the runtime has to answer `abandon` before the sandbox is killed for the timeout, ms. */
export const ABANDON_GRACE_MS = 500;

/** How an invocation's wait for its result ended. */
export type InvocationEvent = { type: 'result'; msg: ResultMessage } | { type: 'exit'; info: ExitInfo } | { type: 'timeout' };

/** How the wait of one of several invocations in flight ended: as one alone, or with a sibling's timeout. */
export type ConcurrentInvocationEvent =
  | InvocationEvent
  /** Another invocation in flight on the same sandbox passed its deadline of `timeoutMs`: the sandbox is killed. */
  | { type: 'sibling-timeout'; timeoutMs: number }
  /** It passed its deadline and the runtime gave up on it, with its output so far: the sandbox serves on. */
  | { type: 'abandoned'; msg: AbandonedMessage };

interface Waiter {
  settle: (event: ConcurrentInvocationEvent) => void;
  timer: NodeJS.Timeout;
  /** Its deadline passed and `abandon` was sent: waiting for the runtime's answer. */
  abandoning: boolean;
}

export interface InFlightOptions {
  /** Asks the runtime to abandon invocation `id` (absent: a deadline kills, as for a runtime that cannot). */
  abandon?: (id: string) => void;
  /** Default ABANDON_GRACE_MS. */
  abandonGraceMs?: number;
}

export class InFlightInvocations {
  readonly #waiting = new Map<string, Waiter>();
  readonly #abandon: ((id: string) => void) | undefined;
  readonly #graceMs: number;

  constructor(options: InFlightOptions = {}) {
    this.#abandon = options.abandon;
    this.#graceMs = options.abandonGraceMs ?? ABANDON_GRACE_MS;
  }

  /** Invocations waited on now. */
  get size(): number {
    return this.#waiting.size;
  }

  has(id: string): boolean {
    return this.#waiting.has(id);
  }

  /** Waits for invocation `id` to end, within `timeoutMs`; `send` hands it to the runtime (once its waiter is in place). */
  wait(id: string, timeoutMs: number, send: () => void): Promise<ConcurrentInvocationEvent> {
    return new Promise((settle) => {
      const timer = setTimeout(() => this.#deadlinePassed(id, timeoutMs), timeoutMs);
      this.#waiting.set(id, { settle, timer, abandoning: false });
      send();
    });
  }

  /** A result arrived; false when nobody waits for it any more (given up on: dropped). */
  resultArrived(msg: ResultMessage): boolean {
    const waiter = this.#take(msg.id);
    if (waiter === undefined) return false;
    const fatal = !msg.ok && msg.fatal === true;
    // Crossed with `abandon`: it ended after its deadline all the same (the runtime will not answer
    // `abandon` now), with its output. A fatal one is reported as itself: the runtime exits after it.
    if (waiter.abandoning && !fatal) waiter.settle({ type: 'abandoned', msg: { type: 'abandoned', id: msg.id, durationMs: msg.durationMs, stdout: msg.stdout, stderr: msg.stderr } });
    else waiter.settle({ type: 'result', msg });
    return true;
  }

  /** The runtime's answer to `abandon`; false when nobody waits for it any more. */
  abandonedArrived(msg: AbandonedMessage): boolean {
    const waiter = this.#take(msg.id);
    waiter?.settle({ type: 'abandoned', msg });
    return waiter !== undefined;
  }

  /** The runtime exited: every invocation still waiting ends with it. */
  runtimeExited(info: ExitInfo): void {
    for (const id of [...this.#waiting.keys()]) this.#take(id)!.settle({ type: 'exit', info });
  }

  #deadlinePassed(id: string, timeoutMs: number): void {
    const waiter = this.#waiting.get(id);
    if (waiter === undefined) return;
    if (this.#abandon === undefined) return this.#timedOut(id, timeoutMs);
    waiter.abandoning = true;
    waiter.timer = setTimeout(() => this.#timedOut(id, timeoutMs), this.#graceMs);
    this.#abandon(id);
  }

  /** No answer to `abandon` (or no way to ask): a timeout, and the sandbox is killed under its siblings. */
  #timedOut(id: string, timeoutMs: number): void {
    const waiter = this.#take(id);
    if (!waiter) return;
    waiter.settle({ type: 'timeout' });
    for (const sibling of [...this.#waiting.keys()]) this.#take(sibling)!.settle({ type: 'sibling-timeout', timeoutMs });
  }

  #take(id: string): Waiter | undefined {
    const waiter = this.#waiting.get(id);
    if (waiter === undefined) return undefined;
    this.#waiting.delete(id);
    clearTimeout(waiter.timer);
    return waiter;
  }
}
