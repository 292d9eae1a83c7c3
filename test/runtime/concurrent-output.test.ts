// The bounded capture of one invocation's output in an agent serving several at once.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { BoundedText } from '../../src/runtime/concurrent-output.ts';

describe('BoundedText', () => {
  it('keeps everything within its limit, in order', () => {
    const text = new BoundedText(100);
    for (const piece of ['a', 'bc', '', 'déf\n']) text.append(piece);
    assert.equal(text.text(), 'abcdéf\n');
  });

  it('keeps the head and the tail past its limit, counting the UTF-8 bytes between', () => {
    const text = new BoundedText(10);
    text.append('01234');
    for (let i = 0; i < 100; i++) text.append('é');
    text.append('56789');
    // 5 head units, 5 tail units; the 100 × é (2 bytes each) fell between.
    assert.equal(text.text(), '01234\n[… 200 bytes omitted …]\n56789');
  });

  it('never splits a surrogate pair at the head or the tail', () => {
    const head = new BoundedText(4);
    head.append('a😀bcdefgh');
    // 2 units each way. The head would end on the pair's first half: it stops before the pair (4 bytes), which falls between.
    assert.equal(head.text(), 'a\n[… 9 bytes omitted …]\ngh');
    const tail = new BoundedText(4);
    tail.append('abcdefg😀h');
    // The tail would begin on the pair's second half: that half goes with the dropped part.
    assert.equal(tail.text(), 'ab\n[… 9 bytes omitted …]\nh');
  });
});
