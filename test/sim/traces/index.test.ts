import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { ThawError } from '../../../src/core/errors.ts';
import { DEFAULT_TRACE_DIR, openTrace, type Azure2019Trace, type Azure2021Trace } from '../../../src/sim/traces/index.ts';
import { FIXTURES, HEAD_2021, SAMPLE_2019, assertFormatError, tempTrace } from './helpers.ts';

describe('openTrace', () => {
  it('DEFAULT_TRACE_DIR is the bundled 2019 sample', () => {
    assert.ok(existsSync(join(DEFAULT_TRACE_DIR, 'invocations.csv')), DEFAULT_TRACE_DIR);
    assert.equal(join(DEFAULT_TRACE_DIR, '/'), join(SAMPLE_2019, '/'));
  });

  it('opens a folder as an Azure 2019 trace, passing its options', () => {
    const trace = openTrace(join(FIXTURES, 'azure2019-small'), { azure2019: { compat: 'faascache' } }) as Azure2019Trace;
    assert.equal(trace.functions.length, 3);
    assert.equal(trace.functions[0]!.memoryMb, 61);
    assert.equal(trace.stats.rows.invocations, 6);
  });

  it('opens a file with the 2021 header as an Azure 2021 trace, whatever its extension', () => {
    const trace = openTrace(HEAD_2021, { azure2021: { memoryMb: 64 } }) as Azure2021Trace;
    assert.equal(trace.invocationCount, 998);
    assert.equal(trace.functions[0]!.memoryMb, 64);
    const temp = tempTrace({ 'trace.txt': 'app,func,end_timestamp,duration\na,f,1,0.5\n' });
    try {
      assert.equal(openTrace(temp.path('trace.txt')).invocationCount, 1);
    } finally {
      temp.cleanup();
    }
  });

  it('opens synthetic:... as the generator', () => {
    const trace = openTrace('synthetic:poisson:fns=5,rate=6,minutes=10,seed=2', { syntheticBatchSize: 10 });
    assert.equal(trace.functions.length, 5);
    assert.equal(trace.spanMs, 600_000);
    assert.ok([...trace.batches()].every((b) => b.length <= 10));
  });

  it('explains what it cannot open', () => {
    assert.throws(() => openTrace('/nonexistent/trace'), (error: unknown) => error instanceof ThawError && /no such file or folder/.test(error.message));
    assertFormatError(() => openTrace(join(SAMPLE_2019, 'durations.csv')), { file: 'durations.csv', line: 1, message: /pass the folder/ });
    const temp = tempTrace({ 'other.csv': 'time,function\n1,a\n' });
    try {
      assertFormatError(() => openTrace(temp.path('other.csv')), { file: 'other.csv', message: /unrecognised trace format.*got 'time,function'/ });
    } finally {
      temp.cleanup();
    }
  });
});
