// A 10 MB log through the real path — a sandboxed function's stdout, the sandbox's capture, the
// store, the API — keeps its head and its tail, with a marker that counts exactly what was left out.

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { TestGateway } from './helpers.ts';

const LINES = 200_000; // "line N ........\n": 10,488,890 bytes
const SOURCE = `
exports.handler = async () => {
  const lines = [];
  for (let i = 0; i < ${LINES}; i++) lines.push('line ' + i + ' ' + '.'.repeat(40) + '\\n');
  const all = lines.join('');
  for (let at = 0; at < all.length; at += 1 << 16) process.stdout.write(all.slice(at, at + (1 << 16)));
  console.error('the error at the end');
  return { bytes: Buffer.byteLength(all) };
};`;

describe('a 10 MB log', { timeout: 120_000 }, () => {
  let gw: TestGateway;
  before(async () => {
    gw = await TestGateway.start();
    const deployed = await gw.request('POST', '/functions', { files: { 'package.json': '{"name": "chatty"}', 'index.js': SOURCE }, settings: { memoryMb: 512 } });
    assert.equal(deployed.status, 201, deployed.text);
  });
  after(() => gw?.close());

  it('keeps its first and last 16 KiB, and says how many bytes are omitted between', async () => {
    const r = await gw.request('POST', '/functions/chatty/invoke', {});
    assert.equal(r.status, 200, r.text);
    const written: number = r.body.bytes;
    assert.ok(written > 10 * 10 ** 6, `${written} bytes`);
    const record = (await gw.request('GET', `/invocations/${r.headers['x-thaw-invocation-id']}`)).body;
    assert.equal(record.logsTruncated, true);
    const match = /^([^]*)\n\[… (\d+) bytes omitted …\]\n([^]*)$/.exec(record.stdout);
    assert.ok(match, record.stdout.slice(0, 200));
    const [, head, omitted, tail] = match;
    assert.ok(head!.startsWith(`line 0 ${'.'.repeat(40)}\nline 1 `), head!.slice(0, 100));
    assert.ok(tail!.endsWith(`line ${LINES - 1} ${'.'.repeat(40)}\n`), tail!.slice(-100));
    assert.equal(Buffer.byteLength(head!), 16 * 1024);
    assert.equal(Buffer.byteLength(tail!), 16 * 1024);
    assert.equal(Buffer.byteLength(head!) + Number(omitted) + Buffer.byteLength(tail!), written, 'the marker counts exactly the bytes left out');
    assert.equal(record.stderr, 'the error at the end\n');
    const logs = (await gw.request('GET', '/functions/chatty/logs?limit=1')).body.logs;
    assert.equal(logs[0].stdout, record.stdout);
  });
});
