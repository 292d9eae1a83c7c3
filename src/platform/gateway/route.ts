// The shape of a route in thaw's HTTP API (the table itself is routes.ts): what it accepts, as
// schemas, what it answers, an example request, and its handler.

import type { IncomingMessage, ServerResponse } from 'node:http';
import type { ManualScheduler } from '../invoker/scheduler.ts';
import type { Platform } from '../platform.ts';
import type { Schema } from './schema.ts';

export type Method = 'GET' | 'POST' | 'PUT' | 'DELETE';
/** public: anyone; invoke: an invoke or admin token; admin: an admin token (only with --token-file). */
export type RouteScope = 'public' | 'invoke' | 'admin';

export interface RouteContext {
  platform: Platform;
  req: IncomingMessage;
  res: ServerResponse;
  /** POST /debug/clock's clock (thaw serve --clock manual). */
  manualClock: ManualScheduler | undefined;
  /** Validated values, converted to their schema's type (integers, booleans). */
  params: Record<string, any>;
  query: Record<string, any>;
  headers: Record<string, any>;
  /** The parsed JSON body (undefined when empty), or the raw bytes of a binary body. */
  body: any;
  /** The body's media type, as matched: 'application/json' or one of the route's binary types. */
  bodyType: string | undefined;
  /** A JSON body's text as received (what `body` was parsed from), to pass on without encoding it again. */
  bodyJson: string | undefined;
}

export interface BodySpec {
  description: string;
  /** The JSON body's schema; `true`: any JSON value. */
  json?: Schema | true;
  /** Binary media types also accepted (the body is handed over as bytes). */
  binary?: readonly string[];
  required: boolean;
  /** Largest body accepted, bytes. */
  limit: (platform: Platform) => number;
}

export interface ResponseSpec {
  description: string;
  /** Media type of the body; default application/json. */
  type?: string;
  schema?: Schema;
}

/** A request that this route accepts (checked by test/platform/gateway/openapi.test.ts). */
export interface RouteExample {
  params?: Record<string, string>;
  query?: Record<string, string>;
  headers?: Record<string, string>;
  body?: unknown;
}

export interface Route {
  method: Method;
  /** OpenAPI path template: /functions/{name}/invoke. */
  path: string;
  summary: string;
  scope: RouteScope;
  params?: Readonly<Record<string, Schema>>;
  query?: Readonly<Record<string, Schema>>;
  /** Header names in lower case. */
  headers?: Readonly<Record<string, Schema>>;
  body?: BodySpec;
  responses: Readonly<Record<string, ResponseSpec>>;
  example?: RouteExample;
  handle(ctx: RouteContext): Promise<void> | void;
}

/** The error body of every 4xx and 5xx. */
export const ERROR_SCHEMA: Schema = {
  type: 'object',
  required: ['error'],
  properties: {
    error: {
      type: 'object',
      required: ['code', 'message'],
      properties: {
        code: { type: 'string', description: 'a stable code (src/core/errors.ts)' },
        message: { type: 'string', description: 'what was wrong, and where' },
        kind: { type: 'string', description: 'failed invocations: error, init, exit, oom, timeout, throttled' },
        invocationId: { type: 'string' },
      },
    },
  },
};

export function sendJson(res: ServerResponse, status: number, body: unknown): void {
  sendJsonText(res, status, JSON.stringify(body));
}

/**
 * A body already encoded as JSON, with `headers` (name, value, name, value…) beside its own. A flat
 * list handed to writeHead is written as it is when no header was set before (node's fast path:
 * no per-header map entry and validation pass, a tenth of a warm invocation's answer time).
 */
export function sendJsonText(res: ServerResponse, status: number, text: string, headers: readonly string[] = []): void {
  res.writeHead(status, [...headers, 'content-type', 'application/json', 'content-length', String(Buffer.byteLength(text))]);
  res.end(text);
}
