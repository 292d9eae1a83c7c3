// SafeSandbox: destroyed on any failure, left alone on misuse.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { SandboxError, SandboxStartError } from '../../../src/platform/sandbox/errors.ts';
import { SafeSandbox } from '../../../src/platform/sandbox/safe.ts';
import type { ExitInfo, InvokeOutcome, Sandbox, StartTimings } from '../../../src/platform/sandbox/types.ts';
import { ctx } from './support.ts';

/** A sandbox whose every operation does what the test says (a unit-test double of the inner sandbox). */
class Scripted implements Sandbox {
  readonly id = 'scripted';
  readonly pid = 1;
  readonly exited: Promise<ExitInfo> = new Promise(() => undefined);
  readonly startKind = 'snapshot' as const;
  readonly concurrency = 1;
  readonly inFlight = 0;
  destroyed = 0;
  constructor(private readonly fail: Partial<Record<'start' | 'invoke' | 'pause' | 'resume' | 'setLimits', unknown>>, private readonly outcome: InvokeOutcome = { ok: true, value: 1, durationMs: 1, stdout: '', stderr: '' }) {}
  async #run<T>(op: 'start' | 'invoke' | 'pause' | 'resume' | 'setLimits', value: T): Promise<T> {
    if (this.fail[op] !== undefined) throw this.fail[op];
    return value;
  }
  start(): Promise<StartTimings> {
    return this.#run('start', { sandboxMs: 1, runtimeBootMs: 1, importMs: 1, initMs: 1 });
  }
  invoke(): Promise<InvokeOutcome> {
    return this.#run('invoke', this.outcome);
  }
  pause(): Promise<void> {
    return this.#run('pause', undefined);
  }
  resume(): Promise<void> {
    return this.#run('resume', undefined);
  }
  setLimits(): Promise<void> {
    return this.#run('setLimits', undefined);
  }
  async memoryUsageMb(): Promise<number> {
    return 1;
  }
  async destroy(): Promise<void> {
    this.destroyed += 1;
  }
}

describe('SafeSandbox', () => {
  it('passes through what works, and the inner start kind', async () => {
    const inner = new Scripted({});
    const safe = new SafeSandbox(inner);
    await safe.start();
    assert.equal((await safe.invoke({}, ctx('x'), 1000)).ok, true);
    await safe.pause();
    await safe.resume();
    assert.equal(safe.startKind, 'snapshot');
    assert.equal(inner.destroyed, 0);
  });

  it('destroys the sandbox when a start fails, and passes the error on', async () => {
    const inner = new Scripted({ start: new SandboxStartError('ERR_SANDBOX_INIT', 'init failed', { stdout: '', stderr: '' }) });
    await assert.rejects(new SafeSandbox(inner).start(), { code: 'ERR_SANDBOX_INIT' });
    assert.equal(inner.destroyed, 1);
  });

  it('destroys it after a fatal outcome, and when pause, resume or limits fail', async () => {
    const fatal = new Scripted({}, { ok: false, error: { kind: 'timeout', message: 'too slow' }, durationMs: 1, stdout: '', stderr: '', fatal: true });
    assert.equal((await new SafeSandbox(fatal).invoke({}, ctx('x'), 1000)).fatal, true);
    assert.equal(fatal.destroyed, 1);
    for (const op of ['pause', 'resume', 'setLimits'] as const) {
      const inner = new Scripted({ [op]: new Error(`${op}: cgroup write failed`) });
      const safe = new SafeSandbox(inner);
      await assert.rejects(op === 'setLimits' ? safe.setLimits({ cpuShares: 2 }) : safe[op](), /cgroup write failed/);
      assert.equal(inner.destroyed, 1, op);
    }
  });

  it('leaves it alone on misuse: bad arguments, a wrong state, an unsupported limit', async () => {
    for (const error of [new TypeError('timeoutMs must be positive'), new SandboxError('ERR_SANDBOX_STATE', 'busy'), new SandboxError('ERR_SANDBOX_UNSUPPORTED', 'no cgroups')]) {
      const inner = new Scripted({ invoke: error, setLimits: error });
      const safe = new SafeSandbox(inner);
      await assert.rejects(safe.invoke({}, ctx('x'), 1000));
      await assert.rejects(safe.setLimits({ memoryMb: 64 }));
      assert.equal(inner.destroyed, 0, error.message);
    }
  });
});
