// Per-invocation output of an agent serving several invocations at once (--concurrency=N>1). The
// markers that cut one invocation's output from the next on the pipes cannot cut output that
// interleaves, so in this mode the agent attributes what the function writes through
// process.stdout and process.stderr (console.* goes through them) to the invocation whose async
// context wrote it: each handler call runs inside an AsyncLocalStorage entered with its
// InvocationOutput, and every continuation it causes (promises, timers, I/O callbacks) carries it.
// That output is kept, bounded, and returned in the invocation's result. Output written outside
// any invocation's context (at load and init, or after an invocation ended, e.g. from a timer it
// left) goes to the pipes as ever. Writes straight to file descriptors 1 and 2 bypass the streams
// and go to the pipes too: they cannot be attributed.
//
// Used only with N > 1: an agent serving one at a time never loads AsyncLocalStorage, and its
// streams are not wrapped (its warm path stays as it was).

import type { AsyncLocalStorage } from 'node:async_hooks';

import { builtin } from './agent-lib.ts';

/** Per invocation and stream, unless the host says otherwise (--log-limit): the host's own default. */
export const DEFAULT_CAPTURE_LIMIT_BYTES = 64 * 1024;

/**
 * What stands for the output left out between a capture's head and its tail. The same text the host
 * uses for its logs (store/text.ts, which the agent cannot import): the host cuts this capture to its
 * exact byte limit again and adds the bytes an earlier marker stood for.
 */
function omittedMarker(bytes: number): string {
  return `\n[… ${bytes} bytes omitted …]\n`;
}

/**
 * One stream's text of one invocation, bounded: its head and its tail of `limit / 2` UTF-16 units
 * each, and how many UTF-8 bytes fell between. Units, not bytes, so a write costs no encoding; a
 * unit is at most 3 bytes, so this holds at most 3 × `limit` bytes, which the host cuts to `limit`.
 */
export class BoundedText {
  #head = '';
  #tail: string[] = [];
  #tailLength = 0;
  #omittedBytes = 0;
  readonly #headMax: number;
  readonly #tailMax: number;

  constructor(limit: number) {
    this.#headMax = Math.floor(limit / 2);
    this.#tailMax = limit - this.#headMax;
  }

  append(text: string): void {
    if (this.#head.length < this.#headMax) {
      let room = this.#headMax - this.#head.length;
      // Never end the head on half a surrogate pair: the pair goes to the tail whole.
      if (room < text.length && isHighSurrogate(text.charCodeAt(room - 1))) room -= 1;
      this.#head += text.slice(0, room);
      text = text.slice(room);
    }
    if (text === '') return;
    this.#tail.push(text);
    this.#tailLength += text.length;
    // Trimmed now and then, not per write: the tail holds at most twice its size (plus one write).
    if (this.#tailLength > 2 * this.#tailMax) this.#trimTail();
  }

  /** The text kept: all of it, or its head and tail around a marker counting the bytes between. */
  text(): string {
    this.#trimTail();
    const tail = this.#tail.join('');
    return this.#omittedBytes === 0 ? this.#head + tail : this.#head + omittedMarker(this.#omittedBytes) + tail;
  }

  #trimTail(): void {
    if (this.#tailLength <= this.#tailMax) return;
    const joined = this.#tail.join('');
    let drop = joined.length - this.#tailMax;
    // Never keep half a surrogate pair: its low half goes with the dropped part.
    if (isLowSurrogate(joined.charCodeAt(drop))) drop += 1;
    this.#omittedBytes += Buffer.byteLength(joined.slice(0, drop), 'utf8');
    this.#tail = [joined.slice(drop)];
    this.#tailLength = joined.length - drop;
  }
}

function isHighSurrogate(unit: number): boolean {
  return unit >= 0xd800 && unit <= 0xdbff;
}

function isLowSurrogate(unit: number): boolean {
  return unit >= 0xdc00 && unit <= 0xdfff;
}

/** What one invocation wrote to each stream, until it ends (then its context writes to the pipes). */
export class InvocationOutput {
  readonly stdout: BoundedText;
  readonly stderr: BoundedText;
  ended = false;

  constructor(limit: number) {
    this.stdout = new BoundedText(limit);
    this.stderr = new BoundedText(limit);
  }

  /** The result message's fields (JSON text to splice in, each with its leading comma; '' when nothing was written). */
  resultFields(): string {
    this.ended = true;
    const out = this.stdout.text();
    const err = this.stderr.text();
    return `${out === '' ? '' : `,"stdout":${JSON.stringify(out)}`}${err === '' ? '' : `,"stderr":${JSON.stringify(err)}`}`;
  }
}

/** A write's chunk as text, as the pipe would have carried it (bytes read as UTF-8). */
function chunkText(chunk: string | Uint8Array, encoding: BufferEncoding | undefined): string {
  if (typeof chunk !== 'string') return Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength).toString('utf8');
  return encoding === undefined || encoding === 'utf8' || encoding === 'utf-8' ? chunk : Buffer.from(chunk, encoding).toString('utf8');
}

type StreamWrite = (chunk: string | Uint8Array, encodingOrCallback?: BufferEncoding | ((err?: Error | null) => void), callback?: (err?: Error | null) => void) => boolean;

/** The AsyncLocalStorage the invocations run in, and process.stdout / process.stderr routed through it. */
export class ConcurrentOutput {
  // Loaded when a concurrent session is made, not when the agent starts (see builtin()).
  readonly #storage: AsyncLocalStorage<InvocationOutput> = new (builtin<typeof import('node:async_hooks')>('node:async_hooks').AsyncLocalStorage)();
  readonly #limit: number;

  /**
   * Wraps process.stdout.write and process.stderr.write. Made before any function code runs (it may
   * replace them; what it finds is the wrapper, and what the wrapper passes on to is the streams'
   * own write, for output outside any invocation).
   */
  constructor(limit: number) {
    this.#limit = limit;
    process.stdout.write = this.#routed(process.stdout.write.bind(process.stdout) as StreamWrite, 'stdout') as typeof process.stdout.write;
    process.stderr.write = this.#routed(process.stderr.write.bind(process.stderr) as StreamWrite, 'stderr') as typeof process.stderr.write;
  }

  /** A fresh output for an invocation about to start. */
  newOutput(): InvocationOutput {
    return new InvocationOutput(this.#limit);
  }

  /** Runs `fn` (an invocation's start) in `output`'s context: everything it causes writes there. */
  run(output: InvocationOutput, fn: () => void): void {
    this.#storage.run(output, fn);
  }

  /** The output of the invocation whose async context this is (an error nobody caught names its invocation this way). */
  current(): InvocationOutput | undefined {
    return this.#storage.getStore();
  }

  #routed(write: StreamWrite, stream: 'stdout' | 'stderr'): StreamWrite {
    const storage = this.#storage;
    return (chunk, encodingOrCallback, callback) => {
      const output = storage.getStore();
      if (output === undefined || output.ended) return write(chunk, encodingOrCallback, callback);
      output[stream].append(chunkText(chunk, typeof encodingOrCallback === 'string' ? encodingOrCallback : undefined));
      // As a stream would: the callback after the write, never during it.
      const done = typeof encodingOrCallback === 'function' ? encodingOrCallback : callback;
      if (done) process.nextTick(done);
      return true;
    };
  }
}
