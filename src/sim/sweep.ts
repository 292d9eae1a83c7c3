// A sweep: every policy × every memory size over one trace, spread over worker threads (one per core
// by default). Each worker opens the trace once and runs the points it is handed, smallest first.

import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import type { TraceSource } from './trace-source.ts';
import type { RunSpec } from './run.ts';
import type { SimResult, SweepPoint, SweepResult } from './result.ts';
import { isCompiled } from '../core/module-file.ts';

/** Compiled (dist/), the worker itself; from the sources, an entry that registers tsx first (a worker does not inherit the loader). */
const WORKER_FILE = isCompiled(import.meta.url) ? new URL('./sweep-worker.js', import.meta.url) : new URL('./sweep-worker-entry.js', import.meta.url);

export interface SweepOptions {
  trace: TraceSource;
  policies: string[];
  memoriesMb: number[];
  /** Everything else of a run (servers, placement, ttl, ...), shared by every point. */
  base: Omit<RunSpec, 'policy' | 'memoryMb'>;
  /** Worker threads (default: one per core, at most the number of points). */
  workers?: number;
  /** Explicit runs instead of policies × memories (each a full RunSpec, e.g. labelled settings). */
  jobs?: RunSpec[];
  /** Called with the number of simulated invocations done so far, summed over points. */
  onProgress?: (done: number) => void;
}

/** Messages between the sweep and its workers. */
export type ToWorker = { type: 'run'; id: number; spec: RunSpec } | { type: 'stop' };
export type FromWorker =
  | { type: 'ready'; invocations: number; trace: SimResult['trace'] }
  | { type: 'progress'; id: number; done: number }
  | { type: 'done'; id: number; point: SweepPoint }
  | { type: 'error'; message: string; code?: string };

export async function runSweep(options: SweepOptions): Promise<SweepResult> {
  const jobs: RunSpec[] = options.jobs ? [...options.jobs] : [];
  if (!options.jobs) for (const policy of options.policies) for (const memoryMb of options.memoriesMb) jobs.push({ ...options.base, policy, memoryMb });
  const workerCount = Math.max(1, Math.min(options.workers ?? availableParallelism(), jobs.length));
  const points: SweepPoint[] = new Array(jobs.length);
  const progress = new Array<number>(jobs.length).fill(0);
  let traceInfo: SimResult['trace'] | undefined;
  let next = 0;

  await new Promise<void>((resolve, reject) => {
    let running = workerCount;
    let failed = false;
    const workers: Worker[] = [];
    const fail = (error: Error): void => {
      if (failed) return;
      failed = true;
      for (const w of workers) void w.terminate();
      reject(error);
    };
    for (let w = 0; w < workerCount; w++) {
      const worker = new Worker(WORKER_FILE, { workerData: { trace: options.trace } });
      workers.push(worker);
      const dispatch = (): void => {
        if (next < jobs.length) {
          const id = next++;
          worker.postMessage({ type: 'run', id, spec: jobs[id]! } satisfies ToWorker);
        } else {
          worker.postMessage({ type: 'stop' } satisfies ToWorker);
        }
      };
      worker.on('message', (message: FromWorker) => {
        switch (message.type) {
          case 'ready':
            traceInfo ??= message.trace;
            dispatch();
            break;
          case 'progress':
            progress[message.id] = message.done;
            options.onProgress?.(progress.reduce((a, b) => a + b, 0));
            break;
          case 'done':
            points[message.id] = message.point;
            progress[message.id] = traceInfo?.invocations ?? 0;
            options.onProgress?.(progress.reduce((a, b) => a + b, 0));
            dispatch();
            break;
          case 'error':
            fail(Object.assign(new Error(message.message), { code: message.code }));
            break;
        }
      });
      worker.on('error', fail);
      worker.on('exit', () => {
        if (--running === 0 && !failed) resolve();
      });
    }
  });

  return {
    trace: traceInfo!,
    policies: options.policies,
    memoriesMb: options.memoriesMb,
    servers: options.base.servers ?? 1,
    points,
  };
}
