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
      code: string;
      env: Record<string, string>;
      memoryMb: number;
      cpuLimitMs: number;
      timeoutMs: number;
    }
  | { id: number; op: 'invoke'; isolate: string; payload: unknown; context: unknown; cpuLimitMs: number; timeoutMs: number }
  | { id: number; op: 'dispose'; isolate: string; /** Drop this version's code cache too. */ forget?: string }
  | { id: number; op: 'heap'; isolate: string };

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
