// Tracing end to end: `thaw serve --otlp URL` exports OpenTelemetry spans — one per invocation, one
// per phase — to a real OTLP/HTTP receiver this test runs on loopback; a caller's W3C traceparent
// makes the invocation its child, and the function sees the invocation span's traceparent. Every
// synchronous invocation answers with a Server-Timing header of its phases, traced or not.

import assert from 'node:assert/strict';
import { EventEmitter, once } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { E2E_FIXTURES, ThawServer } from './harness.ts';

interface ReceivedSpan {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  kind: number;
  startTimeUnixNano: string;
  endTimeUnixNano: string;
  attributes: Array<{ key: string; value: Record<string, unknown> }>;
  status?: { code?: number };
}

/** An OTLP/HTTP receiver (JSON encoding): keeps every span it is sent. */
class OtlpReceiver {
  readonly spans: ReceivedSpan[] = [];
  readonly #received = new EventEmitter();
  readonly server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      assert.equal(req.url, '/v1/traces');
      const body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
      for (const rs of body.resourceSpans ?? []) for (const ss of rs.scopeSpans ?? []) this.spans.push(...ss.spans);
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
      this.#received.emit('spans');
    });
  });

  get url(): string {
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  async listen(): Promise<void> {
    this.server.listen(0, '127.0.0.1');
    await once(this.server, 'listening');
  }

  /** The spans of `traceId` once `done` says they are all there. */
  async trace(traceId: string, done: (spans: ReceivedSpan[]) => boolean): Promise<ReceivedSpan[]> {
    for (;;) {
      const spans = this.spans.filter((s) => s.traceId === traceId);
      if (done(spans)) return spans;
      await once(this.#received, 'spans');
    }
  }
}

const attr = (span: ReceivedSpan, key: string) => {
  const value = span.attributes.find((a) => a.key === key)?.value;
  return value && Object.values(value)[0];
};
const CALLER_TRACE = '4bf92f3577b34da6a3ce929d0e0e4736';
const CALLER_SPAN = '00f067aa0ba902b7';
const traceparentOf = (header: string) => {
  const [, traceId, spanId] = header.split('-');
  return { traceId: traceId!, spanId: spanId! };
};
const serverTiming = (header: string | null) => Object.fromEntries((header ?? '').split(', ').map((e) => [e.split(';')[0], Number(e.split('dur=')[1])]));

describe('tracing over OTLP, end to end', { timeout: 180_000 }, () => {
  const receiver = new OtlpReceiver();
  let thaw: ThawServer;

  before(async () => {
    await receiver.listen();
    thaw = await ThawServer.start(['--otlp', receiver.url]);
    assert.equal((await thaw.deploy(join(E2E_FIXTURES, 'traced'), { name: 'traced' })).status, 201);
    assert.equal((await thaw.deploy(join(E2E_FIXTURES, 'traced'), { name: 'traced-snap', start: 'snapshot' })).status, 201);
  });
  after(async () => {
    await thaw?.stop();
    receiver.server.close();
  });

  it("makes a cold invocation a child of the caller's span, with a span per phase, and hands the function its context", async () => {
    const traced = await thaw.request('POST', '/functions/traced/invoke', { n: 1 }, { traceparent: `00-${CALLER_TRACE}-${CALLER_SPAN}-01` });
    assert.equal(traced.status, 200);
    assert.equal(traced.headers.get('x-thaw-start-kind'), 'cold');
    const seen = traceparentOf(traced.body.traceparent);
    assert.equal(seen.traceId, CALLER_TRACE, "the function runs in the caller's trace");
    assert.notEqual(seen.spanId, CALLER_SPAN, "as a child of thaw's invocation span");
    const invocationSpanId = traceparentOf(traced.body.traceparent).spanId;
    const spans = await receiver.trace(CALLER_TRACE, (s) => s.some((x) => x.spanId === invocationSpanId) && s.filter((x) => x.parentSpanId === invocationSpanId).length >= 4);
    const invocation = spans.find((s) => s.spanId === invocationSpanId)!;
    assert.equal(invocation.name, 'invoke traced');
    assert.equal(invocation.parentSpanId, CALLER_SPAN);
    assert.equal(invocation.kind, 2, 'SERVER');
    assert.equal(attr(invocation, 'faas.invocation_id'), traced.headers.get('x-thaw-invocation-id'));
    assert.equal(attr(invocation, 'faas.coldstart'), true);
    assert.equal(attr(invocation, 'thaw.start_kind'), 'cold');
    const phases = spans.filter((s) => s.parentSpanId === invocationSpanId).sort((a, b) => Number(BigInt(a.startTimeUnixNano) - BigInt(b.startTimeUnixNano)));
    const names = phases.map((s) => s.name);
    for (const phase of ['sandbox', 'runtime boot', 'import', 'exec']) assert.ok(names.includes(phase), `a ${phase} span in ${names}`);
    assert.deepEqual(names.filter((n) => n !== 'queue' && n !== 'init'), ['sandbox', 'runtime boot', 'import', 'exec'], 'in the order they happen');
    for (const phase of phases) {
      assert.ok(BigInt(phase.startTimeUnixNano) >= BigInt(invocation.startTimeUnixNano) && BigInt(phase.endTimeUnixNano) <= BigInt(invocation.endTimeUnixNano) + 1000n, `${phase.name} lies within the invocation`);
    }
    const timing = serverTiming(traced.headers.get('server-timing'));
    assert.deepEqual(Object.keys(timing), ['queue', 'sandbox', 'runtime-boot', 'import', 'init', 'exec', 'platform', 'total']);
    assert.ok(timing.sandbox! > 0 && timing['runtime-boot']! > 0 && timing.total! >= timing.exec!);
  });

  it('traces a warm invocation as its own trace with only the phases it had', async () => {
    const warm = await thaw.invoke('traced', {});
    assert.equal(warm.headers.get('x-thaw-start-kind'), 'warm');
    const { traceId, spanId } = traceparentOf(warm.body.traceparent);
    assert.notEqual(traceId, CALLER_TRACE);
    const spans = await receiver.trace(traceId, (s) => s.some((x) => x.spanId === spanId) && s.some((x) => x.name === 'exec'));
    assert.equal(attr(spans.find((s) => s.spanId === spanId)!, 'faas.coldstart'), false);
    assert.deepEqual(spans.filter((s) => s.parentSpanId === spanId).map((s) => s.name).filter((n) => n !== 'queue'), ['exec']);
    const timing = serverTiming(warm.headers.get('server-timing'));
    assert.equal(timing.sandbox, 0);
  });

  it('names the phase that restored a function snapshot `restore`', async () => {
    const restored = await thaw.invoke('traced-snap', {});
    assert.equal(restored.headers.get('x-thaw-start-kind'), 'snapshot', JSON.stringify(restored.body));
    const { traceId, spanId } = traceparentOf(restored.body.traceparent);
    const spans = await receiver.trace(traceId, (s) => s.some((x) => x.spanId === spanId) && s.some((x) => x.name === 'exec'));
    const names = spans.filter((s) => s.parentSpanId === spanId).map((s) => s.name);
    assert.ok(names.includes('restore') && !names.includes('runtime boot'), `phases: ${names}`);
  });

  it("continues the caller's trace through an async invocation", async () => {
    const trace = 'aaaaaaaaaaaaaaaabbbbbbbbbbbbbbbb';
    const accepted = await thaw.request('POST', '/functions/traced/invoke?async=1', { n: 4 }, { traceparent: `00-${trace}-${CALLER_SPAN}-01` });
    assert.equal(accepted.status, 202);
    const done = (await thaw.request('GET', `/invocations/${accepted.body.id}?wait=30000`)).body;
    assert.equal(traceparentOf(done.result.traceparent).traceId, trace);
    const spans = await receiver.trace(trace, (s) => s.some((x) => x.name === 'invoke traced'));
    const invocation = spans.find((s) => s.name === 'invoke traced')!;
    assert.equal(invocation.parentSpanId, CALLER_SPAN);
    assert.equal(invocation.kind, 5, 'CONSUMER');
  });
});

describe('without --otlp', { timeout: 120_000 }, () => {
  let thaw: ThawServer;
  before(async () => {
    thaw = await ThawServer.start();
    assert.equal((await thaw.deploy(join(E2E_FIXTURES, 'traced'), { name: 'traced' })).status, 201);
  });
  after(async () => thaw?.stop());

  it("passes the caller's traceparent to the function unchanged, ignores an invalid one, and still answers Server-Timing", async () => {
    const header = `00-${CALLER_TRACE}-${CALLER_SPAN}-01`;
    const r = await thaw.request('POST', '/functions/traced/invoke', {}, { traceparent: header });
    assert.equal(r.body.traceparent, header);
    assert.ok(serverTiming(r.headers.get('server-timing')).total! > 0);
    const bad = await thaw.request('POST', '/functions/traced/invoke', {}, { traceparent: '00-zz-00' });
    assert.equal(bad.body.traceparent, null);
    const failed = await thaw.request('POST', '/functions/nope/invoke', {});
    assert.equal(failed.status, 404);
  });
});
