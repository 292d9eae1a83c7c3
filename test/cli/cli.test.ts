// The thaw command end to end, as a user runs it: a real process, real files.

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { BIN as bin } from '../e2e/harness.ts';

const sample = fileURLToPath(new URL('../../data/traces/azure2019/invitro_sample_500fn_8h', import.meta.url));
const small = 'synthetic:poisson:fns=20,rate=3,minutes=30,seed=4';

function thaw(...args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [bin, ...args], { encoding: 'utf8' });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('thaw CLI', () => {
  it('sim prints a table, or JSON with --json', () => {
    const table = thaw('sim', '--trace', small, '--policy', 'lru', '--memory', '2GB');
    assert.equal(table.status, 0, table.stderr);
    assert.match(table.stdout, /lru on 2 GB/);
    assert.match(table.stdout, /cold-start overhead/);
    const json = thaw('sim', '--trace', small, '--policy', 'ttl', '--memory', '2GB', '--json');
    const result = JSON.parse(json.stdout);
    assert.equal(result.policy, 'ttl');
    assert.equal(result.summary.served + result.summary.dropped, result.summary.invocations);
  });

  it('sim sweep runs policies × sizes in worker threads and writes JSON and HTML', () => {
    const out = mkdtempSync(join(tmpdir(), 'thaw-sweep-'));
    const r = thaw('sim', 'sweep', '--trace', small, '--policies', 'ttl,gd', '--memory', '1GB..3GB:1GB', '--workers', '2', '--out', out);
    assert.equal(r.status, 0, r.stderr);
    const sweep = JSON.parse(readFileSync(join(out, 'sweep.json'), 'utf8'));
    assert.equal(sweep.points.length, 6);
    assert.deepEqual(sweep.memoriesMb, [1024, 2048, 3072]);
    const html = readFileSync(join(out, 'sweep.html'), 'utf8');
    assert.match(html, /<html/);
    assert.doesNotMatch(html, /src="https?:/);
  });

  it('a sweep point gives the same result as the same single run', () => {
    const out = mkdtempSync(join(tmpdir(), 'thaw-sweep-'));
    thaw('sim', 'sweep', '--trace', small, '--policies', 'gd', '--memory', '2GB', '--out', out);
    const point = JSON.parse(readFileSync(join(out, 'sweep.json'), 'utf8')).points[0];
    const single = JSON.parse(thaw('sim', '--trace', small, '--policy', 'gd', '--memory', '2GB', '--json').stdout);
    assert.deepEqual(point.summary, single.summary);
  });

  it('curve prints the size for a 90% target, exact and sampled', () => {
    const r = thaw('curve', '--trace', small, '--json');
    const curve = JSON.parse(r.stdout);
    assert.equal(curve.target, 0.9);
    assert.ok(curve.exact.hitRatio.length > 1);
    assert.ok('exact' in curve.sizeForTargetMb && 'sampled' in curve.sizeForTargetMb);
  });

  it('a malformed trace fails with the file, line and column, and nothing is simulated', () => {
    const dir = mkdtempSync(join(tmpdir(), 'thaw-bad-'));
    cpSync(sample, dir, { recursive: true });
    const durations = join(dir, 'durations.csv');
    const lines = readFileSync(durations, 'utf8').split('\n');
    lines[6] = lines[6]!.replace(/^([^,]*,[^,]*,[^,]*,)[^,]*/, '$112x');
    writeFileSync(durations, lines.join('\n'));
    const out = join(dir, 'out');
    const r = thaw('sim', '--trace', dir, '--out', out);
    assert.equal(r.status, 2);
    assert.match(r.stderr, /durations\.csv, line 7, column Average: expected .*number.*'12x'/);
    assert.equal(existsSync(out), false);
  });

  it('a missing column and a duplicate function fail with file and line', () => {
    const dir = mkdtempSync(join(tmpdir(), 'thaw-bad-'));
    cpSync(sample, dir, { recursive: true });
    const invocations = join(dir, 'invocations.csv');
    const lines = readFileSync(invocations, 'utf8').trimEnd().split('\n');
    writeFileSync(invocations, [...lines, lines[1]].join('\n') + '\n');
    const dup = thaw('sim', '--trace', dir);
    assert.equal(dup.status, 2);
    assert.match(dup.stderr, /invocations\.csv, line 502, column HashFunction: duplicate/);
    const memory = join(dir, 'memory.csv');
    writeFileSync(memory, readFileSync(memory, 'utf8').replace('AverageAllocatedMb,', 'Avg,'));
    writeFileSync(invocations, lines.join('\n') + '\n');
    const missing = thaw('sim', '--trace', dir);
    assert.equal(missing.status, 2);
    assert.match(missing.stderr, /memory\.csv, line 1.*AverageAllocatedMb/);
  });

  it('--compat faascache reproduces the reference simulator’s figures exactly', () => {
    const fixtures = fileURLToPath(new URL('../fixtures/faascache/', import.meta.url));
    const expected = JSON.parse(readFileSync(join(fixtures, 'expected', 'small-1.json'), 'utf8'));
    const run = expected.runs.find((r: { policy: string }) => r.policy === 'GD');
    const r = thaw('sim', '--compat', 'faascache', '--trace', join(fixtures, 'traces', 'small-1'), '--policy', 'gd', '--memory', String(run.memoryMb), '--json');
    assert.equal(r.status, 0, r.stderr);
    const result = JSON.parse(r.stdout);
    assert.deepEqual(result.reference, run.global);
    assert.match(thaw('sim', '--compat', 'faascache', '--policy', 'lfu').stderr, /not a policy of FaaSCache's reference simulator/);
  });

  it('--instance-concurrency shares instances, and is refused with --compat', () => {
    const one = JSON.parse(thaw('sim', '--trace', small, '--policy', 'lru', '--memory', '2GB', '--json').stdout);
    const four = thaw('sim', '--trace', small, '--policy', 'lru', '--memory', '2GB', '--instance-concurrency', '4', '--json');
    assert.equal(four.status, 0, four.stderr);
    const shared = JSON.parse(four.stdout);
    assert.equal(shared.options.instanceConcurrency, 4);
    assert.ok(shared.summary.cold <= one.summary.cold, `${shared.summary.cold} cold starts shared against ${one.summary.cold}`);
    assert.match(thaw('sim', '--instance-concurrency', '0').stderr, /--instance-concurrency/);
    const compat = thaw('sim', '--compat', 'faascache', '--instance-concurrency', '4');
    assert.notEqual(compat.status, 0);
    assert.match(compat.stderr, /--instance-concurrency.*cannot be combined with --compat faascache/);
  });

  it('runs the prediction policies, server tiers and provisioned concurrency from the command line', () => {
    const periodic = 'synthetic:periodic:fns=10,periodMs=300000,jitterMs=1000,minutes=120,seed=3';
    const hybrid = JSON.parse(thaw('sim', '--trace', periodic, '--policy', 'hybrid', '--memory', '4GB', '--json').stdout);
    assert.equal(hybrid.policy, 'hybrid');
    const fft = thaw('sim', '--trace', periodic, '--policy', 'ttl', '--ttl', '1m', '--prewarm', 'fft', '--tiers', 'high:1x2GB:speed=1.5:price=0.0000166,low:1x8GB:speed=1:price=0.000005', '--json');
    assert.equal(fft.status, 0, fft.stderr);
    const tiered = JSON.parse(fft.stdout);
    assert.deepEqual(tiered.serverMemoryMb, [2048, 8192]);
    const provisioned = JSON.parse(thaw('sim', '--trace', periodic, '--policy', 'ttl', '--ttl', '1m', '--provisioned-all', '1', '--memory', '8GB', '--json').stdout);
    assert.ok(provisioned.summary.cold <= 10, `provisioned instances leave only first starts cold: ${provisioned.summary.cold}`);
    const wild = mkdtempSync(join(tmpdir(), 'thaw-wild-'));
    const view = thaw('sim', 'sweep', '--trace', periodic, '--view', 'wild', '--memory', '8GB', '--out', wild);
    assert.equal(view.status, 0, view.stderr);
    assert.ok(existsSync(join(wild, 'sweep.json')) || readdirSync(wild).some((f) => f.endsWith('.json')));
    assert.match(thaw('sim', '--tiers', 'high:lots').stderr, /--tiers/);
  });

  it('bad options say which option and why', () => {
    assert.match(thaw('sim', '--memory', 'lots').stderr, /option --memory/);
    assert.match(thaw('sim', '--policy', 'nope').stderr, /unknown keep-alive policy 'nope'/);
    assert.match(thaw('sim', '--frobnicate').stderr, /thaw sim: Unknown option '--frobnicate'/);
    assert.equal(thaw('launch').status, 2);
  });
});
