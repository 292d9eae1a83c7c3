// The one NDJSON framing every channel uses (host ⇄ agent, QMP, the isolate host, build reports).

import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import { describe, it } from 'node:test';

import { ByteLineSplitter, LineSplitter, frame, lastMessage, linesOf, onMessages, parseMessage } from '../../src/runtime/framing.ts';

describe('LineSplitter', () => {
  it('hands over whole lines, holding a partial one until its newline arrives', () => {
    const splitter = new LineSplitter();
    const lines: string[] = [];
    splitter.push('{"a":1}\n{"b"', (l) => lines.push(l));
    assert.deepEqual(lines, ['{"a":1}']);
    assert.equal(splitter.pending, '{"b"');
    splitter.push(':2}\n\n  \r\n{"c":3}\n', (l) => lines.push(l));
    assert.deepEqual(lines, ['{"a":1}', '{"b":2}', '{"c":3}']);
    assert.equal(splitter.pending, '');
  });

  it('keeps a line split across many chunks, one character at a time', () => {
    const splitter = new LineSplitter();
    const lines: string[] = [];
    for (const c of frame({ text: 'héllo\u2028wörld' })) splitter.push(c, (l) => lines.push(l));
    assert.deepEqual(lines.map((l) => JSON.parse(l)), [{ text: 'héllo\u2028wörld' }]);
  });
});

describe('ByteLineSplitter', () => {
  /** Feeds `bytes` through one reused buffer, `size` bytes a read, as net.Socket's onread does. */
  function splitReads(bytes: Buffer, size: number): { lines: string[]; pending: number } {
    const splitter = new ByteLineSplitter();
    const buffer = Buffer.alloc(size, '\n'); // stale newlines past each read's end must be ignored
    const lines: string[] = [];
    for (let at = 0; at < bytes.length; at += size) {
      const n = bytes.copy(buffer, 0, at, Math.min(at + size, bytes.length));
      splitter.push(buffer, n, (l) => lines.push(l));
      buffer.fill('\n'); // the next read overwrites what a held-back partial line was cut from
    }
    return { lines, pending: splitter.pendingBytes };
  }

  it('cuts whole lines out of reads of any size, multi-byte characters split between reads included', () => {
    const messages = [{ a: 1 }, { text: 'héllo wörld € 😀'.repeat(50) }, { b: '' }];
    const bytes = Buffer.from(`${messages.map((m) => JSON.stringify(m)).join('\n')}\n\n  \r\n`);
    for (const size of [1, 2, 3, 7, 64, bytes.length, 4096]) {
      const { lines, pending } = splitReads(bytes, size);
      assert.deepEqual(lines.map((l) => JSON.parse(l)), messages, `reads of ${size} bytes`);
      assert.equal(pending, 0);
    }
  });

  it('holds a partial line back until its newline arrives', () => {
    const { lines, pending } = splitReads(Buffer.from('{"a":1}\n{"b"'), 5);
    assert.deepEqual(lines, ['{"a":1}']);
    assert.equal(pending, 4);
  });
});

describe('messages', () => {
  it('frames a message as one line whatever its strings hold', () => {
    const line = frame({ s: 'a\nb' });
    assert.equal(line.indexOf('\n'), line.length - 1);
    assert.deepEqual(parseMessage(line), { s: 'a\nb' });
  });

  it('parses what is JSON and reports what is not', async () => {
    const stream = new PassThrough();
    const got: unknown[] = [];
    const bad: string[] = [];
    onMessages(stream, (m) => got.push(m), (l) => bad.push(l));
    stream.write('{"x":1}\nnot json\n');
    stream.end('null\n{"y":2}\n');
    await new Promise((resolve) => stream.on('end', resolve).resume());
    assert.deepEqual(got, [{ x: 1 }, { y: 2 }]);
    assert.deepEqual(bad, ['not json', 'null']);
  });

  it('finds the last report in a finished output, after other lines', () => {
    const lines = linesOf('{"type":"built"}\nwarning: something\n');
    assert.deepEqual(lines, ['{"type":"built"}', 'warning: something']);
    assert.deepEqual(lastMessage(lines), { type: 'built' });
    assert.equal(lastMessage(linesOf('')), undefined);
    assert.deepEqual(linesOf('{"unterminated":true}'), ['{"unterminated":true}']);
  });
});
