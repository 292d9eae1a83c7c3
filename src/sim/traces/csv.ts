// A small, fast reader for the plain CSV the Azure traces use: comma-separated, no quoting, one
// header line. It reads the file synchronously in fixed-size chunks, so a 150 MB day file never
// sits in memory as one string, and it reports every problem as a TraceFormatError that names the
// file, the 1-based line and the column.

import { closeSync, openSync, readSync } from 'node:fs';
import { TraceFormatError } from '../../core/errors.ts';

const NEWLINE = 0x0a;
const DEFAULT_CHUNK_BYTES = 1 << 20;

export interface TextLine {
  /** 1-based physical line number in the file. */
  readonly lineNo: number;
  /** The line without its line ending (LF or CRLF). */
  readonly text: string;
}

/**
 * Yields every line of a file with its line number. A final line ending does not produce an extra
 * empty line; blank lines elsewhere are yielded (as ''). A UTF-8 byte order mark is dropped.
 * Splitting happens on the LF byte, which never occurs inside a multi-byte UTF-8 character, so
 * decoding whole runs of lines is safe.
 */
export function* readLines(file: string, chunkBytes = DEFAULT_CHUNK_BYTES): Generator<TextLine> {
  const fd = openSync(file, 'r');
  try {
    const chunk = Buffer.allocUnsafe(chunkBytes);
    let pending: Buffer = Buffer.alloc(0); // bytes after the last LF seen so far
    let lineNo = 0;
    for (;;) {
      const read = readSync(fd, chunk, 0, chunkBytes, null);
      if (read === 0) break;
      const data = pending.length > 0 ? Buffer.concat([pending, chunk.subarray(0, read)]) : chunk.subarray(0, read);
      const lastNewline = data.lastIndexOf(NEWLINE);
      if (lastNewline < 0) {
        pending = Buffer.from(data); // a line longer than one chunk: keep accumulating
        continue;
      }
      const lines = data.toString('utf8', 0, lastNewline).split('\n');
      // `chunk` is overwritten by the next read, so the tail must be copied out of it.
      pending = Buffer.from(data.subarray(lastNewline + 1));
      for (const raw of lines) {
        lineNo++;
        yield { lineNo, text: cleanLine(raw, lineNo) };
      }
    }
    if (pending.length > 0) {
      lineNo++;
      yield { lineNo, text: cleanLine(pending.toString('utf8'), lineNo) };
    }
  } finally {
    closeSync(fd);
  }
}

function cleanLine(raw: string, lineNo: number): string {
  let text = raw.endsWith('\r') ? raw.slice(0, -1) : raw;
  if (lineNo === 1 && text.charCodeAt(0) === 0xfeff) text = text.slice(1);
  return text;
}

/** The header line of a CSV file: column names and where they are. */
export class CsvHeader {
  readonly #positions = new Map<string, number>();

  constructor(
    readonly file: string,
    readonly lineNo: number,
    readonly names: readonly string[],
  ) {
    names.forEach((name, position) => {
      if (name === '') throw new TraceFormatError(file, lineNo, position + 1, 'empty column name in the header');
      if (this.#positions.has(name)) {
        throw new TraceFormatError(file, lineNo, name, `column '${name}' appears twice in the header`);
      }
      this.#positions.set(name, position);
    });
  }

  has(name: string): boolean {
    return this.#positions.has(name);
  }

  /** Position of a column, or -1 when the header lacks it. */
  indexOf(name: string): number {
    return this.#positions.get(name) ?? -1;
  }

  /** Position of a column the format requires; a clear error naming the column and the header if absent. */
  require(name: string): number {
    const position = this.#positions.get(name);
    if (position === undefined) {
      throw new TraceFormatError(
        this.file,
        this.lineNo,
        name,
        `missing required column '${name}' (header: ${abbreviate(this.names.join(','))})`,
      );
    }
    return position;
  }
}

function abbreviate(text: string, max = 160): string {
  return text.length <= max ? text : `${text.slice(0, max)}…`;
}

/** One data row: its fields and where it came from. */
export interface CsvRow {
  readonly lineNo: number;
  readonly fields: string[];
}

/**
 * A CSV file opened for reading: the header is read at once; iterating yields the data rows, each
 * with exactly as many fields as the header (anything else is an error). Blank lines are skipped.
 * The file is closed when iteration ends, also on an exception or an early `break`.
 */
export interface CsvFile extends Iterable<CsvRow> {
  readonly file: string;
  readonly header: CsvHeader;
  /**
   * The data lines unsplit (blank lines skipped), for callers with their own faster parser such as
   * CountRowScanner. Either this or the row iterator, once.
   */
  lines(): Iterable<TextLine>;
  /** Closes the file without reading the rows (iterating to the end closes it too). */
  close(): void;
}

export function openCsv(file: string, options: { chunkBytes?: number } = {}): CsvFile {
  const lines = readLines(file, options.chunkBytes);
  let header: CsvHeader | undefined;
  for (let next = lines.next(); !next.done; next = lines.next()) {
    if (next.value.text.trim() === '') continue;
    try {
      header = new CsvHeader(file, next.value.lineNo, splitFields(next.value.text, file, next.value.lineNo));
    } catch (error) {
      lines.return(undefined);
      throw error;
    }
    break;
  }
  if (header === undefined) throw new TraceFormatError(file, undefined, undefined, 'the file is empty (no header line)');
  const knownHeader = header;
  let consumed = false;

  function* dataLines(): Generator<TextLine> {
    if (consumed) throw new Error(`${file}: CSV rows can be iterated only once`);
    consumed = true;
    for (const line of { [Symbol.iterator]: () => lines }) {
      if (line.text.length === 0 || line.text.trim() === '') continue;
      yield line;
    }
  }

  function* rows(): Generator<CsvRow> {
    const expected = knownHeader.names.length;
    for (const { lineNo, text } of dataLines()) {
      const fields = splitFields(text, file, lineNo);
      if (fields.length !== expected) {
        throw new TraceFormatError(file, lineNo, undefined, `expected ${expected} fields as in the header, got ${fields.length}`);
      }
      yield { lineNo, fields };
    }
  }

  return { file, header: knownHeader, [Symbol.iterator]: rows, lines: () => ({ [Symbol.iterator]: dataLines }), close: () => void lines.return(undefined) };
}

/** Opens a CSV file, hands it to `read`, and closes it however `read` ends (an error in the header checks too). */
export function withCsv<T>(file: string, read: (csv: CsvFile) => T): T {
  const csv = openCsv(file);
  try {
    return read(csv);
  } finally {
    csv.close();
  }
}

/** Splits a line on commas. Quoted fields are refused: the Azure traces never quote, so a quote means a different format. */
export function splitFields(text: string, file: string, lineNo: number): string[] {
  const quote = text.indexOf('"');
  if (quote >= 0) {
    const column = text.slice(0, quote).split(',').length;
    throw new TraceFormatError(file, lineNo, column, 'quoted fields are not supported (Azure trace files contain no quotes)');
  }
  return text.split(',');
}

/**
 * A one-pass parser for rows made mostly of counts (the 1,440 minute columns of an Azure 2019
 * invocations file): it reads the counts straight from the line's characters into an array and cuts
 * out only the other columns, instead of allocating a string per field. About twice as fast as
 * split + parse on a day file. Refuses what openCsv refuses (quotes, wrong field counts) and any
 * count that is not a plain non-negative integer below 2^31; reports the first empty field.
 */
export class CountRowScanner {
  /** For each column, its index in the counts array, or -1 for a text column. */
  readonly #countIndex: Int32Array;
  /** Text columns of the last row scanned (count columns are left undefined). */
  readonly texts: Array<string | undefined>;

  constructor(
    readonly header: CsvHeader,
    countPositions: ArrayLike<number>,
  ) {
    this.#countIndex = new Int32Array(header.names.length).fill(-1);
    for (let i = 0; i < countPositions.length; i++) this.#countIndex[countPositions[i]!] = i;
    this.texts = new Array<string | undefined>(header.names.length);
  }

  /**
   * Parses one line: counts go to `counts` (by count index), text columns to `texts`. Returns the
   * position of the first empty field, or -1.
   */
  scan(text: string, lineNo: number, counts: Int32Array): number {
    const countIndex = this.#countIndex;
    const columns = countIndex.length;
    const { file, names } = this.header;
    const length = text.length;
    let field = 0;
    let start = 0;
    let target = countIndex[0]!;
    let value = 0;
    let valid = true;
    let firstEmpty = -1;
    for (let i = 0; i <= length; i++) {
      const code = i < length ? text.charCodeAt(i) : 44;
      if (code !== 44) {
        if (target >= 0) {
          const digit = code - 48;
          if (digit >= 0 && digit <= 9) value = value * 10 + digit;
          else valid = false;
        } else if (code === 34) {
          throw new TraceFormatError(file, lineNo, field + 1, 'quoted fields are not supported (Azure trace files contain no quotes)');
        }
        continue;
      }
      // A comma, or the end of the line, closes field [start, i).
      if (field >= columns) {
        throw new TraceFormatError(file, lineNo, undefined, `expected ${columns} fields as in the header, got more`);
      }
      if (i === start) {
        if (firstEmpty < 0) firstEmpty = field;
        if (target < 0) this.texts[field] = '';
        else counts[target] = 0;
      } else if (target >= 0) {
        if (!valid || value > 0x7fffffff) throw badValue(file, lineNo, names[field]!, 'expected a non-negative integer', text.slice(start, i));
        counts[target] = value;
      } else {
        this.texts[field] = text.slice(start, i);
      }
      field++;
      start = i + 1;
      target = field < columns ? countIndex[field]! : -1;
      value = 0;
      valid = true;
    }
    if (field !== columns) throw new TraceFormatError(file, lineNo, undefined, `expected ${columns} fields as in the header, got ${field}`);
    return firstEmpty;
  }
}

// ---------------------------------------------------------------------------------------------
// Field values. The parsers return NaN (or -1) instead of throwing so hot loops stay cheap; the
// callers turn a bad value into an error with `badValue`.

/**
 * A non-negative decimal integer below 2^31 written with digits only, or -1. Hand-rolled because it
 * runs for every minute cell of a day file (66 M fields) and Number() accepts too much ('', ' 1',
 * '1e3', '0x1').
 */
export function parseCount(text: string): number {
  const length = text.length;
  if (length === 0 || length > 10) return -1;
  let value = 0;
  for (let i = 0; i < length; i++) {
    const digit = text.charCodeAt(i) - 48;
    if (digit < 0 || digit > 9) return -1;
    value = value * 10 + digit;
  }
  return value <= 0x7fffffff ? value : -1;
}

const DECIMAL = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;

/** A finite decimal number (integer, fraction or exponent form), or NaN (also for overflow such as '1e999'). */
export function parseDecimal(text: string): number {
  if (!DECIMAL.test(text)) return Number.NaN;
  const value = Number(text);
  return Number.isFinite(value) ? value : Number.NaN;
}

/** The error for a field that does not hold what the format expects, e.g. `expected a non-negative integer`. */
export function badValue(file: string, lineNo: number, column: string | number, expected: string, got: string): TraceFormatError {
  const shown = got.length > 40 ? `${got.slice(0, 40)}…` : got;
  return new TraceFormatError(file, lineNo, column, `${expected}, got '${shown}'`);
}

/** The error for a field left empty. */
export function emptyValue(file: string, lineNo: number, column: string | number, hint = ''): TraceFormatError {
  return new TraceFormatError(file, lineNo, column, `empty field${hint}`);
}

/**
 * A copy of a field that shares no memory with the line it was cut from. V8 represents substrings
 * as slices of their parent, and every line is itself a slice of a ~1 MB decoded chunk, so keeping
 * one 64-character hash of each row would keep the whole file in memory.
 */
export function detach(field: string): string {
  return Buffer.from(field, 'utf8').toString('utf8');
}
