// The invocations an agent started with --concurrency=N>1 has in flight: each runs in its own
// async context (concurrent-output.ts), so its output goes into its result instead of onto the
// pipes, and an error nobody caught can be pinned on the invocation whose code threw it. The
// session (session.ts) decides when one starts; this holds what is running.

import { runInvocation, serializeError, type Handler } from './agent-lib.ts';
import type { ConcurrentOutput, InvocationOutput } from './concurrent-output.ts';
import type { AgentMessage, HostMessage, SerializedError } from './protocol.ts';

type InvokeMessage = Extract<HostMessage, { type: 'invoke' }>;

interface InFlight {
  id: string;
  startedMs: number;
  output: InvocationOutput;
}

export class ConcurrentInvocations {
  /** By invocation id (the host gives each invocation in flight an id of its own). */
  readonly #inFlight = new Map<string, InFlight>();
  readonly #output: ConcurrentOutput;

  constructor(
    /** The most invocations in flight at once. */
    readonly limit: number,
    output: ConcurrentOutput,
  ) {
    this.#output = output;
  }

  get size(): number {
    return this.#inFlight.size;
  }

  hasRoom(): boolean {
    return this.#inFlight.size < this.limit;
  }

  /**
   * Starts one invocation in an async context of its own; `done` gets its result line (JSON text, no
   * newline) with the output it wrote, unless failAll() answered it first.
   */
  start(handler: Handler, msg: InvokeMessage, done: (line: string) => void): void {
    const inv: InFlight = { id: msg.id, startedMs: performance.now(), output: this.#output.newOutput() };
    this.#inFlight.set(inv.id, inv);
    const stillInFlight = (): boolean => this.#inFlight.get(inv.id) === inv;
    this.#output.run(inv.output, () =>
      runInvocation(handler, msg, inv.startedMs, stillInFlight, (line) => {
        this.#inFlight.delete(inv.id);
        // (The result's JSON text ends with its closing brace: the output goes in before it.)
        done(`${line.slice(0, -1)}${inv.output.resultFields()}}`);
      }),
    );
  }

  /**
   * The host gave up on invocation `id` (its deadline passed): it leaves the invocations in flight,
   * so its result is never sent and its slot is free, and what it writes from now on goes to the
   * pipes. The `abandoned` line (JSON text, no newline) with its output so far; undefined when it
   * is not in flight (it ended, and its result is on its way to the host).
   */
  abandon(id: string): string | undefined {
    const inv = this.#inFlight.get(id);
    if (inv === undefined) return undefined;
    this.#inFlight.delete(id);
    const head = JSON.stringify({ type: 'abandoned', id, durationMs: performance.now() - inv.startedMs } satisfies AgentMessage);
    return `${head.slice(0, -1)}${inv.output.resultFields()}}`;
  }

  /**
   * An error nobody caught (the agent exits next): a fatal result line for every invocation in
   * flight, newline-terminated. The invocation whose async context it came from gets the error
   * itself; the others (all of them, when it came from outside any invocation in flight) get it as
   * the reason the instance failed under them.
   */
  failAll(err: unknown): string {
    const culprit = this.#output.current();
    const error = serializeError(err, 'error');
    const sibling: SerializedError = { ...error, message: `the instance failed while serving it: ${error.name ? `${error.name}: ` : ''}${error.message}` };
    let lines = '';
    for (const inv of this.#inFlight.values()) {
      const result = {
        type: 'result',
        id: inv.id,
        ok: false,
        error: inv.output === culprit ? error : sibling,
        durationMs: performance.now() - inv.startedMs,
        fatal: true,
      } satisfies AgentMessage;
      lines += `${JSON.stringify(result).slice(0, -1)}${inv.output.resultFields()}}\n`;
    }
    this.#inFlight.clear();
    return lines;
  }
}
