// SafeSandbox: any sandbox, destroyed as soon as something goes wrong with it, so a failure never
// leaves a process, a cgroup, a network namespace or a VM behind. It wraps what the start planner
// hands the invoker, whatever the start path (cold, snapshot, zygote, isolate, microVM): the inner
// sandboxes keep their own logic, this adds the one rule. What counts as going wrong:
//   - start() rejects (init failed, a timeout, the runtime died);
//   - invoke() rejects, or its outcome is fatal (the runtime exited or is about to);
//   - pause(), resume() or setLimits() fail: a half-frozen or half-limited sandbox is not one
//     anyone can trust to serve.
// Misuse is not: a TypeError (bad arguments), ERR_SANDBOX_STATE (e.g. invoking a paused sandbox) or
// ERR_SANDBOX_UNSUPPORTED (limits on a machine without cgroups) means nothing was done, and the
// sandbox is as good as before.

import type { StartPathKind } from '../../core/instance.ts';
import type { InvocationContext } from '../../runtime/protocol.ts';
import { SandboxError } from './errors.ts';
import type { ExitInfo, InvokeOutcome, Sandbox, StartTimings } from './types.ts';

export class SafeSandbox implements Sandbox {
  constructor(readonly inner: Sandbox) {}

  get id(): string {
    return this.inner.id;
  }

  get pid(): number | undefined {
    return this.inner.pid;
  }

  get exited(): Promise<ExitInfo> {
    return this.inner.exited;
  }

  get startKind(): StartPathKind | undefined {
    return this.inner.startKind;
  }

  get concurrency(): number {
    return this.inner.concurrency;
  }

  get inFlight(): number {
    return this.inner.inFlight;
  }

  start(): Promise<StartTimings> {
    return this.#guard(() => this.inner.start());
  }

  async invoke(payload: unknown, context: InvocationContext, timeoutMs: number, payloadJson?: string): Promise<InvokeOutcome> {
    const outcome = await this.#guard(() => this.inner.invoke(payload, context, timeoutMs, payloadJson));
    if (outcome.fatal) await this.#destroyQuietly();
    return outcome;
  }

  pause(): Promise<void> {
    return this.#guard(() => this.inner.pause());
  }

  resume(): Promise<void> {
    return this.#guard(() => this.inner.resume());
  }

  setLimits(limits: { memoryMb?: number; cpuShares?: number; cpuQuota?: number | null }): Promise<void> {
    return this.#guard(() => this.inner.setLimits(limits));
  }

  memoryUsageMb(): Promise<number> {
    return this.inner.memoryUsageMb();
  }

  destroy(): Promise<void> {
    return this.inner.destroy();
  }

  async #guard<T>(operation: () => Promise<T>): Promise<T> {
    try {
      return await operation();
    } catch (error) {
      if (!isMisuse(error)) await this.#destroyQuietly();
      throw error;
    }
  }

  /** Destroys it; the error that caused this is the one the caller hears about, not a failed cleanup. */
  async #destroyQuietly(): Promise<void> {
    await this.inner.destroy().catch(() => undefined);
  }
}

/** An error that says the call was wrong, not the sandbox: nothing was done. */
function isMisuse(error: unknown): boolean {
  return error instanceof TypeError || (error instanceof SandboxError && (error.code === 'ERR_SANDBOX_STATE' || error.code === 'ERR_SANDBOX_UNSUPPORTED'));
}
