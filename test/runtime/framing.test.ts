// The one NDJSON framing every channel uses (host ⇄ agent, QMP, the isolate host, build reports).

import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import { describe, it } from 'node:test';

import { LineSplitter, frame, lastMessage, linesOf, onMessages, parseMessage } from '../../src/runtime/framing.ts';

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
