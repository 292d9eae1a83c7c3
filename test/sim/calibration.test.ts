import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { parseStartCosts, startCostRatio, withScaledColdStarts } from '../../src/sim/calibration.ts';
import { inMemoryTrace } from '../../src/sim/traces/in-memory.ts';
import { BIN } from '../e2e/harness.ts';

const costs = {
  version: 1,
  functions: {
    hello: { cold: 100, snapshot: 80, warm: 1, resumed: 2 },
    'deps-heavy': { cold: 300, snapshot: 150, zygote: 40 },
    'init-heavy': { cold: 350, snapshot: 420 },
  },
};

describe('start-cost calibration', () => {
  it('takes the median ratio of a start kind to a cold start over the measured functions', () => {
    const parsed = parseStartCosts(JSON.stringify(costs), 'costs.json');
    assert.equal(startCostRatio(parsed, 'snapshot').ratio, 0.8); // median of 0.8, 0.5, 1.2
    assert.equal(startCostRatio(parsed, 'zygote').ratio, 40 / 300);
    assert.deepEqual(startCostRatio(parsed, 'zygote').functions, ['deps-heavy']);
    assert.equal(startCostRatio(parsed, 'resumed').ratio, 0.02);
  });

  it('rejects a malformed file, saying where', () => {
    assert.throws(() => parseStartCosts('{', 'c.json'), /c\.json: not JSON/);
    assert.throws(() => parseStartCosts('{"version": 2, "functions": {}}', 'c.json'), /c\.json: version must be 1/);
    assert.throws(() => parseStartCosts('{"version": 1, "functions": {"a": {"frozen": 3}}}', 'c.json'), /functions\.a: unknown start kind 'frozen'/);
    assert.throws(() => parseStartCosts('{"version": 1, "functions": {"a": {"cold": -1}}}', 'c.json'), /functions\.a\.cold: expected a duration/);
    assert.throws(() => startCostRatio(parseStartCosts('{"version": 1, "functions": {"a": {"cold": 5}}}', 'c.json'), 'zygote'), /no function with both a cold and a zygote start/);
  });

  it('scales every function’s cold-start time and nothing else', () => {
    const trace = inMemoryTrace('t', [{ id: 'f', memoryMb: 128, warmMs: 10, coldStartMs: 1000 }], [['f', 0], ['f', 5]]);
    const scaled = withScaledColdStarts(trace, 0.25, 'snapshot starts');
    assert.equal(scaled.functions[0]!.coldStartMs, 250);
    assert.equal(scaled.functions[0]!.warmMs, 10);
    assert.equal(scaled.invocationCount, 2);
  });

  it('thaw sim --start-costs FILE --start-path snapshot simulates cheaper cold starts', () => {
    const file = join(mkdtempSync(join(tmpdir(), 'thaw-costs-')), 'costs.json');
    writeFileSync(file, JSON.stringify(costs));
    const sim = (...extra: string[]) => {
      const r = spawnSync(process.execPath, [BIN, 'sim', '--trace', 'synthetic:poisson:fns=20,rate=1,minutes=30,seed=9', '--policy', 'ttl', '--ttl', '30s', '--memory', '8GB', '--json', ...extra], { encoding: 'utf8' });
      assert.equal(r.status, 0, r.stderr);
      return JSON.parse(r.stdout);
    };
    const cold = sim();
    const snapshot = sim('--start-costs', file, '--start-path', 'snapshot');
    assert.match(snapshot.trace.name, /cold starts as snapshot starts measured on hello, deps-heavy, init-heavy: ×0\.800/);
    // Shorter cold starts free instances sooner, so the runs may differ by a start or two; the
    // overhead per cold start is 0.8× as large.
    const perCold = (r: any) => r.summary.coldStartOverheadPct / r.summary.cold;
    assert.ok(Math.abs(perCold(snapshot) / perCold(cold) - 0.8) < 0.02, `${perCold(snapshot) / perCold(cold)}`);
  });
});
