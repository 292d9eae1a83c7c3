import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { ThawError } from '../../../src/core/errors.ts';
import { AZURE2021_DEFAULT_COLD_START_MS, AZURE2021_DEFAULT_MEMORY_MB, readAzure2021 } from '../../../src/sim/traces/azure2021.ts';
import { FIXTURES, HEAD_2021, assertFormatError, collect, tempTrace } from './helpers.ts';

const SMALL = join(FIXTURES, 'azure2021-small.csv');

describe('Azure 2021: the 998-invocation head of the trace', () => {
  const trace = readAzure2021(HEAD_2021);

  it('has 998 invocations of 49 functions in 21 apps', () => {
    assert.equal(trace.invocationCount, 998);
    assert.equal(trace.functions.length, 49);
    assert.equal(trace.stats.apps, 21);
    assert.equal(trace.stats.shiftMs, 0);
    assert.equal(new Set(trace.functions.map((f) => f.id)).size, 49);
    assert.ok(trace.functions.every((f) => f.id.startsWith(`${f.app}/`)));
  });

  it('streams every invocation sorted by start time, with its own duration in ms', () => {
    const { fn, time, duration } = collect(trace);
    assert.equal(time.length, 998);
    for (let i = 1; i < time.length; i++) assert.ok(time[i]! >= time[i - 1]!, `arrival ${i} goes back in time`);
    // Independently: the sorted start times (end − duration) of the file, in ms.
    const rows = readFileSync(HEAD_2021, 'utf8').trim().split('\n').slice(1).map((line) => line.split(','));
    const starts = rows.map((r) => (Number(r[2]) - Number(r[3])) * 1000).sort((a, b) => a - b);
    assert.deepEqual(time, starts);
    assert.deepEqual([...duration].sort((a, b) => a - b), rows.map((r) => Number(r[3]) * 1000).sort((a, b) => a - b));
    assert.ok(Math.abs(Math.max(...duration) - 405_000) < 1000, 'longest invocation about 405 s (SOURCES.md)');
    // The first row of the file is the first function, and its first invocation starts at 1.49 ms.
    assert.equal(trace.functions[0]!.id, `${rows[0]![0]}/${rows[0]![1]}`);
    assert.equal(fn[0], 0);
    assert.ok(Math.abs(time[0]! - 1.4909) < 1e-6);
    assert.ok(Math.abs(trace.spanMs - 6_485_468.787908554) < 1e-6);
  });

  it('uses the documented defaults for what the trace does not record', () => {
    assert.ok(trace.functions.every((f) => f.memoryMb === AZURE2021_DEFAULT_MEMORY_MB && f.coldStartMs === AZURE2021_DEFAULT_COLD_START_MS));
    assert.equal(AZURE2021_DEFAULT_MEMORY_MB, 256);
    assert.equal(AZURE2021_DEFAULT_COLD_START_MS, 1000);
  });
});

describe('Azure 2021: small fixture (CRLF, unsorted, equal starts, func names shared across apps)', () => {
  const trace = readAzure2021(SMALL, { memoryMb: 128, memoryMbByFunction: { 'appA/g': 512 }, coldStartMs: 300 });

  it('keys functions by app and func, numbered by first appearance', () => {
    assert.deepEqual(
      trace.functions.map((f) => [f.index, f.id, f.app, f.memoryMb, f.warmMs, f.coldStartMs]),
      [
        [0, 'appA/f', 'appA', 128, 1250, 300], // mean of 500 and 2000 ms
        [1, 'appB/f', 'appB', 128, 750, 300],
        [2, 'appA/g', 'appA', 512, 250, 300],
      ],
    );
    assert.equal(trace.stats.apps, 2);
    assert.equal(trace.spanMs, 10_500);
  });

  it('sorts by start = end − duration, keeping file order for equal starts', () => {
    assert.deepEqual(collect(trace), {
      fn: [2, 1, 0, 1, 0],
      time: [1750, 2000, 2000, 2000, 10_000],
      duration: [250, 1000, 2000, 500, 500],
    });
  });

  it('uses small batches when asked, with the same stream', () => {
    const batched = readAzure2021(SMALL, { batchSize: 2 });
    assert.deepEqual([...batched.batches()].map((b) => b.length), [2, 2, 1]);
    assert.deepEqual(collect(batched), collect(readAzure2021(SMALL)));
  });

  it('shifts all times when an invocation started before the time origin', () => {
    const temp = tempTrace({ 'early.csv': 'app,func,end_timestamp,duration\na,f,1.0,3.0\na,f,5.0,1.0\n' });
    try {
      const early = readAzure2021(temp.path('early.csv'));
      assert.equal(early.stats.shiftMs, 2000);
      assert.deepEqual(collect(early).time, [0, 6000]);
      assert.equal(early.spanMs, 7000);
    } finally {
      temp.cleanup();
    }
  });
});

describe('Azure 2021: format errors', () => {
  const header = 'app,func,end_timestamp,duration';
  const cases: Array<[name: string, text: string, expected: { line?: number; column?: string; message?: RegExp }]> = [
    ['bad-number.csv', `${header}\na,f,1.0,0.5\na,f,soon,0.5\n`, { line: 3, column: 'end_timestamp', message: /expected a non-negative number of seconds, got 'soon'/ }],
    ['negative.csv', `${header}\na,f,1.0,-0.5\n`, { line: 2, column: 'duration' }],
    ['empty-field.csv', `${header}\na,,1.0,0.5\n`, { line: 2, column: 'func', message: /empty field/ }],
    ['missing-column.csv', 'app,func,end,duration\na,f,1.0,0.5\n', { line: 1, column: 'end_timestamp', message: /missing required column/ }],
    ['wrong-fields.csv', `${header}\na,f,1.0\n`, { line: 2, message: /expected 4 fields/ }],
  ];
  for (const [name, text, expected] of cases) {
    it(name, () => {
      const temp = tempTrace({ [name]: text });
      try {
        assertFormatError(() => readAzure2021(temp.path(name)), { file: name, ...expected });
      } finally {
        temp.cleanup();
      }
    });
  }

  it('a header with no rows is an empty trace', () => {
    const temp = tempTrace({ 'none.csv': `${header}\n` });
    try {
      assert.throws(() => readAzure2021(temp.path('none.csv')), (error: unknown) => error instanceof ThawError && error.code === 'ERR_TRACE_EMPTY');
    } finally {
      temp.cleanup();
    }
  });

  it('invalid options', () => {
    for (const options of [{ memoryMb: -1 }, { coldStartMs: Number.NaN }, { memoryMbByFunction: { x: -2 } }, { batchSize: 0 }]) {
      assert.throws(() => readAzure2021(SMALL, options), (error: unknown) => error instanceof ThawError && error.code === 'ERR_INVALID_OPTION');
    }
  });
});
