// What thaw and the isolate host (host.ts) say to each other: one JSON object per line, each request
// with an id that its answer carries back (answers may come in any order: isolates run concurrently).

import type { ErrorKind } from '../../../runtime/protocol.ts';

export type HostRequest =
  | {
      id: number;
      op: 'create';
      isolate: string;
      /** Function version the code belongs to: V8's code cache is kept per key. */
      cacheKey: string;
      /** The bundle: sent once per version (the host keeps it); without it the host answers needCode if it has none. */
      code?: string;
      env: Record<string, string>;
      memoryMb: number;
      cpuLimitMs: number;
      timeoutMs: number;
      /** Keep a spare of this version loaded ahead, for its next start (host.ts); at most this many versions keep one. */
      spares: number;
    }
  | { id: number; op: 'invoke'; isolate: string; payload: unknown; context: unknown; cpuLimitMs: number; timeoutMs: number }
  | { id: number; op: 'dispose'; isolate: string; /** Drop this version's code cache too. */ forget?: string }
  | { id: number; op: 'heap'; isolate: string }
  /** Waits for the version's spare to finish loading, if one is; answers `spare`: one is ready. */
  | { id: number; op: 'spare'; cacheKey: string };

export interface HostError {
  kind: ErrorKind;
  name?: string;
  message: string;
  stack?: string;
}

export interface HostAnswer {
  id: number;
  ok: boolean;
  /** The host's first line: it is listening. */
  ready?: boolean;
  error?: HostError;
  /** create: the host does not have this version's code: send the request again with it. */
  needCode?: boolean;
  /** create: the instance is a spare loaded ahead (its bundle was evaluated before this start); spare: whether one is ready. */
  spare?: boolean;
  /** create: the isolate's start phases, ms (sandbox = isolate and context with the prelude). */
  timings?: { sandboxMs: number; importMs: number; initMs: number };
  /** invoke */
  value?: unknown;
  stdout?: string;
  stderr?: string;
  durationMs?: number;
  /** invoke: the isolate is gone (a limit, OOM): replace the instance. */
  fatal?: boolean;
  /** heap */
  heapMb?: number;
}
