// Plain-text tables for the terminal. A table is data (columns and rows of cells) so the same
// summaries can be printed here and rendered as HTML by html-table.ts; the builders that turn
// results into tables (and their text forms) live in summaries.ts.

import { formatCount, formatNumber, MISSING } from './format.ts';

export type Align = 'left' | 'right';

export interface Column {
  header: string;
  /** Defaults to right for columns whose cells all look like numbers, left otherwise. */
  align?: Align;
  /** Adjacent columns with the same group are printed under one shared heading (e.g. a policy). */
  group?: string;
}

/** Integers are formatted as counts, other numbers with formatNumber; null and undefined print as MISSING. */
export type Cell = string | number | null | undefined;

export interface Table {
  title?: string;
  columns: Column[];
  rows: Cell[][];
  /** Lines printed under the table (footnotes, values that do not fit the grid). */
  notes?: string[];
}

/** Width the tables of the CLI fit by default: an ordinary terminal. */
export const DEFAULT_MAX_WIDTH = 120;

export interface FormatOptions {
  /**
   * Widest line allowed. A table with column groups that is wider is split into several tables,
   * each repeating the leading ungrouped columns (the row keys) with as many groups as fit.
   * Default: no limit.
   */
  maxWidth?: number;
}

const COLUMN_GAP = '  ';
/** Wider gap between column groups so each policy's columns read as one block. */
const GROUP_GAP = '   ';
const RULE = '─';

/** "12.3", "-4", "1,234", "<0.01", "15 GB", "12%": anything that should line up on the right. */
const NUMERIC_LOOKING = /^[<>]?[-+]?(\d|\.\d)/;

export function cellText(cell: Cell): string {
  if (cell === null || cell === undefined) return MISSING;
  if (typeof cell === 'number') return Number.isInteger(cell) ? formatCount(cell) : formatNumber(cell);
  return cell;
}

export function inferAlign(column: Column, rows: readonly Cell[][], index: number): Align {
  if (column.align) return column.align;
  const present = rows.map((row) => row[index]).filter((cell) => cell !== null && cell !== undefined && cell !== MISSING);
  const numeric = present.every((cell) => typeof cell === 'number' || NUMERIC_LOOKING.test(cell as string));
  return numeric ? 'right' : 'left';
}

function pad(text: string, width: number, align: Align): string {
  return align === 'right' ? text.padStart(width) : text.padEnd(width);
}

/** Columns grouped into runs of equal `group` (undefined groups stand alone). */
function groupRuns(columns: readonly Column[]): Array<{ group: string | undefined; start: number; end: number }> {
  const runs: Array<{ group: string | undefined; start: number; end: number }> = [];
  columns.forEach((column, index) => {
    const last = runs.at(-1);
    if (last && column.group !== undefined && last.group === column.group) last.end = index + 1;
    else runs.push({ group: column.group, start: index, end: index + 1 });
  });
  return runs;
}

/** `──── label ────` filling `width`; formatTable makes groups wide enough for this. */
function centredInRule(label: string, width: number): string {
  const text = ` ${label} `;
  const left = Math.floor((width - text.length) / 2);
  return RULE.repeat(left) + text + RULE.repeat(width - text.length - left);
}

/**
 * A text table: header, a rule under it, then the rows; numeric columns right-aligned. Columns that
 * share a `group` get a heading line above them (`──── GD ────`). Lines carry no trailing spaces.
 * Wider than options.maxWidth, the groups are spread over several tables (see FormatOptions).
 */
export function formatTable(columns: ReadonlyArray<Column | string>, rows: readonly Cell[][], options: FormatOptions = {}): string {
  const cols: Column[] = columns.map((column) => (typeof column === 'string' ? { header: column } : column));
  const whole = formatGrid(cols, rows);
  const maxWidth = options.maxWidth ?? Infinity;
  if (widestLine(whole) <= maxWidth) return whole;
  return splitGroups(cols, rows, maxWidth)
    .map((indices) => formatGrid(indices.map((index) => cols[index]!), rows.map((row) => indices.map((index) => row[index]))))
    .join('\n\n');
}

function widestLine(text: string): number {
  return Math.max(...text.split('\n').map((line) => line.length));
}

/**
 * Column index sets, each the leading ungrouped columns plus as many whole groups as fit in
 * maxWidth (at least one, even if it alone is wider).
 */
function splitGroups(columns: readonly Column[], rows: readonly Cell[][], maxWidth: number): number[][] {
  const runs = groupRuns(columns);
  const firstGrouped = runs.findIndex((run) => run.group !== undefined);
  if (firstGrouped < 0) return [columns.map((_, index) => index)];
  const range = (start: number, end: number) => Array.from({ length: end - start }, (_, i) => start + i);
  const keys = range(0, runs[firstGrouped]!.start);
  const chunks: number[][] = [];
  let chunk: number[] = [];
  for (const run of runs.slice(firstGrouped)) {
    const candidate = [...chunk, ...range(run.start, run.end)];
    const indices = [...keys, ...candidate];
    const fits = widestLine(formatGrid(indices.map((index) => columns[index]!), rows.map((row) => indices.map((index) => row[index])))) <= maxWidth;
    if (chunk.length && !fits) {
      chunks.push(chunk);
      chunk = range(run.start, run.end);
    } else {
      chunk = candidate;
    }
  }
  chunks.push(chunk);
  return chunks.map((indices) => [...keys, ...indices]);
}

function formatGrid(cols: readonly Column[], rows: readonly Cell[][]): string {
  const texts = rows.map((row) => cols.map((_, index) => cellText(row[index])));
  const aligns = cols.map((column, index) => inferAlign(column, rows as Cell[][], index));
  const widths = cols.map((column, index) => Math.max(column.header.length, ...texts.map((row) => row[index]!.length)));
  const runs = groupRuns(cols);
  const hasGroups = runs.some((run) => run.group !== undefined);

  // Widen a group's last column if its heading is wider than the columns under it.
  for (const run of runs) {
    if (run.group === undefined) continue;
    const span = widths.slice(run.start, run.end).reduce((sum, w) => sum + w, 0) + COLUMN_GAP.length * (run.end - run.start - 1);
    const needed = run.group.length + 4;
    if (needed > span) widths[run.end - 1]! += needed - span;
  }

  const joinLine = (pieces: string[]): string => {
    let line = '';
    for (const run of runs) {
      if (run.start > 0) line += hasGroups ? GROUP_GAP : COLUMN_GAP;
      line += pieces.slice(run.start, run.end).join(COLUMN_GAP);
    }
    return line.trimEnd();
  };

  const lines: string[] = [];
  if (hasGroups) {
    const headings = runs.map((run) => {
      const span = widths.slice(run.start, run.end).reduce((sum, w) => sum + w, 0) + COLUMN_GAP.length * (run.end - run.start - 1);
      return run.group === undefined ? ' '.repeat(span) : centredInRule(run.group, span);
    });
    lines.push(headings.join(GROUP_GAP).trimEnd());
  }
  lines.push(joinLine(cols.map((column, index) => pad(column.header, widths[index]!, aligns[index]!))));
  lines.push(joinLine(widths.map((width) => RULE.repeat(width))));
  for (const row of texts) lines.push(joinLine(row.map((text, index) => pad(text, widths[index]!, aligns[index]!))));
  return lines.join('\n');
}

/** A table with its title above and its notes below. */
export function formatTitledTable(table: Table, options: FormatOptions = {}): string {
  const parts: string[] = [];
  if (table.title) parts.push(table.title);
  parts.push(formatTable(table.columns, table.rows, options));
  if (table.notes?.length) parts.push(table.notes.join('\n'));
  return parts.join('\n');
}
