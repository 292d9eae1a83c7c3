// OpenTelemetry tracing of invocations (thaw serve --otlp URL): one span per invocation, a child
// span per phase it went through — queue, sandbox, runtime boot (or `restore`: a V8 snapshot's heap,
// a microVM's memory), import, init, exec — exported over OTLP/HTTP with the official SDK. A W3C
// `traceparent` from the caller makes the invocation a child of the caller's span, and the function
// gets the invocation span's own traceparent in `context.traceparent`, so its spans join the trace.
//
// Off (no --otlp), the platform holds no Tracing at all: an invocation pays one `undefined` check
// (bench/tracing.ts measures it). The phases' spans are built once the invocation ended, from the
// measured durations laid end to end from its start, as the record has them.

import { ROOT_CONTEXT, SpanKind, SpanStatusCode, trace, type Context, type Span, type Tracer } from '@opentelemetry/api';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { BasicTracerProvider, BatchSpanProcessor, type SpanExporter } from '@opentelemetry/sdk-trace-base';
import { createRequire } from 'node:module';
import { invalidOption } from '../core/errors.ts';
import type { InvocationReport } from './invoker/invoker.ts';
import type { PhaseTimings } from './store/types.ts';

const propagator = new W3CTraceContextPropagator();
const getter = { get: (carrier: Record<string, string>, key: string) => carrier[key], keys: (carrier: Record<string, string>) => Object.keys(carrier) };
const setter = { set: (carrier: Record<string, string>, key: string, value: string) => void (carrier[key] = value) };

/** A valid W3C traceparent (version 00), else undefined: an invalid one is ignored, as the spec says. */
export function parseTraceparent(header: string | undefined): string | undefined {
  if (header === undefined) return undefined;
  const value = header.trim().toLowerCase();
  const m = /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/.exec(value);
  if (!m || m[1] === 'ff' || /^0+$/.test(m[2]!) || /^0+$/.test(m[3]!)) return undefined;
  return value;
}

/** The phase spans, in the order they happen; `restore` replaces the phase that restored a snapshot. */
const PHASE_SPANS: Array<[keyof PhaseTimings, string]> = [
  ['queueMs', 'queue'], ['sandboxMs', 'sandbox'], ['runtimeBootMs', 'runtime boot'], ['importMs', 'import'], ['initMs', 'init'], ['execMs', 'exec'],
];

export interface TracingOptions {
  /** OTLP/HTTP endpoint: a base URL (`/v1/traces` is appended) or the full traces URL. */
  url: string;
  /** Which phase a snapshot start spends restoring: the V8 heap in runtime boot, or a microVM in its sandbox phase. */
  restorePhase?: 'runtimeBootMs' | 'sandboxMs';
  /** Tests and benchmarks may export elsewhere. */
  exporter?: SpanExporter;
  /** How long finished spans wait to be sent together, ms (default 1000). */
  flushEveryMs?: number;
}

export interface InvocationTrace {
  /** The traceparent to hand the function: the invocation span's. */
  readonly traceparent: string;
  /** Ends the invocation span and records its phases. */
  end(report: InvocationReport): void;
}

export class Tracing {
  readonly url: string;
  readonly #provider: BasicTracerProvider;
  readonly #tracer: Tracer;
  readonly #restorePhase: keyof PhaseTimings;

  constructor(options: TracingOptions) {
    this.url = tracesUrl(options.url);
    this.#restorePhase = options.restorePhase ?? 'runtimeBootMs';
    const version = createRequire(import.meta.url)('../../package.json').version as string;
    this.#provider = new BasicTracerProvider({
      resource: resourceFromAttributes({ 'service.name': 'thaw', 'service.version': version }),
      spanProcessors: [new BatchSpanProcessor(options.exporter ?? new OTLPTraceExporter({ url: this.url }), { scheduledDelayMillis: options.flushEveryMs ?? 1000 })],
    });
    this.#tracer = this.#provider.getTracer('thaw', version);
  }

  /**
   * Starts an invocation's span (a child of `traceparent`'s, if valid). `startedAt`: epoch ms with
   * sub-millisecond precision (performance.timeOrigin + performance.now()).
   */
  startInvocation(fn: { name: string; version: number }, invocationId: string, options: { mode: 'sync' | 'async' | 'timer'; traceparent?: string; startedAt: number }): InvocationTrace {
    const parent = options.traceparent ? propagator.extract(ROOT_CONTEXT, { traceparent: options.traceparent }, getter) : ROOT_CONTEXT;
    const span = this.#tracer.startSpan(
      `invoke ${fn.name}`,
      {
        kind: options.mode === 'sync' ? SpanKind.SERVER : SpanKind.CONSUMER,
        startTime: options.startedAt,
        attributes: {
          'faas.name': fn.name,
          'faas.version': String(fn.version),
          'faas.invocation_id': invocationId,
          'faas.trigger': options.mode === 'timer' ? 'timer' : options.mode === 'async' ? 'other' : 'http',
        },
      },
      parent,
    );
    const context = trace.setSpan(ROOT_CONTEXT, span);
    const carrier: Record<string, string> = {};
    propagator.inject(context, carrier, setter);
    return { traceparent: carrier.traceparent!, end: (report) => this.#end(span, context, options.startedAt, report) };
  }

  /** Sends what is buffered and stops. */
  async close(): Promise<void> {
    await this.#provider.shutdown();
  }

  #end(span: Span, context: Context, startedAt: number, report: InvocationReport): void {
    const restored = report.startKind === 'snapshot';
    span.setAttributes({
      'faas.coldstart': report.startKind !== 'warm' && report.startKind !== 'resumed',
      'thaw.start_kind': report.startKind,
      ...(report.instanceId ? { 'faas.instance': report.instanceId } : {}),
    });
    let t = startedAt;
    for (const [phase, name] of PHASE_SPANS) {
      const ms = report.phases[phase];
      if (!(ms > 0)) continue;
      const phaseName = restored && phase === this.#restorePhase ? 'restore' : name;
      this.#tracer.startSpan(phaseName, { startTime: t, attributes: { 'thaw.phase': phase } }, context).end(t + ms);
      t += ms;
    }
    if (!report.ok) {
      span.setAttribute('thaw.error.kind', report.error?.kind ?? 'error');
      span.setStatus({ code: SpanStatusCode.ERROR, message: report.error?.message });
    }
    span.end(startedAt + report.totalMs);
  }
}

function tracesUrl(url: string): string {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw invalidOption('--otlp', `expected an OTLP/HTTP URL such as http://127.0.0.1:4318, got '${url}'`);
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') throw invalidOption('--otlp', `expected an http or https URL, got '${url}'`);
  if (!parsed.pathname.endsWith('/v1/traces')) parsed.pathname = `${parsed.pathname.replace(/\/$/, '')}/v1/traces`;
  return parsed.toString();
}

/** Each phase of `Server-Timing` and its metric name (a token: no spaces). */
const TIMING_METRICS = [...PHASE_SPANS.map(([phase, name]) => [phase, name.replace(' ', '-')] as const), ['platformMs', 'platform'] as const];

/** `Server-Timing` of an invocation: each phase, and the total, ms. Built on every warm answer: one string, no arrays. */
export function serverTiming(phases: PhaseTimings, totalMs: number): string {
  let out = '';
  for (const [phase, name] of TIMING_METRICS) out += `${name};dur=${Math.round(phases[phase] * 100) / 100}, `;
  return `${out}total;dur=${Math.round(totalMs * 100) / 100}`;
}
