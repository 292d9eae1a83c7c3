// One function instance as a V8 isolate in the isolate host: start() creates the isolate (the
// function's memory limit as its heap limit), loads the bundle and runs init(); invoke() runs the
// handler under a CPU-time limit and the function's timeout; destroy() disposes of the isolate. An
// isolate that cannot load the function (a Node API it lacks, the host unavailable) gives way to a
// container start of the same spec — a start path never fails a request a cold start could serve —
// and the version is marked incompatible with the reason (onFallback).

import type { InvocationContext } from '../../../runtime/protocol.ts';
import type { ExitInfo, InvokeOutcome, Sandbox, SandboxSpec, StartTimings } from '../../sandbox/types.ts';
import type { IsolateHost } from './host-process.ts';

export interface IsolateSandboxOptions {
  host: IsolateHost;
  spec: SandboxSpec;
  /** Function version key (V8's code cache is kept per version in the host). */
  cacheKey: string;
  code: string;
  /** CPU time one invocation (and the start) may use, ms. */
  cpuLimitMs: number;
  /** The function's timeout, ms (bounds the start too). */
  timeoutMs: number;
  /** Versions the host keeps a spare loaded ahead for (0: none; host.ts). */
  spares: number;
  /** The container sandbox to start instead when the isolate cannot serve. */
  fallback: () => Sandbox;
  onFallback: (reason: string) => void;
}

export class IsolateSandbox implements Sandbox {
  readonly id: string;
  readonly exited: Promise<ExitInfo>;
  /** How it really started: 'isolate', or 'cold' after falling back to a container. */
  startedAs: 'isolate' | 'cold' | undefined;
  fallbackReason: string | undefined;
  /** It took the version's spare (its bundle was evaluated before this start, in the background). */
  fromSpare = false;
  #inner: Sandbox | undefined;
  #live = false;
  #exit!: (info: ExitInfo) => void;
  #settled = false;
  /** Invocations of the isolate itself not yet answered. */
  #running = 0;

  constructor(readonly options: IsolateSandboxOptions) {
    this.id = options.spec.instanceId;
    const own = new Promise<ExitInfo>((resolve) => (this.#exit = resolve));
    this.exited = own;
  }

  /** For the invoker's startKindOf(). */
  get startKind(): 'isolate' | 'cold' | undefined {
    return this.startedAs;
  }

  get pid(): number | undefined {
    return this.#inner ? this.#inner.pid : this.options.host.pid;
  }

  /** An isolate serves one invocation at a time (its host runs each on the isolate's one thread); a cold fallback, its spec's. */
  get concurrency(): number {
    return this.#inner?.concurrency ?? 1;
  }

  get inFlight(): number {
    return this.#inner ? this.#inner.inFlight : this.#running;
  }

  async start(): Promise<StartTimings> {
    const { host, spec } = this.options;
    const t0 = performance.now();
    const create = (code?: string) =>
      host.request({
        op: 'create',
        isolate: this.id,
        cacheKey: this.options.cacheKey,
        ...(code === undefined ? {} : { code }),
        env: spec.env,
        memoryMb: spec.memoryMb,
        cpuLimitMs: this.options.cpuLimitMs,
        timeoutMs: this.options.timeoutMs,
        spares: this.options.spares,
      });
    let answer;
    try {
      // The host keeps each version's code: it is sent only when the host asks (its first start here).
      answer = await create();
      if (answer.needCode) answer = await create(this.options.code);
    } catch (error) {
      answer = { id: 0, ok: false, error: { kind: 'exit' as const, message: (error as Error).message } };
    }
    if (answer.ok && answer.timings) {
      this.startedAs = 'isolate';
      this.#live = true;
      this.fromSpare = answer.spare === true;
      // The host's exit ends this isolate with it.
      void host.exited.then(() => this.#ended({ code: null, signal: 'SIGKILL', oom: false }));
      // The request's round trip (JSON over the host's pipe) is part of this sandbox's start.
      const { importMs, initMs } = answer.timings;
      return { sandboxMs: Math.max(0, performance.now() - t0 - importMs - initMs), runtimeBootMs: 0, importMs, initMs };
    }
    const reason = `the isolate could not load it (${answer.error?.kind ?? 'error'}: ${answer.error?.message ?? 'no answer'})`;
    this.fallbackReason = reason;
    this.options.onFallback(reason);
    this.startedAs = 'cold';
    const inner = this.options.fallback();
    this.#inner = inner;
    void inner.exited.then((info) => this.#ended(info));
    return inner.start();
  }

  async invoke(payload: unknown, context: InvocationContext, timeoutMs: number, payloadJson?: string): Promise<InvokeOutcome> {
    if (this.#inner) return this.#inner.invoke(payload, context, timeoutMs, payloadJson);
    if (!this.#live) return { ok: false, error: { kind: 'exit', message: `isolate ${this.id} is not running` }, durationMs: 0, stdout: '', stderr: '', fatal: true };
    this.#running += 1;
    let a;
    try {
      a = await this.options.host.request({ op: 'invoke', isolate: this.id, payload, context, cpuLimitMs: this.options.cpuLimitMs, timeoutMs });
    } finally {
      this.#running -= 1;
    }
    if (a.fatal) this.#ended({ code: null, signal: null, oom: a.error?.kind === 'oom' });
    return { ok: a.ok, value: a.value, error: a.error, durationMs: a.durationMs ?? 0, stdout: a.stdout ?? '', stderr: a.stderr ?? '', fatal: a.fatal };
  }

  // An idle isolate runs nothing unless the function left a timer: nothing to freeze.
  async pause(): Promise<void> {
    await this.#inner?.pause();
  }

  async resume(): Promise<void> {
    await this.#inner?.resume();
  }

  /** A live isolate's heap limit is fixed when it is created; CPU weight is the host's as a whole. */
  async setLimits(limits: { memoryMb?: number; cpuShares?: number; cpuQuota?: number | null }): Promise<void> {
    await this.#inner?.setLimits(limits);
  }

  async memoryUsageMb(): Promise<number> {
    if (this.#inner) return this.#inner.memoryUsageMb();
    if (!this.#live) return 0;
    return (await this.options.host.request({ op: 'heap', isolate: this.id })).heapMb ?? 0;
  }

  async destroy(): Promise<void> {
    if (this.#inner) return this.#inner.destroy();
    if (this.#live) {
      this.#live = false;
      await this.options.host.request({ op: 'dispose', isolate: this.id }).catch(() => undefined);
    }
    this.#ended({ code: 0, signal: null, oom: false });
  }

  #ended(info: ExitInfo): void {
    this.#live = false;
    if (this.#settled) return;
    this.#settled = true;
    this.#exit(info);
  }
}
