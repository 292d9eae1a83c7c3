// What a workload trace is, independent of where it came from (Azure 2019 minute counts, Azure 2021
// per-invocation records, a synthetic generator). Types only: readers live in src/sim/traces/.

/** One function of a trace: what the simulator needs to model its instances. */
export interface FunctionSpec {
  /** Dense index 0..n-1, the function's position in the trace (its row order for 2019 files). */
  readonly index: number;
  /** Stable identifier, e.g. the HashFunction of a 2019 trace or `app/func` of a 2021 trace. */
  readonly id: string;
  /** Application the function belongs to (the hybrid-histogram policy works per application). */
  readonly app: string;
  /** Memory an instance holds, in MB. */
  readonly memoryMb: number;
  /** Execution time of a warm invocation, ms (used when the trace gives no per-invocation duration). */
  readonly warmMs: number;
  /** Extra time a cold start adds before execution (runtime boot, imports, init), ms. */
  readonly coldStartMs: number;
  /** Trigger kind when the trace says it (http, timer, queue, ...). */
  readonly trigger?: string;
  /**
   * Invocations one instance serves at once (Knative's containerConcurrency, Cloud Run's
   * concurrency); absent or 1: one at a time, a function under load gets several instances.
   */
  readonly concurrency?: number;
}

/**
 * A slice of the arrival stream. Readers may reuse the arrays between batches: a consumer must read
 * a batch before asking for the next one and must not keep references to its arrays.
 */
export interface ArrivalBatch {
  readonly length: number;
  /** Function index of each arrival. */
  readonly fn: Int32Array;
  /** Arrival time, ms since the trace start, nondecreasing across the whole stream. */
  readonly time: Float64Array;
  /** Execution time of each invocation, ms, when the trace records it (Azure 2021); else warmMs applies. */
  readonly duration?: Float64Array;
}

/** What results say of the trace they ran on. */
export interface TraceSummary {
  name: string;
  functions: number;
  invocations: number;
  spanMs: number;
}

export interface Trace {
  /** Human-readable name (file or generator description). */
  readonly name: string;
  readonly functions: readonly FunctionSpec[];
  /** Total number of arrivals the stream yields. */
  readonly invocationCount: number;
  /** Time span the trace covers, ms (e.g. 480 minutes for the 8-hour sample). */
  readonly spanMs: number;
  /** Streams all arrivals in nondecreasing time order. Each call starts again from the beginning. */
  batches(): Iterable<ArrivalBatch>;
}
