// A one-line progress bar for long runs (sweeps, curve computation). Short runs finish before it
// would appear, so they print nothing extra; output that is not a terminal (a file, a pipe, CI
// logs) never gets one, since carriage-return redraws only make sense on a terminal.

import { formatCount, formatDuration, formatRate } from '../sim/report/format.ts';

/** The part of a stream the bar uses: process.stderr, or a fake in tests. */
export interface ProgressStream {
  isTTY?: boolean;
  /** Terminal width; the line is cut to fit so it never wraps (a wrapped line cannot be redrawn). */
  columns?: number;
  write(chunk: string): unknown;
}

export interface ProgressOptions {
  /** Units of work in the whole run (invocations, simulations). */
  total: number;
  /** Printed before the bar, e.g. "sweep". */
  label?: string;
  stream?: ProgressStream;
  /** Milliseconds, monotonic. */
  clock?: () => number;
  /** The bar appears only once the run has lasted longer than this. */
  minDurationMs?: number;
  /** Least time between redraws: updates may come millions of times a second. */
  redrawIntervalMs?: number;
}

export interface Progress {
  /** Reports how many units are done so far. Cheap to call often: it draws at most ~10 times a second. */
  update(done: number): void;
  /** Clears the bar's line, leaving the terminal as it was. Later updates are ignored. */
  finish(): void;
}

const BAR_WIDTH = 24;
const FILLED = '█';
const EMPTY = '░';
/** Carriage return, then "erase to end of line": the next draw replaces the previous one. */
const RETURN_AND_CLEAR = '\r\x1b[K';

/** Whole seconds, rounded up: an ETA of "0.42 s" or "324 ms" is false precision that flickers. */
function formatEta(ms: number): string {
  const seconds = Math.ceil(ms / 1000);
  return seconds < 60 ? `${seconds} s` : formatDuration(seconds * 1000);
}

/** "sweep ███████░░░░ 45.2%  12,345/27,300  1.2k/s  ETA 12 s" */
export function formatProgressLine(label: string | undefined, done: number, total: number, elapsedMs: number): string {
  const fraction = total > 0 ? Math.min(1, Math.max(0, done / total)) : 0;
  const filled = Math.round(fraction * BAR_WIDTH);
  const bar = FILLED.repeat(filled) + EMPTY.repeat(BAR_WIDTH - filled);
  const percent = `${(fraction * 100).toFixed(1)}%`.padStart(6);
  const perSecond = elapsedMs > 0 ? (done * 1000) / elapsedMs : 0;
  const remaining = Math.max(0, total - done);
  const eta = perSecond > 0 ? formatEta((remaining / perSecond) * 1000) : '?';
  const parts = [bar, percent, `${formatCount(done)}/${formatCount(total)}`, formatRate(perSecond), `ETA ${eta}`];
  return (label ? `${label} ` : '') + parts.join('  ');
}

export function createProgress({
  total,
  label,
  stream = process.stderr,
  clock = () => performance.now(),
  minDurationMs = 1000,
  redrawIntervalMs = 100,
}: ProgressOptions): Progress {
  const startedAt = clock();
  let lastDrawAt = -Infinity;
  let drawn = false;
  let finished = false;
  const enabled = stream.isTTY === true;

  function fit(line: string): string {
    // One column short of the width: writing into the last column wraps on some terminals.
    const width = stream.columns;
    return width && width > 1 && line.length >= width ? line.slice(0, width - 1) : line;
  }

  return {
    update(done: number): void {
      if (!enabled || finished) return;
      const now = clock();
      if (now - startedAt <= minDurationMs || now - lastDrawAt < redrawIntervalMs) return;
      lastDrawAt = now;
      drawn = true;
      stream.write(RETURN_AND_CLEAR + fit(formatProgressLine(label, done, total, now - startedAt)));
    },
    finish(): void {
      if (finished) return;
      finished = true;
      if (drawn) stream.write(RETURN_AND_CLEAR);
    },
  };
}
