import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { describe, it } from 'node:test';

import { coalescedWriter } from '../../src/runtime/framing.ts';

/** A stream that records each write() it receives as a batch of chunks (writev: several at once). */
function recording(): { stream: Writable; batches: string[][] } {
  const batches: string[][] = [];
  const stream = new Writable({
    decodeStrings: false,
    write(chunk: string, _encoding, callback) {
      batches.push([chunk]);
      callback();
    },
    writev(chunks, callback) {
      batches.push(chunks.map((c) => c.chunk as string));
      callback();
    },
  });
  return { stream, batches };
}

const nextTurn = () => new Promise<void>((resolve) => setImmediate(resolve));

describe('coalescedWriter', () => {
  it('sends the first message of a turn at once and the rest of the turn in one write', async () => {
    const { stream, batches } = recording();
    const write = coalescedWriter(stream);
    write('a\n');
    write('b\n');
    write('c\n');
    assert.deepEqual(batches, [['a\n']], 'the first leaves at once; the others wait for the end of the turn');
    await nextTurn();
    assert.deepEqual(batches, [['a\n'], ['b\n', 'c\n']]);
  });

  it('a lone message per turn is never held back', async () => {
    const { stream, batches } = recording();
    const write = coalescedWriter(stream);
    write('a\n');
    await nextTurn();
    write('b\n');
    assert.deepEqual(batches, [['a\n'], ['b\n']]);
  });

  it('keeps the order of messages across turns', async () => {
    const { stream, batches } = recording();
    const write = coalescedWriter(stream);
    for (const m of ['1', '2', '3']) write(m);
    await nextTurn();
    for (const m of ['4', '5']) write(m);
    await nextTurn();
    assert.deepEqual(batches.flat(), ['1', '2', '3', '4', '5']);
  });
});
