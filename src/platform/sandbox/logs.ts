// Capturing a function's stdout or stderr per invocation. The agent ends each segment (its start,
// then each invocation) with a marker written through the same stream (see logMarker() in the
// protocol), so the host can cut the output exactly, whatever order the pipes are read in. A
// segment longer than the byte limit keeps its first and its last half (how the invocation began,
// and how it ended: the error is usually at the end), with a marker saying how many bytes were left
// out between; memory stays bounded by the limit whatever the function writes.

import type { Readable } from 'node:stream';

import { LOG_MARKER_PREFIX } from '../../runtime/protocol.ts';
import { charStartAtOrAfter, omittedMarker, wholeCharsEnd } from '../store/text.ts';

export const DEFAULT_LOG_LIMIT_BYTES = 64 * 1024;
const TAIL_BYTES = 8 * 1024;
/** Longest sequence number text accepted in a marker. */
const MAX_SEQ_DIGITS = 15;

/** One segment's text as it streams in: its first `headMax` bytes, its last `tailMax`, and how many fell between. */
class HeadAndTail {
  private head: Buffer[] = [];
  private headLength = 0;
  private tail: Buffer[] = [];
  private tailLength = 0;
  private omitted = 0;

  constructor(
    private readonly headMax: number,
    private readonly tailMax: number,
  ) {}

  append(data: Buffer): void {
    if (this.headLength < this.headMax) {
      const piece = data.subarray(0, this.headMax - this.headLength);
      this.head.push(Buffer.from(piece));
      this.headLength += piece.length;
      data = data.subarray(piece.length);
    }
    if (data.length === 0) return;
    this.tail.push(Buffer.from(data));
    this.tailLength += data.length;
    // Trim now and then, not per chunk: the tail holds at most twice its size (plus one chunk).
    if (this.tailLength > 2 * this.tailMax) this.trimTail();
  }

  /** The text, and resets for the next segment. */
  take(): string {
    this.trimTail();
    let head = Buffer.concat(this.head, this.headLength);
    let tail = Buffer.concat(this.tail, this.tailLength);
    let text: string;
    if (this.omitted === 0) {
      text = Buffer.concat([head, tail]).toString('utf8'); // nothing left out: head and tail are contiguous
    } else {
      // Cut at character boundaries; a character split by the cut is left out too.
      const headEnd = wholeCharsEnd(head);
      const tailStart = charStartAtOrAfter(tail, 0);
      this.omitted += head.length - headEnd + tailStart;
      head = head.subarray(0, headEnd);
      tail = tail.subarray(tailStart);
      text = head.toString('utf8') + omittedMarker(this.omitted) + tail.toString('utf8');
    }
    this.head = [];
    this.headLength = 0;
    this.tail = [];
    this.tailLength = 0;
    this.omitted = 0;
    return text;
  }

  private trimTail(): void {
    if (this.tailLength <= this.tailMax) return;
    const joined = Buffer.concat(this.tail, this.tailLength);
    const drop = joined.length - this.tailMax;
    this.omitted += drop;
    this.tail = [Buffer.from(joined.subarray(drop))];
    this.tailLength = this.tailMax;
  }
}

export class SegmentedLog {
  private readonly prefix: Buffer;
  private readonly text: HeadAndTail;
  private pending: Buffer = Buffer.alloc(0);
  /** The segment the text now arriving belongs to (unless it was cut early, see cut()). */
  private nextSeq = 0;
  private readonly cutEarly = new Set<number>();
  private readonly delivered = new Map<number, string>();
  private readonly waiters = new Map<number, (text: string) => void>();
  private tailBuf: Buffer = Buffer.alloc(0);
  private isEnded = false;
  private endWaiters: (() => void)[] = [];
  /** Every byte read from the stream so far, markers included. */
  private received = 0;

  constructor(stream: Readable | null | undefined, nonce: string, limitBytes: number) {
    if (!Number.isInteger(limitBytes) || limitBytes < 0) throw new TypeError(`log limit must be a non-negative integer of bytes, got ${limitBytes}`);
    this.prefix = Buffer.from(`${LOG_MARKER_PREFIX}${nonce}:`, 'utf8');
    this.text = new HeadAndTail(Math.floor(limitBytes / 2), limitBytes - Math.floor(limitBytes / 2));
    if (!stream) {
      this.finish();
      return;
    }
    stream.on('data', (chunk: Buffer | string) => this.write(typeof chunk === 'string' ? Buffer.from(chunk) : chunk));
    stream.on('end', () => this.finish());
    stream.on('close', () => this.finish());
    stream.on('error', () => this.finish());
  }

  get ended(): boolean {
    return this.isEnded;
  }

  /** Bytes read from the stream so far, markers included (what the writer's own count is checked against). */
  get bytesReceived(): number {
    return this.received;
  }

  /** Resolves once the stream has ended (the process and everything holding the pipe is gone). */
  whenEnded(): Promise<void> {
    if (this.isEnded) return Promise.resolve();
    return new Promise((resolve) => this.endWaiters.push(resolve));
  }

  /** The text of segment `seq`, once its marker has arrived (or the stream ended, or it was cut). */
  segment(seq: number): Promise<string> {
    if (this.isReady(seq)) return Promise.resolve(this.takeReady(seq));
    return new Promise((resolve) => this.waiters.set(seq, resolve));
  }

  /** The text of a segment that isReady() (handed over once): what segment() resolves to, without a promise. */
  takeReady(seq: number): string {
    const done = this.delivered.get(seq);
    if (done === undefined) return '';
    this.delivered.delete(seq);
    return done;
  }

  /** Whether segment `seq` is complete (its marker arrived, or the stream ended, or it was cut): segment() would not wait. */
  isReady(seq: number): boolean {
    return this.delivered.has(seq) || (this.isEnded && seq >= this.nextSeq);
  }

  /**
   * Ends segment `seq` now with what has arrived, without waiting for its marker. Whatever arrives
   * before the marker goes to the next segment.
   */
  cut(seq: number): void {
    if (seq !== this.nextSeq || this.cutEarly.has(seq) || this.isEnded) return;
    // (Bytes held back as a possibly split marker stay back.)
    this.cutEarly.add(seq);
    this.deliver(seq, this.take());
  }

  /**
   * Ends segment `seq` now with what has arrived, with no marker to come: an agent that marks only
   * its start (--invocation-markers=off), whose invocations the host cuts by arrival order.
   */
  end(seq: number): void {
    if (seq !== this.nextSeq || this.isEnded) return;
    this.deliver(seq, this.take());
    this.nextSeq = seq + 1;
  }

  /** The last few KiB of everything written (markers removed only roughly): for post-mortems. */
  tail(): string {
    return this.tailBuf.toString('utf8');
  }

  private write(chunk: Buffer): void {
    this.received += chunk.length;
    this.tailBuf = appendTail(this.tailBuf, chunk);
    let buf = this.pending.length > 0 ? Buffer.concat([this.pending, chunk]) : chunk;
    this.pending = Buffer.alloc(0);
    for (;;) {
      const at = buf.indexOf(this.prefix);
      if (at < 0) {
        const keep = partialPrefixLength(buf, this.prefix);
        this.append(buf.subarray(0, buf.length - keep));
        this.pending = Buffer.from(buf.subarray(buf.length - keep));
        return;
      }
      this.append(buf.subarray(0, at));
      const digitsFrom = at + this.prefix.length;
      const end = buf.indexOf(0, digitsFrom);
      if (end < 0) {
        if (buf.length - digitsFrom > MAX_SEQ_DIGITS) {
          // Not a marker after all: keep its first byte as text and look again after it.
          this.append(buf.subarray(at, at + 1));
          buf = buf.subarray(at + 1);
          continue;
        }
        this.pending = Buffer.from(buf.subarray(at));
        return;
      }
      const digits = buf.subarray(digitsFrom, end).toString('latin1');
      if (digits.length > 0 && digits.length <= MAX_SEQ_DIGITS && /^\d+$/.test(digits)) {
        this.onMarker(Number(digits));
        buf = buf.subarray(end + 1);
      } else {
        this.append(buf.subarray(at, at + 1));
        buf = buf.subarray(at + 1);
      }
    }
  }

  private onMarker(seq: number): void {
    if (seq < this.nextSeq) return; // stale
    if (this.cutEarly.has(seq)) {
      // Already answered: what came since belongs to the next segment.
      this.cutEarly.delete(seq);
    } else {
      // Segments skipped (should not happen) get nothing.
      for (let s = this.nextSeq; s < seq; s++) this.deliver(s, '');
      this.deliver(seq, this.take());
    }
    this.nextSeq = seq + 1;
  }

  private append(data: Buffer): void {
    if (data.length > 0) this.text.append(data);
  }

  private take(): string {
    return this.text.take();
  }

  private deliver(seq: number, text: string): void {
    const waiter = this.waiters.get(seq);
    if (waiter) {
      this.waiters.delete(seq);
      waiter(text);
    } else {
      this.delivered.set(seq, text);
    }
  }

  private finish(): void {
    if (this.isEnded) return;
    // A marker split at the very end was never completed: it is text.
    this.append(this.pending);
    this.pending = Buffer.alloc(0);
    if (this.cutEarly.delete(this.nextSeq)) this.nextSeq += 1;
    this.deliver(this.nextSeq, this.take());
    this.nextSeq += 1;
    this.isEnded = true;
    for (const [s, waiter] of this.waiters) {
      this.waiters.delete(s);
      waiter('');
    }
    for (const w of this.endWaiters.splice(0)) w();
  }
}

/** Length of the longest suffix of buf that is a proper prefix of marker (possibly a split marker). */
function partialPrefixLength(buf: Buffer, marker: Buffer): number {
  const max = Math.min(buf.length, marker.length - 1);
  for (let k = max; k > 0; k--) {
    if (buf.subarray(buf.length - k).equals(marker.subarray(0, k))) return k;
  }
  return 0;
}

function appendTail(tail: Buffer, chunk: Buffer): Buffer {
  if (chunk.length >= TAIL_BYTES) return Buffer.from(chunk.subarray(chunk.length - TAIL_BYTES));
  const joined = Buffer.concat([tail, chunk]);
  return joined.length > TAIL_BYTES ? Buffer.from(joined.subarray(joined.length - TAIL_BYTES)) : joined;
}
