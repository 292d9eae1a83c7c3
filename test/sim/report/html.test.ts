import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { loadReportAssets } from '../../../src/sim/report/assets.ts';
import { jsonForScript } from '../../../src/sim/report/html-escape.ts';
import { renderCurveReport, renderSimReport, renderSweepReport, writeReport } from '../../../src/sim/report/html.ts';
import { curve, dynamicSimResult, simResult, sweep } from './fixtures.ts';
import { realisticCurve, realisticRun, realisticSweep } from './realistic-fixtures.ts';

// A page is ~60 kB of inlined uPlot: assert without echoing it all when a pattern is not found.
function assertHas(html: string, pattern: RegExp, message?: string): void {
  assert.ok(pattern.test(html), message ?? `the page should contain ${pattern}`);
}

function assertLacks(html: string, pattern: RegExp, message?: string): void {
  const found = pattern.exec(html);
  assert.ok(!found, `${message ?? `the page should not contain ${pattern}`}; found ${JSON.stringify(found?.[0])}`);
}

/** The results the page embeds for its charts. */
function embeddedData(html: string): Record<string, unknown> {
  const match = /<script type="application\/json" id="thaw-data">([\s\S]*?)<\/script>/.exec(html);
  assert.ok(match, 'the page embeds its data');
  return JSON.parse(match[1]!) as Record<string, unknown>;
}

function assertSelfContained(html: string): void {
  assertLacks(html, /\b(?:src|href)\s*=\s*["']?\s*(?:https?:)?\/\//i, 'no resource is fetched from elsewhere');
  assertLacks(html, /<link\b/i, 'no linked stylesheets');
  assertLacks(html, /<script[^>]*\bsrc=/i, 'no external scripts');
  assertLacks(html, /@import/i, 'no imported stylesheets');
}

function assertCommonFrame(html: string): void {
  assertHas(html, /^<!doctype html>/);
  assertHas(html, /<title>thaw — simulation report<\/title>/);
  assertHas(html, /<h1>thaw — simulation report<\/h1>/);
  assert.ok(html.includes(loadReportAssets().uplotCss.slice(0, 200)), 'uPlot’s stylesheet is inline');
  assertHas(html, /var uPlot=function/, 'uPlot is inline');
  assertHas(html, /What the numbers mean/);
  assertSelfContained(html);
}

describe('renderSweepReport', () => {
  it('renders charts, tables and the embedded sweep', () => {
    const data = sweep();
    const html = renderSweepReport(data);
    assertCommonFrame(html);
    for (const chart of ['sweep-overhead', 'sweep-cold', 'sweep-drops', 'sweep-wasted']) assertHas(html, new RegExp(`data-chart="${chart}"`));
    assertHas(html, /data-log-toggle="sweep-overhead"/);
    assertHas(html, /<th class="group group-start" colspan="3" scope="colgroup">GD<\/th>/);
    assertHas(html, /<td class="num group-start">30\.0<\/td>/, 'GD’s overhead at 1 GB');
    assertHas(html, /per-policy means over 3 memory sizes/);
    assert.deepEqual(embeddedData(html), { kind: 'sweep', sweep: data, runs: [] });
    assertLacks(html, /data-chart="curve-hit-ratio"/);
  });

  it('adds the curve and a picker over the runs, without the runs’ per-function rows in the data', () => {
    const runs = [simResult(), dynamicSimResult()];
    const html = renderSweepReport(sweep(), { curve: curve(), runs });
    assertHas(html, /data-chart="curve-hit-ratio"/);
    assertHas(html, /<select id="run-picker"><option value="0">GD on 2 GB<\/option><option value="1">GD\+dynamic with dynamic sizing/);
    assertHas(html, /data-chart="run-0-memory"/);
    assertHas(html, /data-chart="run-1-miss-speed"/);
    assertLacks(html, /data-chart="run-0-miss-speed"/, 'a static run has no dynamic-sizing charts');
    const embedded = embeddedData(html) as { runs: Array<Record<string, unknown>>; curve: unknown };
    assert.deepEqual(embedded.curve, curve());
    assert.equal(embedded.runs.length, 2);
    assert.equal(embedded.runs[0]!.perFunction, undefined);
    assert.deepEqual(embedded.runs[1]!.timeline, runs[1]!.timeline);
    assertSelfContained(html);
  });
});

describe('renderSimReport', () => {
  it('renders a run’s summary, options and charts over time', () => {
    const html = renderSimReport(simResult());
    assertCommonFrame(html);
    assertHas(html, /Single run: GD on 2 GB · trace tiny-trace/);
    assertHas(html, /<td>keepAliveMs<\/td><td>600000<\/td>/);
    assertHas(html, /<td>cold starts<\/td><td class="num">90<\/td><td>9\.09% of served<\/td>/);
    assertHas(html, /data-chart="run-memory"/);
    assertHas(html, /data-chart="run-starts"/);
    assertLacks(html, /data-chart="run-capacity"/);
    assertLacks(html, /<dt>miss speed<\/dt>/, 'no dynamic-sizing legend for a static run');
    const embedded = embeddedData(html) as { kind: string; result: Record<string, unknown> };
    assert.equal(embedded.kind, 'sim');
    assert.deepEqual(embedded.result.timeline, simResult().timeline);
  });

  it('shows capacity and miss speed under dynamic sizing', () => {
    const html = renderSimReport(dynamicSimResult(), { curve: curve() });
    assertHas(html, /data-chart="run-capacity"/);
    assertHas(html, /data-chart="run-miss-speed"/);
    assertHas(html, /resizes \(2\)/);
    assertHas(html, /<dt>miss speed<\/dt>/);
    assertHas(html, /data-chart="curve-hit-ratio"/);
  });
});

describe('renderCurveReport', () => {
  it('renders the curve chart, both tables and the embedded curve', () => {
    const html = renderCurveReport(curve());
    assertCommonFrame(html);
    assertHas(html, /data-chart="curve-hit-ratio"/);
    assertHas(html, /sizing for a 90\.0% hit ratio/);
    assertHas(html, /<td>knee<\/td><td class="num">512 MB<\/td><td class="num">512 MB<\/td>/);
    assert.deepEqual(embeddedData(html), { kind: 'curve', curve: curve() });
    assertLacks(html, /<dt>dropped<\/dt>/, 'only the terms this report uses');
  });
});

describe('escaping', () => {
  const hostile = '</script><script>alert(1)</script><!-- & "quoted"';

  it('keeps data that contains </script> inside its element and reads it back unchanged', () => {
    const data = sweep();
    data.trace = { ...data.trace, name: hostile };
    data.policies = ['GD', hostile];
    data.points = data.points.map((point) => (point.policy === 'TTL' ? { ...point, policy: hostile } : point));
    const html = renderSweepReport(data);
    // Exactly the page's own three scripts are closed: the data, uPlot and the chart script.
    assert.equal(html.match(/<\/script/gi)!.length, 3);
    assertLacks(html, /<script>alert/);
    assert.equal((embeddedData(html).sweep as { trace: { name: string } }).trace.name, hostile);
    assertHas(html, /&lt;\/script&gt;&lt;script&gt;alert\(1\)&lt;\/script&gt;&lt;!-- &amp; &quot;quoted&quot;/, 'escaped in the tables');
  });

  it('writes < as \\u003c in embedded JSON', () => {
    assert.equal(jsonForScript({ a: '</script>' }), '{"a":"\\u003c/script>"}');
    assert.deepEqual(JSON.parse(jsonForScript({ a: '</script>\u2028' })), { a: '</script>\u2028' });
  });
});

describe('assets', () => {
  it('the chart script is valid JavaScript', () => {
    // Parsed, not run: it needs a browser.
    assert.doesNotThrow(() => new Function(loadReportAssets().clientJs));
  });
});

describe('realistic results', () => {
  it('render in a reasonable size', () => {
    const html = renderSweepReport(realisticSweep(), { curve: realisticCurve(), runs: [realisticRun(), realisticRun({ dynamic: true })] });
    assertSelfContained(html);
    assert.ok(html.length < 1_000_000, `a sweep report of ${html.length} characters`);
  });
});

describe('writeReport', () => {
  it('creates missing directories', () => {
    const root = mkdtempSync(join(tmpdir(), 'thaw-report-'));
    try {
      const path = join(root, 'a', 'b', 'report.html');
      writeReport(path, '<!doctype html>');
      assert.equal(readFileSync(path, 'utf8'), '<!doctype html>');
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });
});
