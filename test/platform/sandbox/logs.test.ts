// Cutting a stream into per-invocation segments at the agent's markers, with a byte limit.

import assert from 'node:assert/strict';
import { once } from 'node:events';
import { PassThrough } from 'node:stream';
import { describe, it } from 'node:test';

import { SegmentedLog } from '../../../src/platform/sandbox/logs.ts';
import { logMarker } from '../../../src/runtime/protocol.ts';

const NONCE = 'feedfacecafebeef';
const m = (seq: number) => logMarker(NONCE, seq);

function setup(limit = 1024) {
  const stream = new PassThrough();
  const log = new SegmentedLog(stream, NONCE, limit);
  return { stream, log };
}

describe('SegmentedLog', () => {
  it('cuts at markers, whichever side asks first', async () => {
    const { stream, log } = setup();
    stream.write(`starting\n${m(0)}first\n`);
    stream.write(`more\n${m(1)}`);
    assert.equal(await log.segment(0), 'starting\n');
    const second = log.segment(2);
    stream.write(`second\n${m(2)}`);
    assert.equal(await log.segment(1), 'first\nmore\n');
    assert.equal(await second, 'second\n');
  });

  it('ends a segment without a marker (an agent that marks only its start); the next begins after it', async () => {
    const { stream, log } = setup();
    stream.write(`booting\n${m(0)}first\n`);
    assert.equal(await log.segment(0), 'booting\n');
    await new Promise((resolve) => setImmediate(resolve)); // the PassThrough delivers on a later turn
    assert.equal(log.isReady(1), false);
    log.end(1);
    assert.equal(log.isReady(1), true);
    assert.equal(log.takeReady(1), 'first\n');
    stream.write('second\n');
    await new Promise((resolve) => setImmediate(resolve));
    log.end(2);
    log.end(2); // once only: the segment open now is 3
    assert.equal(log.takeReady(2), 'second\n');
    stream.end('at the end\n');
    assert.equal(await log.segment(3), 'at the end\n');
  });

  it('counts every byte it has read, markers and split characters included (what the agent\'s `written` is checked against)', async () => {
    const { stream, log } = setup();
    assert.equal(log.bytesReceived, 0);
    const text = `booting é\n${m(0)}first 😀\n`;
    const bytes = Buffer.from(text);
    stream.write(bytes.subarray(0, 9)); // inside é
    stream.write(bytes.subarray(9));
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(log.bytesReceived, bytes.length);
    log.end(1);
    assert.equal(log.takeReady(1), 'first 😀\n');
  });

  it('finds markers split across chunks, byte by byte', async () => {
    const { stream, log } = setup();
    const text = `a\u00e9b${m(0)}c${m(1)}tail`;
    for (const byte of Buffer.from(text)) stream.write(Buffer.from([byte]));
    assert.equal(await log.segment(0), 'a\u00e9b');
    assert.equal(await log.segment(1), 'c');
    stream.end();
    assert.equal(await log.segment(2), 'tail', 'the rest goes to the segment open at the end');
    assert.equal(await log.segment(3), '');
  });

  it('keeps text that only looks like the start of a marker', async () => {
    const { stream, log } = setup();
    stream.write('x\u0000thaw-end:not-ours\u0000y\u0000');
    stream.write(`\u0000thaw-end:${NONCE}:zz\u0000${m(0)}`);
    assert.equal(await log.segment(0), `x\u0000thaw-end:not-ours\u0000y\u0000\u0000thaw-end:${NONCE}:zz\u0000`);
  });

  it('keeps the head and the tail of a segment over the limit, and says how much was left out', async () => {
    const { stream, log } = setup(10);
    stream.write(`head-${'a'.repeat(15)}-tail${m(0)}short${m(1)}`);
    assert.equal(await log.segment(0), 'head-\n[… 15 bytes omitted …]\n-tail');
    assert.equal(await log.segment(1), 'short');
  });

  it('never splits a UTF-8 character at either cut', async () => {
    const { stream, log } = setup(9);
    stream.write(`${'é'.repeat(20)}${m(0)}`); // 40 bytes: the head's 4 bytes hold 2 é; the tail's 5 bytes start inside one
    assert.equal(await log.segment(0), `éé\n[… 32 bytes omitted …]\néé`);
  });

  it('keeps the first and last 32 KiB of a 10 MB log, written in chunks, in bounded memory', async () => {
    const limit = 64 * 1024;
    const { stream, log } = setup(limit);
    const lines: string[] = [];
    let total = 0;
    for (let i = 0; total < 10 * 2 ** 20; i++) {
      const line = `line ${i} ${'ü'.repeat(i % 50)}\n`;
      lines.push(line);
      total += Buffer.byteLength(line);
    }
    const all = Buffer.from(lines.join(''));
    for (let at = 0; at < all.length; at += 65_536) stream.write(all.subarray(at, at + 65_536));
    stream.write(m(0));
    const text = await log.segment(0);
    const [head, tail] = text.split(/\n\[… \d+ bytes omitted …\]\n/);
    const omitted = Number(/\[… (\d+) bytes omitted …\]/.exec(text)![1]);
    assert.ok(all.toString().startsWith(head!) && all.toString().endsWith(tail!));
    assert.ok(head!.startsWith('line 0 \nline 1 ü\n') && tail!.endsWith(lines.at(-1)!));
    assert.ok(Buffer.byteLength(head!) > limit / 2 - 4 && Buffer.byteLength(tail!) > limit / 2 - 4);
    assert.equal(Buffer.byteLength(head!) + omitted + Buffer.byteLength(tail!), all.length, 'the marker counts exactly the bytes left out');
  });

  it('ends every pending segment when the stream ends', async () => {
    const { stream, log } = setup();
    const pending = log.segment(0);
    stream.write('half a line');
    stream.end();
    assert.equal(await pending, 'half a line');
    await log.whenEnded();
    assert.equal(log.ended, true);
  });

  it('can cut a segment early; what arrives before its marker goes to the next', async () => {
    const { stream, log } = setup();
    const delivered = once(stream, 'data');
    stream.write(`${m(0)}during\n`);
    await delivered;
    log.cut(1);
    assert.equal(await log.segment(1), 'during\n');
    stream.write(`late\n${m(1)}next\n${m(2)}`);
    assert.equal(await log.segment(2), 'late\nnext\n');
  });

  it('keeps a tail of everything for post-mortems', async () => {
    const { stream, log } = setup(4);
    stream.end('FATAL ERROR: JavaScript heap out of memory\n');
    await log.whenEnded();
    assert.match(log.tail(), /heap out of memory/);
  });

  it('treats a missing stream as ended', async () => {
    const log = new SegmentedLog(null, NONCE, 10);
    assert.equal(log.ended, true);
    assert.equal(await log.segment(0), '');
  });
});
