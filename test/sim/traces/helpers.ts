// Shared by the trace-reader tests: temporary trace folders, CSV text builders and stream collection.

import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { TraceFormatError } from '../../../src/core/errors.ts';
import type { Trace } from '../../../src/core/trace.ts';

export const FIXTURES = fileURLToPath(new URL('../../fixtures/traces/', import.meta.url));
export const SAMPLE_2019 = fileURLToPath(new URL('../../../data/traces/azure2019/invitro_sample_500fn_8h/', import.meta.url));
export const HEAD_2021 = fileURLToPath(
  new URL('../../../data/traces/azure2021/invitro_head_998/AzureFunctionsInvocationTraceForTwoWeeksJan2021.csv', import.meta.url),
);

/** A fresh temporary folder holding the given files; removed by the returned cleanup. */
export function tempTrace(files: Record<string, string>): { dir: string; path: (name: string) => string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), 'thaw-trace-'));
  for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text);
  return { dir, path: (name) => join(dir, name), cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/** The three files of the small hand-written 2019 fixture, as text, to derive broken variants from. */
export function smallFixture2019(): { 'invocations.csv': string; 'durations.csv': string; 'memory.csv': string } {
  const read = (name: string): string => readFileSync(join(FIXTURES, 'azure2019-small', name), 'utf8');
  return { 'invocations.csv': read('invocations.csv'), 'durations.csv': read('durations.csv'), 'memory.csv': read('memory.csv') };
}

/** Replaces one 1-based line of a text. */
export function replaceLine(text: string, lineNo: number, line: string): string {
  const lines = text.split('\n');
  lines[lineNo - 1] = line;
  return lines.join('\n');
}

export interface InvocationRow {
  owner: string;
  app: string;
  fn: string;
  trigger?: string;
  /** Counts by minute index from the first minute column; the rest are 0. */
  counts: Record<number, number>;
}

/** An invocations file with minute columns firstMinute..firstMinute+minutes-1. */
export function invocationsCsv(rows: InvocationRow[], minutes: number, firstMinute: number): string {
  const header = ['HashOwner', 'HashApp', 'HashFunction', 'Trigger', ...Array.from({ length: minutes }, (_, m) => String(firstMinute + m))];
  const lines = rows.map((row) => {
    const cells = Array.from({ length: minutes }, (_, m) => String(row.counts[m] ?? 0));
    return [row.owner, row.app, row.fn, row.trigger ?? 'http', ...cells].join(',');
  });
  return [header.join(','), ...lines, ''].join('\n');
}

export const DURATIONS_HEADER =
  'HashOwner,HashApp,HashFunction,Average,Count,Minimum,Maximum,percentile_Average_0,percentile_Average_1,percentile_Average_25,percentile_Average_50,percentile_Average_75,percentile_Average_99,percentile_Average_100';

export function durationsCsv(rows: Array<{ owner: string; app: string; fn: string; average: number | string; maximum: number | string }>): string {
  const lines = rows.map((r) => [r.owner, r.app, r.fn, r.average, 10, 0, r.maximum, 0, 1, 2, 3, 4, 5, 6].join(','));
  return [DURATIONS_HEADER, ...lines, ''].join('\n');
}

export const APP_MEMORY_HEADER =
  'HashOwner,HashApp,SampleCount,AverageAllocatedMb,AverageAllocatedMb_pct1,AverageAllocatedMb_pct5,AverageAllocatedMb_pct25,AverageAllocatedMb_pct50,AverageAllocatedMb_pct75,AverageAllocatedMb_pct95,AverageAllocatedMb_pct99,AverageAllocatedMb_pct100';

/** The original per-app memory file. */
export function appMemoryCsv(rows: Array<{ owner: string; app: string; mb: number | string }>): string {
  const lines = rows.map((r) => [r.owner, r.app, 100, r.mb, 1, 2, 3, 4, 5, 6, 7, 8].join(','));
  return [APP_MEMORY_HEADER, ...lines, ''].join('\n');
}

/** Every arrival of a trace as [fn, time] pairs, checking the batch contract on the way. */
export function collect(trace: Trace): { fn: number[]; time: number[]; duration: number[] } {
  const fn: number[] = [];
  const time: number[] = [];
  const duration: number[] = [];
  for (const batch of trace.batches()) {
    assert.equal(batch.fn.length, batch.length);
    assert.equal(batch.time.length, batch.length);
    for (let i = 0; i < batch.length; i++) {
      fn.push(batch.fn[i]!);
      time.push(batch.time[i]!);
      if (batch.duration) duration.push(batch.duration[i]!);
    }
  }
  return { fn, time, duration };
}

/**
 * Asserts that `run` throws a TraceFormatError whose message names the file (its last path part is
 * enough) and, when given, the line and the column.
 */
export function assertFormatError(run: () => unknown, expected: { file: string; line?: number; column?: string; message?: RegExp }): TraceFormatError {
  let caught: unknown;
  try {
    run();
  } catch (error) {
    caught = error;
  }
  assert.ok(caught instanceof TraceFormatError, `expected a TraceFormatError, got ${String(caught)}`);
  const error = caught;
  assert.equal(error.code, 'ERR_TRACE_FORMAT');
  assert.ok(error.message.includes(expected.file), `message should name ${expected.file}: ${error.message}`);
  if (expected.line !== undefined) {
    assert.equal(error.line, expected.line, error.message);
    assert.ok(error.message.includes(`line ${expected.line}`), `message should name line ${expected.line}: ${error.message}`);
  }
  if (expected.column !== undefined) {
    assert.equal(String(error.column), expected.column, error.message);
    assert.ok(error.message.includes(expected.column), `message should name column ${expected.column}: ${error.message}`);
  }
  if (expected.message) assert.match(error.message, expected.message);
  return error;
}
