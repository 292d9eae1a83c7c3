// Results → tables. Each builder returns plain Table data that table.ts prints for the terminal and
// html-table.ts renders into the report, so both show the same numbers formatted the same way;
// simSummaryTable, sweepTable and curveTable are their terminal forms.

import {
  formatCount,
  formatDuration,
  formatGbSeconds,
  formatMemory,
  formatNumber,
  formatPercent,
  formatPercentNumber,
  formatRate,
  formatRatio,
} from './format.ts';
import { hitRatioAt, memorySteps } from './curve-math.ts';
import { DEFAULT_MAX_WIDTH, formatTitledTable, type Cell, type Column, type FormatOptions, type Table } from './table.ts';
import type { CurveResult, SimResult, SimSummary, SweepPoint, SweepResult } from '../result.ts';

/** Most rows in the curve table: enough to see the shape, few enough to read. */
const CURVE_TABLE_MAX_ROWS = 25;
/** Functions listed in a run's "most cold starts" table. */
const TOP_FUNCTIONS = 10;

function share(part: number, whole: number, of: string): string {
  return whole > 0 ? `${formatRatio(part / whole)} of ${of}` : '';
}

function sum(values: readonly number[]): number {
  return values.reduce((total, value) => total + value, 0);
}

function mean(values: readonly number[]): number | null {
  return values.length ? sum(values) / values.length : null;
}

/** "trace name: 400 functions, 1,234 invocations over 8 h" */
export function describeTrace(trace: SimResult['trace']): string {
  return `${trace.name}: ${formatCount(trace.functions)} functions, ${formatCount(trace.invocations)} invocations over ${formatDuration(trace.spanMs)}`;
}

/** "64 GB (4 servers × 16 GB)", or "16 GB" for one server. */
export function describeServers(serverMemoryMb: readonly number[]): string {
  const total = sum(serverMemoryMb);
  if (serverMemoryMb.length <= 1) return formatMemory(total);
  const sizes = new Set(serverMemoryMb);
  const each = sizes.size === 1 ? `${serverMemoryMb.length} servers × ${formatMemory(serverMemoryMb[0])}` : `${serverMemoryMb.length} servers`;
  return `${formatMemory(total)} (${each})`;
}

/**
 * The memory a run had: the servers' memory, or under dynamic sizing the mean capacity the
 * controller chose (the configured size is then only where it started or its bound).
 */
export function describeRunMemory(result: SimResult): string {
  if (result.dynamicSizing) return `dynamic sizing (mean ${formatMemory(result.dynamicSizing.meanCapacityMb)})`;
  return describeServers(result.serverMemoryMb);
}

/** "GD on 64 GB (4 servers × 16 GB)" or "GD with dynamic sizing (mean 10.4 GB)". */
export function describeRun(result: SimResult): string {
  return result.dynamicSizing ? `${result.policy} with ${describeRunMemory(result)}` : `${result.policy} on ${describeRunMemory(result)}`;
}

/** Largest capacity the run had: the servers' memory, or the most dynamic sizing gave it. */
function largestCapacityMb(result: SimResult): number {
  if (result.dynamicSizing && result.timeline.capacityMb.length) return Math.max(...result.timeline.capacityMb);
  return sum(result.serverMemoryMb);
}

function summaryRows(summary: SimSummary): Cell[][] {
  const rows: Cell[][] = [
    ['invocations', formatCount(summary.invocations), ''],
    ['served (warm + cold)', formatCount(summary.served), share(summary.served, summary.invocations, 'invocations')],
    ['warm starts', formatCount(summary.warm), share(summary.warm, summary.served, 'served')],
    ['cold starts', formatCount(summary.cold), share(summary.cold, summary.served, 'served')],
    ['dropped', formatCount(summary.dropped), share(summary.dropped, summary.invocations, 'invocations')],
  ];
  if (summary.queued > 0) {
    rows.push(['queued', formatCount(summary.queued), `mean wait ${formatDuration(summary.meanQueueWaitMs)}`]);
  }
  const heldGBs = summary.wastedMemoryGBs + summary.busyMemoryGBs;
  rows.push(
    ['cold-start overhead', formatPercent(summary.coldStartOverheadPct), 'execution time added to an all-warm run'],
    ['evictions', formatCount(summary.evictions), 'idle instances removed to make room'],
    ['expirations', formatCount(summary.expirations), 'idle instances whose keep-alive ran out'],
    ['idle (wasted) memory', formatGbSeconds(summary.wastedMemoryGBs), share(summary.wastedMemoryGBs, heldGBs, 'memory held')],
    ['busy memory', formatGbSeconds(summary.busyMemoryGBs), share(summary.busyMemoryGBs, heldGBs, 'memory held')],
  );
  return rows;
}

/** The summary of one run, then the functions with the most cold starts. */
export function simSummaryTables(result: SimResult): Table[] {
  const { summary } = result;
  const rows = summaryRows(summary);
  const capacityOf = result.dynamicSizing ? 'largest capacity' : 'capacity';
  rows.push(['peak memory', formatMemory(summary.peakMemoryMb), share(summary.peakMemoryMb, largestCapacityMb(result), capacityOf)]);
  if (result.dynamicSizing) {
    const sizing = result.dynamicSizing;
    rows.push(
      ['mean capacity (dynamic)', formatMemory(sizing.meanCapacityMb), `target miss ratio ${formatRatio(sizing.targetMissRatio)}`],
      ['resizes', formatCount(sizing.resizes.length), ''],
    );
  }
  if (summary.loadSpread) {
    const l = summary.loadSpread;
    rows.push(['load spread', `${l.maxOverMeanInvocations.toFixed(2)}×`, `busiest server's invocations / mean (busy GB-s ${l.maxOverMeanBusyGBs.toFixed(2)}×; at most ${formatCount(l.peakServerLoad)} at once on one server)`]);
  }
  if (summary.meanServiceTimeMs !== undefined) rows.push(['mean service time', formatDuration(summary.meanServiceTimeMs), 'start (cold only) + execution, at server speed']);
  if (summary.appColdStartPct) rows.push(['p75 app cold starts', formatPercent(summary.appColdStartPct.p75), `cold-start % of the 75th-percentile app (of ${formatCount(summary.appColdStartPct.apps)})`]);
  if (summary.prewarm) {
    const p = summary.prewarm;
    rows.push(
      ['pre-warmed instances', formatCount(p.started), `${formatCount(p.unused)} removed unused, ${formatCount(p.idleAtEnd)} unused at the end`],
      ['pre-warmed idle memory', formatGbSeconds(p.idleGBs + p.startGBs), share(p.idleGBs + p.startGBs, summary.wastedMemoryGBs, 'wasted memory')],
    );
  }
  if (summary.totalCost !== undefined) {
    rows.push(['keep-alive cost', summary.keepAliveCost!.toFixed(4), 'idle GB-s × price of their server'], ['busy cost', summary.busyCost!.toFixed(4), 'start + execution GB-s × price']);
  }
  const fft = result.prewarmReports?.fft as { mae: number; lastValueMae: number; falsePositives: number; falseNegatives: number } | undefined;
  if (fft) rows.push(['predictor MAE', fft.mae.toFixed(3), `last-value predictor ${fft.lastValueMae.toFixed(3)}; ${formatCount(fft.falsePositives)} false positives, ${formatCount(fft.falseNegatives)} false negatives`]);
  rows.push(['simulated in', formatDuration(result.elapsedMs), `${formatRate(result.invocationsPerSecond, ' invocations/s')}`]);

  const tables: Table[] = [
    {
      title: `${describeRun(result)} — trace ${describeTrace(result.trace)}`,
      columns: [{ header: 'metric' }, { header: 'value', align: 'right' }, { header: '', align: 'left' }],
      rows,
    },
  ];
  const top = topFunctionsTable(result);
  if (top) tables.push(top);
  return tables;
}

function topFunctionsTable(result: SimResult): Table | undefined {
  const withColdStarts = result.perFunction.filter((fn) => fn.cold > 0 || fn.dropped > 0);
  if (!withColdStarts.length) return undefined;
  const top = [...withColdStarts].sort((a, b) => b.cold - a.cold || b.dropped - a.dropped).slice(0, TOP_FUNCTIONS);
  return {
    title: `functions with the most cold starts (${top.length} of ${formatCount(result.perFunction.length)})`,
    columns: [
      { header: 'function' },
      { header: 'app' },
      { header: 'memory' },
      { header: 'invocations' },
      { header: 'cold' },
      { header: 'cold %' },
      { header: 'dropped' },
      { header: 'ovh %' },
    ],
    rows: top.map((fn) => [
      abbreviate(fn.id),
      abbreviate(fn.app),
      formatMemory(fn.memoryMb),
      formatCount(fn.invocations),
      formatCount(fn.cold),
      formatPercentNumber(fn.warm + fn.cold > 0 ? (100 * fn.cold) / (fn.warm + fn.cold) : null),
      formatCount(fn.dropped),
      formatPercentNumber(fn.coldStartOverheadPct),
    ]),
  };
}

/** Azure trace ids are 64-character hashes; a prefix is enough to tell functions apart in a table. */
function abbreviate(id: string, max = 16): string {
  return id.length > max ? `${id.slice(0, max - 1)}…` : id;
}

/** The metrics a sweep table shows for each policy at each memory size. */
const SWEEP_METRICS: Array<{ header: string; cell: (summary: SimSummary) => string }> = [
  { header: 'ovh %', cell: (s) => formatPercentNumber(s.coldStartOverheadPct) },
  { header: 'cold %', cell: (s) => formatPercentNumber(100 * s.coldStartRatio) },
  { header: 'drops', cell: (s) => formatCount(s.dropped) },
];

function pointIndex(points: readonly SweepPoint[]): Map<string, SweepPoint> {
  return new Map(points.map((point) => [`${point.policy}\u0000${point.memoryMb}`, point]));
}

function memoriesOf(sweep: SweepResult): number[] {
  const memories = sweep.memoriesMb.length ? sweep.memoriesMb : sweep.points.map((point) => point.memoryMb);
  return [...new Set(memories)].sort((a, b) => a - b);
}

function policiesOf(sweep: SweepResult): string[] {
  return sweep.policies.length ? sweep.policies : [...new Set(sweep.points.map((point) => point.policy))];
}

/** Serverless in the Wild's view: one row per policy setting. */
export function wildSummaryTable(sweep: SweepResult): Table | undefined {
  if (!sweep.wild) return undefined;
  const priced = sweep.wild.some((p) => p.keepAliveCost !== undefined);
  return {
    title: `Serverless in the Wild view — trace ${describeTrace(sweep.trace)}`,
    columns: [
      { header: 'setting' },
      { header: 'p75 app cold %' },
      { header: 'cold %' },
      { header: 'wasted GB-s' },
      { header: 'wasted (norm.)' },
      ...(priced ? [{ header: 'keep-alive cost' }] : []),
    ],
    rows: sweep.wild.map((p) => [
      p.label,
      formatPercentNumber(p.appColdStartP75Pct),
      formatPercentNumber(100 * p.coldStartRatio),
      formatNumber(p.wastedMemoryGBs),
      Number.isFinite(p.normalisedWastedMemory) ? p.normalisedWastedMemory.toFixed(3) : '',
      ...(priced ? [p.keepAliveCost === undefined ? '' : p.keepAliveCost.toFixed(2)] : []),
    ]),
    notes: ['p75 app cold % = cold-start percentage of the application at the 75th percentile; wasted (norm.) = idle GB-s ÷ those of the 10-minute fixed keep-alive.'],
  };
}

/** One row per memory size, one column group per policy; then one row per policy of its means. */
export function sweepSummaryTables(sweep: SweepResult): Table[] {
  const wild = wildSummaryTable(sweep);
  if (wild) return [wild];
  const policies = policiesOf(sweep);
  const memories = memoriesOf(sweep);
  const points = pointIndex(sweep.points);
  const servers = `${sweep.servers} server${sweep.servers === 1 ? '' : 's'}`;

  const byMemory: Table = {
    title: `cold-start overhead, cold starts and drops by memory — ${servers}, trace ${describeTrace(sweep.trace)}`,
    columns: [
      // A sweep's memory sizes are per server (the run gives each server that much).
      { header: sweep.servers > 1 ? 'memory per server' : 'memory' },
      ...policies.flatMap((policy) => SWEEP_METRICS.map((metric): Column => ({ header: metric.header, group: policy, align: 'right' }))),
    ],
    rows: memories.map((memoryMb) => [
      formatMemory(memoryMb),
      ...policies.flatMap((policy) => {
        const point = points.get(`${policy}\u0000${memoryMb}`);
        return SWEEP_METRICS.map((metric) => (point ? metric.cell(point.summary) : null));
      }),
    ]),
    notes: ['ovh % = cold-start overhead (execution time added to an all-warm run); cold % = cold starts / served; drops = invocations dropped.'],
  };

  const means: Table = {
    title: `per-policy means over ${memories.length} memory size${memories.length === 1 ? '' : 's'}`,
    columns: [
      { header: 'policy' },
      { header: 'ovh %' },
      { header: 'cold %' },
      { header: 'drops' },
      { header: 'evictions' },
      { header: 'wasted GB-s' },
      { header: 'peak memory' },
      { header: 'sim time' },
    ],
    rows: policies.map((policy) => {
      const summaries = sweep.points.filter((point) => point.policy === policy);
      const meanOf = (pick: (point: SweepPoint) => number) => mean(summaries.map(pick));
      return [
        policy,
        formatPercentNumber(meanOf((p) => p.summary.coldStartOverheadPct)),
        formatPercentNumber(mapNullable(meanOf((p) => p.summary.coldStartRatio), (ratio) => 100 * ratio)),
        formatNumber(meanOf((p) => p.summary.dropped)),
        formatNumber(meanOf((p) => p.summary.evictions)),
        formatNumber(meanOf((p) => p.summary.wastedMemoryGBs)),
        formatMemory(meanOf((p) => p.summary.peakMemoryMb)),
        formatDuration(meanOf((p) => p.elapsedMs)),
      ];
    }),
  };
  return [byMemory, means];
}

function mapNullable<T, U>(value: T | null, map: (value: T) => U): U | null {
  return value === null ? null : map(value);
}

/** The sizes the curve table samples at: memory-like geometric steps over the curves' range. */
export function curveTableSizes(curve: CurveResult, maxRows = CURVE_TABLE_MAX_ROWS): number[] {
  const sizes = [...(curve.exact?.sizesMb ?? []), ...(curve.sampled?.sizesMb ?? [])].filter((size) => size > 0);
  if (!sizes.length) return [];
  return memorySteps(Math.min(...sizes), Math.max(...sizes), maxRows);
}

/** Hit ratio at round sizes (exact and sampled, whichever exist), then where each curve reaches the target and its knee. */
export function curveSummaryTables(curve: CurveResult): Table[] {
  const kinds = (['exact', 'sampled'] as const).filter((kind) => curve[kind]);
  const byRow: Table = {
    title: `hit ratio by cache size — trace ${describeTrace(curve.trace)}`,
    columns: [{ header: 'cache size' }, ...kinds.map((kind): Column => ({ header: kind, align: 'right' }))],
    rows: curveTableSizes(curve).map((sizeMb) => [formatMemory(sizeMb), ...kinds.map((kind) => formatRatio(hitRatioAt(curve[kind]!, sizeMb)))]),
  };
  if (!kinds.length) byRow.notes = ['no curve was computed'];

  const notes: string[] = [];
  if (curve.sampled) {
    notes.push(`sampled at rate ${curve.sampled.rate} (${formatCount(curve.sampled.sampledInvocations)} invocations kept)`);
  }
  if (curve.sampledError) {
    notes.push(
      `sampled vs exact: mean |difference| ${formatPercentNumber(100 * curve.sampledError.meanAbs)} pp, max ${formatPercentNumber(100 * curve.sampledError.maxAbs)} pp`,
    );
  }
  const sizing: Table = {
    title: `sizing for a ${formatRatio(curve.target)} hit ratio`,
    columns: [{ header: '' }, ...kinds.map((kind): Column => ({ header: kind, align: 'right' }))],
    rows: [
      [`size for ${formatRatio(curve.target)} hit ratio`, ...kinds.map((kind) => sizeForTargetText(curve.sizeForTargetMb[kind]))],
      ['knee', ...kinds.map((kind) => formatMemory(curve.kneeMb[kind]))],
      ['hit ratio at the knee', ...kinds.map((kind) => kneeHitRatio(curve, kind))],
    ],
    notes,
  };
  return [byRow, sizing];
}

function sizeForTargetText(sizeMb: number | null | undefined): string {
  return sizeMb === null ? 'not reached' : formatMemory(sizeMb);
}

function kneeHitRatio(curve: CurveResult, kind: 'exact' | 'sampled'): string {
  const knee = curve.kneeMb[kind];
  const line = curve[kind];
  return knee === undefined || !line ? formatRatio(null) : formatRatio(hitRatioAt(line, knee));
}

// ------------------------------------------------------------------ as text, for the terminal

function formatTables(tables: readonly Table[], options: FormatOptions): string {
  return tables.map((table) => formatTitledTable(table, options)).join('\n\n');
}

/** What one run did: starts, drops, overhead, memory, and how long the simulation took. */
export function simSummaryTable(result: SimResult, options: FormatOptions = { maxWidth: DEFAULT_MAX_WIDTH }): string {
  return formatTables(simSummaryTables(result), options);
}

/**
 * A sweep: one row per memory size with a column group per policy, then each policy's means. With
 * many policies the first table is split into several of a few policies each, to fit the width.
 */
export function sweepTable(sweep: SweepResult, options: FormatOptions = { maxWidth: DEFAULT_MAX_WIDTH }): string {
  return formatTables(sweepSummaryTables(sweep), options);
}

/** A hit-ratio curve at about 20 sizes, then the size reaching the target and the knee. */
export function curveTable(curve: CurveResult, options: FormatOptions = { maxWidth: DEFAULT_MAX_WIDTH }): string {
  return formatTables(curveSummaryTables(curve), options);
}
