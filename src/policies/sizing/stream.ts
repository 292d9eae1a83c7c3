// One pass over a trace's arrivals, shared by every collector that needs it (exact and sampled
// distances are computed in the same pass rather than reading the trace twice).

import type { ArrivalBatch, Trace } from '../../core/trace.ts';

/** Something that reads arrival batches; it must not keep the batch's arrays (readers reuse them). */
export interface BatchConsumer {
  consume(batch: ArrivalBatch): void;
}

/** Streams every batch of `trace` to each consumer in turn; returns the number of arrivals. */
export function feedTrace(trace: Trace, consumers: readonly BatchConsumer[]): number {
  let arrivals = 0;
  for (const batch of trace.batches()) {
    arrivals += batch.length;
    for (const consumer of consumers) consumer.consume(batch);
  }
  return arrivals;
}
