// Reader of the Azure Functions 2021 trace (Zhang et al., SOSP'21): one row per invocation,
// `app,func,end_timestamp,duration` in seconds, rows grouped rather than time-ordered. Unlike the
// 2019 trace it records each invocation's own execution time (ArrivalBatch.duration), but nothing
// about memory or cold starts, so those come from options.

import { basename } from 'node:path';
import { ThawError, invalidOption } from '../../core/errors.ts';
import type { ArrivalBatch, FunctionSpec, Trace } from '../../core/trace.ts';
import { BatchBuffer, DEFAULT_BATCH_SIZE } from './batch.ts';
import { badValue, detach, emptyValue, parseDecimal, withCsv, type CsvFile } from './csv.ts';

/** The first columns of the 2021 file; openTrace recognises the format by them. */
export const AZURE2021_HEADER_PREFIX = 'app,func,end_timestamp';

/**
 * Memory of an instance when the options give none: 256 MB, the default action memory of Apache
 * OpenWhisk (FaaSCache's platform) and a common small Lambda size. The trace has no memory data.
 */
export const AZURE2021_DEFAULT_MEMORY_MB = 256;

/**
 * Cold-start time when the options give none: 1 s, the order of magnitude of a container-based
 * cold start of a Node.js or Python function (sandbox, runtime boot, imports) on OpenWhisk-like
 * platforms. The trace has no cold-start data, so any value is an assumption: set it explicitly
 * for results that depend on it.
 */
export const AZURE2021_DEFAULT_COLD_START_MS = 1000;

export interface Azure2021Options {
  /** Memory of every function, MB (default 256). */
  memoryMb?: number;
  /** Memory of particular functions, MB, keyed by FunctionSpec.id (`app/func`); others get memoryMb. */
  memoryMbByFunction?: Readonly<Record<string, number>>;
  /** Cold-start time of every function, ms (default 1000). */
  coldStartMs?: number;
  /** Arrivals per batch (default 65536). */
  batchSize?: number;
  /** Trace name (default: the file name). */
  name?: string;
}

export interface Azure2021Stats {
  rows: number;
  functions: number;
  apps: number;
  /**
   * How far all times were shifted so that the earliest start (end − duration) is at 0 ms. Zero
   * unless an invocation started before the trace's time origin.
   */
  shiftMs: number;
}

export interface Azure2021Trace extends Trace {
  readonly stats: Azure2021Stats;
}

function nonNegativeOption(name: string, value: number | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  if (!(Number.isFinite(value) && value >= 0)) throw invalidOption(name, `expected a non-negative number, got ${value}`);
  return value;
}

/** Growable column of numbers, so reading needs no row objects. */
class Column<T extends Float64Array | Int32Array> {
  length = 0;
  constructor(public values: T) {}
  push(value: number): void {
    if (this.length === this.values.length) {
      const bigger = new (this.values.constructor as new (size: number) => T)(this.values.length * 2);
      bigger.set(this.values);
      this.values = bigger;
    }
    this.values[this.length++] = value;
  }
}

/** The file's rows as columns, in file order. */
interface Rows {
  /** Functions in order of first appearance; func is unique only within its app. */
  readonly identities: ReadonlyArray<{ id: string; app: string }>;
  readonly count: number;
  readonly fn: Int32Array;
  readonly startMs: Float64Array;
  readonly durationMs: Float64Array;
  readonly maxEndMs: number;
}

function readRows(csv: CsvFile): Rows {
  const { file, header } = csv;
  const at = { app: header.require('app'), func: header.require('func'), end: header.require('end_timestamp'), duration: header.require('duration') };
  const names = header.names;
  const indexOf = new Map<string, number>();
  const identities: Array<{ id: string; app: string }> = [];
  const fnColumn = new Column(new Int32Array(1024));
  const startColumn = new Column(new Float64Array(1024));
  const durationColumn = new Column(new Float64Array(1024));
  let maxEndMs = 0;

  for (const { fields, lineNo } of csv) {
    const empty = fields.indexOf('');
    if (empty >= 0) throw emptyValue(file, lineNo, names[empty]!);
    const seconds = (position: number): number => {
      const text = fields[position]!;
      const value = parseDecimal(text);
      if (!(value >= 0)) throw badValue(file, lineNo, names[position]!, 'expected a non-negative number of seconds', text);
      return value;
    };
    const endSeconds = seconds(at.end);
    const durationSeconds = seconds(at.duration);
    const app = fields[at.app]!;
    const id = `${app}/${fields[at.func]!}`;
    let fn = indexOf.get(id);
    if (fn === undefined) {
      fn = identities.length;
      const kept = detach(id); // kept beyond the row: see detach()
      indexOf.set(kept, fn);
      identities.push({ id: kept, app: detach(app) });
    }
    fnColumn.push(fn);
    startColumn.push((endSeconds - durationSeconds) * 1000);
    durationColumn.push(durationSeconds * 1000);
    if (endSeconds * 1000 > maxEndMs) maxEndMs = endSeconds * 1000;
  }
  return { identities, count: fnColumn.length, fn: fnColumn.values, startMs: startColumn.values, durationMs: durationColumn.values, maxEndMs };
}

export function readAzure2021(file: string, options: Azure2021Options = {}): Azure2021Trace {
  const defaultMemoryMb = nonNegativeOption('memoryMb', options.memoryMb, AZURE2021_DEFAULT_MEMORY_MB);
  const coldStartMs = nonNegativeOption('coldStartMs', options.coldStartMs, AZURE2021_DEFAULT_COLD_START_MS);
  for (const [id, mb] of Object.entries(options.memoryMbByFunction ?? {})) nonNegativeOption(`memoryMbByFunction['${id}']`, mb, 0);
  const batchSize = options.batchSize ?? DEFAULT_BATCH_SIZE;
  if (!(Number.isInteger(batchSize) && batchSize > 0)) throw invalidOption('batchSize', `expected a positive integer, got ${batchSize}`);

  const { identities, count: rows, fn: rowFn, startMs: starts, durationMs: rowDuration, maxEndMs } = withCsv(file, readRows);
  if (rows === 0) throw new ThawError('ERR_TRACE_EMPTY', `${file}: no invocations after the header`);

  // Stable sort by start time: equal starts keep file order.
  const order = new Uint32Array(rows);
  for (let r = 0; r < rows; r++) order[r] = r;
  order.sort((a, b) => starts[a]! - starts[b]! || a - b);
  const earliest = starts[order[0]!]!;
  const shiftMs = earliest < 0 ? -earliest : 0;

  const fn = new Int32Array(rows);
  const time = new Float64Array(rows);
  const duration = new Float64Array(rows);
  const totalMs = new Float64Array(identities.length);
  const invocations = new Float64Array(identities.length);
  for (let j = 0; j < rows; j++) {
    const r = order[j]!;
    const f = rowFn[r]!;
    fn[j] = f;
    time[j] = starts[r]! + shiftMs;
    duration[j] = rowDuration[r]!;
    totalMs[f]! += duration[j]!;
    invocations[f]!++;
  }

  const functions: FunctionSpec[] = identities.map(({ id, app }, index) => ({
    index,
    id,
    app,
    memoryMb: options.memoryMbByFunction?.[id] ?? defaultMemoryMb,
    warmMs: totalMs[index]! / invocations[index]!,
    coldStartMs,
  }));

  return {
    name: options.name ?? basename(file),
    functions,
    invocationCount: rows,
    spanMs: maxEndMs + shiftMs,
    stats: { rows, functions: functions.length, apps: new Set(identities.map((f) => f.app)).size, shiftMs },
    *batches(): Generator<ArrivalBatch> {
      // Copies, not views of the stored columns, so a consumer that writes into a batch cannot
      // change the next pass.
      const buffer = new BatchBuffer(Math.min(batchSize, rows), true);
      for (let from = 0; from < rows; from += buffer.capacity) {
        const to = Math.min(rows, from + buffer.capacity);
        buffer.fn.set(fn.subarray(from, to));
        buffer.time.set(time.subarray(from, to));
        buffer.duration!.set(duration.subarray(from, to));
        yield buffer.view(to - from);
      }
    },
  };
}
