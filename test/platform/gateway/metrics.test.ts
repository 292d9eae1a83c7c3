import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { PlatformMetrics } from '../../../src/platform/gateway/metrics.ts';
import type { InvocationRecord } from '../../../src/platform/store/types.ts';

const gauges = { instances: { idle: 1 }, usedMb: 128, idleMb: 128, budgetMb: 4096, waiting: 0, idleGbSeconds: 0 };

function record(totalMs: number, overrides: Partial<InvocationRecord> = {}): InvocationRecord {
  return {
    functionName: 'hello', startKind: 'warm', status: 'succeeded', totalMs,
    queueMs: 0, sandboxMs: 0, runtimeBootMs: 0, importMs: 0, initMs: 0, execMs: totalMs / 2, platformMs: 0, billedGbSeconds: 0.001,
    ...overrides,
  } as InvocationRecord;
}

function line(text: string, prefix: string): string | undefined {
  return text.split('\n').find((l) => l.startsWith(prefix));
}

describe('PlatformMetrics', () => {
  it('renders cumulative histogram buckets: each le counts every observation at or below it', () => {
    const m = new PlatformMetrics();
    for (const ms of [0.3, 0.8, 3, 3, 70_000]) m.record(record(ms));
    const text = m.render(gauges);
    const bucket = (le: string) => line(text, `thaw_invocation_duration_seconds_bucket{start_kind="warm",le="${le}"}`)?.split(' ')[1];
    assert.equal(bucket('0.0005'), '1');
    assert.equal(bucket('0.001'), '2');
    assert.equal(bucket('0.0025'), '2');
    assert.equal(bucket('0.005'), '4');
    assert.equal(bucket('60'), '4', '70 s is past the last bound');
    assert.equal(bucket('+Inf'), '5');
    assert.equal(line(text, 'thaw_invocation_duration_seconds_count{start_kind="warm"}'), 'thaw_invocation_duration_seconds_count{start_kind="warm"} 5');
  });

  it('counts by function, start kind and status, with label values escaped', () => {
    const m = new PlatformMetrics();
    m.record(record(1));
    m.record(record(1));
    m.record(record(1, { functionName: 'a"b', status: 'failed' }));
    const text = m.render(gauges);
    assert.ok(text.includes('thaw_invocations_total{function="hello",start_kind="warm",status="succeeded"} 2'));
    assert.ok(text.includes('thaw_invocations_total{function="a\\"b",start_kind="warm",status="failed"} 1'));
    assert.ok(text.includes('thaw_invocation_phase_seconds_bucket{start_kind="warm",phase="exec",le="+Inf"} 3'));
  });
});
