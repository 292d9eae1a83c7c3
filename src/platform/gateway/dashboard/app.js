// thaw's dashboard: plain browser JavaScript, no build step. It loads GET /dashboard/state once,
// then follows GET /events (server-sent events) and redraws what changed: instances and memory on
// `state`, the invocation list and the cold/warm plot on `invocation`, the decision timeline on
// `decision`, the function table on `deploy`, `remove` and `alias`.
'use strict';

const PHASES = [
  ['queueMs', 'queue', '#b0b7c0'], ['sandboxMs', 'sandbox', '#e07a5f'], ['runtimeBootMs', 'runtime boot', '#f2cc8f'],
  ['importMs', 'import', '#81b29a'], ['initMs', 'init', '#3d405b'], ['execMs', 'exec', '#3d8eb9'], ['platformMs', 'platform', '#c9ccd1'],
];
const START_KINDS = [['cold', '#d1495b'], ['snapshot', '#e8a33d'], ['zygote', '#8e6bbf'], ['resumed', '#4caf50'], ['warm', '#3d8eb9']];
const DECISIONS = [['prewarm', '#4caf50'], ['provision', '#2e7d32'], ['evict', '#d1495b'], ['expire', '#e8a33d'], ['stop', '#66707c']];
const HISTORY_MS = 30 * 60_000;
const MAX_INVOCATIONS = 50;

const view = { state: null, live: null, invocations: [], buckets: new Map(), decisions: [], startsPlot: null, decisionsPlot: null };

const $ = (selector) => document.querySelector(selector);
const escape = (text) => String(text).replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]);
const ms = (x) => (x == null ? '—' : x < 10 ? x.toFixed(1) : Math.round(x).toString());
const mb = (x) => (x >= 1024 ? `${(x / 1024).toFixed(1)} GB` : `${Math.round(x)} MB`);
const time = (t) => new Date(t).toLocaleTimeString();

// With API tokens (thaw serve --token-file), the data needs an admin token: asked for once, kept for the tab.
const token = () => sessionStorage.getItem('thaw-token');

async function fetchState() {
  const response = await fetch('/dashboard/state', token() ? { headers: { authorization: `Bearer ${token()}` } } : {});
  if (response.status === 401 || response.status === 403) {
    askForToken((await response.json()).error.message);
    throw new Error('an admin API token is needed');
  }
  return response.json();
}

function askForToken(why) {
  const form = $('#token-form');
  form.hidden = false;
  $('#token-why').textContent = why;
  form.onsubmit = (event) => {
    event.preventDefault();
    sessionStorage.setItem('thaw-token', $('#token-input').value.trim());
    location.reload();
  };
}

async function load() {
  const state = await fetchState();
  view.state = state;
  view.invocations = state.invocations.filter((i) => i.finishedAt !== null);
  view.buckets = new Map();
  for (const row of state.startKinds) bucketOf(row.bucket)[row.startKind] = row.count;
  view.decisions = state.decisions.slice();
  view.live = null;
  const idle = state.idleCpus.haltPollNs === 0 ? ' · idle CPUs halt without polling: each warm invocation waits for two to wake' : '';
  $('#isolation').textContent = `sandboxes: ${state.isolation}${idle}`;
  $('#isolation').title = state.idleCpus.note ?? '';
  renderFunctions();
  renderLive(state);
  renderInvocations();
  renderStarts();
  renderDecisions();
}

function bucketOf(bucket) {
  let counts = view.buckets.get(bucket);
  if (!counts) view.buckets.set(bucket, (counts = {}));
  return counts;
}

// ── functions and instances ────────────────────────────────────────────────────────────────────

function renderFunctions() {
  const { functions } = view.state;
  $('#no-functions').hidden = functions.length > 0;
  $('#functions tbody').innerHTML = functions
    .map((f) => {
      const latest = f.versions.find((v) => v.version === f.latestVersion);
      const startPath = latest ? `${latest.start}${latest.snapshotStatus ? ` · snapshot ${latest.snapshotStatus}` : ''}` : '—';
      const aliases = f.aliases.map((a) => `${a.name} → ${a.routes.map((r) => `v${r.version} ${r.weight}%`).join(', ')}`).join('; ') || '—';
      return `<tr data-function="${escape(f.name)}">
        <td>${escape(f.name)}<span class="versions" data-field="by-version"></span></td>
        <td>v${escape(f.latestVersion ?? '—')}</td><td>${f.versions.length}</td>
        <td data-field="start-path">${escape(startPath)}</td><td data-field="aliases">${escape(aliases)}</td>
        <td class="num" data-field="starting">0</td><td class="num" data-field="busy">0</td><td class="num" data-field="idle">0</td>
        <td class="num" data-field="paused">0</td><td class="num" data-field="instances">0</td><td class="num" data-field="memory">—</td>
      </tr>`;
    })
    .join('');
  renderInstances((view.live ?? view.state).instances);
}

function renderInstances(rows) {
  const byFunction = new Map();
  for (const row of rows) {
    const f = byFunction.get(row.functionName) ?? { starting: 0, busy: 0, idle: 0, paused: 0, memoryMb: 0, versions: [] };
    for (const k of ['starting', 'busy', 'idle', 'paused', 'memoryMb']) f[k] += row[k];
    f.versions.push(row);
    byFunction.set(row.functionName, f);
  }
  for (const tr of document.querySelectorAll('#functions tbody tr')) {
    const f = byFunction.get(tr.dataset.function) ?? { starting: 0, busy: 0, idle: 0, paused: 0, memoryMb: 0, versions: [] };
    for (const k of ['starting', 'busy', 'idle', 'paused']) tr.querySelector(`[data-field="${k}"]`).textContent = f[k];
    tr.querySelector('[data-field="instances"]').textContent = f.starting + f.busy + f.idle + f.paused;
    tr.querySelector('[data-field="memory"]').textContent = f.memoryMb ? mb(f.memoryMb) : '—';
    tr.querySelector('[data-field="by-version"]').textContent = f.versions.length > 1
      ? f.versions.map((v) => `v${v.version}: ${v.starting + v.busy + v.idle + v.paused}`).join(' · ')
      : '';
  }
}

function renderLive(live) {
  view.live = live;
  renderInstances(live.instances);
  const m = live.memory;
  const busyMb = Math.max(0, m.usedMb - m.idleMb - m.zygoteMb);
  const pct = (x) => `${Math.min(100, (100 * x) / m.budgetMb)}%`;
  $('#memory-bar').innerHTML = `<span class="busy" style="width:${pct(busyMb)}" title="busy ${mb(busyMb)}"></span>`
    + `<span class="idle" style="width:${pct(m.idleMb)}" title="idle ${mb(m.idleMb)}"></span>`
    + `<span class="zygote" style="width:${pct(m.zygoteMb)}" title="zygotes ${mb(m.zygoteMb)}"></span>`;
  $('#memory-text').textContent = `${mb(m.usedMb)} held of a ${mb(m.budgetMb)} budget: ${mb(busyMb)} busy or starting, ${mb(m.idleMb)} idle or paused (zygotes ${mb(m.zygoteMb)})`
    + ` · ${live.waiting} requests waiting · async queue: ${live.queue.pending} pending, ${live.queue.running} running, ${live.queue.failed} dead letters`;
  const z = live.zygotes;
  $('#zygotes').textContent = z.sets.length ? `zygotes: ${z.ready} ready, ${z.starting} starting — ${z.sets.map((s) => `[${s.packages.join(' ')}] ${s.ready}`).join(', ')}` : 'zygotes: none planned';
  $('#zygotes').dataset.ready = z.ready;
}

// ── invocations ────────────────────────────────────────────────────────────────────────────────

function renderInvocations() {
  $('#phase-legend').innerHTML = PHASES.map(([, label, color]) => `<span><i style="background:${color}"></i>${label}</span>`).join('');
  const scale = Math.max(1, ...view.invocations.map((i) => i.totalMs ?? 0));
  $('#invocations').innerHTML = view.invocations
    .map((i) => {
      const bars = PHASES.map(([key, label, color]) => (i[key] > 0 ? `<span style="width:${(100 * i[key]) / scale}%;background:${color}" title="${label} ${ms(i[key])} ms"></span>` : '')).join('');
      return `<li data-invocation="${escape(i.id)}" data-function="${escape(i.functionName)}">
        <span class="muted">${time(i.createdAt)}</span><span>${escape(i.functionName)} v${i.version}</span>
        <span class="kind ${escape(i.startKind ?? '')}">${escape(i.startKind ?? '—')}</span>
        <span class="status ${escape(i.status)}">${escape(i.errorKind ?? i.status)}</span><span class="num">${ms(i.totalMs)} ms</span>
        <span class="bar" title="${PHASES.map(([key, label]) => `${label} ${ms(i[key])}`).join(', ')}">${bars}</span>
      </li>`;
    })
    .join('');
}

function onInvocation(invocation) {
  view.invocations.unshift(invocation);
  view.invocations.length = Math.min(view.invocations.length, MAX_INVOCATIONS);
  if (invocation.startKind) {
    const bucket = Math.floor(invocation.createdAt / view.state.bucketMs) * view.state.bucketMs;
    const counts = bucketOf(bucket);
    counts[invocation.startKind] = (counts[invocation.startKind] ?? 0) + 1;
  }
  renderInvocations();
  renderStarts();
}

// ── plots ──────────────────────────────────────────────────────────────────────────────────────

/** Both plots start a minute before the first thing they show (at most HISTORY_MS ago) and end now. */
function rangeStart() {
  const now = Date.now();
  let first = now;
  for (const bucket of view.buckets.keys()) first = Math.min(first, bucket);
  for (const d of view.decisions) first = Math.min(first, d.at);
  return Math.max(now - HISTORY_MS, first - 60_000);
}

function chartWidth(selector) {
  return Math.max(320, $(selector).clientWidth);
}

function renderStarts() {
  const bucketMs = view.state.bucketMs;
  const end = Math.floor(Date.now() / bucketMs) * bucketMs;
  const xs = [];
  for (let t = Math.floor(rangeStart() / bucketMs) * bucketMs; t <= end; t += bucketMs) xs.push(t);
  const data = [xs.map((t) => t / 1000), ...START_KINDS.map(([kind]) => xs.map((t) => view.buckets.get(t)?.[kind] ?? 0))];
  if (view.startsPlot) return view.startsPlot.setData(data);
  view.startsPlot = new uPlot(
    {
      width: chartWidth('#starts-chart'),
      height: 220,
      scales: { y: { range: (u, min, max) => [0, Math.max(1, max)] } },
      axes: [{}, { label: `invocations per ${bucketMs / 1000} s` }],
      series: [{}, ...START_KINDS.map(([label, stroke]) => ({ label, stroke, width: 2, points: { show: false } }))],
    },
    data,
    $('#starts-chart'),
  );
}

function renderDecisions() {
  const since = rangeStart();
  const shown = view.decisions.filter((d) => d.at >= since);
  const xs = [since / 1000, ...shown.map((d) => d.at / 1000), Date.now() / 1000];
  const data = [xs, ...DECISIONS.map(([kind], row) => [null, ...shown.map((d) => (d.kind === kind ? row : null)), null])];
  if (view.decisionsPlot) view.decisionsPlot.setData(data);
  else {
    view.decisionsPlot = new uPlot(
      {
        width: chartWidth('#decisions-chart'),
        height: 220,
        scales: { y: { range: [-0.5, DECISIONS.length - 0.5] } },
        axes: [{}, { splits: () => DECISIONS.map((_, i) => i), values: (u, splits) => splits.map((i) => DECISIONS[i]?.[0] ?? ''), size: 70 }],
        series: [{}, ...DECISIONS.map(([label, stroke]) => ({ label, stroke, fill: stroke, paths: () => null, points: { show: true, size: 9, fill: stroke } }))],
      },
      data,
      $('#decisions-chart'),
    );
  }
  $('#decisions').innerHTML = shown
    .slice(-30)
    .reverse()
    .map((d) => `<li data-kind="${escape(d.kind)}">${time(d.at)} <b>${escape(d.kind)}</b> ${escape(d.functionName)}${d.version ? ` v${d.version}` : ''} (${mb(d.memoryMb)})</li>`)
    .join('');
}

// ── live updates ───────────────────────────────────────────────────────────────────────────────

function connect() {
  const events = new EventSource(token() ? `/events?access_token=${encodeURIComponent(token())}` : '/events');
  const connection = $('#connection');
  events.onopen = () => {
    connection.dataset.state = 'live';
    connection.textContent = 'live';
  };
  events.onerror = () => {
    connection.dataset.state = 'reconnecting';
    connection.textContent = 'reconnecting…';
  };
  events.addEventListener('state', (e) => renderLive(JSON.parse(e.data)));
  events.addEventListener('invocation', (e) => onInvocation(JSON.parse(e.data).invocation));
  events.addEventListener('decision', (e) => {
    view.decisions.push(JSON.parse(e.data));
    renderDecisions();
  });
  for (const type of ['deploy', 'remove', 'alias']) {
    events.addEventListener(type, () => fetchState().then((state) => {
      view.state.functions = state.functions;
      renderFunctions();
    }));
  }
}

window.addEventListener('resize', () => {
  for (const [plot, selector] of [[view.startsPlot, '#starts-chart'], [view.decisionsPlot, '#decisions-chart']]) plot?.setSize({ width: chartWidth(selector), height: 220 });
});
setInterval(() => view.state && renderStarts(), 10_000); // the time axis moves on
load().then(connect, (error) => {
  $('#connection').textContent = `cannot load: ${error.message}`;
});
