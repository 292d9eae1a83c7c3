// Cutting logs to a byte budget: head and tail, a marker with the exact count, UTF-8 kept whole.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { keepHeadAndTail, omittedMarker, wholeCharsEnd } from '../../../src/platform/store/text.ts';

describe('keepHeadAndTail', () => {
  it('leaves text within the budget alone', () => {
    assert.deepEqual(keepHeadAndTail('short', 5), { text: 'short', truncated: false });
  });

  it('keeps the first and last half, and counts what it left out', () => {
    assert.deepEqual(keepHeadAndTail('0123456789abcdefghij', 8), { text: `0123${omittedMarker(12)}ghij`, truncated: true });
  });

  it('counts the bytes an earlier cut left out when cutting again', () => {
    const once = keepHeadAndTail('a'.repeat(1000) + 'b'.repeat(1000), 400).text;
    const twice = keepHeadAndTail(once, 100).text;
    assert.equal(twice, `${'a'.repeat(50)}${omittedMarker(1900)}${'b'.repeat(50)}`);
  });

  it('never splits a character', () => {
    const { text } = keepHeadAndTail('€'.repeat(10), 8); // 30 bytes; 4 → one €, 4 from the end → one €
    assert.equal(text, `€${omittedMarker(24)}€`);
  });
});

describe('wholeCharsEnd', () => {
  it('drops a character cut short at the end', () => {
    const euro = Buffer.from('a€');
    assert.equal(wholeCharsEnd(euro), 4);
    assert.equal(wholeCharsEnd(euro.subarray(0, 3)), 1);
    assert.equal(wholeCharsEnd(euro.subarray(0, 2)), 1);
    assert.equal(wholeCharsEnd(Buffer.from('abc')), 3);
    assert.equal(wholeCharsEnd(Buffer.alloc(0)), 0);
  });
});
