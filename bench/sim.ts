// Simulator speed and memory: every keep-alive policy over the 500-function Azure sample at one memory
// size, each in its own process so peak RSS is its own. Baselines measured in the same run: replaying
// the trace without simulating (the reader's own cost) and that replay's peak RSS. Also checks that
// memory does not grow with the number of invocations (a synthetic trace at 1× and 4× the arrivals)
// and times a 40-point memory sweep of one policy on all cores.
//
//   node --import tsx bench/sim.ts [--memory 32GB] [--repeat 3] [--out out/bench/sim.json]

import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { parseMemory } from '../src/cli/units.ts';
import { KEEP_ALIVE_POLICIES } from '../src/policies/keepalive/index.ts';
import { runSimulation, type RunSpec } from '../src/sim/run.ts';
import { runSweep } from '../src/sim/sweep.ts';
import { DEFAULT_TRACE_DIR, openTrace } from '../src/sim/traces/index.ts';
import { median, printTable, writeJson } from './lib.ts';

const { values: args } = parseArgs({
  options: {
    memory: { type: 'string', default: '32GB' },
    repeat: { type: 'string', default: '3' },
    out: { type: 'string', default: 'out/bench/sim.json' },
    child: { type: 'string' },
    trace: { type: 'string', default: DEFAULT_TRACE_DIR },
  },
});
const memoryMb = parseMemory(args.memory!);

/** Runs with prediction on: IceBreaker's per-minute FFT predictor (one tier, and two tiers with its PDM). */
const PREDICTION_JOBS: Record<string, Omit<RunSpec, 'memoryMb'>> = {
  'ttl-1m+fft': { policy: 'ttl', ttlMs: 60_000, prewarm: 'fft' },
  'ttl-1m+fft two-tier': {
    policy: 'ttl',
    ttlMs: 60_000,
    prewarm: 'fft',
    tiers: [
      { name: 'high', count: 4, memoryMb: 16 * 1024, speed: 1.5, pricePerGBs: 0.0000166 },
      { name: 'low', count: 4, memoryMb: 64 * 1024, speed: 1, pricePerGBs: 0.000005 },
    ],
  },
};
/** The speed goal with prediction on (invocations per second). */
const PREDICTION_GOAL = 500_000;
const repeat = Math.max(1, Number(args.repeat));

/** In a child process: run one job, print {rate, ms, invocations, maxRssMb} as JSON. */
function child(job: string, traceSpec: string): void {
  const trace = openTrace(traceSpec);
  const rates: number[] = [];
  const times: number[] = [];
  for (let i = 0; i < repeat; i++) {
    const start = performance.now();
    if (job === 'replay') {
      let checksum = 0;
      for (const batch of trace.batches()) for (let j = 0; j < batch.length; j++) checksum += batch.fn[j]!;
      if (checksum < 0) throw new Error('unreachable');
    } else if (job in PREDICTION_JOBS) {
      runSimulation(trace, { ...PREDICTION_JOBS[job]!, memoryMb });
    } else {
      runSimulation(trace, { policy: job, memoryMb });
    }
    const ms = performance.now() - start;
    times.push(ms);
    rates.push((trace.invocationCount / ms) * 1000);
  }
  const maxRssMb = process.resourceUsage().maxRSS / 1024;
  process.stdout.write(JSON.stringify({ rate: median(rates), ms: median(times), invocations: trace.invocationCount, maxRssMb }));
}

function inChild(job: string, traceSpec: string): { rate: number; ms: number; invocations: number; maxRssMb: number } {
  const out = execFileSync(process.execPath, ['--import', 'tsx', fileURLToPath(import.meta.url), '--child', job, '--trace', traceSpec, '--memory', args.memory!, '--repeat', String(repeat)], {
    encoding: 'utf8',
    maxBuffer: 1 << 20,
  });
  return JSON.parse(out);
}

async function main(): Promise<void> {
  if (args.child) return child(args.child, args.trace!);

  const replay = inChild('replay', args.trace!);
  const policies = [...KEEP_ALIVE_POLICIES, ...Object.keys(PREDICTION_JOBS)].map((policy) => ({ policy, ...inChild(policy, args.trace!) }));
  printTable(
    `Simulated invocations per second, one process per policy, ${args.memory} (median of ${repeat}); ${replay.invocations.toLocaleString('en-US')} invocations`,
    ['policy', 'invocations/s', 'run time', 'vs replay', 'peak RSS', 'RSS vs replay'],
    [
      ['(replay only)', Math.round(replay.rate), `${replay.ms.toFixed(0)} ms`, '1.00', `${replay.maxRssMb.toFixed(0)} MB`, '1.00'],
      ...policies.map((p) => [p.policy, Math.round(p.rate), `${p.ms.toFixed(0)} ms`, (p.rate / replay.rate).toFixed(2), `${p.maxRssMb.toFixed(0)} MB`, (p.maxRssMb / replay.maxRssMb).toFixed(2)]),
    ],
  );

  const prediction = policies.filter((p) => p.policy in PREDICTION_JOBS);
  printTable(
    `With prediction on (IceBreaker, per function per minute): goal above ${PREDICTION_GOAL.toLocaleString('en-US')} invocations/s`,
    ['run', 'invocations/s', 'vs goal', 'vs replay'],
    prediction.map((p) => [p.policy, Math.round(p.rate), (p.rate / PREDICTION_GOAL).toFixed(2), (p.rate / replay.rate).toFixed(2)]),
  );

  // Memory must not grow with the number of invocations: same functions, 4× the arrivals.
  const small = 'synthetic:poisson:fns=500,rate=100,minutes=60,seed=1';
  const large = 'synthetic:poisson:fns=500,rate=400,minutes=60,seed=1';
  const growth = ['gd', 'ttl'].map((policy) => ({ policy, small: inChild(policy, small), large: inChild(policy, large) }));
  printTable(
    'Peak RSS against trace length (synthetic Poisson, 500 functions, 1 h)',
    ['policy', 'invocations 1×', 'peak RSS 1×', 'invocations 4×', 'peak RSS 4×', 'RSS ratio'],
    growth.map((g) => [g.policy, g.small.invocations, `${g.small.maxRssMb.toFixed(0)} MB`, g.large.invocations, `${g.large.maxRssMb.toFixed(0)} MB`, (g.large.maxRssMb / g.small.maxRssMb).toFixed(2)]),
  );

  // A 40-point sweep of one policy on every core, against 40 sequential runs' estimated time.
  const memoriesMb = Array.from({ length: 40 }, (_, i) => 1024 * (i + 1) * 2);
  const start = performance.now();
  await runSweep({ trace: { spec: args.trace! }, policies: ['gd'], memoriesMb, base: {} });
  const sweepMs = performance.now() - start;
  const gd = policies.find((p) => p.policy === 'gd')!;
  printTable('40-point memory sweep of gd (2 GB..80 GB), worker threads on every core', ['points', 'wall time', 'one run (above)', 'speed-up vs 40 sequential runs'], [
    [40, `${(sweepMs / 1000).toFixed(1)} s`, `${gd.ms.toFixed(0)} ms`, ((40 * gd.ms) / sweepMs).toFixed(2)],
  ]);

  writeJson(args.out!, { memoryMb, repeat, replay, policies, growth, sweep: { points: 40, ms: sweepMs } });
}

await main();
