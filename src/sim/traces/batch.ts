// The typed arrays a reader fills and hands out as ArrivalBatch views. One buffer lives for one pass
// over the trace and is reused for every batch of it (the ArrivalBatch contract allows that), so a
// pass allocates nothing per arrival.

import type { ArrivalBatch } from '../../core/trace.ts';

/** Arrivals per batch when a reader has no reason to choose otherwise: large enough to amortise the per-batch cost. */
export const DEFAULT_BATCH_SIZE = 1 << 16;

export class BatchBuffer {
  readonly fn: Int32Array;
  readonly time: Float64Array;
  readonly duration: Float64Array | undefined;

  constructor(
    readonly capacity: number,
    withDurations = false,
  ) {
    this.fn = new Int32Array(capacity);
    this.time = new Float64Array(capacity);
    this.duration = withDurations ? new Float64Array(capacity) : undefined;
  }

  /** A batch of the first `length` entries. Views, not copies: valid until the buffer is refilled. */
  view(length: number): ArrivalBatch {
    const batch = { length, fn: this.fn.subarray(0, length), time: this.time.subarray(0, length) };
    return this.duration === undefined ? batch : { ...batch, duration: this.duration.subarray(0, length) };
  }
}
