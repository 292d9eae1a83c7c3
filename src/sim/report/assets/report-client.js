// Runs in the browser, inlined into the report by html.ts after uPlot. It reads the results embedded
// in <script id="thaw-data" type="application/json"> and draws every chart whose container the page
// has (<div class="chart" data-chart="...">). Plain ES2020, no modules: the report must open from a
// file with no network and no build step.
(function () {
  'use strict';

  var MB_PER_GB = 1024; // keep in step with format.ts
  var PALETTE = ['#1f2328', '#1a7f37', '#cf222e', '#e36209', '#8250df', '#8c564b', '#0598bc', '#bf3989', '#6e7781', '#9a6700'];
  // Solid, dashed, dotted in turn, like the FaaSCache plots, so lines stay apart in greyscale too.
  var DASHES = [[], [8, 4], [2, 3]];
  var COLOURS = {
    used: '#0969da',
    idle: '#e36209',
    capacity: '#1f2328',
    warm: '#1a7f37',
    cold: '#0969da',
    dropped: '#cf222e',
    exact: '#0969da',
    sampled: '#e36209',
    target: '#6e7781',
    marker: '#8250df',
  };

  var data = JSON.parse(document.getElementById('thaw-data').textContent);
  var mounted = []; // { el, build } — rebuilt on resize and when a toggle changes

  // ---- formatting (mirrors format.ts) ------------------------------------------------------------

  function fmtNum(v) {
    if (v == null || !isFinite(v)) return '—';
    var a = Math.abs(v);
    var decimals = a >= 100 || a === 0 ? 0 : a >= 10 ? 1 : a >= 1 ? 2 : a >= 0.01 ? 3 : 4;
    return v.toLocaleString('en-US', { minimumFractionDigits: 0, maximumFractionDigits: decimals });
  }
  function fmtPct(v) {
    return v == null ? '—' : fmtNum(v) + '%';
  }
  /** Axis ticks: GB throughout, so one axis does not mix units. */
  function fmtGb(v) {
    return v == null ? '—' : fmtNum(v) + ' GB';
  }
  /** A single size (labels, legend values), like formatMemory: MB below a GB. */
  function fmtMemory(gb) {
    if (gb == null) return '—';
    return Math.abs(gb) < 1 ? Math.round(gb * MB_PER_GB).toLocaleString('en-US') + ' MB' : fmtGb(gb);
  }
  function fmtCount(v) {
    return v == null ? '—' : Math.round(v).toLocaleString('en-US');
  }
  function tickValues(format) {
    return function (u, splits) {
      return splits.map(function (v) {
        return v == null ? '' : format(v);
      });
    };
  }

  // ---- chart building ----------------------------------------------------------------------------

  /** Width the axis needs for its longest tick label (uPlot's default is a fixed 50 px). */
  function axisSize(u, values, axisIdx, cycleNum) {
    var axis = u.axes[axisIdx];
    if (cycleNum > 1) return axis._size;
    var size = axis.ticks.size + axis.gap;
    var longest = (values || []).reduce(function (a, b) {
      return String(b).length > a.length ? String(b) : a;
    }, '');
    if (longest) {
      u.ctx.font = axis.font[0];
      size += u.ctx.measureText(longest).width / devicePixelRatio;
    }
    return Math.ceil(size) + 4;
  }

  /** Text on a white backdrop, so a label stays readable where it crosses a line. */
  function drawLabel(ctx, text, x, y, align) {
    var px = devicePixelRatio;
    var width = ctx.measureText(text).width;
    var left = align === 'right' ? x - width : x;
    var colour = ctx.fillStyle;
    ctx.fillStyle = 'rgba(255,255,255,0.85)';
    ctx.fillRect(left - 3 * px, y - 12 * px, width + 6 * px, 16 * px);
    ctx.fillStyle = colour;
    ctx.textAlign = 'left';
    ctx.fillText(text, left, y);
  }

  /**
   * Vertical markers (a size on the x axis) and horizontal lines (a target on a y scale), with
   * labels. Marker labels stack from the top of the plot, or from the bottom when
   * overlays.markerLabels is 'bottom' (for rising curves, whose top left is crowded).
   */
  function drawOverlays(u, overlays) {
    var ctx = u.ctx;
    var px = devicePixelRatio;
    var box = u.bbox;
    ctx.save();
    ctx.font = 12 * px + 'px system-ui, -apple-system, "Segoe UI", Roboto, sans-serif';
    ctx.lineWidth = 1.5 * px;
    var labelled = 0;
    (overlays.hlines || []).forEach(function (line) {
      var y = u.valToPos(line.y, line.scale || 'y', true);
      if (!(y >= box.top && y <= box.top + box.height)) return;
      ctx.strokeStyle = ctx.fillStyle = line.color || COLOURS.target;
      ctx.setLineDash([6 * px, 4 * px]);
      ctx.beginPath();
      ctx.moveTo(box.left, y);
      ctx.lineTo(box.left + box.width, y);
      ctx.stroke();
      drawLabel(ctx, line.label, box.left + box.width - 6 * px, y - 5 * px, 'right');
    });
    (overlays.markers || []).forEach(function (marker) {
      if (marker.x == null) return;
      var x = u.valToPos(marker.x, 'x', true);
      if (!(x >= box.left && x <= box.left + box.width)) return;
      ctx.strokeStyle = ctx.fillStyle = marker.color || COLOURS.marker;
      ctx.setLineDash(marker.dash || [3 * px, 3 * px]);
      ctx.beginPath();
      ctx.moveTo(x, box.top);
      ctx.lineTo(x, box.top + box.height);
      ctx.stroke();
      if (!marker.label) return;
      // Labels go right of the line unless that runs off the plot; stacked so neighbours do not collide.
      var right = x + 5 * px + ctx.measureText(marker.label).width <= box.left + box.width;
      var offset = (16 + 18 * labelled++) * px;
      var y = overlays.markerLabels === 'bottom' ? box.top + box.height - offset + 8 * px : box.top + offset;
      drawLabel(ctx, marker.label, right ? x + 5 * px : x - 5 * px, y, right ? 'left' : 'right');
    });
    ctx.restore();
  }

  /**
   * A line chart. spec: { height, xLabel, xFormat, xLog, xFromZero, data: [xs, ...ys], series: [{ label,
   * stroke, dash, scale, format, fill, paths, points, width }], axes: [{ scale, label, format, side,
   * log, range, color }], hlines, markers, markerLabels }.
   */
  function lineChart(el, spec) {
    var scales = { x: { time: false } };
    if (spec.xLog) scales.x = { time: false, distr: 3, log: 10 };
    else if (spec.xFromZero) scales.x = { time: false, range: function (u, min, max) { return [0, max]; } };
    spec.axes.forEach(function (axis) {
      scales[axis.scale] = axis.log
        ? { distr: 3, log: 10 }
        : {
            range:
              axis.range ||
              function (u, min, max) {
                // Counts, percentages and memory read best from zero.
                var top = max > 0 ? max : 1;
                return [0, top * 1.05];
              },
          };
    });
    var opts = {
      width: Math.max(280, el.clientWidth),
      height: spec.height || 280,
      scales: scales,
      legend: { live: true },
      cursor: { points: { size: 7 } },
      axes: [
        {
          label: spec.xLabel,
          values: tickValues(spec.xFormat || fmtNum),
          stroke: '#59636e',
          grid: { stroke: '#eaeef2', width: 1 },
          ticks: { stroke: '#d1d9e0', width: 1 },
        },
      ].concat(
        spec.axes.map(function (axis, i) {
          return {
            scale: axis.scale,
            label: axis.label,
            side: axis.side == null ? 3 : axis.side,
            values: tickValues(axis.format || fmtNum),
            size: axisSize,
            stroke: axis.color || '#59636e',
            grid: { show: i === 0, stroke: '#eaeef2', width: 1 },
            ticks: { stroke: '#d1d9e0', width: 1 },
          };
        }),
      ),
      series: [{ label: spec.xLabel, value: function (u, v) { return v == null ? '—' : (spec.xFormat || fmtNum)(v); } }].concat(
        spec.series.map(function (s) {
          return {
            label: s.label,
            scale: s.scale || 'y',
            stroke: s.stroke,
            width: s.width || 2,
            dash: s.dash,
            fill: s.fill,
            paths: s.paths,
            points: s.points || { show: false },
            spanGaps: true,
            value: function (u, v) {
              return v == null ? '—' : (s.format || fmtNum)(v);
            },
          };
        }),
      ),
      hooks: {
        draw: [
          function (u) {
            drawOverlays(u, spec);
          },
        ],
      },
    };
    return new uPlot(opts, spec.data, el);
  }

  /** Draws a chart into its container and remembers how, so resizing and toggles can redraw it. */
  function mount(name, build) {
    document.querySelectorAll('[data-chart="' + name + '"]').forEach(function (el) {
      var entry = { el: el, build: build, plot: null };
      mounted.push(entry);
      draw(entry);
    });
  }

  function draw(entry) {
    if (entry.plot) entry.plot.destroy();
    entry.el.textContent = '';
    try {
      entry.plot = entry.build(entry.el);
    } catch (error) {
      entry.plot = null;
      entry.el.innerHTML = '';
      var message = document.createElement('p');
      message.className = 'chart-error';
      message.textContent = 'This chart could not be drawn: ' + (error && error.message ? error.message : error);
      entry.el.appendChild(message);
    }
  }

  function redrawAll() {
    mounted.forEach(draw);
  }

  // ---- sweep: metric against memory, one line per policy ---------------------------------------

  function sweepLines(sweep, pick) {
    var memories = (sweep.memoriesMb.length ? sweep.memoriesMb : sweep.points.map(function (p) { return p.memoryMb; }))
      .filter(function (m, i, all) { return all.indexOf(m) === i; })
      .sort(function (a, b) { return a - b; });
    var policies = sweep.policies.length ? sweep.policies : sweep.points.map(function (p) { return p.policy; }).filter(function (p, i, all) { return all.indexOf(p) === i; });
    var byKey = {};
    sweep.points.forEach(function (p) {
      byKey[p.policy + '\u0000' + p.memoryMb] = p;
    });
    var columns = [memories.map(function (mb) { return mb / MB_PER_GB; })];
    policies.forEach(function (policy) {
      columns.push(memories.map(function (mb) {
        var point = byKey[policy + '\u0000' + mb];
        return point ? pick(point.summary) : null;
      }));
    });
    return { data: columns, policies: policies };
  }

  function policySeries(policies, format) {
    return policies.map(function (policy, i) {
      return {
        label: policy,
        stroke: PALETTE[i % PALETTE.length],
        dash: DASHES[i % DASHES.length],
        format: format,
        points: { show: true, size: 6, fill: PALETTE[i % PALETTE.length] },
      };
    });
  }

  /** Where the hit-ratio curve says to size the cache, shown on charts whose x axis is memory. */
  function curveMarkers(curve) {
    if (!curve) return [];
    var markers = [];
    var kind = curve.exact ? 'exact' : 'sampled';
    var target = curve.sizeForTargetMb[kind];
    if (target != null) markers.push({ x: target / MB_PER_GB, label: fmtPct(curve.target * 100) + ' hit ratio (' + kind + '): ' + fmtMemory(target / MB_PER_GB), color: COLOURS.marker });
    var knee = curve.kneeMb[kind];
    if (knee != null) markers.push({ x: knee / MB_PER_GB, label: 'knee (' + kind + '): ' + fmtMemory(knee / MB_PER_GB), color: COLOURS.target, dash: [2, 3] });
    return markers;
  }

  function mountSweep(sweep, curve) {
    var markers = curveMarkers(curve);
    // A sweep's memory sizes are per server; the curve's sizes are totals, so its markers only fit one server.
    var xLabel = sweep.servers > 1 ? 'memory per server (GB)' : 'memory (GB)';
    if (sweep.servers > 1) markers = [];
    var logToggle = document.querySelector('[data-log-toggle="sweep-overhead"]');
    mount('sweep-overhead', function (el) {
      var log = !!(logToggle && logToggle.checked);
      var lines = sweepLines(sweep, function (s) {
        var v = s.coldStartOverheadPct;
        return log && !(v > 0) ? null : v; // a log axis has no place for 0
      });
      return lineChart(el, {
        height: 380,
        xLabel: xLabel,
        data: lines.data,
        series: policySeries(lines.policies, fmtPct),
        axes: [{ scale: 'y', label: 'cold-start overhead (%)', format: fmtPct, log: log }],
        markers: markers,
      });
    });
    if (logToggle) logToggle.addEventListener('change', redrawAll);

    var small = [
      ['sweep-cold', 'cold starts (% of served)', fmtPct, function (s) { return 100 * s.coldStartRatio; }],
      ['sweep-drops', 'dropped invocations', fmtCount, function (s) { return s.dropped; }],
      ['sweep-wasted', 'idle memory (GB-s)', fmtNum, function (s) { return s.wastedMemoryGBs; }],
    ];
    small.forEach(function (chart) {
      mount(chart[0], function (el) {
        var lines = sweepLines(sweep, chart[3]);
        return lineChart(el, {
          height: 260,
          xLabel: xLabel,
          data: lines.data,
          series: policySeries(lines.policies, chart[2]),
          axes: [{ scale: 'y', label: chart[1], format: chart[2] }],
        });
      });
    });
  }

  // ---- hit-ratio curve ---------------------------------------------------------------------------

  /**
   * A vertical line per curve at the size it gives (in the curve's colour) and one label for all of
   * them: the exact and sampled sizes are usually close, and two labels would sit on each other.
   */
  function sizeMarkers(kinds, sizesMb, what, dash) {
    var present = kinds.filter(function (k) { return sizesMb[k] != null; });
    if (!present.length) return [];
    function size(k) { return fmtMemory(sizesMb[k] / MB_PER_GB); }
    var label = what + ': ' + size(present[0]);
    if (present.length > 1) {
      var others = present.slice(1).map(function (k) { return k + ' ' + size(k); });
      label = what + ' (' + present[0] + '): ' + size(present[0]) + ' (' + others.join(', ') + ')';
    }
    return present.map(function (k, i) {
      return { x: sizesMb[k] / MB_PER_GB, label: i === 0 ? label : '', color: COLOURS[k], dash: dash };
    });
  }

  function mountCurve(curve, capacityMb) {
    var logToggle = document.querySelector('[data-log-toggle="curve-hit-ratio"]');
    if (logToggle) logToggle.addEventListener('change', redrawAll);
    mount('curve-hit-ratio', function (el) {
      var log = !!(logToggle && logToggle.checked);
      var kinds = ['exact', 'sampled'].filter(function (k) { return curve[k]; });
      var tables = kinds.map(function (k) {
        var keep = curve[k].sizesMb.map(function (mb) { return !log || mb > 0; }); // a log axis has no 0
        return [
          curve[k].sizesMb.filter(function (_, i) { return keep[i]; }).map(function (mb) { return mb / MB_PER_GB; }),
          curve[k].hitRatio.filter(function (_, i) { return keep[i]; }).map(function (r) { return r * 100; }),
        ];
      });
      var joined = tables.length > 1 ? uPlot.join(tables) : tables[0];
      var markers = sizeMarkers(kinds, curve.sizeForTargetMb, 'reaches ' + fmtPct(curve.target * 100), []).concat(
        sizeMarkers(kinds, curve.kneeMb, 'knee', [2, 3]),
      );
      if (capacityMb != null) markers.push({ x: capacityMb / MB_PER_GB, label: 'this run: ' + fmtMemory(capacityMb / MB_PER_GB), color: COLOURS.capacity, dash: [] });
      return lineChart(el, {
        height: 380,
        xLabel: 'cache size (GB)',
        xFromZero: !log,
        xLog: log,
        data: joined,
        series: kinds.map(function (k) {
          return { label: k === 'exact' ? 'exact' : 'sampled (rate ' + curve.sampled.rate + ')', stroke: COLOURS[k], dash: k === 'sampled' ? [8, 4] : [], format: fmtPct, paths: uPlot.paths.stepped({ align: 1 }) };
        }),
        axes: [{ scale: 'y', label: 'hit ratio (%)', format: fmtPct, range: function () { return [0, 100]; } }],
        hlines: [{ y: curve.target * 100, label: 'target ' + fmtPct(curve.target * 100) }],
        markers: markers,
        markerLabels: 'bottom',
      });
    });
  }

  // ---- one run over time -------------------------------------------------------------------------

  /** Hours for traces over three hours, else minutes: the axis should read 0–8 h, not 0–480 min. */
  function timeAxis(timeline) {
    var span = timeline.t.length ? timeline.t[timeline.t.length - 1] : 0;
    var hours = span > 3 * 3600000;
    var unit = hours ? 3600000 : 60000;
    return {
      label: hours ? 'time (h)' : 'time (min)',
      xs: timeline.t.map(function (t) { return t / unit; }),
    };
  }

  function gb(values) {
    return values.map(function (mb) { return mb == null ? null : mb / MB_PER_GB; });
  }

  function mountRun(run, prefix) {
    var timeline = run.timeline;
    var time = timeAxis(timeline);
    mount(prefix + 'memory', function (el) {
      return lineChart(el, {
        height: 300,
        xLabel: time.label,
        xFromZero: true,
        data: [time.xs, gb(timeline.usedMb), gb(timeline.idleMb), gb(timeline.capacityMb)],
        series: [
          { label: 'held by instances', stroke: COLOURS.used, fill: 'rgba(9,105,218,0.10)', format: fmtMemory },
          { label: 'of which idle', stroke: COLOURS.idle, format: fmtMemory },
          { label: 'capacity', stroke: COLOURS.capacity, dash: [6, 4], format: fmtMemory, paths: uPlot.paths.stepped({ align: 1 }) },
        ],
        axes: [{ scale: 'y', label: 'memory (GB)', format: fmtGb }],
      });
    });
    mount(prefix + 'starts', function (el) {
      // Warm starts outnumber cold ones by orders of magnitude: give them their own axis so the
      // cold starts and drops, the part that matters, are not flattened against zero.
      return lineChart(el, {
        height: 300,
        xLabel: time.label,
        xFromZero: true,
        data: [time.xs, timeline.warm, timeline.cold, timeline.dropped],
        series: [
          { label: 'warm starts (left axis)', stroke: COLOURS.warm, format: fmtCount, scale: 'warm' },
          { label: 'cold starts (right axis)', stroke: COLOURS.cold, format: fmtCount, scale: 'cold' },
          { label: 'dropped (right axis)', stroke: COLOURS.dropped, format: fmtCount, scale: 'cold' },
        ],
        axes: [
          { scale: 'warm', label: 'warm starts per interval', format: fmtCount, color: COLOURS.warm },
          { scale: 'cold', label: 'cold starts, drops per interval', format: fmtCount, side: 1, color: COLOURS.cold },
        ],
      });
    });
    if (!run.dynamicSizing) return;
    var sizing = run.dynamicSizing;
    mount(prefix + 'capacity', function (el) {
      return lineChart(el, {
        height: 280,
        xLabel: time.label,
        xFromZero: true,
        data: [time.xs, gb(timeline.capacityMb), gb(timeline.usedMb)],
        series: [
          { label: 'capacity', stroke: COLOURS.capacity, format: fmtMemory, paths: uPlot.paths.stepped({ align: 1 }), width: 2.5 },
          { label: 'held by instances', stroke: COLOURS.used, fill: 'rgba(9,105,218,0.08)', format: fmtMemory, width: 1 },
        ],
        axes: [{ scale: 'y', label: 'memory (GB)', format: fmtGb }],
        hlines: [{ y: sizing.meanCapacityMb / MB_PER_GB, label: 'mean capacity ' + fmtMemory(sizing.meanCapacityMb / MB_PER_GB) }],
      });
    });
    mount(prefix + 'miss-speed', function (el) {
      return lineChart(el, {
        height: 280,
        xLabel: time.label,
        xFromZero: true,
        data: [time.xs, sizing.missSpeed, sizing.targetMissSpeed],
        series: [
          { label: 'miss speed (cold starts/s)', stroke: COLOURS.cold, format: fmtNum },
          { label: 'target miss speed', stroke: COLOURS.idle, dash: [6, 4], format: fmtNum, width: 2.5 },
        ],
        axes: [{ scale: 'y', label: 'cold starts per second', format: fmtNum }],
      });
    });
  }

  /** A sweep report may carry several runs; a <select> shows one at a time. */
  function mountRunPicker(runs) {
    var picker = document.getElementById('run-picker');
    var panels = document.querySelectorAll('[data-run-panel]');
    function show(index) {
      panels.forEach(function (panel) {
        panel.hidden = panel.getAttribute('data-run-panel') !== String(index);
      });
      // Hidden charts have no width: redraw the visible run's charts now that they can be measured.
      redrawAll();
    }
    runs.forEach(function (run, i) {
      mountRun(run, 'run-' + i + '-');
    });
    if (picker) {
      picker.addEventListener('change', function () {
        show(picker.value);
      });
      show(picker.value);
    }
  }

  // ---- page --------------------------------------------------------------------------------------

  function showPageError(message) {
    var box = document.getElementById('report-error');
    if (!box) return;
    box.hidden = false;
    box.textContent = 'Part of this report could not be drawn: ' + message;
  }
  window.addEventListener('error', function (event) {
    showPageError(event.message);
  });

  if (data.sweep) mountSweep(data.sweep, data.curve);
  if (data.curve) mountCurve(data.curve, data.result ? data.result.serverMemoryMb.reduce(function (a, b) { return a + b; }, 0) : null);
  if (data.result) mountRun(data.result, 'run-');
  if (data.runs && data.runs.length) mountRunPicker(data.runs);

  var resizeTimer = null;
  window.addEventListener('resize', function () {
    clearTimeout(resizeTimer);
    resizeTimer = setTimeout(redrawAll, 150);
  });
})();
