// The gateway's timeouts, with short limits so the test is quick: a client that trickles its headers
// or its body gets a JSON 408 and is closed; an idle connection (fresh, or kept alive after a
// response) is closed; none of them cuts off a request that arrived in time. Each check waits for
// the server's answer or close (an event), never for a fixed time.

import assert from 'node:assert/strict';
import { once } from 'node:events';
import { connect, type Socket } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { TestGateway } from './helpers.ts';

/** Writes `bytes`, then resolves with everything the server sent until it closed the connection. */
async function untilClosed(port: number, bytes: string): Promise<string> {
  const socket: Socket = connect(port, '127.0.0.1');
  let out = '';
  socket.on('data', (d) => (out += d));
  socket.on('error', () => undefined);
  if (bytes) socket.write(bytes);
  await once(socket, 'close');
  return out;
}

describe('gateway timeouts', () => {
  let gw: TestGateway;
  before(async () => {
    gw = await TestGateway.start({ headersMs: 300, requestMs: 600, keepAliveMs: 300, checkEveryMs: 50 });
  });
  after(() => gw?.close());

  it('answers 408 to headers that never end, and closes', async () => {
    const out = await untilClosed(gw.port, 'GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ');
    assert.match(out, /^HTTP\/1\.1 408 Request Timeout\r\n/);
    assert.match(out, /"code":"ERR_INVALID_REQUEST","message":"the request \(its headers and body\) did not arrive in time"/);
  });

  it('answers 408 to a body that never ends, and closes', async () => {
    const out = await untilClosed(gw.port, 'POST /functions/hello/invoke HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"name": "tric');
    assert.match(out, /^HTTP\/1\.1 408 /);
  });

  it('closes a connection that never sends a request', async () => {
    const out = await untilClosed(gw.port, '');
    assert.ok(out === '' || /^HTTP\/1\.1 408 /.test(out), out);
  });

  it('closes an idle keep-alive connection after its response', async () => {
    const out = await untilClosed(gw.port, 'GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n');
    assert.match(out, /^HTTP\/1\.1 200 OK\r\n/);
    assert.match(out, /keep-alive/i, 'the connection was kept alive, then closed by the server');
    assert.equal(out.match(/HTTP\/1\.1/g)?.length, 1);
  });

  it('answers a request that arrived in time, however long it takes to answer', async () => {
    // A deploy (bundling, a verify process) may well take longer than the request timeout, once its body arrived.
    const r = await gw.deployHello();
    assert.equal(r.status, 201, r.text);
    assert.equal((await gw.request('POST', '/functions/hello/invoke', { name: 'in time' })).body.message, 'Hello, in time!');
  });
});
