// A sweep worker: opens the trace once, then runs the points the sweep sends until told to stop.

import { parentPort, workerData } from 'node:worker_threads';
import { simulateFaasCache } from './compat/faascache.ts';
import { toFaasCachePolicy } from './compat/policies.ts';
import { compatSummary } from './compat/summary.ts';
import { runSimulation } from './run.ts';
import type { FromWorker, ToWorker } from './sweep.ts';
import { openTraceSource, type TraceSource } from './trace-source.ts';

const port = parentPort!;
const send = (message: FromWorker): void => port.postMessage(message);

try {
  const trace = openTraceSource(workerData.trace as TraceSource);
  send({ type: 'ready', invocations: trace.invocationCount, trace: { name: trace.name, functions: trace.functions.length, invocations: trace.invocationCount, spanMs: trace.spanMs } });
  port.on('message', (message: ToWorker) => {
    if (message.type === 'stop') {
      port.close();
      return;
    }
    try {
      const { spec } = message;
      if (spec.compat === 'faascache') {
        const started = performance.now();
        const result = simulateFaasCache(trace, { policy: toFaasCachePolicy(spec.policy), memoryMb: spec.memoryMb });
        send({ type: 'done', id: message.id, point: { policy: spec.policy, memoryMb: spec.memoryMb, summary: compatSummary(result), elapsedMs: performance.now() - started, reference: result.reference } });
        return;
      }
      const result = runSimulation(trace, spec, (done) => send({ type: 'progress', id: message.id, done }));
      send({ type: 'done', id: message.id, point: { policy: spec.label ?? result.policy, ...(spec.label ? { label: spec.label } : {}), memoryMb: spec.memoryMb, summary: result.summary, elapsedMs: result.elapsedMs } });
    } catch (error) {
      send({ type: 'error', message: (error as Error).message, code: (error as { code?: string }).code });
    }
  });
} catch (error) {
  send({ type: 'error', message: (error as Error).message, code: (error as { code?: string }).code });
}
