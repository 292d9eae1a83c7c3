// Self-contained HTML reports of a sweep, a single run and a hit-ratio curve: summary tables
// rendered here, charts drawn in the browser by assets/report-client.js from the embedded results.

import { WILD_BASELINE } from '../wild.ts';
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { formatCount, formatDuration, formatMemory, formatRatio, formatNumber, formatRate } from './format.ts';
import { escapeHtml } from './html-escape.ts';
import { factList, figure, renderPage, type PageSection } from './html-page.ts';
import { tableToHtml } from './html-table.ts';
import type { LegendTopic } from './legend.ts';
import { curveSummaryTables, describeRun, describeRunMemory, describeServers, describeTrace, simSummaryTables, sweepSummaryTables } from './summaries.ts';
import type { Table } from './table.ts';
import type { CurveResult, SimResult, SweepResult } from '../result.ts';

/** Resizes listed in a dynamic-sizing run's table; the capacity chart shows all of them. */
const MAX_RESIZE_ROWS = 30;

/**
 * A run as the chart script needs it. Per-function rows are left out: the tables already show the
 * top functions, and a full trace has tens of thousands of them, which would bloat the page.
 */
function runForCharts(result: SimResult): Omit<SimResult, 'perFunction'> {
  const { perFunction: _perFunction, ...rest } = result;
  return rest;
}

function tablesHtml(tables: readonly Table[]): string {
  return tables.map(tableToHtml).join('\n');
}

function optionText(value: unknown): string {
  if (typeof value === 'string') return value;
  if (value === undefined) return '';
  return JSON.stringify(value);
}

function optionsTable(options: Record<string, unknown>): string {
  const entries = Object.entries(options);
  if (!entries.length) return '<p class="muted">No options beyond the defaults.</p>';
  return tableToHtml({ title: 'options', columns: [{ header: 'option' }, { header: 'value', align: 'left' }], rows: entries.map(([key, value]) => [key, optionText(value)]) });
}

function traceFacts(trace: SimResult['trace']): Array<[string, string]> {
  return [
    ['trace', trace.name],
    ['functions', formatCount(trace.functions)],
    ['invocations', formatCount(trace.invocations)],
    ['time span', formatDuration(trace.spanMs)],
  ];
}

// ---- a single run ---------------------------------------------------------------------------------

/** Charts of one run over time; `prefix` keeps the chart names of several runs on one page apart. */
function runChartsHtml(result: SimResult, prefix: string): string {
  const over = `${formatDuration(result.timeline.intervalMs)} intervals`;
  const charts = [
    figure({
      chart: `${prefix}memory`,
      title: 'Memory over time',
      caption: `Memory held by instances (busy and idle), the part of it held by idle instances, and the capacity, at the end of each of the ${over}.`,
    }),
    figure({
      chart: `${prefix}starts`,
      title: 'Warm and cold starts over time',
      caption: `Starts per interval (${over}). Warm starts use the left axis; cold starts and drops the right one, which is usually far smaller.`,
    }),
  ];
  return `<div class="grid-2">\n${charts.join('\n')}\n</div>`;
}

function dynamicSizingHtml(result: SimResult, prefix: string): string {
  const sizing = result.dynamicSizing;
  if (!sizing) return '';
  const charts = [
    figure({
      chart: `${prefix}capacity`,
      title: 'Capacity under dynamic sizing',
      caption: `The capacity the controller chose over time (mean ${formatMemory(sizing.meanCapacityMb)}), with the memory instances actually held.`,
    }),
    figure({
      chart: `${prefix}miss-speed`,
      title: 'Miss speed against its target',
      caption: `Cold starts per second per interval against the controller’s target, derived from a target miss ratio of ${formatRatio(sizing.targetMissRatio)}.`,
    }),
  ];
  const shown = sizing.resizes.slice(0, MAX_RESIZE_ROWS);
  const resizes: Table = {
    title: `resizes (${formatCount(sizing.resizes.length)})`,
    columns: [
      { header: 'time' },
      { header: 'invocation' },
      { header: 'from' },
      { header: 'to' },
      { header: 'miss speed /s' },
      { header: 'target /s' },
    ],
    rows: shown.map((resize) => [
      formatDuration(resize.t),
      formatCount(resize.invocation),
      formatMemory(resize.fromMb),
      formatMemory(resize.toMb),
      formatNumber(resize.missSpeed),
      formatNumber(resize.targetMissSpeed),
    ]),
    notes: sizing.resizes.length > shown.length ? [`first ${shown.length} of ${formatCount(sizing.resizes.length)} shown`] : [],
  };
  return `<div class="grid-2">\n${charts.join('\n')}\n</div>\n${sizing.resizes.length ? tableToHtml(resizes) : '<p class="muted">The controller never resized.</p>'}`;
}

function runSubtitle(result: SimResult): string {
  return `${describeRun(result)} · trace ${result.trace.name}`;
}

function runFacts(result: SimResult): Array<[string, string]> {
  return [
    ['policy', result.policy],
    // Under dynamic sizing the servers' configured memory is only where the controller started.
    ['memory', result.dynamicSizing ? `${describeRunMemory(result)}, starting from ${describeServers(result.serverMemoryMb)}` : describeServers(result.serverMemoryMb)],
    ...traceFacts(result.trace),
    ['simulated in', `${formatDuration(result.elapsedMs)} (${formatRate(result.invocationsPerSecond, ' invocations/s')})`],
  ];
}

/** What was run, beside the options it was run with. */
function runOverviewHtml(result: SimResult): string {
  return `<div class="grid-2">\n<div class="table-block"><h3>run</h3>${factList(runFacts(result))}</div>\n<div>${optionsTable(result.options)}</div>\n</div>`;
}

/**
 * Whether the curve does its rising in the first sliver of its range, as Azure traces do (a few GB
 * of a range of tens): then a log size axis shows the part that matters, and the chart starts with it.
 */
function risesEarly(curve: CurveResult): boolean {
  const maxMb = Math.max(0, ...(curve.exact?.sizesMb ?? []), ...(curve.sampled?.sizesMb ?? []));
  // The sampled curve only estimates the exact one: judge by the exact curve when there is one.
  const kind = curve.exact ? 'exact' : 'sampled';
  const present = [curve.sizeForTargetMb[kind], curve.kneeMb[kind]].filter((size): size is number => typeof size === 'number');
  return maxMb > 0 && present.length > 0 && Math.max(...present) < 0.15 * maxMb;
}

function curveSection(curve: CurveResult, capacityNote: string): PageSection {
  const sampling = curve.sampled ? ` The sampled curve keeps a ${formatRatio(curve.sampled.rate)} sample of functions (SHARDS).` : '';
  return {
    id: 'curve',
    title: 'Hit-ratio curve',
    html: [
      figure({
        chart: 'curve-hit-ratio',
        title: 'Hit ratio against cache size',
        logToggle: risesEarly(curve) ? 'on' : 'off',
        caption: `The share of invocations that would be warm with a cache of each size, from reuse distances.${sampling} Dashed grey: the ${formatRatio(curve.target)} target; vertical lines: where each curve reaches it and its knee.${capacityNote}`,
      }),
      // The short sizing table first: beside the long per-size table it would sit under white space.
      `<div class="grid-2">\n${tablesHtml(curveSummaryTables(curve).reverse())}\n</div>`,
    ].join('\n'),
  };
}

export function renderSimReport(result: SimResult, extras: { curve?: CurveResult } = {}): string {
  const topics = new Set<LegendTopic>(['run']);
  const sections: PageSection[] = [
    { id: 'run', title: 'Run', html: runOverviewHtml(result) },
    { id: 'summary', title: 'Summary', html: tablesHtml(simSummaryTables(result)) },
    { id: 'timeline', title: 'Over time', html: runChartsHtml(result, 'run-') },
  ];
  if (result.dynamicSizing) {
    topics.add('dynamic');
    sections.push({ id: 'dynamic-sizing', title: 'Dynamic sizing', html: dynamicSizingHtml(result, 'run-') });
  }
  if (extras.curve) {
    topics.add('curve');
    sections.push(curveSection(extras.curve, ' Solid black: this run’s memory.'));
  }
  return renderPage({
    subtitle: `Single run: ${runSubtitle(result)}`,
    sections,
    legendTopics: topics,
    payload: { kind: 'sim', result: runForCharts(result), curve: extras.curve },
  });
}

// ---- a sweep --------------------------------------------------------------------------------------

function sweepFacts(sweep: SweepResult): Array<[string, string]> {
  const memories = [...new Set(sweep.memoriesMb)].sort((a, b) => a - b);
  const range = memories.length ? `${formatMemory(memories[0])} to ${formatMemory(memories.at(-1))} (${memories.length} sizes)` : '—';
  const elapsedMs = sweep.points.reduce((total, point) => total + point.elapsedMs, 0);
  return [
    ...traceFacts(sweep.trace),
    ['policies', sweep.policies.join(', ')],
    ['memory', sweep.servers > 1 ? `${range} per server` : range],
    ['servers', formatCount(sweep.servers)],
    ['simulations', `${formatCount(sweep.points.length)}, ${formatDuration(elapsedMs)} of simulation time`],
  ];
}

function sweepChartsHtml(showsCurveMarkers: boolean): string {
  const markers = showsCurveMarkers ? ' Vertical lines, where they fall in the range: the size the hit-ratio curve gives for its target, and its knee.' : '';
  return [
    figure({
      chart: 'sweep-overhead',
      title: 'Cold-start overhead against memory',
      caption: `Extra execution time caused by cold starts, as a percentage of an all-warm run, for each keep-alive policy — lower is better. The log scale separates policies near zero; it leaves out points at exactly 0.${markers}`,
      logToggle: 'off',
    }),
    '<div class="grid">',
    figure({ chart: 'sweep-cold', title: 'Cold starts', caption: 'Cold starts as a percentage of the invocations served.' }),
    figure({ chart: 'sweep-drops', title: 'Dropped invocations', caption: 'Invocations that found memory full of busy instances.' }),
    figure({ chart: 'sweep-wasted', title: 'Idle memory', caption: 'GB-s held by idle instances: what keeping instances warm costs.' }),
    '</div>',
  ].join('\n');
}

function runLabel(run: SimResult): string {
  return describeRun(run);
}

function runsSection(runs: readonly SimResult[]): PageSection {
  const options = runs.map((run, index) => `<option value="${index}">${escapeHtml(runLabel(run))}</option>`).join('');
  const picker = `<label class="picker">Run <select id="run-picker">${options}</select></label>`;
  const panels = runs.map((run, index) => {
    const prefix = `run-${index}-`;
    return [
      `<div data-run-panel="${index}"${index === 0 ? '' : ' hidden'}>`,
      runOverviewHtml(run),
      tablesHtml(simSummaryTables(run)),
      runChartsHtml(run, prefix),
      dynamicSizingHtml(run, prefix),
      '</div>',
    ].join('\n');
  });
  return {
    id: 'runs',
    title: runs.length === 1 ? 'Run' : `Runs (${runs.length})`,
    html: `${runs.length > 1 ? picker : ''}\n${panels.join('\n')}`,
  };
}

/** The wild view's scatter plot as inline SVG (p75 app cold % against normalised wasted memory). */
function wildScatterSvg(sweep: SweepResult): string {
  const points = (sweep.wild ?? []).filter((p) => Number.isFinite(p.normalisedWastedMemory) && Number.isFinite(p.appColdStartP75Pct));
  const W = 640;
  const H = 380;
  const m = { l: 60, r: 20, t: 20, b: 50 };
  const maxX = Math.max(1, ...points.map((p) => p.normalisedWastedMemory)) * 1.1;
  const maxY = Math.max(1, ...points.map((p) => p.appColdStartP75Pct)) * 1.1;
  const x = (v: number) => m.l + (v / maxX) * (W - m.l - m.r);
  const y = (v: number) => H - m.b - (v / maxY) * (H - m.t - m.b);
  const ticks = (max: number) => Array.from({ length: 6 }, (_, i) => (max * i) / 5);
  const parts = [
    `<svg viewBox="0 0 ${W} ${H}" width="100%" role="img" aria-label="p75 application cold-start % against normalised wasted memory" style="max-width:${W}px;font:12px sans-serif">`,
    `<line x1="${m.l}" y1="${H - m.b}" x2="${W - m.r}" y2="${H - m.b}" stroke="currentColor"/><line x1="${m.l}" y1="${m.t}" x2="${m.l}" y2="${H - m.b}" stroke="currentColor"/>`,
    ...ticks(maxX).map((v) => `<text x="${x(v)}" y="${H - m.b + 16}" text-anchor="middle">${v.toFixed(2)}</text>`),
    ...ticks(maxY).map((v) => `<text x="${m.l - 6}" y="${y(v) + 4}" text-anchor="end">${v.toFixed(0)}</text>`),
    `<text x="${(W + m.l) / 2}" y="${H - 10}" text-anchor="middle">wasted memory, normalised to the 10-minute fixed keep-alive</text>`,
    `<text x="14" y="${(H - m.b) / 2}" text-anchor="middle" transform="rotate(-90 14 ${(H - m.b) / 2})">p75 app cold-start %</text>`,
    ...points.map((p) => {
      const colour = p.label.startsWith('ttl') ? '#888' : p.label === 'hybrid' ? '#d62728' : p.label === 'icebreaker' ? '#1f77b4' : '#2ca02c';
      return `<circle cx="${x(p.normalisedWastedMemory).toFixed(1)}" cy="${y(p.appColdStartP75Pct).toFixed(1)}" r="5" fill="${colour}"><title>${escapeHtml(p.label)}</title></circle><text x="${(x(p.normalisedWastedMemory) + 7).toFixed(1)}" y="${(y(p.appColdStartP75Pct) - 6).toFixed(1)}">${escapeHtml(p.label)}</text>`;
    }),
    '</svg>',
  ];
  return `<figure>${parts.join('')}<figcaption>Serverless in the Wild's trade-off: each point a policy setting (grey: fixed keep-alive); lower and further left is better.</figcaption></figure>`;
}

/**
 * The per-application cold-start CDF of each point (Serverless in the Wild, Figure 15): for each
 * cold-start percentage, the share of applications at or below it. Fixed keep-alives in grey.
 */
function wildCdfSvg(sweep: SweepResult): string {
  const points = sweep.points.filter((p) => p.summary.appColdStartPct?.cdf?.length === 101);
  if (!points.length) return '';
  const W = 640;
  const H = 380;
  const m = { l: 60, r: 110, t: 20, b: 50 };
  const x = (pct: number) => m.l + (pct / 100) * (W - m.l - m.r);
  const y = (share: number) => H - m.b - share * (H - m.t - m.b);
  const ticks = [0, 20, 40, 60, 80, 100];
  const parts = [
    `<svg viewBox="0 0 ${W} ${H}" width="100%" role="img" aria-label="CDF of the per-application cold-start percentage" style="max-width:${W}px;font:12px sans-serif">`,
    `<line x1="${m.l}" y1="${H - m.b}" x2="${W - m.r}" y2="${H - m.b}" stroke="currentColor"/><line x1="${m.l}" y1="${m.t}" x2="${m.l}" y2="${H - m.b}" stroke="currentColor"/>`,
    ...ticks.map((v) => `<text x="${x(v)}" y="${H - m.b + 16}" text-anchor="middle">${v}</text><text x="${m.l - 6}" y="${y(v / 100) + 4}" text-anchor="end">${v}</text>`),
    `<text x="${(W - m.r + m.l) / 2}" y="${H - 10}" text-anchor="middle">cold starts, % of the application's invocations</text>`,
    `<text x="14" y="${(H - m.b) / 2}" text-anchor="middle" transform="rotate(-90 14 ${(H - m.b) / 2})">applications, % (cumulative)</text>`,
  ];
  points.forEach((p, k) => {
    const label = p.label ?? p.policy;
    const cdf = p.summary.appColdStartPct!.cdf!;
    const colour = label.startsWith('ttl') ? '#bbb' : label === 'hybrid' ? '#d62728' : label === 'icebreaker' ? '#1f77b4' : '#2ca02c';
    const width = label === 'hybrid' || label === WILD_BASELINE ? 2.5 : 1.5;
    const path = cdf.map((pct, q) => `${q === 0 ? 'M' : 'L'}${x(pct).toFixed(1)},${y(q / 100).toFixed(1)}`).join(' ');
    parts.push(`<path d="${path}" fill="none" stroke="${label === WILD_BASELINE ? '#555' : colour}" stroke-width="${width}"><title>${escapeHtml(label)}</title></path>`);
    parts.push(`<text x="${W - m.r + 8}" y="${m.t + 14 * k}" fill="${label === WILD_BASELINE ? '#555' : colour}">${escapeHtml(label)}</text>`);
  });
  parts.push('</svg>');
  return `<figure>${parts.join('')}<figcaption>The distribution over applications of their cold-start percentage, per policy setting (grey: fixed keep-alives, dark grey the 10-minute one; red: hybrid). Higher and further left is better: more applications with few cold starts.</figcaption></figure>`;
}

export function renderSweepReport(sweep: SweepResult, extras: { curve?: CurveResult; runs?: SimResult[] } = {}): string {
  if (sweep.wild) {
    return renderPage({
      subtitle: `Serverless in the Wild view · trace ${describeTrace(sweep.trace)}`,
      sections: [
        { id: 'overview', title: 'Sweep', html: factList(sweepFacts(sweep)) },
        { id: 'wild', title: 'Cold starts against wasted memory', html: wildScatterSvg(sweep) },
        { id: 'wild-cdf', title: 'Cold starts per application', html: wildCdfSvg(sweep) },
        { id: 'tables', title: 'Tables', html: tablesHtml(sweepSummaryTables(sweep)) },
      ],
      legendTopics: new Set<LegendTopic>(['sweep']),
      payload: { kind: 'sweep', sweep },
    });
  }
  const topics = new Set<LegendTopic>(['sweep']);
  const sections: PageSection[] = [
    { id: 'overview', title: 'Sweep', html: factList(sweepFacts(sweep)) },
    // The curve's sizes are total cache sizes: its markers only belong on a one-server sweep's axis.
    { id: 'charts', title: 'Policies against memory', html: sweepChartsHtml(Boolean(extras.curve) && sweep.servers === 1) },
    { id: 'tables', title: 'Tables', html: tablesHtml(sweepSummaryTables(sweep)) },
  ];
  if (extras.curve) {
    topics.add('curve');
    sections.push(curveSection(extras.curve, ''));
  }
  const runs = extras.runs ?? [];
  if (runs.length) {
    topics.add('run');
    if (runs.some((run) => run.dynamicSizing)) topics.add('dynamic');
    sections.push(runsSection(runs));
  }
  return renderPage({
    subtitle: `Policy sweep: ${sweep.policies.join(', ')} · trace ${describeTrace(sweep.trace)}`,
    sections,
    legendTopics: topics,
    payload: { kind: 'sweep', sweep, curve: extras.curve, runs: runs.map(runForCharts) },
  });
}

// ---- a curve --------------------------------------------------------------------------------------

export function renderCurveReport(curve: CurveResult): string {
  return renderPage({
    subtitle: `Hit-ratio curve · trace ${describeTrace(curve.trace)}`,
    sections: [{ id: 'overview', title: 'Trace', html: factList(traceFacts(curve.trace)) }, curveSection(curve, '')],
    legendTopics: new Set<LegendTopic>(['curve']),
    payload: { kind: 'curve', curve },
  });
}

/** Writes a report, creating its directory first. */
export function writeReport(path: string, html: string): void {
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, html);
}
