// thaw replay end to end: a real thaw serve (started by replay, time-scaled), real deployed functions,
// a slice of the bundled Azure sample, and the simulator's prediction for the same slice.

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { sliceTrace } from '../../src/cli/commands/replay-run.ts';
import { openTrace } from '../../src/sim/traces/index.ts';

const bin = fileURLToPath(new URL('../../bin/thaw.js', import.meta.url));
const sample = fileURLToPath(new URL('../../data/traces/azure2019/invitro_sample_500fn_8h', import.meta.url));

describe('thaw replay', () => {
  it('slices the first N functions invoked in the window, or a seeded sample, each its own app', () => {
    const trace = openTrace(sample);
    const first = sliceTrace(trace, { functions: 5, minutes: 3 });
    assert.equal(first.trace.functions.length, 5);
    assert.deepEqual(first.trace.functions.map((f) => f.app), ['r0', 'r1', 'r2', 'r3', 'r4']);
    assert.ok(first.arrivals.every((a) => a.time < 3 * 60_000 && a.fn < 5));
    assert.equal(first.trace.invocationCount, first.arrivals.length);
    const a = sliceTrace(trace, { functions: 5, minutes: 3, seed: 7 });
    const b = sliceTrace(trace, { functions: 5, minutes: 3, seed: 7 });
    assert.deepEqual(a.arrivals, b.arrivals, 'the same seed gives the same sample');
    assert.notDeepEqual(a.arrivals, first.arrivals);
    assert.throws(() => sliceTrace(trace, { functions: 100_000, minutes: 1 }), /option --functions: .* has only \d+ functions invoked in the first 1 minutes/);
  });

  it('drives its own thaw serve and prints platform, simulator and diff as JSON', { timeout: 300_000 }, () => {
    const log = join(mkdtempSync(join(tmpdir(), 'thaw-replay-test-')), 'invocations.json');
    const r = spawnSync(process.execPath, [bin, 'replay', '--trace', sample, '--functions', '3', '--minutes', '2', '--speedup', '30', '--memory', '2GB', '--calibrate', '--json', '--invocations', log], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    const result = JSON.parse(r.stdout);
    // --invocations: the event log, one entry per arrival, beside (not inside) the JSON printed.
    assert.equal(result.invocations, undefined);
    const events = JSON.parse(readFileSync(log, 'utf8'));
    assert.equal(events.arrivals.length, result.slice.invocations);
    assert.equal(events.platform.length, result.slice.invocations);
    assert.deepEqual(events.functions.map((f: { id: string }) => f.id), result.slice.functions);
    const colds = events.platform.filter((p: { outcome: string }) => p.outcome === 'cold');
    assert.equal(colds.length, result.platform.cold);
    for (const c of colds) assert.deepEqual(Object.keys(c.startPhases), ['sandbox', 'runtime-boot', 'import', 'init'], 'a new instance\'s start phases, one by one');
    for (const side of [result.platform, result.simulator, result.measured.simulator, result.calibrated.simulator]) {
      assert.equal(side.invocations, result.slice.invocations);
      assert.equal(side.cold + side.warm + side.dropped + side.failed, side.invocations);
    }
    assert.equal(result.platform.failed, 0, 'every invocation of the generated functions succeeds');
    assert.equal(result.diff.cold, result.platform.cold - result.simulator.cold);
    assert.ok(result.platform.cold >= 3, 'each function starts cold at least once');
    // The start costs measured per function and start kind, in the start-costs file format.
    assert.equal(result.calibrated.startCosts.version, 1);
    for (const id of result.slice.functions) assert.ok(result.calibrated.startCosts.functions[id][result.calibrated.startKinds[id]] > 0, `${id} has a measured start cost`);
    assert.equal(result.byFunction.length, 3);
    assert.equal(result.byFunction.reduce((n: number, f: { platform: { cold: number } }) => n + f.platform.cold, 0), result.platform.cold);
  });

  // The agreement check (issue 11 item 4). The simulator, run with what the platform measured (when
  // each request left, how long it held its instance, what its function's starts cost), must count
  // the platform's cold starts within AGREEMENT_COLD_STARTS. Why 3: this slice (the first 10
  // functions, 10 minutes, 1 GB: evictions happen) replayed 6 times at speed-ups 30 and 60 on a
  // loaded 2-core machine (load 6–11) gave 14–24 platform cold starts, the measured simulation
  // differed by at most 1, and its noise band (seeded start-cost and arrival jitter) had an sd of at
  // most 2.1. The count the trace's own start times predict is not asserted: on a loaded machine a
  // start costs far more than the trace says, and the platform's count moved 14–24 with it.
  const AGREEMENT_COLD_STARTS = 3;
  it('agrees with the simulator run with the platform\'s measured times, within the noise measured', { timeout: 300_000 }, () => {
    const r = spawnSync(process.execPath, [bin, 'replay', '--trace', sample, '--functions', '10', '--minutes', '10', '--speedup', '30', '--memory', '1GB', '--json'], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    const result = JSON.parse(r.stdout);
    assert.equal(result.platform.failed, 0, JSON.stringify(result.platform.failures));
    const platform = result.platform.cold;
    const measured = result.measured.simulator.cold;
    assert.ok(Math.abs(platform - measured) <= AGREEMENT_COLD_STARTS, `platform ${platform} cold starts, simulator with measured times ${measured}`);
    assert.deepEqual(result.measured.bands.map((b: { model: string }) => b.model), ['independent', 'nearest']);
    // Each band says where the platform's count falls in it (not asserted: a band is a spread, not a bound).
    for (const b of result.measured.bands) assert.equal(typeof b.platformCold.within2Sd, 'boolean');
  });

  it('refuses bad options before starting anything', () => {
    const r = spawnSync(process.execPath, [bin, 'replay', '--policy', 'nope'], { encoding: 'utf8' });
    assert.equal(r.status, 2);
    assert.match(r.stderr, /--policy.*unknown policy 'nope'/);
  });
});
