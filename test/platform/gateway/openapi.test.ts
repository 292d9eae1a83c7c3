// GET /openapi.json is the route table: every route the server answers is in the document (probed
// over HTTP with every method on every path shape the document has, and on paths it has not), its
// examples validate against its own schemas, and each example, sent to the server, passes validation.

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { fromString, validate, type Schema } from '../../../src/platform/gateway/schema.ts';
import { TestGateway } from './helpers.ts';

const METHODS = ['GET', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS'];

describe('GET /openapi.json', () => {
  let gw: TestGateway;
  let doc: any;
  before(async () => {
    gw = await TestGateway.start();
    const r = await gw.request('GET', '/openapi.json');
    assert.equal(r.status, 200);
    doc = r.body;
  });
  after(() => gw?.close());

  /** Each operation with its path and method. */
  const operations = () => Object.entries(doc.paths as Record<string, Record<string, any>>).flatMap(([path, ops]) => Object.entries(ops).map(([method, op]) => ({ path, method: method.toUpperCase(), op })));
  /** The template filled with its operation's example path parameters. */
  const fill = (path: string, op: any) => path.replace(/\{(\w+)\}/g, (_, name) => op.parameters.find((p: any) => p.in === 'path' && p.name === name).example ?? 'hello');

  it('is OpenAPI 3.1 with an operation per route, each with a unique id, responses and a scope', () => {
    assert.equal(doc.openapi, '3.1.0');
    const ops = operations();
    assert.ok(ops.length >= 25, `${ops.length} operations`);
    assert.equal(new Set(ops.map((o) => o.op.operationId)).size, ops.length);
    for (const { path, method, op } of ops) {
      assert.ok(op.summary && op.responses && ['public', 'invoke', 'admin'].includes(op['x-thaw-scope']), `${method} ${path}`);
      for (const name of path.match(/\{(\w+)\}/g) ?? []) assert.ok(op.parameters?.some((p: any) => p.in === 'path' && `{${p.name}}` === name), `${method} ${path}: ${name} declared`);
    }
  });

  it('has examples that validate against their own schemas', () => {
    let checked = 0;
    for (const { path, method, op } of operations()) {
      for (const p of op.parameters ?? []) {
        if (p.example === undefined) continue;
        assert.equal(validate(p.schema as Schema, fromString(p.schema, p.example), p.name), undefined, `${method} ${path} ${p.in} ${p.name}`);
        checked++;
      }
      const body = op.requestBody?.content?.['application/json'];
      if (body?.example !== undefined) {
        assert.equal(validate(body.schema as Schema, body.example, 'body'), undefined, `${method} ${path} body`);
        checked++;
      }
    }
    assert.ok(checked >= 25, `${checked} examples`);
  });

  it('lists every route the server answers, and the server answers every route it lists', async () => {
    const documented = new Set(operations().map((o) => `${o.method} ${o.path}`));
    // Every path shape the document has (filled in), and a few it has not.
    const paths = new Map<string, string | undefined>(operations().map((o) => [fill(o.path, o.op), o.path]));
    for (const extra of ['/nothing', '/functions/hello/nothing', '/functions/hello/invoke/more', '/invocations', '/dashboard', '/dead-letters/hello', '/debug']) paths.set(extra, undefined);
    for (const [path, template] of paths) {
      for (const method of METHODS) {
        if (method === 'GET' && path === '/events') continue; // a stream that does not end: checked below
        const r = await gw.request(method, path, ['POST', 'PUT', 'PATCH'].includes(method) ? {} : undefined);
        const answered = !(r.status === 404 && /no route/.test(r.body?.error?.message ?? '')) && r.status !== 405;
        // A literal path beats a template: /dashboard/state is GET /dashboard/state, not /dashboard/{file}.
        const key = `${method} ${documented.has(`${method} ${path}`) ? path : template}`;
        assert.equal(answered, template !== undefined && documented.has(key), `${method} ${path}: ${r.status} ${r.text.slice(0, 200)}`);
        assert.ok(r.status < 500, `${method} ${path}: ${r.status} ${r.text.slice(0, 200)}`);
      }
    }
    const events = await fetch(`${gw.gateway.url}/events`, { signal: AbortSignal.timeout(60_000) });
    assert.equal(events.status, 200);
    await events.body?.cancel();
  });

  it('has examples the server accepts (sent in the order of the table: deploy first)', async () => {
    for (const { path, method, op } of operations()) {
      if (path === '/events') continue;
      const query = (op.parameters ?? []).filter((p: any) => p.in === 'query' && p.example !== undefined).map((p: any) => `${p.name}=${encodeURIComponent(p.example)}`);
      const headers = Object.fromEntries((op.parameters ?? []).filter((p: any) => p.in === 'header' && p.example !== undefined).map((p: any) => [p.name, p.example]));
      const body = op.requestBody?.content?.['application/json']?.example;
      const r = await gw.request(method, fill(path, op) + (query.length ? `?${query.join('&')}` : ''), body, headers);
      assert.ok(r.status < 500 && r.body?.error?.code !== 'ERR_INVALID_REQUEST', `${method} ${path}: ${r.status} ${r.text.slice(0, 300)}`);
    }
  });
});
