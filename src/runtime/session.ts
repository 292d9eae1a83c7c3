// The agent session loop, the one every agent runs once its function is loaded (the cold agent,
// a zygote after `specialise`, the V8 snapshot agent after a restore, the agent in a microVM):
// it owns the protocol channel and the log segments, serves `invoke` messages one at a time (or,
// with --concurrency=N>1, up to N at once: concurrent-invocations.ts), ends each segment with its
// marker before the result goes out, and turns an error nobody caught into
// the answer the host expects for the phase it happened in (init-failed while loading, a fatal
// result while invoking, an exit while idle). What differs between the agents — how the function
// is loaded, the extra messages a zygote or a restored VM takes — is theirs; they hand those
// messages to the session as `onOther`.

import { inspect } from 'node:util';

import { runInvocation, serializeError, type Handler } from './agent-lib.ts';
import type { ProtocolChannel } from './channel.ts';
import { ConcurrentInvocations } from './concurrent-invocations.ts';
import { ConcurrentOutput, DEFAULT_CAPTURE_LIMIT_BYTES } from './concurrent-output.ts';
import { frame, parseMessage } from './framing.ts';
import { logMarker, type AgentMessage, type AgentStartTimings, type HostMessage } from './protocol.ts';

export const EXIT_FATAL = 1;
export const EXIT_USAGE = 64;

/** `zygote`: packages imported, waiting for `specialise`. */
export type SessionPhase = 'loading' | 'zygote' | 'idle' | 'invoking' | 'exiting';

type InvokeMessage = Extract<HostMessage, { type: 'invoke' }>;

export interface SessionOptions {
  /** The protocol channel: fd 3 (socketChannel), or in a microVM a virtio-serial port (streamChannel). */
  channel: ProtocolChannel;
  /** Prefixes what the agent says on stderr ("thaw agent"). */
  name: string;
  /** The nonce of the log markers (none: the function's output is not cut into segments). */
  logNonce: string | undefined;
  /** false: only the start segment ends with a marker; the host cuts invocations by arrival order (see logMarker()). */
  invocationMarkers?: boolean;
  /** Whether the function's stdout or stderr holds bytes queued for its pipe (not yet written to it). */
  outputQueued?: () => boolean;
  /** Without markers: the bytes stdout and stderr have taken so far, sent with each result (ResultSegment.written). */
  outputWritten?: () => [number, number] | undefined;
  /** The function's stdout and stderr, captured before any of its code could replace them. */
  writeStdout: (chunk: string) => unknown;
  writeStderr: (chunk: string) => unknown;
  /** Start phases measured so far (reported with init-failed, completed for ready). */
  timings: Partial<AgentStartTimings>;
  /**
   * Invocations served at once (--concurrency; absent: 1). Over 1, invocations end no log segment:
   * each one's output is captured by async context and sent in its result (concurrent-invocations.ts).
   */
  concurrency?: number;
  /** With concurrency > 1: per invocation and stream, the bytes of output kept (absent: 64 KiB). */
  logLimitBytes?: number;
  /** Host messages other than invoke and shutdown (restored, specialise); absent: refused. */
  onOther?: (message: Exclude<HostMessage, { type: 'invoke' | 'shutdown' | 'abandon' }>) => void;
}

/** Thrown (and ignored by onFatal) after a last message was sent, to stop the caller going on. */
export class AgentExiting extends Error {}

export class AgentSession {
  phase: SessionPhase = 'loading';
  /** Start phases so far; a zygote's specialisation starts a new set. */
  timings: Partial<AgentStartTimings>;
  #handler: Handler | undefined;
  #logNonce: string | undefined;
  #segment = 0;
  #current: { id: string; startedMs: number } | undefined;
  /** Invocations that arrived while one ran (the host sends one at a time; this is for one that does not). */
  readonly #queue: InvokeMessage[] = [];
  readonly #options: SessionOptions;
  /** With concurrency > 1, the invocations in flight; absent: one at a time (#current). */
  #concurrent: ConcurrentInvocations | undefined;

  constructor(options: SessionOptions) {
    this.#options = options;
    this.#logNonce = options.logNonce;
    this.timings = options.timings;
    // Made here, before the function's code loads: the streams it finds must already be routed.
    this.serveUpTo(options.concurrency ?? 1, options.logLimitBytes);
  }

  /**
   * Serve up to `concurrency` invocations at once (see SessionOptions.concurrency): at the start, or
   * when a zygote, booted before its function was known, is specialised — before the function's
   * code loads, either way. 1 changes nothing, nor does a second call (the first one's stands).
   */
  serveUpTo(concurrency: number, logLimitBytes: number | undefined): void {
    if (concurrency <= 1 || this.#concurrent !== undefined) return;
    if (this.#handler !== undefined) throw new Error('the session\'s concurrency is set before its function loads');
    this.#concurrent = new ConcurrentInvocations(concurrency, new ConcurrentOutput(logLimitBytes ?? DEFAULT_CAPTURE_LIMIT_BYTES));
  }

  /** The function's handler, once it is loaded and ready. */
  get handler(): Handler | undefined {
    return this.#handler;
  }

  /** Says `message` on stderr and exits with `code`. */
  fail(message: string, code: number): never {
    this.#options.writeStderr(`${this.#options.name}: ${message}\n`);
    process.exit(code);
  }

  send(message: AgentMessage, then?: () => void): void {
    this.#options.channel.send(frame(message), then);
  }

  /** Sends the last message and exits once it is flushed (or the channel is gone). */
  sendAndExit(message: AgentMessage, code: number): void {
    this.#sendLinesAndExit(frame(message), code);
  }

  /** Sends the last lines (newline-terminated JSON text) and exits once they are flushed (or the channel is gone). */
  #sendLinesAndExit(lines: string, code: number): void {
    this.phase = 'exiting';
    if (!this.#options.channel.open) process.exit(code);
    this.#options.channel.send(lines, () => process.exit(code));
  }

  /**
   * Ends an invocation's log segment: with markers, unless the host cuts invocations by arrival
   * order and nothing is still queued for the pipes. True when markers were written although the
   * host does not expect them (the result says so: `marked`).
   */
  #endInvocationSegment(): boolean {
    if (this.#options.invocationMarkers !== false) {
      this.endSegment();
      return false;
    }
    if (!this.#options.outputQueued?.()) return false;
    this.endSegment();
    return true;
  }

  /** Ends the current log segment: its marker on stdout and stderr, after the function's output. */
  endSegment(): void {
    if (this.#logNonce === undefined) return;
    const marker = logMarker(this.#logNonce, this.#segment);
    try {
      this.#options.writeStdout(marker);
      this.#options.writeStderr(marker);
    } catch {
      // A closed stdout or stderr loses logs, not the result.
    }
  }

  /** A restored VM's new instance: its nonce, and log segments counted from 0 again. */
  restartSegments(logNonce: string): void {
    this.#logNonce = logNonce;
    this.#segment = 0;
  }

  /** The function's start failed: init-failed with the phases measured so far, then exit. Never returns. */
  initFailed(err: unknown): never {
    this.endSegment();
    this.sendAndExit({ type: 'init-failed', error: serializeError(err, 'init'), timings: this.timings }, EXIT_FATAL);
    // Nothing runs after this but the flush; stop the caller here.
    throw new AgentExiting();
  }

  /** The function is loaded and initialised: end the start segment, say ready, serve invocations. */
  ready(handler: Handler, extra: Omit<Extract<AgentMessage, { type: 'ready' }>, 'type' | 'timings'> = {}): void {
    this.endSegment();
    this.phase = 'idle';
    this.#handler = handler;
    this.send({ type: 'ready', timings: this.timings as AgentStartTimings, ...extra });
  }

  /** An error nobody caught (uncaughtException, unhandledRejection, a rejected step): answer for the phase it came in. */
  onFatal(err: unknown): void {
    if (err instanceof AgentExiting) return;
    switch (this.phase) {
      case 'loading':
        this.endSegment();
        this.sendAndExit({ type: 'init-failed', error: serializeError(err, 'init'), timings: this.timings }, EXIT_FATAL);
        return;
      case 'invoking': {
        if (this.#concurrent !== undefined) {
          // Every invocation in flight fails with the instance; the one that threw is named.
          this.#sendLinesAndExit(this.#concurrent.failAll(err), EXIT_FATAL);
          return;
        }
        const inv = this.#current!;
        this.#current = undefined;
        const marked = this.#endInvocationSegment();
        this.sendAndExit(
          {
            type: 'result',
            id: inv.id,
            ok: false,
            error: serializeError(err, 'error'),
            durationMs: performance.now() - inv.startedMs,
            fatal: true,
            ...(marked ? { marked } : {}),
          },
          EXIT_FATAL,
        );
        return;
      }
      case 'zygote':
      case 'idle':
        // Outside an invocation: behave as node does (print it, exit 1); the host sees the exit.
        this.phase = 'exiting';
        try {
          this.#options.writeStderr(`${inspect(err)}\n`);
        } catch {
          // nothing more to do
        }
        process.exit(EXIT_FATAL);
        return;
      case 'exiting':
        return;
    }
  }

  /** Reads the host's messages until the channel ends. */
  listen(): void {
    this.#options.channel.listen(
      (line) => this.#onLine(line),
      // The host went away (or closed the channel to stop us): nothing left to serve.
      () => process.exit(0),
      () => process.exit(EXIT_FATAL),
    );
  }

  #onLine(line: string): void {
    const msg = parseMessage<HostMessage>(line);
    if (msg === undefined) this.fail(`bad message from the host: ${line.slice(0, 200)}`, EXIT_USAGE);
    if (msg.type === 'invoke') {
      if (this.#handler === undefined) this.fail('an invocation arrived before a function was loaded (a zygote must be specialised first)', EXIT_USAGE);
      this.#queue.push(msg);
      this.#serve();
    } else if (msg.type === 'abandon') {
      this.#abandon(msg.id);
    } else if (msg.type === 'shutdown') {
      this.phase = 'exiting';
      process.exit(0);
    } else if (this.#options.onOther && (msg.type === 'restored' || msg.type === 'specialise')) {
      this.#options.onOther(msg);
    } else {
      this.fail(`unknown message type ${JSON.stringify((msg as { type?: unknown }).type)}`, EXIT_USAGE);
    }
  }

  /**
   * Starts the next queued invocation if the session is idle. Each invocation's end calls this
   * again, in a microtask of its own (runInvocation never ends one synchronously), so the queue
   * drains without the stack growing with it.
   */
  #serve(): void {
    if (this.#concurrent !== undefined) return this.#serveConcurrently(this.#concurrent);
    if (this.phase !== 'idle') return;
    const msg = this.#queue.shift();
    if (msg !== undefined) this.#invoke(this.#handler!, msg);
  }

  /** Starts queued invocations while fewer than the session's concurrency are in flight. */
  #serveConcurrently(concurrent: ConcurrentInvocations): void {
    while ((this.phase === 'idle' || this.phase === 'invoking') && concurrent.hasRoom()) {
      const msg = this.#queue.shift();
      if (msg === undefined) return;
      this.phase = 'invoking';
      concurrent.start(this.#handler!, msg, (line) => this.#finishConcurrent(concurrent, line));
    }
  }

  /** A concurrent invocation's result line (its output inside): send it, take the next. */
  #finishConcurrent(concurrent: ConcurrentInvocations, line: string): void {
    this.#options.channel.send(`${line}\n`);
    if (this.phase === 'invoking' && concurrent.size === 0) this.phase = 'idle';
    this.#serve();
  }

  /**
   * The host gave up on an invocation (concurrency > 1 only): answer with its output so far and
   * take the next in its slot. One serving one at a time does not answer: the host kills it.
   */
  #abandon(id: string): void {
    const concurrent = this.#concurrent;
    if (concurrent === undefined) return;
    const queued = this.#queue.findIndex((m) => m.id === id);
    if (queued >= 0) {
      // Not started yet (more arrived than the session serves at once): it never will be.
      this.#queue.splice(queued, 1);
      this.#options.channel.send(frame({ type: 'abandoned', id, durationMs: 0 }));
      return;
    }
    const line = concurrent.abandon(id);
    if (line !== undefined) this.#finishConcurrent(concurrent, line);
  }

  #invoke(handler: Handler, msg: InvokeMessage): void {
    this.phase = 'invoking';
    this.#segment += 1;
    const inv = { id: msg.id, startedMs: performance.now() };
    this.#current = inv;
    runInvocation(handler, msg, inv.startedMs, () => this.#current === inv, (line) => this.#finish(line));
  }

  /** The invocation's result line (JSON text): end its log segment, send it, take the next. */
  #finish(line: string): void {
    this.#current = undefined;
    // (The result's JSON text ends with its closing brace: `marked` or `written` goes in before it.)
    const marked = this.#endInvocationSegment();
    const written = marked || this.#options.invocationMarkers !== false ? undefined : this.#options.outputWritten?.();
    const end = marked ? ',"marked":true}' : written ? `,"written":[${written[0]},${written[1]}]}` : undefined;
    this.#options.channel.send(end === undefined ? `${line}\n` : `${line.slice(0, -1)}${end}\n`);
    this.phase = 'idle';
    this.#serve();
  }
}
