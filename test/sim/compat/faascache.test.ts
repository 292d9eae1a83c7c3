// The FaaSCache compatibility engine against the reference simulator's recorded outputs
// (test/fixtures/faascache, see its README), plus hand-worked cases.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import type { Trace } from '../../../src/core/trace.ts';
import { inMemoryTrace } from '../../../src/sim/traces/in-memory.ts';
import { readAzure2019Dir } from '../../../src/sim/traces/azure2019.ts';
import { simulateFaasCache, analyzeTimings, coldStartOverheadPct, pythonSum, FAASCACHE_POLICIES } from '../../../src/sim/compat/index.ts';
import { loadReferenceTrace } from './reference-trace.ts';
import { compareFunctions, compareRun, readFixture, type Fixture } from './reference-fixture.ts';

const FIX = fileURLToPath(new URL('../../fixtures/faascache/', import.meta.url));
const SAMPLE = fileURLToPath(new URL('../../../data/traces/azure2019/invitro_sample_500fn_8h/', import.meta.url));
const SLOW = process.env.THAW_SLOW_TESTS === '1';

/** sha256 over "HashFunction,repr(float(t))\n" per arrival, as the fixture driver computed it. */
function traceDigest(trace: Trace, limit?: number | null): string {
  const h = createHash('sha256');
  let k = 0;
  for (const b of trace.batches()) {
    for (let i = 0; i < b.length && (limit == null || k < limit); i++, k++) {
      const t = b.time[i]!;
      h.update(`${trace.functions[b.fn[i]!]!.id},${Number.isInteger(t) ? `${t}.0` : String(t)}\n`);
    }
  }
  return h.digest('hex');
}

/** The trace's first `limit` arrivals (all when null) as one batch. */
function limited(trace: Trace, limit: number | null | undefined): Trace {
  const n = limit ?? trace.invocationCount;
  const fn = new Int32Array(n);
  const time = new Float64Array(n);
  let k = 0;
  for (const b of trace.batches()) {
    for (let i = 0; i < b.length && k < n; i++, k++) {
      fn[k] = b.fn[i]!;
      time[k] = b.time[i]!;
    }
  }
  const batch = { length: k, fn, time };
  return { ...trace, invocationCount: k, batches: () => [batch] };
}

function checkFixture(trace: Trace, fx: Fixture & { limit?: number | null; digest?: string }): void {
  assert.deepEqual(compareFunctions(trace, { ...fx, invocations: trace.invocationCount }), []);
  if (fx.digest) assert.equal(traceDigest(trace, fx.limit), fx.digest, 'arrival order and times');
  const t = limited(trace, fx.limit ?? null);
  for (const run of fx.runs) assert.deepEqual(compareRun(t, run).diffs, [], `${fx.trace} ${run.policy}@${run.memoryMb}`);
}

const expectedDir = join(FIX, 'expected');
const expectedFiles = readdirSync(expectedDir).filter((f) => f.endsWith('.json')).sort();
for (const file of expectedFiles) {
  const name = file.slice(0, -5);
  test(`reference outputs reproduced exactly: ${name}`, () => {
    const fx = readFixture(join(expectedDir, file));
    const trace = loadReferenceTrace(join(FIX, 'traces', name), 'app');
    assert.equal(trace.invocationCount, fx.invocations);
    checkFixture(trace, fx);
  });
}

test("the project's Azure 2019 reader (compat: 'faascache') builds the reference's traces, and the engine on them reproduces the reference", () => {
  for (const file of expectedFiles) {
    const fx = readFixture(join(expectedDir, file)) as Fixture & { digest?: string };
    const trace = readAzure2019Dir(join(FIX, 'traces', file.slice(0, -5)), { compat: 'faascache' });
    assert.deepEqual(compareFunctions(trace, fx), [], file);
    assert.equal(traceDigest(trace), fx.digest, `${file}: arrival order and times`);
    const t = limited(trace, null);
    for (const run of fx.runs) assert.deepEqual(compareRun(t, run).diffs, [], `${file} ${run.policy}@${run.memoryMb}`);
  }
});

const sampleDir = join(FIX, 'sample');
for (const file of existsSync(sampleDir) ? readdirSync(sampleDir).filter((f) => f.endsWith('.json')).sort() : []) {
  const fx = readFixture(join(sampleDir, file)) as Fixture & { limit?: number | null };
  const long = fx.limit == null || fx.limit > 200_000;
  test(`reference outputs reproduced exactly on the 500-function sample: ${file}`, { skip: long && !SLOW ? 'long runs: set THAW_SLOW_TESTS=1' : false }, () => {
    // Through the project's reader (end to end); this file's loader must agree with it.
    const trace = readAzure2019Dir(SAMPLE, { compat: 'faascache' });
    assert.equal(traceDigest(loadReferenceTrace(SAMPLE, 'function'), fx.limit), (fx as { digest?: string }).digest);
    checkFixture(trace, fx);
  });
}

// ---- hand-worked cases ---------------------------------------------------------------------------

const fns = [
  { id: 'a', memoryMb: 100, warmMs: 10, coldStartMs: 90 },
  { id: 'b', memoryMb: 100, warmMs: 20, coldStartMs: 0 },
];

test('a miss runs for the whole cold duration, a hit for the warm duration', () => {
  // a at 0 (miss, busy until 100), a at 50 (busy: second miss), a at 100 (first container idle: hit).
  const r = simulateFaasCache(inMemoryTrace('t', fns, [['a', 0], ['a', 50], ['a', 100]]), { policy: 'LRU', memoryMb: 1000 });
  assert.deepEqual(r.functions[0], { id: 'a', hits: 1, misses: 2, evictions: 0, drops: 0 });
});

test('drops when the new container cannot fit, even after evicting every idle one', () => {
  // Memory for one container: b arrives while a runs, so b is dropped (nothing idle to evict).
  const r = simulateFaasCache(inMemoryTrace('t', fns, [['a', 0], ['b', 10], ['b', 200]]), { policy: 'GD', memoryMb: 150 });
  assert.deepEqual(r.functions[1], { id: 'b', hits: 0, misses: 1, evictions: 0, drops: 1 });
  assert.equal(r.functions[0]!.evictions, 1); // idle a evicted at 200 to make room for b
});

test('TTL purges stale idle containers only when their function is looked up, and counts them as evictions', () => {
  const ttl = 10 * 60 * 1000;
  const r = simulateFaasCache(inMemoryTrace('t', fns, [['a', 0], ['b', 1], ['a', ttl + 101]]), { policy: 'TTL', memoryMb: 1000 });
  assert.deepEqual(r.functions[0], { id: 'a', hits: 0, misses: 2, evictions: 1, drops: 0 });
  assert.deepEqual(r.functions[1], { id: 'b', hits: 0, misses: 1, evictions: 0, drops: 0 }); // b's stale container stays
  assert.equal(r.final.poolSize, 2);
});

test('analyze_timings as written (twarm = warm, trun = cold) and the Appendix A overhead', () => {
  // f0: warm 10, cold 100, 3 hits + 1 miss; f1: warm 20, cold 20 (cost 0), 2 misses.
  const got = analyzeTimings([0, 1], [3, 0], [1, 2], [10, 20], [100, 20])!;
  const total = 6;
  assert.equal(got.server_cold, (10 * 1 + 20 * 2) / total);
  const eat0 = (1 * 100 + 3 * (100 - 10)) / 4;
  const eat1 = (2 * 20 + 0) / 2;
  assert.equal(got.wted_eat, 0 + (eat0 * 4) / total + (eat1 * 2) / total);
  assert.equal(got.wted_increase, 0 + ((10 * 1) / (4 * (100 - 10))) * 4 / total + 0);
  assert.equal(coldStartOverheadPct([0, 1], [3, 0], [1, 2], [10, 20], [100, 20]), (100 * (1 * 90 + 0)) / (4 * 10 + 2 * 20));
  assert.equal(analyzeTimings([], [], [], [], []), null);
});

test('results are plain JSON', () => {
  const r = simulateFaasCache(inMemoryTrace('t', fns, [['a', 0], ['b', 5], ['a', 500]]), { policy: 'HIST', memoryMb: 300 });
  assert.deepEqual(JSON.parse(JSON.stringify(r)), r);
  assert.equal(r.mode, 'faascache');
  assert.equal(r.hits + r.misses + r.drops, r.invocations);
});

test('unknown policies and bad options are refused; RAND is not reproducible', () => {
  const t = inMemoryTrace('t', fns, [['a', 0]]);
  assert.throws(() => simulateFaasCache(t, { policy: 'RAND' as never, memoryMb: 100 }), /RAND/);
  assert.throws(() => simulateFaasCache(t, { policy: 'GD', memoryMb: -1 }), { code: 'ERR_INVALID_OPTION' });
  assert.ok(FAASCACHE_POLICIES.includes('HIST'));
});

test("Python's sum() of floats: sequential up to 3.11, Neumaier-compensated from 3.12 (recorded from CPython)", () => {
  const fx = JSON.parse(readFileSync(join(FIX, 'pysum.json'), 'utf8')) as {
    lists: number[][];
    sequential: { sums: number[] };
    neumaier: { sums: number[] };
  };
  fx.lists.forEach((xs, i) => {
    assert.equal(pythonSum(xs, 'sequential'), fx.sequential.sums[i], `list ${i} sequential`);
    assert.equal(pythonSum(xs, 'neumaier'), fx.neumaier.sums[i], `list ${i} neumaier`);
  });
  assert.ok(fx.lists.some((_, i) => fx.sequential.sums[i] !== fx.neumaier.sums[i]));
  // The option reaches analyze_timings.
  const r = simulateFaasCache(inMemoryTrace('t', fns, [['a', 0], ['b', 5], ['a', 500]]), { policy: 'LRU', memoryMb: 300, pythonSum: 'neumaier' });
  assert.ok(r.reference !== null);
});
