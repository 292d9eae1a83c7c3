// Bad input is the client's fault: every malformed path, query, header and body gets a 4xx whose
// message names the part that was wrong — never a 500, never a silent close — and nothing changes.

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { TestGateway } from './helpers.ts';

describe('gateway request validation', () => {
  let gw: TestGateway;
  before(async () => {
    gw = await TestGateway.start();
    assert.equal((await gw.deployHello()).status, 201);
  });
  after(() => gw?.close());

  const cases: Array<{ what: string; method: string; path: string; body?: unknown; headers?: Record<string, string>; status: number; says: RegExp }> = [
    { what: 'a malformed percent-escape in a function name', method: 'POST', path: '/functions/hello%ZZ/invoke', body: {}, status: 400, says: /path segment 2 'hello%ZZ': malformed percent-escape/ },
    { what: 'a malformed percent-escape in an invocation id', method: 'GET', path: '/invocations/%ZZ', status: 400, says: /path segment 2 '%ZZ': malformed percent-escape/ },
    { what: 'a version that is not a number', method: 'POST', path: '/functions/hello/invoke?version=abc', body: {}, status: 400, says: /query parameter 'version' must be an integer ≥ 1, got 'abc'/ },
    { what: 'version 0', method: 'POST', path: '/functions/hello/invoke?version=0', body: {}, status: 400, says: /query parameter 'version' must be ≥ 1, got 0/ },
    { what: 'a dot-dot segment', method: 'DELETE', path: '/functions/hello/../hello', status: 400, says: /dot segments/ },
    { what: 'an encoded dot-dot segment', method: 'DELETE', path: '/functions/hello/%2e%2E/hello', status: 400, says: /dot segments/ },
    { what: 'a dot segment', method: 'GET', path: '/functions/./hello', status: 400, says: /dot segments/ },
    { what: 'an encoded slash', method: 'GET', path: '/functions/a%2Fb', status: 400, says: /encoded '\/'/ },
    { what: 'an invalid function name', method: 'GET', path: '/functions/Hello!', status: 400, says: /path parameter 'name' must be a function name/ },
    { what: 'an empty segment', method: 'GET', path: '/functions//stats', status: 400, says: /empty path segment 2/ },
    { what: 'an unknown query parameter', method: 'GET', path: '/functions/hello/logs?limt=3', status: 400, says: /unknown query parameter 'limt'.*it takes limit/ },
    { what: 'a query parameter given twice', method: 'GET', path: '/functions/hello/logs?limit=1&limit=2', status: 400, says: /'limit' is given more than once/ },
    { what: 'a limit out of range', method: 'GET', path: '/functions/hello/invocations?limit=5000', status: 400, says: /query parameter 'limit' must be ≤ 1000, got 5000/ },
    { what: 'a bad boolean', method: 'DELETE', path: '/functions/hello/instances?wait=maybe', status: 400, says: /query parameter 'wait' must be true or false, got 'maybe'/ },
    { what: 'a malformed escape in the query', method: 'GET', path: '/dead-letters?function=%E0%A4%A', status: 400, says: /query parameter 'function': malformed percent-escape/ },
    { what: 'an Idempotency-Key with a space', method: 'POST', path: '/functions/hello/invoke?async=1', body: {}, headers: { 'idempotency-key': 'a b' }, status: 400, says: /header 'idempotency-key' must be 1 to 255 visible ASCII/ },
    { what: 'an unknown invocation type', method: 'POST', path: '/functions/hello/invoke', body: {}, headers: { 'x-thaw-invocation-type': 'later' }, status: 400, says: /header 'x-thaw-invocation-type' must be one of "sync", "async"/ },
    { what: 'a body that is not JSON', method: 'POST', path: '/functions/hello/invoke', body: '{"a": ', status: 400, says: /the request body is not valid JSON/ },
    { what: 'a deeply nested body', method: 'POST', path: '/functions/hello/invoke', body: '['.repeat(100_000) + ']'.repeat(100_000), status: 400, says: /body: nested more than 64 levels/ },
    { what: 'nesting hidden in a string is not nesting', method: 'POST', path: '/functions/hello/invoke', body: JSON.stringify({ name: '['.repeat(1000) }), status: 200, says: /Hello/ },
    { what: 'a body over the payload limit', method: 'POST', path: '/functions/hello/invoke', body: JSON.stringify({ pad: 'x'.repeat(7 * 2 ** 20) }), status: 413, says: /over the limit of 6291456 bytes/ },
    { what: 'an alias weight out of range', method: 'PUT', path: '/functions/hello/aliases/prod', body: { routes: [{ version: 1, weight: 150 }] }, status: 400, says: /body\.routes\[0\]\.weight must be ≤ 100, got 150/ },
    { what: 'an unknown property', method: 'PUT', path: '/functions/hello/schedule', body: { cron: '* * * * *', paylod: {} }, status: 400, says: /body\.paylod is not a known property \(known: cron, payload\)/ },
    { what: 'a missing body', method: 'POST', path: '/dead-letters/redrive', status: 400, says: /body: required/ },
    { what: 'a deploy setting out of range', method: 'POST', path: '/functions', body: { files: { 'index.js': '' }, settings: { memoryMb: 1 } }, status: 400, says: /body\.settings\.memoryMb must be ≥ 64, got 1/ },
    { what: 'a deploy file neither text nor base64', method: 'POST', path: '/functions', body: { files: { 'index.js': 3 } }, status: 400, says: /body\.files\["index\.js"\] must be a string or \{"base64": "..."\}, got 3/ },
    { what: 'a deploy file name over 255 bytes', method: 'POST', path: '/functions', body: { files: { ['x'.repeat(300)]: '' } }, status: 400, says: /a file name is at most 255 bytes/ },
    { what: 'a deploy with a file where a folder must be', method: 'POST', path: '/functions', body: { files: { 'package.json': '{}', 'package.json/x': '' } }, status: 400, says: /"package.json\/x": a file and a folder of the same name/ },
    { what: 'a method the path does not answer', method: 'PATCH', path: '/functions/hello', status: 405, says: /PATCH is not a method of \/functions\/hello: it answers GET, DELETE/ },
    { what: 'a path with no route', method: 'GET', path: '/functions/hello/nothing', status: 404, says: /no route GET \/functions\/hello\/nothing/ },
    { what: 'a request target that is not a path', method: 'GET', path: 'functions', status: 400, says: /malformed HTTP request \(HPE_INVALID_URL/ },
  ];

  for (const c of cases) {
    it(`${c.what}: ${c.status}`, async () => {
      const r = await gw.request(c.method, c.path, c.body, c.headers);
      assert.equal(r.status, c.status, r.text.slice(0, 300));
      assert.match(c.status >= 400 ? r.body.error.message : r.text, c.says);
    });
  }

  it('a dot-segment DELETE changed nothing', async () => {
    assert.equal((await gw.request('GET', '/functions/hello')).status, 200);
  });

  it('answers 405 with the Allow header', async () => {
    const r = await gw.request('PUT', '/functions');
    assert.equal(r.headers.allow, 'GET, POST');
    assert.equal(r.body.error.code, 'ERR_METHOD_NOT_ALLOWED');
  });

  it('converts valid query values to their types', async () => {
    const r = await gw.request('POST', '/functions/hello/invoke?version=1', { name: 'Ada' });
    assert.equal(r.status, 200);
    assert.equal(r.body.message, 'Hello, Ada!');
    assert.equal(r.headers['x-thaw-version'], '1');
  });

  it('tolerates one trailing slash and the absolute form', async () => {
    assert.equal((await gw.request('GET', '/functions/')).status, 200);
    assert.equal((await gw.request('GET', `http://127.0.0.1:${gw.port}/functions/hello`)).status, 200);
  });
});
