import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { ThawError } from '../../../src/core/errors.ts';
import { readAzure2019, readAzure2019Dir, type Azure2019Trace } from '../../../src/sim/traces/azure2019.ts';
import { MinuteArrivals, MinuteCountsBuilder, naiveEvenArrivals } from '../../../src/sim/traces/minute-counts.ts';
import { seededRandom } from '../../../src/core/random.ts';
import {
  FIXTURES,
  SAMPLE_2019,
  appMemoryCsv,
  assertFormatError,
  collect,
  durationsCsv,
  invocationsCsv,
  replaceLine,
  smallFixture2019,
  tempTrace,
} from './helpers.ts';

const SMALL = join(FIXTURES, 'azure2019-small');

/** Reads a trace from files given as text, in a temporary folder. */
function readFromText(files: Record<string, string>, options: Parameters<typeof readAzure2019>[1] = {}): Azure2019Trace {
  const temp = tempTrace(files);
  try {
    return readAzure2019({ invocations: temp.path('invocations.csv'), durations: temp.path('durations.csv'), memory: temp.path('memory.csv') }, options);
  } finally {
    temp.cleanup();
  }
}

describe('Azure 2019: the 500-function invitro sample', () => {
  const trace = readAzure2019Dir(SAMPLE_2019);

  it('keeps the 433 functions invoked at least twice: 3,037,835 of the 3,037,902 invocations', () => {
    assert.equal(trace.functions.length, 433);
    assert.equal(trace.invocationCount, 3_037_835);
    assert.equal(trace.spanMs, 480 * 60_000);
    assert.equal(trace.name, 'invitro_sample_500fn_8h');
    const { stats } = trace;
    assert.deepEqual(stats.rows, { invocations: 500, durations: 500, memory: 500 });
    assert.equal(stats.dropped.belowMinInvocations, 67); // the 67 functions invoked exactly once
    assert.equal(stats.dropped.missingDurations, 0);
    assert.equal(stats.dropped.missingMemory, 0);
    assert.equal(stats.functionsKept, 433);
    assert.equal(stats.invocationsKept, 3_037_835);
    assert.equal(stats.minutes, 480);
    assert.equal(stats.firstMinuteColumn, 480);
    assert.equal(stats.memoryPerFunction, true);
    assert.deepEqual(
      trace.functions.map((f) => f.index),
      trace.functions.map((_, i) => i),
    );
  });

  it('takes memory, warm and cold-start times from the files', () => {
    assert.deepEqual(trace.functions[0], {
      index: 0,
      id: '1f7e09a2116585b67199df459edfb2f2c7c246ea52d89eaee9d89bd08f814d1e',
      app: '5352fd3e807a5fa59884f2253288181252e381449863fa2998769d09131b368a',
      memoryMb: 60.5,
      warmMs: 3845,
      coldStartMs: 2142, // Maximum 5987 − Average 3845
      trigger: 'timer',
    });
  });

  it('starts with every function active in the first minute, at 0 ms, in row order', () => {
    // Independently of the reader: the kept rows (sum ≥ 2) with a non-zero first minute column.
    const lines = readFileSync(join(SAMPLE_2019, 'invocations.csv'), 'utf8').trim().split('\n').slice(1);
    const kept = lines.map((line) => line.split(',')).filter((cells) => cells.slice(4).reduce((sum, c) => sum + Number(c), 0) >= 2);
    const activeAtZero = kept.filter((cells) => Number(cells[4]) > 0).map((cells) => cells[2]);
    const { fn, time } = collect(trace);
    const zeroCount = time.findIndex((t) => t > 0);
    assert.equal(zeroCount, activeAtZero.length);
    assert.deepEqual(fn.slice(0, zeroCount).map((f) => trace.functions[f]!.id), activeAtZero);
    // The next arrival is the i = 1 arrival of the function with the largest count in minute 0.
    const maxFirstMinute = Math.max(...kept.map((cells) => Number(cells[4])));
    assert.equal(time[zeroCount], 60_000 / maxFirstMinute);
  });

  it('streams exactly what materialising every arrival and stable-sorting by time gives, twice', () => {
    const expected = naiveEvenArrivals(trace.counts);
    for (let pass = 0; pass < 2; pass++) {
      let n = 0;
      for (const batch of trace.batches()) {
        for (let i = 0; i < batch.length; i++, n++) {
          if (batch.fn[i] !== expected.fn[n] || !Object.is(batch.time[i], expected.time[n])) {
            assert.fail(`pass ${pass}, arrival ${n}: got (${batch.fn[i]}, ${batch.time[i]}), expected (${expected.fn[n]}, ${expected.time[n]})`);
          }
        }
      }
      assert.equal(n, 3_037_835);
    }
  });

  it('gives whole-trace counts per function that match the file', () => {
    const perFunction = new Float64Array(trace.functions.length);
    for (const batch of trace.batches()) for (let i = 0; i < batch.length; i++) perFunction[batch.fn[i]!]!++;
    assert.equal(Math.max(...perFunction), 1_915_521); // the busiest function (SOURCES.md)
    assert.ok(perFunction.every((count) => count >= 2));
  });

  it('reproduces the FaaSCache rounding under compat', () => {
    const compat = readAzure2019Dir(SAMPLE_2019, { compat: 'faascache' });
    assert.equal(compat.functions.length, 433);
    assert.equal(compat.invocationCount, 3_037_835);
    for (const [i, f] of compat.functions.entries()) {
      const plain = trace.functions[i]!;
      assert.equal(f.id, plain.id);
      assert.equal(f.memoryMb, Math.ceil(plain.memoryMb));
      assert.ok(Number.isInteger(f.warmMs) && Number.isInteger(f.coldStartMs));
    }
  });
});

describe('Azure 2019: trace construction (small fixture)', () => {
  const trace = readAzure2019Dir(SMALL);

  it('joins the files and drops, and counts, what cannot be used', () => {
    assert.deepEqual(trace.functions.map((f) => f.id), ['f1', 'f2', 'f3']);
    assert.equal(trace.invocationCount, 14);
    assert.equal(trace.spanMs, 4 * 60_000);
    assert.equal(trace.stats.firstMinuteColumn, 10);
    assert.deepEqual(trace.stats.dropped, {
      belowMinInvocations: 1, // f4, invoked once
      missingDurations: 1, // f5
      missingMemory: 1, // f6
      duplicates: { invocations: 0, durations: 0, memory: 0 },
      missingValues: { invocations: 0, durations: 0, memory: 0 },
    });
  });

  it('derives memory, warm time and cold-start time without rounding by default', () => {
    assert.deepEqual(trace.functions[0], { index: 0, id: 'f1', app: 'a1', memoryMb: 60.5, warmMs: 100.7, coldStartMs: 1500.2 - 100.7, trigger: 'http' });
    // Maximum below Average: the cold-start time is clamped at 0.
    assert.deepEqual(trace.functions[1], { index: 1, id: 'f2', app: 'a1', memoryMb: 33.25, warmMs: 3, coldStartMs: 0, trigger: 'timer' });
    assert.equal(trace.functions[2]!.coldStartMs, 250.9 - 250);
  });

  it('spaces k arrivals of a minute evenly from its start and merges ties in row order', () => {
    const { fn, time } = collect(trace);
    const pairs = fn.map((f, i) => [trace.functions[f]!.id, time[i]]);
    assert.deepEqual(pairs, [
      ['f1', 0], ['f2', 0], // minute 0: one each, at the start, row order
      ['f2', 60_000], ['f3', 60_000], ['f3', 90_000], // minute 1: f3 has k = 2
      ['f1', 120_000], ['f2', 120_000], ['f1', 140_000], ['f1', 160_000], // minute 2: f1 has k = 3
      ['f2', 180_000], ['f3', 180_000], ['f3', 195_000], ['f3', 210_000], ['f3', 225_000], // minute 3: f3 has k = 4
    ]);
  });

  it('applies the FaaSCache rounding: ceil memory, int() durations, cold = int(Max) − int(Avg) even when negative', () => {
    const rounded = readAzure2019Dir(SMALL, { rounding: 'faascache' });
    assert.deepEqual(
      rounded.functions.map((f) => [f.memoryMb, f.warmMs, f.coldStartMs]),
      [
        [61, 100, 1400], // ceil(60.5); int(100.7); int(1500.2) − 100
        [34, 3, -1], // ceil(33.25); 3; int(2.0) − 3 = −1, so warm + cold start = int(Maximum)
        [128, 250, 0],
      ],
    );
    for (const f of rounded.functions) assert.ok(Number.isInteger(f.warmMs + f.coldStartMs));
  });

  it('takes a fixed cold-start time and other minimum invocation counts as options', () => {
    assert.ok(readAzure2019Dir(SMALL, { coldStartMs: 500 }).functions.every((f) => f.coldStartMs === 500));
    const all = readAzure2019Dir(SMALL, { minInvocations: 0 });
    assert.deepEqual(all.functions.map((f) => f.id), ['f1', 'f2', 'f3', 'f4']);
    assert.equal(all.stats.dropped.belowMinInvocations, 0);
    const busy = readAzure2019Dir(SMALL, { minInvocations: 5 });
    assert.deepEqual(busy.functions.map((f) => f.id), ['f3']);
    assert.equal(busy.stats.dropped.belowMinInvocations, 5);
  });

  it("puts every arrival at the minute start with spacing 'start'", () => {
    const { fn, time } = collect(readAzure2019Dir(SMALL, { spacing: 'start' }));
    assert.deepEqual(time, [0, 0, 60_000, 60_000, 60_000, 120_000, 120_000, 120_000, 120_000, 180_000, 180_000, 180_000, 180_000, 180_000]);
    assert.deepEqual(fn, [0, 1, 1, 2, 2, 0, 0, 0, 1, 1, 2, 2, 2, 2]);
  });

  it("draws arrivals uniformly in their minute with spacing 'random', the same for the same seed", () => {
    const a = collect(readAzure2019Dir(SMALL, { spacing: 'random', seed: 7 }));
    const b = collect(readAzure2019Dir(SMALL, { spacing: 'random', seed: 7 }));
    const c = collect(readAzure2019Dir(SMALL, { spacing: 'random', seed: 8 }));
    assert.deepEqual(a, b);
    assert.notDeepEqual(a.time, c.time);
    assert.equal(a.time.length, 14);
    for (let i = 1; i < a.time.length; i++) assert.ok(a.time[i]! >= a.time[i - 1]!);
    // Per minute, the same functions as the even spacing.
    const even = collect(trace);
    const perMinute = (s: { fn: number[]; time: number[] }): string[] => s.fn.map((f, i) => `${Math.floor(s.time[i]! / 60_000)}:${f}`).sort();
    assert.deepEqual(perMinute(a), perMinute(even));
  });
});

describe('Azure 2019: ties and the fast merge', () => {
  it('merges equal times of different k in row order (k = 4 and k = 2 meet at 30 s)', () => {
    const trace = readFromText({
      'invocations.csv': invocationsCsv(
        [
          { owner: 'o', app: 'a', fn: 'A', counts: { 0: 4 } },
          { owner: 'o', app: 'a', fn: 'B', counts: { 0: 2 } },
          { owner: 'o', app: 'a', fn: 'C', counts: { 0: 4 } },
        ],
        2,
        1,
      ),
      'durations.csv': durationsCsv(['A', 'B', 'C'].map((fn) => ({ owner: 'o', app: 'a', fn, average: 1, maximum: 2 }))),
      'memory.csv': appMemoryCsv([{ owner: 'o', app: 'a', mb: 30 }]),
    });
    const { fn, time } = collect(trace);
    const ids = fn.map((f) => trace.functions[f]!.id);
    assert.deepEqual(
      ids.map((id, i) => `${id}@${time[i]}`),
      ['A@0', 'B@0', 'C@0', 'A@15000', 'C@15000', 'A@30000', 'B@30000', 'C@30000', 'A@45000', 'C@45000'],
    );
  });

  it('equals the naive materialise-and-sort construction on random count matrices full of ties', () => {
    const random = seededRandom(2024);
    for (let round = 0; round < 40; round++) {
      const minutes = 1 + Math.floor(random() * 5);
      const functions = 1 + Math.floor(random() * 30);
      const builder = new MinuteCountsBuilder(minutes);
      const choices = [0, 0, 1, 2, 3, 4, 5, 6, 8, 10, 12, 15, 16, 20, 24, 30, 60, 120, 7, 9, 11, 13, 240, 1000];
      for (let f = 0; f < functions; f++) {
        builder.addFunction(f, Array.from({ length: minutes }, () => choices[Math.floor(random() * choices.length)]!));
      }
      const counts = builder.build();
      const expected = naiveEvenArrivals(counts);
      // A small batch size forces minutes across batch boundaries.
      const got = { fn: [] as number[], time: [] as number[] };
      for (const batch of new MinuteArrivals(counts).batches({ batchSize: 7 })) {
        got.fn.push(...batch.fn);
        got.time.push(...batch.time);
      }
      assert.deepEqual(got.fn, [...expected.fn], `round ${round}`);
      assert.deepEqual(got.time, [...expected.time], `round ${round}`);
    }
  });
});

describe('Azure 2019: original day files (per-app memory, minutes 1..1440)', () => {
  const day = (number: string, memoryMb: number) => ({
    [`invocations_per_function_md.anon.d${number}.csv`]: invocationsCsv(
      [
        { owner: 'oX', app: 'X', fn: 'x1', trigger: 'http', counts: { 0: 1, 1439: 1 } },
        { owner: 'oX', app: 'X', fn: 'x2', trigger: 'queue', counts: { 720: 2 } },
        { owner: 'oY', app: 'Y', fn: 'y1', trigger: 'timer', counts: { 5: 3 } },
      ],
      1440,
      1,
    ),
    [`function_durations_percentiles.anon.d${number}.csv`]: durationsCsv([
      { owner: 'oX', app: 'X', fn: 'x1', average: 10, maximum: 100 },
      { owner: 'oX', app: 'X', fn: 'x2', average: 20, maximum: 200 },
      { owner: 'oX', app: 'X', fn: 'x3', average: 30, maximum: 300 }, // never invoked, but counts for X's memory
      { owner: 'oY', app: 'Y', fn: 'y1', average: 5.5, maximum: 7.9 },
    ]),
    [`app_memory_percentiles.anon.d${number}.csv`]: appMemoryCsv([
      { owner: 'oX', app: 'X', mb: memoryMb },
      { owner: 'oY', app: 'Y', mb: 50.2 },
    ]),
  });

  it("splits an app's memory over its functions in the durations file and reads minutes 1..1440", () => {
    const temp = tempTrace({ ...day('03', 999), ...day('01', 100) });
    try {
      const trace = readAzure2019Dir(temp.dir); // the lowest day, d01
      assert.match(trace.name, /day 01$/);
      assert.equal(trace.stats.memoryPerFunction, false);
      assert.equal(trace.stats.minutes, 1440);
      assert.equal(trace.stats.firstMinuteColumn, 1);
      assert.equal(trace.spanMs, 1440 * 60_000);
      assert.deepEqual(trace.functions.map((f) => [f.id, f.app, f.memoryMb, f.trigger]), [
        ['x1', 'X', 100 / 3, 'http'],
        ['x2', 'X', 100 / 3, 'queue'],
        ['y1', 'Y', 50.2, 'timer'],
      ]);
      assert.deepEqual(collect(trace), {
        fn: [0, 2, 2, 2, 1, 1, 0],
        time: [0, 300_000, 320_000, 340_000, 720 * 60_000, 720 * 60_000 + 30_000, 1439 * 60_000],
        duration: [],
      });
      const rounded = readAzure2019Dir(temp.dir, { compat: 'faascache' });
      assert.deepEqual(rounded.functions.map((f) => [f.memoryMb, f.warmMs, f.coldStartMs]), [[34, 10, 90], [34, 20, 180], [51, 5, 2]]);
      assert.equal(readAzure2019Dir(temp.dir, { day: 3 }).functions[0]!.memoryMb, 333);
    } finally {
      temp.cleanup();
    }
  });

  it('explains which files it found when the folder is ambiguous or incomplete', () => {
    const both = tempTrace({ ...day('01', 100), ...smallFixture2019() });
    const partialDay = tempTrace({ 'invocations_per_function_md.anon.d02.csv': 'x', 'function_durations_percentiles.anon.d02.csv': 'x' });
    const partialSample = tempTrace({ 'invocations.csv': 'x' });
    try {
      assertFormatError(() => readAzure2019Dir(both.dir), { file: both.dir, message: /both sample files and day files.*found: app_memory_percentiles\.anon\.d01\.csv, durations\.csv/ });
      assert.equal(readAzure2019Dir(both.dir, { day: 1 }).functions.length, 3);
      assertFormatError(() => readAzure2019Dir(both.dir, { day: 2 }), {
        file: both.dir,
        message: /day 2 is incomplete or absent: missing invocations_per_function_md\.anon\.d02\.csv/,
      });
      assertFormatError(() => readAzure2019Dir(partialDay.dir), { file: partialDay.dir, message: /no complete Azure 2019 trace.*found: function_durations/ });
      assertFormatError(() => readAzure2019Dir(partialSample.dir), { file: partialSample.dir, message: /incomplete sample: missing durations\.csv, memory\.csv/ });
    } finally {
      both.cleanup();
      partialDay.cleanup();
      partialSample.cleanup();
    }
  });
});

describe('Azure 2019: FaaSCache compatibility cleaning', () => {
  const files = {
    'invocations.csv': [
      'HashOwner,HashApp,HashFunction,Trigger,1,2',
      'o,a,f1,http,1,1',
      'o,a,f2,http,,3', // missing value: dropped (dropna)
      'o,a,f1,queue,5,5', // repeat of f1: the first row wins
      'o,a,f3,http,1,0', // invoked once: dropped before de-duplication ...
      'o,a,f3,timer,2,0', // ... so this later row of f3 is the one kept
      '',
    ].join('\n'),
    'durations.csv': durationsCsv([
      { owner: 'o', app: 'a', fn: 'f1', average: 10.9, maximum: 20.9 },
      { owner: 'o', app: 'a', fn: 'f1', average: 99, maximum: 99 }, // repeat: ignored
      { owner: 'o', app: 'a', fn: 'f3', average: 1, maximum: 2 },
      { owner: 'o', app: 'a', fn: 'f4', average: 1, maximum: 2 },
    ]),
    'memory.csv': appMemoryCsv([
      { owner: 'o', app: 'a', mb: 100 },
      { owner: 'o', app: 'a', mb: 1 }, // repeat: ignored
    ]),
  };

  it('drops rows with missing values and keeps the first of repeated rows, counting both', () => {
    const trace = readFromText(files, { compat: 'faascache' });
    assert.deepEqual(trace.functions.map((f) => [f.id, f.trigger, f.memoryMb, f.warmMs, f.coldStartMs]), [
      ['f1', 'http', 34, 10, 10], // ceil(100 / 3 functions of app a in durations)
      ['f3', 'timer', 34, 1, 1],
    ]);
    const { fn, time } = collect(trace);
    assert.deepEqual(fn.map((f, i) => `${trace.functions[f]!.id}@${time[i]}`), ['f1@0', 'f3@0', 'f3@30000', 'f1@60000']);
    assert.deepEqual(trace.stats.dropped, {
      belowMinInvocations: 1,
      missingDurations: 0,
      missingMemory: 0,
      duplicates: { invocations: 1, durations: 1, memory: 1 },
      missingValues: { invocations: 1, durations: 0, memory: 0 },
    });
  });

  it('refuses the same files in strict mode, naming both lines of a repeat', () => {
    assertFormatError(() => readFromText(files), { file: 'durations.csv', line: 3, column: 'HashFunction', message: /first at line 2, again at line 3/ });
  });
});

describe('Azure 2019: format errors name the file, the line and the column', () => {
  const good = smallFixture2019();
  const variant = (file: keyof typeof good, lineNo: number, line: string) => () => readFromText({ ...good, [file]: replaceLine(good[file], lineNo, line) });

  it('a bad count', () => {
    assertFormatError(variant('invocations.csv', 3, 'o1,a1,f2,timer,1,x,1,1'), {
      file: 'invocations.csv',
      line: 3,
      column: '11',
      message: /expected a non-negative integer, got 'x'/,
    });
    assertFormatError(variant('invocations.csv', 3, 'o1,a1,f2,timer,1,-1,1,1'), { file: 'invocations.csv', line: 3, column: '11' });
    assertFormatError(variant('invocations.csv', 3, 'o1,a1,f2,timer,1,1.5,1,1'), { file: 'invocations.csv', line: 3, column: '11' });
  });

  it('a bad duration or memory value', () => {
    assertFormatError(variant('durations.csv', 4, 'o2,a2,f3,fast,60,240.0,250.9,240,241,245,250,250,250,250'), {
      file: 'durations.csv',
      line: 4,
      column: 'Average',
      message: /expected a non-negative number, got 'fast'/,
    });
    assertFormatError(variant('memory.csv', 2, 'f1,o1,a1,100,-60.5,50.0,52.0,55.0,60.0,65.0,70.0,71.0,72.0'), {
      file: 'memory.csv',
      line: 2,
      column: 'AverageAllocatedMb',
    });
  });

  it('a missing required column', () => {
    assertFormatError(variant('durations.csv', 1, 'HashOwner,HashApp,HashFunction,Avg,Count,Minimum,Maximum,p0,p1,p25,p50,p75,p99,p100'), {
      file: 'durations.csv',
      line: 1,
      column: 'Average',
      message: /missing required column 'Average' \(header: HashOwner,HashApp,HashFunction,Avg/,
    });
    assertFormatError(variant('invocations.csv', 1, 'HashOwner,App,HashFunction,Trigger,10,11,12,13'), { file: 'invocations.csv', line: 1, column: 'HashApp' });
  });

  it('a wrong header: no or non-consecutive minute columns', () => {
    assertFormatError(variant('invocations.csv', 1, 'HashOwner,HashApp,HashFunction,Trigger,10,11,13,14'), {
      file: 'invocations.csv',
      line: 1,
      column: '13',
      message: /consecutive integers, but '13' follows '11'/,
    });
    assertFormatError(variant('invocations.csv', 1, 'HashOwner,HashApp,HashFunction,Trigger,a,b,c,d'), {
      file: 'invocations.csv',
      line: 1,
      message: /no minute columns/,
    });
  });

  it('a duplicate function, with both line numbers', () => {
    assertFormatError(variant('invocations.csv', 4, 'o1,a1,f1,queue,0,2,0,4'), {
      file: 'invocations.csv',
      line: 4,
      column: 'HashFunction',
      message: /duplicate HashFunction 'f1' \(first at line 2, again at line 4/,
    });
    assertFormatError(variant('memory.csv', 3, 'f1,o1,a1,100,33.25,30.0,31.0,32.0,33.0,34.0,35.0,36.0,37.0'), {
      file: 'memory.csv',
      line: 3,
      message: /first at line 2, again at line 3/,
    });
  });

  it('an empty field, in strict mode', () => {
    assertFormatError(variant('invocations.csv', 5, 'o2,a2,f4,,0,0,1,0'), { file: 'invocations.csv', line: 5, column: 'Trigger', message: /empty field/ });
    assertFormatError(variant('durations.csv', 2, 'o1,a1,f1,100.7,40,50.0,,50,51,80,100,120,1400,1500'), { file: 'durations.csv', line: 2, column: 'Maximum' });
  });

  it('a row with the wrong number of fields', () => {
    assertFormatError(variant('invocations.csv', 2, 'o1,a1,f1,http,1,0,3'), { file: 'invocations.csv', line: 2, message: /expected 8 fields/ });
  });

  it('an empty trace is an ERR_TRACE_EMPTY error, not an empty stream', () => {
    assert.throws(() => readAzure2019Dir(SMALL, { minInvocations: 1000 }), (error: unknown) => error instanceof ThawError && error.code === 'ERR_TRACE_EMPTY');
  });

  it('invalid options are ERR_INVALID_OPTION errors', () => {
    for (const options of [{ minInvocations: -1 }, { coldStartMs: -5 }, { spacing: 'sideways' as never }, { rounding: 'up' as never }, { day: 1.5 }]) {
      assert.throws(() => readAzure2019Dir(SMALL, options), (error: unknown) => error instanceof ThawError && error.code === 'ERR_INVALID_OPTION', JSON.stringify(options));
    }
  });
});
