// A sandbox whose lifecycle operations run one at a time (as OpenLambda's safe sandbox wrapper):
// a resume issued while a pause is still in flight waits for it, and after destroy() nothing else
// runs. Invocations are not serialised by it, only held to what the sandbox serves at once: the
// Pool gives an instance as many at once as its sandbox serves (concurrency), but those that joined
// it while it started, before its sandbox said how many it serves, may be more; they go in turn.

import type { InvocationContext } from '../../runtime/protocol.ts';
import type { ExitInfo, InvokeOutcome, Sandbox, StartTimings } from '../sandbox/types.ts';
import type { StartPathKind } from '../accelerators/start-path.ts';

export class ManagedSandbox {
  #chain: Promise<unknown> = Promise.resolve();
  #destroyed = false;
  /** Invocations handed to the sandbox and not yet answered; those beyond its concurrency wait in #waiting. */
  #running = 0;
  readonly #waiting: Array<() => void> = [];

  constructor(
    readonly sandbox: Sandbox,
    /** The start path it was created for (cold, snapshot, zygote). */
    readonly path: StartPathKind = 'cold',
  ) {}

  get id(): string {
    return this.sandbox.id;
  }

  get exited(): Promise<ExitInfo> {
    return this.sandbox.exited;
  }

  /** Invocations its sandbox serves at once (1 where the backend cannot serve more). */
  get concurrency(): number {
    return this.sandbox.concurrency;
  }

  /** Invocations its sandbox is serving now. */
  get inFlight(): number {
    return this.sandbox.inFlight;
  }

  start(): Promise<StartTimings> {
    return this.#serial(() => this.sandbox.start());
  }

  invoke(payload: unknown, context: InvocationContext, timeoutMs: number, payloadJson?: string): Promise<InvokeOutcome> {
    const run = (): Promise<InvokeOutcome> => this.#run(payload, context, timeoutMs, payloadJson);
    return this.#chain.then(() => (this.#running < this.sandbox.concurrency ? run() : new Promise<void>((resolve) => this.#waiting.push(resolve)).then(run)));
  }

  #run(payload: unknown, context: InvocationContext, timeoutMs: number, payloadJson: string | undefined): Promise<InvokeOutcome> {
    this.#running++;
    let outcome: Promise<InvokeOutcome>;
    try {
      outcome = this.sandbox.invoke(payload, context, timeoutMs, payloadJson);
    } catch (error) {
      outcome = Promise.reject(error);
    }
    outcome.then(this.#answered, this.#answered);
    return outcome;
  }

  /** An invocation was answered: its slot goes to the next waiting one. */
  readonly #answered = (): void => {
    this.#running--;
    this.#waiting.shift()?.();
  };

  /** Applies `limits` (if any), then freezes: one queued operation, so nothing runs in between. */
  pause(limits?: { cpuShares?: number }): Promise<void> {
    return this.#serial(async () => {
      if (limits) await this.sandbox.setLimits(limits);
      await this.sandbox.pause();
    });
  }

  /** Thaws, then applies `limits` (if any), as one queued operation. */
  resume(limits?: { cpuShares?: number }): Promise<void> {
    return this.#serial(async () => {
      await this.sandbox.resume();
      if (limits) await this.sandbox.setLimits(limits);
    });
  }

  setLimits(limits: { memoryMb?: number; cpuShares?: number }): Promise<void> {
    return this.#serial(() => this.sandbox.setLimits(limits));
  }

  destroy(): Promise<void> {
    if (this.#destroyed) return Promise.resolve();
    this.#destroyed = true;
    // Destroy does not wait behind a hung operation: it is how hung sandboxes are cleaned up.
    return this.sandbox.destroy();
  }

  #serial<T>(operation: () => Promise<T>): Promise<T> {
    const run = this.#chain.then(() => {
      if (this.#destroyed) throw new Error(`sandbox ${this.sandbox.id} is destroyed`);
      return operation();
    });
    this.#chain = run.catch(() => {});
    return run;
  }
}
