// Prometheus metrics in the text exposition format: invocation counts by start kind and status,
// latency histograms by start kind and by phase, instances by state, memory. A few dozen series, so
// a small registry here rather than a client library.

import type { InvocationRecord, PhaseTimings } from '../store/types.ts';
import { PHASES } from '../store/types.ts';

/** Latency buckets, seconds: from 0.5 ms (a warm start's overhead) to 60 s (a slow cold start). */
const BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];

/** Observations per bucket (the first bucket each fits in; made cumulative when rendered: one increment per observation on the warm path). */
class Histogram {
  readonly perBucket = new Array<number>(BUCKETS.length).fill(0);
  count = 0;
  sum = 0;
  observe(seconds: number): void {
    this.count++;
    this.sum += seconds;
    for (let i = 0; i < BUCKETS.length; i++) {
      if (seconds <= BUCKETS[i]!) {
        this.perBucket[i]!++;
        return;
      }
    }
  }
  /** Prometheus's `le` counts: observations at or below each bound. */
  cumulative(): number[] {
    let sum = 0;
    return this.perBucket.map((n) => (sum += n));
  }
}

/** Each phase and its label value (queueMs → queue). */
const PHASE_LABELS = PHASES.map((phase) => [phase as keyof PhaseTimings, phase.replace(/Ms$/, '')] as const);

export interface Gauges {
  instances: Record<string, number>;
  usedMb: number;
  idleMb: number;
  budgetMb: number;
  waiting: number;
  idleGbSeconds: number;
}

export class PlatformMetrics {
  readonly #invocations = new Map<string, number>();
  /** By start kind: its latency histogram, and each phase's (by PHASE_LABELS index) once observed. */
  readonly #byKind = new Map<string, { latency?: Histogram; phases: Array<Histogram | undefined> }>();
  /** Function names escaped for a label value, once each (a few regular expressions per invocation otherwise). */
  readonly #escapedNames = new Map<string, string>();
  #billedGbSeconds = 0;

  /** Counts a finished invocation. */
  record(r: InvocationRecord): void {
    const kind = r.startKind ?? 'none';
    const countKey = `function="${this.#escaped(r.functionName)}",start_kind="${kind}",status="${r.status}"`;
    this.#invocations.set(countKey, (this.#invocations.get(countKey) ?? 0) + 1);
    let series = this.#byKind.get(kind);
    if (!series) this.#byKind.set(kind, (series = { phases: [] }));
    if (r.totalMs !== null) (series.latency ??= new Histogram()).observe(r.totalMs / 1000);
    for (let i = 0; i < PHASE_LABELS.length; i++) {
      const ms = r[PHASE_LABELS[i]![0]];
      if (ms > 0) (series.phases[i] ??= new Histogram()).observe(ms / 1000);
    }
    this.#billedGbSeconds += r.billedGbSeconds ?? 0;
  }

  #escaped(name: string): string {
    let escaped = this.#escapedNames.get(name);
    if (escaped === undefined) {
      if (this.#escapedNames.size >= 4096) this.#escapedNames.clear();
      this.#escapedNames.set(name, (escaped = esc(name)));
    }
    return escaped;
  }

  render(g: Gauges): string {
    const out: string[] = [];
    out.push('# HELP thaw_invocations_total Finished invocations by function, start kind and status.', '# TYPE thaw_invocations_total counter');
    for (const [labels, n] of this.#invocations) out.push(`thaw_invocations_total{${labels}} ${n}`);
    const kinds = [...this.#byKind];
    renderHistograms(out, 'thaw_invocation_duration_seconds', 'End-to-end invocation latency by start kind.', kinds.flatMap(([kind, s]) => (s.latency ? [[`start_kind="${kind}"`, s.latency] as const] : [])));
    const phases = kinds.flatMap(([kind, s]) => s.phases.flatMap((h, i) => (h ? [[`start_kind="${kind}",phase="${PHASE_LABELS[i]![1]}"`, h] as const] : [])));
    renderHistograms(out, 'thaw_invocation_phase_seconds', 'Duration of each start and execution phase, by start kind.', phases);
    out.push('# HELP thaw_instances Instances by state.', '# TYPE thaw_instances gauge');
    for (const [state, n] of Object.entries(g.instances)) out.push(`thaw_instances{state="${state}"} ${n}`);
    out.push('# HELP thaw_memory_bytes Memory held by instances (all, idle) and the invoker budget.', '# TYPE thaw_memory_bytes gauge');
    out.push(`thaw_memory_bytes{kind="used"} ${g.usedMb * 2 ** 20}`, `thaw_memory_bytes{kind="idle"} ${g.idleMb * 2 ** 20}`, `thaw_memory_bytes{kind="budget"} ${g.budgetMb * 2 ** 20}`);
    out.push('# HELP thaw_waiting_requests Requests waiting for memory or a concurrency slot.', '# TYPE thaw_waiting_requests gauge', `thaw_waiting_requests ${g.waiting}`);
    out.push('# HELP thaw_billed_gb_seconds_total GB-s billed to functions.', '# TYPE thaw_billed_gb_seconds_total counter', `thaw_billed_gb_seconds_total ${this.#billedGbSeconds}`);
    out.push('# HELP thaw_idle_gb_seconds_total GB-s held by idle instances: the platform’s own cost.', '# TYPE thaw_idle_gb_seconds_total counter', `thaw_idle_gb_seconds_total ${g.idleGbSeconds}`);
    return out.join('\n') + '\n';
  }
}

/** `series`: each histogram with its labels. */
function renderHistograms(out: string[], name: string, help: string, series: ReadonlyArray<readonly [string, Histogram]>): void {
  out.push(`# HELP ${name} ${help}`, `# TYPE ${name} histogram`);
  for (const [labels, h] of series) {
    const counts = h.cumulative();
    BUCKETS.forEach((le, i) => out.push(`${name}_bucket{${labels},le="${le}"} ${counts[i]}`));
    out.push(`${name}_bucket{${labels},le="+Inf"} ${h.count}`, `${name}_sum{${labels}} ${h.sum}`, `${name}_count{${labels}} ${h.count}`);
  }
}

function esc(value: string): string {
  return value.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}
