// Newline-delimited JSON, the one framing every thaw channel uses: the host ⇄ agent protocol on
// fd 3 (both ends), QEMU's QMP socket, the guest helper's replies, build and verify reports.
// One message per line; JSON.stringify never emits a raw newline, so a line is a whole message.
// Built-ins only: the agents (bundled into plain CommonJS for node inside a sandbox) import it too.

import type { Writable } from 'node:stream';

/** Something that emits text chunks (a socket, a pipe, a child's stdout). */
export interface TextSource {
  setEncoding(encoding: BufferEncoding): unknown;
  on(event: 'data', listener: (chunk: string) => void): unknown;
}

/**
 * Cuts a stream of text into lines, keeping a partial line until its newline arrives. Blank lines
 * (whitespace only) are skipped; a line is handed over as received (JSON.parse ignores the rest).
 */
export class LineSplitter {
  #rest = '';

  /** Feeds one chunk; calls onLine for each complete, non-blank line in it (in order). */
  push(chunk: string, onLine: (line: string) => void): void {
    const text = this.#rest === '' ? chunk : this.#rest + chunk;
    let start = 0;
    let nl: number;
    while ((nl = text.indexOf('\n', start)) >= 0) {
      const line = text.slice(start, nl);
      start = nl + 1;
      if (!isBlank(line)) onLine(line);
    }
    this.#rest = start === 0 ? text : text.slice(start);
  }

  /** The partial line held back, if any (what a closed stream left unterminated). */
  get pending(): string {
    return this.#rest;
  }
}

/**
 * A LineSplitter for bytes read into a buffer that is read into again (net.Socket's `onread`):
 * cuts at newline bytes, which never occur inside a multi-byte UTF-8 sequence, so each line's bytes
 * decode on their own (no decoder state between chunks, no string of the chunk made first). A
 * partial line is copied out of the buffer, piece by piece, and joined once its newline arrives
 * (a payload of many reads is copied twice, not once per read). Blank lines are skipped.
 */
export class ByteLineSplitter {
  #pieces: Buffer[] = [];

  /** Feeds bytes [0, length) of `chunk`; calls onLine for each complete, non-blank line (in order). */
  push(chunk: Buffer, length: number, onLine: (line: string) => void): void {
    let start = 0;
    while (start < length) {
      const nl = chunk.indexOf(NEWLINE, start);
      // (Bytes past `length` are an earlier read's.)
      if (nl === -1 || nl >= length) break;
      let line: string;
      if (this.#pieces.length === 0) {
        line = chunk.toString('utf8', start, nl);
      } else {
        this.#pieces.push(chunk.subarray(start, nl));
        line = Buffer.concat(this.#pieces).toString('utf8');
        this.#pieces = [];
      }
      start = nl + 1;
      if (!isBlank(line)) onLine(line);
    }
    if (start < length) this.#pieces.push(Buffer.from(chunk.subarray(start, length)));
  }

  /** Bytes of a partial line held back. */
  get pendingBytes(): number {
    let n = 0;
    for (const piece of this.#pieces) n += piece.length;
    return n;
  }
}
const NEWLINE = 0x0a;

/** Reads `source` as UTF-8 lines (see LineSplitter): onLine is called for each complete line. */
export function onLines(source: TextSource, onLine: (line: string) => void): void {
  const splitter = new LineSplitter();
  source.setEncoding('utf8');
  source.on('data', (chunk: string) => splitter.push(chunk, onLine));
}

/** Like onLines, but each line parsed as JSON; a line that is not JSON goes to onBadLine (default: dropped). */
export function onMessages<T>(source: TextSource, onMessage: (message: T) => void, onBadLine?: (line: string) => void): void {
  onLines(source, (line) => {
    const message = parseMessage<T>(line);
    if (message === undefined) onBadLine?.(line);
    else onMessage(message);
  });
}

/** One message as a line: its JSON text and the newline. */
export function frame(message: unknown): string {
  return `${JSON.stringify(message)}\n`;
}

/** A message already serialised (JSON text without a newline) as a line. */
export function frameJson(json: string): string {
  return `${json}\n`;
}

/** A line's message, or undefined when the line is not JSON (or is JSON null). */
export function parseMessage<T>(line: string): T | undefined {
  try {
    return (JSON.parse(line) as T | null) ?? undefined;
  } catch {
    return undefined;
  }
}

/** The complete, non-blank lines of a whole text (a finished process's output). */
export function linesOf(text: string): string[] {
  const lines: string[] = [];
  new LineSplitter().push(text.endsWith('\n') ? text : `${text}\n`, (line) => lines.push(line));
  return lines;
}

/** The last of `lines` that parses as a message (a report written last, after other output), or undefined. */
export function lastMessage<T>(lines: readonly string[]): T | undefined {
  for (let i = lines.length - 1; i >= 0; i--) {
    const message = parseMessage<T>(lines[i]!);
    if (message !== undefined) return message;
  }
  return undefined;
}

function isBlank(line: string): boolean {
  for (let i = 0; i < line.length; i++) {
    const c = line.charCodeAt(i);
    // space, tab, CR (a CRLF sender), VT, FF
    if (c !== 32 && (c < 9 || c > 13)) return false;
  }
  return true;
}

// Writes coalesced per turn of the event loop, for a channel that carries many peers' messages (the
// isolate host's: every isolate's invocations go through one pipe each way). Under load, a turn of
// the event loop handles many requests; writing each message as it comes costs one write() and one
// wake-up of the reader per message. The first message of a turn leaves at once (alone, as at
// concurrency 1, it waits for nothing); the ones after it in the same turn are corked until the
// turn's check phase and leave in one write() (stream.Writable's writev): one wake-up for all.
export function coalescedWriter(stream: Writable): (chunk: string) => void {
  let inTurn = false;
  let corked = false;
  const endTurn = (): void => {
    inTurn = false;
    if (corked) {
      corked = false;
      stream.uncork();
    }
  };
  return (chunk) => {
    if (!inTurn) {
      inTurn = true;
      setImmediate(endTurn);
    } else if (!corked) {
      corked = true;
      stream.cork();
    }
    stream.write(chunk);
  };
}
