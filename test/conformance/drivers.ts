// The two drivers of the policy core, run over one scripted scenario, each reporting the instance
// lifecycle it produced as `time function event` lines: the simulator's engine on its virtual clock,
// and the platform's invoker on an injected clock with fake sandboxes whose starts and executions
// take the scenario's times on that clock.

import type { KeepAlivePolicy } from '../../src/core/policy.ts';
import type { LifecycleObserver } from '../../src/core/executor.ts';
import type { PrewarmPolicy } from '../../src/core/prewarm.ts';
import type { FunctionSpec, Trace } from '../../src/core/trace.ts';
import type { DeployedFunction } from '../../src/platform/function.ts';
import { Invoker } from '../../src/platform/invoker/invoker.ts';
import type { Scheduler, Timer } from '../../src/platform/invoker/scheduler.ts';
import type { ExitInfo, InvokeOutcome, IsolationReport, Sandbox, SandboxBackend, SandboxSpec, StartTimings } from '../../src/platform/sandbox/types.ts';
import { LeastLoadedPlacement } from '../../src/policies/placement/index.ts';
import { simulate } from '../../src/sim/engine.ts';

export interface ScenarioFunction {
  id: string;
  memoryMb: number;
  coldStartMs: number;
  execMs: number;
  /** Invocations one instance serves at once (default 1). */
  concurrency?: number;
}

export interface Scenario {
  name: string;
  memoryMb: number;
  functions: readonly ScenarioFunction[];
  /** [function index, arrival time ms], in time order. */
  arrivals: readonly (readonly [number, number])[];
  spanMs: number;
  /** Fresh policies for each driver (policies keep state). */
  keepAlive(): KeepAlivePolicy;
  prewarm?(): PrewarmPolicy[];
}

/** Each line: `time function event`. */
function recorder(lines: string[], name: (fn: FunctionSpec) => string): LifecycleObserver {
  return {
    invocation: (fn, t, outcome) => lines.push(`${t} ${name(fn)} ${outcome}`),
    removed: (fn, t, reason) => lines.push(`${t} ${name(fn)} ${reason}`),
    prewarmed: (fn, t, _server, kind) => lines.push(`${t} ${name(fn)} prewarm-${kind}`),
  };
}

export function runSimulator(s: Scenario): string[] {
  const functions: FunctionSpec[] = s.functions.map((f, index) => ({ index, id: f.id, app: f.id, memoryMb: f.memoryMb, warmMs: f.execMs, coldStartMs: f.coldStartMs, concurrency: f.concurrency }));
  const trace: Trace = {
    name: s.name,
    functions,
    invocationCount: s.arrivals.length,
    spanMs: s.spanMs,
    *batches() {
      yield { length: s.arrivals.length, fn: Int32Array.from(s.arrivals.map((a) => a[0])), time: Float64Array.from(s.arrivals.map((a) => a[1])) };
    },
  };
  const lines: string[] = [];
  simulate(trace, {
    servers: [{ name: 'local', memoryMb: s.memoryMb }],
    keepAlive: s.keepAlive(),
    placement: new LeastLoadedPlacement(),
    prewarm: s.prewarm?.(),
    observer: recorder(lines, (fn) => fn.id),
  });
  return lines;
}

/** A clock that moves when told to, letting the promise chains a timer starts settle before the next timer runs. */
class SteppedScheduler implements Scheduler {
  #now = 0;
  #seq = 0;
  readonly #timers = new Map<number, { at: number; callback: () => void }>();

  now(): number {
    return this.#now;
  }

  at(atMs: number, callback: () => void): Timer {
    const id = this.#seq++;
    this.#timers.set(id, { at: Math.max(atMs, this.#now), callback });
    return { cancel: () => this.#timers.delete(id) };
  }

  /** Runs every timer due up to `t` in time order (ties: first set first), settling after each. */
  async runUntil(t: number): Promise<void> {
    for (;;) {
      let nextId = -1;
      let next: { at: number; callback: () => void } | undefined;
      for (const [id, timer] of this.#timers) if (timer.at <= t && (!next || timer.at < next.at)) [next, nextId] = [timer, id];
      if (!next) break;
      this.#timers.delete(nextId);
      this.#now = next.at;
      next.callback();
      await settle();
    }
    this.#now = t;
  }
}

/** Lets every pending promise continuation run (fake sandboxes do no I/O). */
const settle = () => new Promise<void>((resolve) => setImmediate(resolve));

/** Sandboxes that take the scenario's start time and each invocation's duration on the scheduler's clock. */
class ClockedBackend implements SandboxBackend {
  readonly name = 'clocked';
  readonly isolation: IsolationReport = { backend: 'clocked', namespaces: false, cgroups: 'none', freezer: 'signal', warnings: [] };
  constructor(
    readonly scheduler: SteppedScheduler,
    readonly startMs: Map<string, number>,
  ) {}
  create(spec: SandboxSpec): Sandbox {
    const scheduler = this.scheduler;
    const startMs = this.startMs.get(spec.functionName)!;
    let exit!: (info: ExitInfo) => void;
    const after = <T>(ms: number, value: T) => new Promise<T>((resolve) => scheduler.at(scheduler.now() + ms, () => resolve(value)));
    const sandbox = {
      id: spec.instanceId,
      pid: 1,
      concurrency: spec.concurrency ?? 1,
      inFlight: 0,
      exited: new Promise<ExitInfo>((resolve) => (exit = resolve)),
      start: () => after<StartTimings>(startMs, { sandboxMs: startMs, runtimeBootMs: 0, importMs: 0, initMs: 0 }),
      invoke: (payload: unknown) => {
        const durationMs = (payload as { durationMs: number }).durationMs;
        return after<InvokeOutcome>(durationMs, { ok: true, value: null, durationMs, stdout: '', stderr: '' });
      },
      pause: async () => {},
      resume: async () => {},
      setLimits: async () => {},
      memoryUsageMb: async () => 0,
      destroy: async () => exit({ code: null, signal: 'SIGKILL', oom: false }),
    };
    return sandbox;
  }
}

export async function runPlatform(s: Scenario): Promise<string[]> {
  const scheduler = new SteppedScheduler();
  const backend = new ClockedBackend(scheduler, new Map(s.functions.map((f) => [f.id, f.coldStartMs])));
  const lines: string[] = [];
  const invoker = new Invoker({
    backend,
    scheduler,
    keepAlive: s.keepAlive(),
    prewarm: s.prewarm?.(),
    memoryBudgetMb: s.memoryMb,
    pauseAfterMs: Infinity,
    // The simulator drops what it cannot place at once.
    queueTimeoutMs: 0,
    observer: recorder(lines, (fn) => fn.app),
  });
  const deployed: DeployedFunction[] = s.functions.map((f) => ({ name: f.id, version: 1, codeDir: '/nowhere', memoryMb: f.memoryMb, timeoutMs: 1e9, maxConcurrency: 1e6, env: {}, network: false, provisioned: 0, instanceConcurrency: f.concurrency }));
  invoker.prepare(deployed);
  const running: Promise<unknown>[] = [];
  let n = 0;
  for (const [fn, t] of s.arrivals) {
    await scheduler.runUntil(t);
    running.push(invoker.invoke(deployed[fn]!, { durationMs: s.functions[fn]!.execMs }, `i${n++}`));
    await settle();
  }
  await scheduler.runUntil(s.spanMs);
  const seen = [...lines]; // closing kills what is left, which the simulator does not
  await invoker.close();
  return seen;
}
