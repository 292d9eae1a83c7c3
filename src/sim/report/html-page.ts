// The frame every report shares: one self-contained HTML file with uPlot, its stylesheet, the
// results as JSON and the chart script all inline, plus small builders for the page's parts.

import { loadReportAssets } from './assets.ts';
import { escapeHtml, jsonForScript, scriptForInline, styleForInline } from './html-escape.ts';
import { legendFor, type LegendTopic } from './legend.ts';

export const REPORT_TITLE = 'thaw — simulation report';

/** What the chart script reads: the results it draws, under these names. */
export interface ReportPayload {
  kind: 'sweep' | 'sim' | 'curve';
  [key: string]: unknown;
}

export interface PageSection {
  id: string;
  title: string;
  html: string;
}

const STYLE = `
:root {
  color-scheme: light;
  --fg: #1f2328; --muted: #59636e; --border: #d1d9e0; --rule: #eaeef2; --panel: #f6f8fa; --accent: #0969da;
}
* { box-sizing: border-box; }
body {
  margin: 0; color: var(--fg); background: #fff;
  font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif;
}
header.page { padding: 28px 40px 18px; border-bottom: 1px solid var(--border); background: var(--panel); }
header.page h1 { margin: 0; font-size: 26px; font-weight: 650; letter-spacing: -0.01em; }
header.page .subtitle { margin: 4px 0 0; color: var(--muted); font-size: 15px; }
nav.contents { margin-top: 12px; font-size: 14px; }
nav.contents a { color: var(--accent); text-decoration: none; margin-right: 18px; }
nav.contents a:hover { text-decoration: underline; }
main { max-width: 1320px; margin: 0 auto; padding: 8px 40px 56px; }
section { margin-top: 34px; }
h2 { font-size: 20px; font-weight: 650; margin: 0 0 12px; padding-bottom: 6px; border-bottom: 1px solid var(--border); }
h3 { font-size: 15px; font-weight: 600; margin: 18px 0 8px; }
p { margin: 8px 0; }
.muted, .notes, figcaption { color: var(--muted); }
.notes { font-size: 13px; margin: 6px 0 0; }
figure { margin: 0 0 18px; padding: 14px 18px 12px; border: 1px solid var(--border); border-radius: 8px; background: #fff; }
figure .figure-head { display: flex; justify-content: space-between; align-items: baseline; gap: 16px; }
figure h3 { margin: 0 0 6px; }
figcaption { font-size: 13px; margin-top: 6px; }
.toggle { font-size: 13px; color: var(--muted); white-space: nowrap; cursor: pointer; }
.chart { min-height: 120px; }
.chart-error, .report-error { color: #cf222e; background: #ffebe9; border: 1px solid #ff8182; border-radius: 6px; padding: 8px 12px; }
.grid { display: grid; grid-template-columns: repeat(auto-fit, minmax(380px, 1fr)); gap: 0 18px; }
.grid-2 { display: grid; grid-template-columns: repeat(auto-fit, minmax(520px, 1fr)); gap: 0 18px; }
.table-block { margin: 0 0 22px; }
.table-scroll { overflow-x: auto; }
table { border-collapse: collapse; font-size: 14px; font-variant-numeric: tabular-nums; }
th, td { padding: 5px 12px; border-bottom: 1px solid var(--rule); text-align: left; white-space: nowrap; }
thead th { font-weight: 600; background: var(--panel); border-bottom: 1px solid var(--border); }
tr.groups th { text-align: center; border-bottom: 1px solid var(--rule); }
th.num, td.num { text-align: right; }
/* A sweep has three columns per policy: tighter cells keep six policies on one screen. */
table.grouped { font-size: 12.5px; }
table.grouped th, table.grouped td { padding: 4px 7px; }
.group-start { border-left: 1px solid var(--border); }
tbody tr:hover td { background: #f6f8fa; }
dl.facts { display: grid; grid-template-columns: max-content 1fr; gap: 4px 22px; margin: 0; }
dl.facts dt { color: var(--muted); }
dl.facts dd { margin: 0; }
dl.legend { display: grid; grid-template-columns: minmax(160px, max-content) 1fr; gap: 8px 24px; margin: 0; font-size: 14px; }
dl.legend dt { font-weight: 600; }
dl.legend dd { margin: 0; color: #31363c; }
.picker { display: flex; align-items: center; gap: 10px; margin: 0 0 14px; font-size: 14px; }
.picker select { font: inherit; padding: 4px 8px; border: 1px solid var(--border); border-radius: 6px; background: #fff; }
footer.page { max-width: 1320px; margin: 0 auto; padding: 0 40px 32px; color: var(--muted); font-size: 12px; }
/* uPlot's legend: smaller so it does not compete with the plot. Its values only mean something
   under the cursor, so away from the plot it is a plain key without the x entry and the dashes. */
.uplot .u-legend { font-size: 13px; margin-top: 4px; }
.uplot:not(:hover) .u-legend .u-series:first-child, .uplot:not(:hover) .u-legend .u-value { display: none; }
.uplot:not(:hover) .u-legend th::after { content: none; }
.uplot .u-legend th { font-weight: 500; background: none; border: none; }
.uplot .u-legend td { border: none; padding: 2px 6px; }
`;

export function factList(facts: ReadonlyArray<readonly [string, string]>): string {
  const items = facts.map(([term, value]) => `<dt>${escapeHtml(term)}</dt><dd>${escapeHtml(value)}</dd>`).join('\n');
  return `<dl class="facts">\n${items}\n</dl>`;
}

export interface FigureOptions {
  /** The chart script draws into every element with this data-chart name. */
  chart: string;
  title: string;
  caption: string;
  /** Adds a "log scale" checkbox the chart script watches, ticked at first if 'on'. */
  logToggle?: 'off' | 'on';
}

export function figure({ chart, title, caption, logToggle }: FigureOptions): string {
  const checked = logToggle === 'on' ? ' checked' : '';
  const toggle = logToggle
    ? `<label class="toggle"><input type="checkbox" data-log-toggle="${escapeHtml(chart)}"${checked}> log scale</label>`
    : '';
  return [
    '<figure>',
    `<div class="figure-head"><h3>${escapeHtml(title)}</h3>${toggle}</div>`,
    `<div class="chart" data-chart="${escapeHtml(chart)}"></div>`,
    `<figcaption>${escapeHtml(caption)}</figcaption>`,
    '</figure>',
  ].join('\n');
}

function legendSection(topics: ReadonlySet<LegendTopic>): PageSection {
  const entries = legendFor(topics)
    .map((entry) => `<dt>${escapeHtml(entry.term)}</dt><dd>${escapeHtml(entry.meaning)}</dd>`)
    .join('\n');
  return { id: 'legend', title: 'What the numbers mean', html: `<dl class="legend">\n${entries}\n</dl>` };
}

export interface PageContent {
  subtitle: string;
  sections: PageSection[];
  legendTopics: ReadonlySet<LegendTopic>;
  payload: ReportPayload;
}

/** The whole report: one HTML document with everything it needs inline. */
export function renderPage({ subtitle, sections, legendTopics, payload }: PageContent): string {
  const assets = loadReportAssets();
  const all = [...sections, legendSection(legendTopics)];
  const contents = all.map((section) => `<a href="#${escapeHtml(section.id)}">${escapeHtml(section.title)}</a>`).join('');
  const body = all
    .map((section) => `<section id="${escapeHtml(section.id)}">\n<h2>${escapeHtml(section.title)}</h2>\n${section.html}\n</section>`)
    .join('\n');
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(REPORT_TITLE)}</title>
<style>${styleForInline(assets.uplotCss)}</style>
<style>${STYLE}</style>
</head>
<body>
<header class="page">
<h1>${escapeHtml(REPORT_TITLE)}</h1>
<p class="subtitle">${escapeHtml(subtitle)}</p>
<nav class="contents">${contents}</nav>
</header>
<main>
<p id="report-error" class="report-error" hidden></p>
<noscript><p class="report-error">The charts need JavaScript; the tables below are complete without it.</p></noscript>
${body}
</main>
<footer class="page">Generated by thaw. Charts drawn with uPlot (MIT licence), included in this file.</footer>
<script type="application/json" id="thaw-data">${jsonForScript(payload)}</script>
<script>${scriptForInline(assets.uplotJs)}</script>
<script>${scriptForInline(assets.clientJs)}</script>
</body>
</html>
`;
}
