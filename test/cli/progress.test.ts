import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createProgress, formatProgressLine } from '../../src/cli/progress.ts';

/** A terminal that records what is written, and a clock the test moves by hand. */
function setup(options: { isTTY?: boolean; columns?: number; total?: number } = {}) {
  const writes: string[] = [];
  const stream = { isTTY: options.isTTY ?? true, columns: options.columns, write: (chunk: string) => writes.push(chunk) };
  let now = 5000;
  const clock = () => now;
  const progress = createProgress({ total: options.total ?? 1000, label: 'sweep', stream, clock });
  return {
    writes,
    progress,
    advance(ms: number) {
      now += ms;
    },
  };
}

describe('createProgress', () => {
  it('draws nothing during the first second', () => {
    const { writes, progress, advance } = setup();
    for (let done = 0; done < 10; done++) {
      advance(100);
      progress.update(done * 10);
    }
    assert.deepEqual(writes, [], 'exactly 1 s has passed: not longer than the minimum');
    progress.finish();
    assert.deepEqual(writes, [], 'a run that never drew leaves nothing to clear');
  });

  it('draws once the run has lasted over a second, with percent, count, rate and ETA', () => {
    const { writes, progress, advance } = setup();
    advance(2000);
    progress.update(500);
    assert.equal(writes.length, 1);
    const line = writes[0]!;
    assert.ok(line.startsWith('\r\x1b[K'), 'returns to the start of the line and clears it');
    assert.match(line, /^\r\x1b\[Ksweep /);
    assert.match(line, / 50\.0% /);
    assert.match(line, /500\/1,000/);
    assert.match(line, /250\/s/);
    assert.match(line, /ETA 2 s$/);
    assert.doesNotMatch(line, /\n/);
  });

  it('redraws at most about ten times a second', () => {
    const { writes, progress, advance } = setup();
    advance(1500);
    for (let i = 0; i < 100; i++) {
      progress.update(i);
      advance(10);
    }
    // 1 s of updates every 10 ms: one draw per 100 ms.
    assert.equal(writes.length, 10);
  });

  it('never draws when the stream is not a terminal', () => {
    const { writes, progress, advance } = setup({ isTTY: false });
    advance(5000);
    progress.update(900);
    progress.finish();
    assert.deepEqual(writes, []);
  });

  it('clears its line on finish and ignores later updates', () => {
    const { writes, progress, advance } = setup();
    advance(1500);
    progress.update(700);
    progress.finish();
    assert.equal(writes.at(-1), '\r\x1b[K');
    const count = writes.length;
    advance(1000);
    progress.update(800);
    progress.finish();
    assert.equal(writes.length, count);
  });

  it('fits the line to the terminal width', () => {
    const { writes, progress, advance } = setup({ columns: 40 });
    advance(1500);
    progress.update(10);
    assert.equal(writes[0]!.length, '\r\x1b[K'.length + 39);
  });
});

describe('formatProgressLine', () => {
  it('fills the bar in proportion and copes with a finished or empty run', () => {
    assert.match(formatProgressLine(undefined, 0, 100, 1000), /^░{24} {4}0\.0%  0\/100  0\/s  ETA \?$/);
    assert.match(formatProgressLine(undefined, 100, 100, 2000), /^█{24}  100\.0%  100\/100  50\.0\/s  ETA 0 s$/);
    assert.match(formatProgressLine('x', 5, 0, 1000), /^x ░{24} {4}0\.0%  5\/0/);
  });
});
