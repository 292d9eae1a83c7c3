// The invocations a sandbox serving several at once (SandboxSpec.concurrency > 1) is waiting on:
// one waiter and one deadline each, keyed by invocation id. (A sandbox serving one at a time keeps
// its single waiter and its one re-armed timer, InvocationDeadline: the warm path builds nothing
// per invocation. Here a timer per invocation is the simple way to give each its own deadline.)
// Whatever ends one invocation's wait — its result, the runtime's exit, its deadline — settles it
// once; a deadline that passes ends every sibling's wait too, since the sandbox is killed for it.

import type { AgentMessage } from '../../runtime/protocol.ts';
import type { ExitInfo } from './types.ts';

export type ResultMessage = Extract<AgentMessage, { type: 'result' }>;

/** How an invocation's wait for its result ended. */
export type InvocationEvent = { type: 'result'; msg: ResultMessage } | { type: 'exit'; info: ExitInfo } | { type: 'timeout' };

/** How the wait of one of several invocations in flight ended: as one alone, or with a sibling's timeout. */
export type ConcurrentInvocationEvent =
  | InvocationEvent
  /** Another invocation in flight on the same sandbox passed its deadline of `timeoutMs`: the sandbox is killed. */
  | { type: 'sibling-timeout'; timeoutMs: number };

interface Waiter {
  settle: (event: ConcurrentInvocationEvent) => void;
  timer: NodeJS.Timeout;
}

export class InFlightInvocations {
  readonly #waiting = new Map<string, Waiter>();

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
      const timer = setTimeout(() => this.#timedOut(id, timeoutMs), timeoutMs);
      this.#waiting.set(id, { settle, timer });
      send();
    });
  }

  /** A result arrived; false when nobody waits for it any more (given up on: dropped). */
  resultArrived(msg: ResultMessage): boolean {
    const waiter = this.#take(msg.id);
    waiter?.settle({ type: 'result', msg });
    return waiter !== undefined;
  }

  /** The runtime exited: every invocation still waiting ends with it. */
  runtimeExited(info: ExitInfo): void {
    for (const id of [...this.#waiting.keys()]) this.#take(id)!.settle({ type: 'exit', info });
  }

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
