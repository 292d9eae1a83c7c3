// thaw replay: drives a real thaw serve with a slice of a trace, compressed in time, and prints what
// the platform did beside what the simulator predicts (replay-run.ts does the work).

import { writeFileSync } from 'node:fs';
import { invalidOption } from '../../core/errors.ts';
import { KEEP_ALIVE_POLICIES } from '../../policies/keepalive/index.ts';
import { formatTable } from '../../sim/report/table.ts';
import { openTraceSource } from '../../sim/trace-source.ts';
import { numberOption, parseOptions } from '../args.ts';
import { print, say } from '../output.ts';
import { TRACE_OPTIONS, traceSourceFrom } from '../trace-options.ts';
import { parseDuration, parseMemory } from '../units.ts';
import { replay, type BandVerdict, type ReplayDiff, type ReplayResult, type ReplaySide } from './replay-run.ts';

export const REPLAY_HELP = `thaw replay [options]         a trace slice through a real thaw serve, beside the simulator
  --trace PATH          an Azure-format trace, as thaw sim reads it (default: the bundled sample)
  --functions N         the first N functions invoked in the window (default 10)
  --seed N              a seeded sample of N functions instead of the first ones
  --minutes M           the first M trace minutes (default 10)
  --policy NAME         keep-alive policy on both sides (default ttl)
  --ttl DUR             ttl's window, trace time (default 10m)
  --memory SIZE         the platform's memory budget and the simulated server's (default 4GB)
  --speedup S           trace time per wall-clock time: 60 replays a trace minute in 1 s (default 60)
  --url URL             a thaw serve already running, started with --time-scale S --pause-after 0
                        (default: replay starts its own, with a fresh data dir)
  --calibrate           simulate the trace again with the start costs the platform measured, per
                        function and start kind, and show how the prediction moves
  --export-costs FILE   with --calibrate: write those start costs as a start-costs file
                        (thaw sim --start-costs FILE reads it)
  --invocations FILE    also write every arrival and what the platform did with it (when it was sent,
                        how it started, its Server-Timing phases) to FILE as JSON: the event log
                        an offline diff or noise study reads
  --json                print {"slice", "platform", "simulator", "measured" (with its noise bands), "diff", "byFunction", ...}`;

export async function replayCommand(argv: string[]): Promise<number> {
  const { values } = parseOptions(
    argv,
    {
      ...TRACE_OPTIONS,
      functions: { type: 'string' },
      minutes: { type: 'string' },
      policy: { type: 'string' },
      ttl: { type: 'string' },
      memory: { type: 'string' },
      speedup: { type: 'string' },
      url: { type: 'string' },
      calibrate: { type: 'boolean' },
      'export-costs': { type: 'string' },
      invocations: { type: 'string' },
      json: { type: 'boolean' },
    },
    'replay',
  );
  const policy = values.policy ?? 'ttl';
  if (values['export-costs'] !== undefined && !values.calibrate) throw invalidOption('--export-costs', 'goes with --calibrate (the start costs are measured for it)');
  if (!KEEP_ALIVE_POLICIES.includes(policy)) throw invalidOption('--policy', `unknown policy '${policy}' (known: ${KEEP_ALIVE_POLICIES.join(', ')})`);
  // --seed picks the sample of functions here, not the trace's minute spacing.
  const { seed, ...traceFlags } = values;
  const trace = openTraceSource(traceSourceFrom(traceFlags));
  const result = await replay({
    trace,
    functions: numberOption(values.functions, '--functions', 10, (n) => Number.isInteger(n) && n > 0),
    seed: seed === undefined ? undefined : numberOption(seed, '--seed', 0, Number.isInteger),
    minutes: numberOption(values.minutes, '--minutes', 10, (n) => n > 0),
    policy,
    ttlMs: values.ttl === undefined ? undefined : parseDuration(values.ttl, '--ttl'),
    memoryMb: parseMemory(values.memory ?? '4GB'),
    speedup: numberOption(values.speedup, '--speedup', 60, (n) => n > 0),
    url: values.url,
    calibrate: values.calibrate,
    keepInvocations: values.invocations !== undefined,
    onProgress: values.json ? undefined : (m) => say(`replay: ${m}`),
  });
  if (values['export-costs'] !== undefined && result.calibrated) writeFileSync(values['export-costs'], `${JSON.stringify(result.calibrated.startCosts, null, 2)}\n`);
  if (values.invocations !== undefined && result.invocations) {
    writeFileSync(values.invocations, `${JSON.stringify({ slice: result.slice, ...result.invocations })}\n`);
    delete result.invocations;
  }
  print(values.json ? JSON.stringify(result, null, 2) : replayTable(result));
  return 0;
}

/**
 * Platform, simulator and their difference, side by side: the simulator from the trace alone, with
 * the platform's measured times (the agreement figure), and calibrated with its start costs.
 */
export function replayTable(r: ReplayResult): string {
  const rows: [string, (s: ReplaySide) => number, (d: ReplayDiff) => number | string, number][] = [
    ['cold', (s) => s.cold, (d) => `${signed(d.cold)} (${signed(d.coldPct, 1)} %)`, 0],
    ['warm', (s) => s.warm, (d) => signed(d.warm), 0],
    ['dropped', (s) => s.dropped, (d) => signed(d.dropped), 0],
    ['cold-start ratio', (s) => s.coldStartRatio, (d) => signed(d.coldStartRatio, 4), 4],
    ['idle memory GB-s', (s) => s.idleMemoryGBs, (d) => signed(d.idleMemoryGBs, 1), 1],
  ];
  const sims: [string, ReplaySide, ReplayDiff][] = [
    ['simulator', r.simulator, r.diff],
    ['sim, measured times', r.measured.simulator, r.measured.diff],
    ...(r.calibrated ? [['calibrated sim', r.calibrated.simulator, r.calibrated.diff] as [string, ReplaySide, ReplayDiff]] : []),
  ];
  const columns = ['', 'platform', ...sims.flatMap(([name]) => [name, 'difference'])];
  const table = formatTable(
    columns,
    rows.map(([name, get, diff, digits]) => [name, get(r.platform).toFixed(digits), ...sims.flatMap(([, side, d]) => [get(side).toFixed(digits), String(diff(d))])]),
  );
  const s = r.slice;
  const p = r.platform;
  return [
    `${s.trace}: ${s.invocations} invocations, ${s.policy}, ${s.memoryMb} MB, speed-up ${s.speedup}`,
    table,
    ...r.measured.bands.map((b) => `sim with measured times, ${b.model} start draws (${b.replicates} seeded replicates): cold ${b.cold.mean.toFixed(1)} ± ${b.cold.sd.toFixed(1)} (${b.cold.min}–${b.cold.max}); the platform's ${p.cold} ${bandPlacement(b.platformCold)}`),
    eventLine(r.measured.events),
    `platform: ${p.invocationsPerSecond.toFixed(1)} invocations/s over ${(p.wallMs / 1000).toFixed(1)} s, mean cold start ${p.meanColdStartMs.toFixed(1)} ms (wall), requests sent ${p.meanLateMs.toFixed(2)} ms late on average${p.failed ? `, ${p.failed} failed (${Object.entries(p.failures).map(([why, n]) => `${why}: ${n}`).join(', ')})` : ''}`,
  ].join('\n');
}

/** "inside ±2 sd (z = +0.3)": where the platform's count falls in a band. */
function bandPlacement(v: BandVerdict): string {
  const z = Number.isFinite(v.z) ? `${v.z >= 0 ? '+' : ''}${v.z.toFixed(2)}` : v.z > 0 ? '+∞' : '−∞';
  return `${v.within2Sd ? 'inside' : 'OUTSIDE'} ±2 sd (z = ${z})`;
}

/** The event-log diff against the simulation with measured times, totalled over functions. */
function eventLine(events: ReplayResult['measured']['events']): string {
  const sum = (get: (e: (typeof events)[number]) => number) => events.reduce((n, e) => n + get(e), 0);
  return `event-log diff against the sim with measured times (each function's k-th request): cold only on the platform ${sum((e) => e.coldOnPlatform)}, cold only in the sim ${sum((e) => e.coldInSim)}, served only in the sim ${sum((e) => e.notServedOnPlatform)} (${sum((e) => e.notServedOnPlatformColdInSim)} of them cold), served only on the platform ${sum((e) => e.notServedInSim)}`;
}

function signed(x: number, digits = 0): string {
  if (!Number.isFinite(x)) return String(x);
  const t = x.toFixed(digits);
  return x > 0 ? `+${t}` : t;
}
