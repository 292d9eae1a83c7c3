// A scripted sandbox backend for invoker unit tests: no processes, every operation resolves when the
// test says so (or at once), so the invoker's decisions can be checked deterministically.

import type { ExitInfo, InvokeOutcome, IsolationReport, Sandbox, SandboxBackend, SandboxSpec, StartTimings } from '../../../src/platform/sandbox/types.ts';

export type Behaviour = (payload: unknown) => InvokeOutcome | Promise<InvokeOutcome>;

export class FakeSandbox implements Sandbox {
  readonly id: string;
  pid = 1;
  state: 'created' | 'running' | 'paused' | 'destroyed' = 'created';
  cpuShares: number | undefined;
  /** Invocations started and not yet answered. */
  inFlight = 0;
  /** false: it serves one invocation at a time whatever its spec says (as a microVM's). */
  concurrent = true;
  readonly log: string[] = [];
  #exit!: (info: ExitInfo) => void;
  readonly exited = new Promise<ExitInfo>((resolve) => (this.#exit = resolve));

  constructor(
    readonly spec: SandboxSpec,
    readonly behaviour: Behaviour,
    readonly startTimings: StartTimings,
  ) {
    this.id = spec.instanceId;
    this.cpuShares = spec.cpuShares;
  }
  async start(): Promise<StartTimings> {
    this.state = 'running';
    this.log.push('start');
    return this.startTimings;
  }
  /** Its spec's (1 when absent), as a real sandbox whose backend can serve several at once; else 1. */
  get concurrency(): number {
    return this.concurrent ? (this.spec.concurrency ?? 1) : 1;
  }
  async invoke(payload: unknown): Promise<InvokeOutcome> {
    if (this.state !== 'running') throw new Error(`invoke on a ${this.state} sandbox`);
    if (this.inFlight >= this.concurrency) throw new Error(`invoke beyond the sandbox's concurrency of ${this.concurrency}`);
    this.log.push('invoke');
    this.inFlight++;
    try {
      return await this.behaviour(payload);
    } finally {
      this.inFlight--;
    }
  }
  async pause(): Promise<void> {
    this.state = 'paused';
    this.log.push('pause');
  }
  async resume(): Promise<void> {
    this.state = 'running';
    this.log.push('resume');
  }
  async setLimits(limits: { cpuShares?: number }): Promise<void> {
    if (limits.cpuShares !== undefined) this.cpuShares = limits.cpuShares;
  }
  async memoryUsageMb(): Promise<number> {
    return 10;
  }
  async destroy(): Promise<void> {
    this.state = 'destroyed';
    this.#exit({ code: null, signal: 'SIGKILL', oom: false });
  }
  /** Simulates the process dying on its own. */
  crash(): void {
    this.#exit({ code: 1, signal: null, oom: false });
  }
}

export class FakeBackend implements SandboxBackend {
  readonly name = 'fake';
  readonly isolation: IsolationReport = { backend: 'fake', namespaces: false, cgroups: 'none', freezer: 'signal', warnings: [] };
  readonly created: FakeSandbox[] = [];
  behaviour: Behaviour = (payload) => ({ ok: true, value: payload, durationMs: 5, stdout: '', stderr: '' });
  startTimings: StartTimings = { sandboxMs: 3, runtimeBootMs: 30, importMs: 20, initMs: 10 };
  /** false: its sandboxes serve one invocation at a time whatever their spec says (as a microVM's). */
  concurrent = true;
  create(spec: SandboxSpec): FakeSandbox {
    const sandbox = new FakeSandbox(spec, (p) => this.behaviour(p), this.startTimings);
    sandbox.concurrent = this.concurrent;
    this.created.push(sandbox);
    return sandbox;
  }
  live(): FakeSandbox[] {
    return this.created.filter((s) => s.state !== 'destroyed');
  }
}
