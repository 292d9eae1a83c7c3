// The HTTP gateway: thaw's API on node:http. The routes, their schemas and handlers are one table
// (routes.ts; GET /openapi.json is made from it); this module matches a request to its route,
// checks the caller's token (--token-file: the route's scope), validates the path parameters,
// query, headers and body against the route's schemas, and runs the handler. Every error is a JSON
// body {"error": {"code", "message"}} with a status that says whose fault it was: bad input is a
// 4xx naming the part that was wrong, never a 500.

import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { EXIT, ThawError, type ErrorCode } from '../../core/errors.ts';
import type { ManualScheduler } from '../invoker/scheduler.ts';
import type { Platform } from '../platform.ts';
import type { TokenSet } from '../auth/tokens.ts';
import { badRequest, parseJsonText, parseTarget, readBody } from './request.ts';
import { sendJson, type Route, type RouteContext } from './route.ts';
import { ROUTES } from './routes.ts';
import { fromString, validate, type Schema } from './schema.ts';

export interface Gateway {
  server: Server;
  url: string;
  close(): Promise<void>;
}

export interface GatewayOptions {
  host?: string;
  port?: number;
  /** Exposes POST /debug/clock to advance the platform's manual clock (thaw serve --clock manual). */
  manualClock?: ManualScheduler;
  /** API tokens (thaw serve --token-file): every route but the public ones needs one. */
  tokens?: TokenSet;
  /** Log the stack of a request's 5xx error (thaw serve --debug); else one line. */
  debug?: boolean;
  /** How long a client may take (default DEFAULT_TIMEOUTS; tests shorten them). */
  timeouts?: Partial<GatewayTimeouts>;
}

/**
 * What a client may hold without making progress. A request's headers and its body must arrive in
 * time (a trickling client gets 408 and is closed); an idle keep-alive connection is closed. None
 * of them limits how long an invocation runs: that is the function's timeoutMs.
 */
export interface GatewayTimeouts {
  /** From the connection (or the previous response) to the end of the request's headers. */
  headersMs: number;
  /** From the connection to the end of the request's body (a 60 MiB deploy at 1 MB/s fits). */
  requestMs: number;
  /** An idle keep-alive connection between requests (longer than a load balancer's usual 60 s, so it closes first). */
  keepAliveMs: number;
  /** How often node checks the two above. */
  checkEveryMs: number;
}

export const DEFAULT_TIMEOUTS: Readonly<GatewayTimeouts> = Object.freeze({ headersMs: 10_000, requestMs: 120_000, keepAliveMs: 65_000, checkEveryMs: 1_000 });

export async function startGateway(platform: Platform, options: GatewayOptions = {}): Promise<Gateway> {
  const timeouts = { ...DEFAULT_TIMEOUTS, ...options.timeouts };
  const server = createServer(
    { headersTimeout: timeouts.headersMs, requestTimeout: timeouts.requestMs, keepAliveTimeout: timeouts.keepAliveMs, connectionsCheckingInterval: timeouts.checkEveryMs },
    (req, res) => {
      handle(platform, req, res, options).catch((error: unknown) => sendError(req, res, error, options.debug));
    },
  );
  server.on('clientError', answerClientError);
  // No CONNECT proxying and no protocol upgrades here: say so rather than drop the connection.
  server.on('connect', (req: IncomingMessage, socket: Duplex) => answerRaw(socket, 405, 'Method Not Allowed', 'ERR_METHOD_NOT_ALLOWED', `${req.method} is not a method of thaw's API`));
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 8080, options.host ?? '127.0.0.1', () => resolve());
  });
  const address = server.address() as AddressInfo;
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  return {
    server,
    url: `http://${host}:${address.port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

interface Match {
  route: Route;
  params: Record<string, string>;
}

/** The route for these segments and method; otherwise the methods the path does answer (none: no such path). */
function match(method: string, segments: string[]): Match | { allowed: string[] } {
  let best: (Match & { literals: number }) | undefined;
  const allowed = new Set<string>();
  for (const route of routesOfLength(segments.length)) {
    const pattern = templateOf(route);
    const params: Record<string, string> = {};
    let literals = 0;
    const fits = pattern.every((part, i) => {
      if (part.param) return (params[part.param] = segments[i]!), true;
      literals++;
      return part.literal === segments[i];
    });
    if (!fits) continue;
    allowed.add(route.method);
    // A literal segment beats a parameter: GET /dashboard/state is not GET /dashboard/{file}.
    if (route.method === method && (!best || literals > best.literals)) best = { route, params, literals };
  }
  return best ?? { allowed: [...allowed] };
}

/** The routes whose paths have `n` segments: a request is matched against those alone. */
let byLength: Map<number, Route[]> | undefined;
function routesOfLength(n: number): readonly Route[] {
  if (!byLength) {
    byLength = new Map();
    for (const route of ROUTES) {
      const length = templateOf(route).length;
      byLength.set(length, [...(byLength.get(length) ?? []), route]);
    }
  }
  return byLength.get(n) ?? [];
}

const templates = new WeakMap<Route, Array<{ literal?: string; param?: string }>>();
function templateOf(route: Route): Array<{ literal?: string; param?: string }> {
  let t = templates.get(route);
  if (!t) {
    t = route.path === '/' ? [] : route.path.slice(1).split('/').map((part) => (/^\{\w+\}$/.test(part) ? { param: part.slice(1, -1) } : { literal: part }));
    templates.set(route, t);
  }
  return t;
}

async function handle(platform: Platform, req: IncomingMessage, res: ServerResponse, options: GatewayOptions): Promise<void> {
  const method = req.method ?? 'GET';
  const target = parseTarget(req.url ?? '/');
  const found = match(method, target.segments);
  if ('allowed' in found) {
    // With tokens, which paths exist is for callers with a token to learn.
    options.tokens?.authorize(req.headers.authorization, 'admin');
    if (found.allowed.length === 0) throw new ThawError('ERR_NOT_FOUND', `no route ${method} ${target.rawPath} (see GET /openapi.json, or the API in docs/platform.md)`);
    res.setHeader('allow', found.allowed.join(', '));
    throw new ThawError('ERR_METHOD_NOT_ALLOWED', `${method} is not a method of ${target.rawPath}: it answers ${found.allowed.join(', ')}`);
  }
  const { route, params } = found;
  if (options.tokens && route.scope !== 'public') {
    // EventSource cannot send headers: the dashboard's event stream may carry its token in the query.
    const queryToken = route.path === '/events' ? target.query.get('access_token') : undefined;
    options.tokens.authorize(req.headers.authorization ?? (queryToken ? `Bearer ${queryToken}` : undefined), route.scope);
  }
  const ctx: RouteContext = {
    platform,
    req,
    res,
    manualClock: options.manualClock,
    params: fromStrings('path parameter', route.params, params),
    query: queryValues(route, target.query),
    headers: headerValues(route, req),
    body: undefined,
    bodyType: undefined,
    bodyJson: undefined,
  };
  if (route.body) {
    const raw = await readBody(req, route.body.limit(platform));
    if (raw.length === 0 && route.body.required) throw badRequest(`body: required (${route.body.description})`);
    const type = mediaType(req);
    if (route.body.binary && type !== undefined && !type.includes('json')) {
      ctx.body = raw;
      ctx.bodyType = type;
    } else if (route.body.binary && type === undefined) {
      ctx.body = raw; // a tarball sent without a type, as curl --data-binary does
      ctx.bodyType = 'application/octet-stream';
    } else {
      // JSON whatever the declared type: `curl -d` sends application/x-www-form-urlencoded.
      if (raw.length > 0) {
        ctx.bodyJson = raw.toString('utf8');
        ctx.body = parseJsonText(ctx.bodyJson);
      }
      ctx.bodyType = 'application/json';
      if (route.body.json !== true && route.body.json && ctx.body !== undefined) check(route.body.json, ctx.body, 'body');
    }
  }
  // (A body a route does not read is left alone: node discards it once the response ends. Reading
  // it here would end the request early, and GET /events stops its stream when the request closes.)
  await route.handle(ctx);
}

function mediaType(req: IncomingMessage): string | undefined {
  const raw = req.headers['content-type'];
  return raw ? raw.split(';')[0]!.trim().toLowerCase() || undefined : undefined;
}

/** Path or query values converted to their schemas' types, and validated. */
function fromStrings(where: string, schemas: Readonly<Record<string, Schema>> | undefined, raw: Record<string, string>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(raw)) {
    const schema = schemas?.[name] ?? {};
    out[name] = fromString(schema, value);
    check(schema, out[name], `${where} '${name}'`);
  }
  return out;
}

function queryValues(route: Route, query: Map<string, string>): Record<string, unknown> {
  for (const name of query.keys()) {
    if (!route.query?.[name]) {
      const known = Object.keys(route.query ?? {});
      throw badRequest(`unknown query parameter '${name.slice(0, 80)}' for ${route.method} ${route.path}${known.length ? ` (it takes ${known.join(', ')})` : ' (it takes none)'}`);
    }
  }
  return fromStrings('query parameter', route.query, Object.fromEntries(query));
}

function headerValues(route: Route, req: IncomingMessage): Record<string, unknown> {
  const raw: Record<string, string> = {};
  for (const name of Object.keys(route.headers ?? {})) {
    const value = req.headers[name];
    if (Array.isArray(value)) throw badRequest(`header '${name}' is given more than once`);
    if (value !== undefined) raw[name] = value;
  }
  return fromStrings('header', route.headers, raw);
}

function check(schema: Schema, value: unknown, where: string): void {
  const failure = validate(schema, value, where);
  if (failure) throw badRequest(failure);
}

/**
 * A request node's HTTP parser refused (malformed request line or headers, headers too large, too
 * slow): answered in JSON as every other error, with the status node itself would use, then closed.
 */
function answerClientError(error: NodeJS.ErrnoException, socket: Duplex): void {
  // As node does: answer unless a response has started on this socket (its bytes would be corrupted).
  if (!socket.writable || (socket as Duplex & { _httpMessage?: ServerResponse })._httpMessage?.headersSent) {
    socket.destroy();
    return;
  }
  if (error.code === 'HPE_HEADER_OVERFLOW') return answerRaw(socket, 431, 'Request Header Fields Too Large', 'ERR_PAYLOAD_TOO_LARGE', 'the request line and headers are over the limit of 16 KiB');
  if (error.code === 'ERR_HTTP_REQUEST_TIMEOUT') return answerRaw(socket, 408, 'Request Timeout', 'ERR_INVALID_REQUEST', 'the request (its headers and body) did not arrive in time');
  answerRaw(socket, 400, 'Bad Request', 'ERR_INVALID_REQUEST', `malformed HTTP request (${error.code ?? 'parse error'}: ${String(error.message).slice(0, 100)})`);
}

/** A JSON error written straight to the socket, which is then closed. */
function answerRaw(socket: Duplex, status: number, reason: string, code: ErrorCode, message: string): void {
  const body = JSON.stringify({ error: { code, message } });
  socket.end(`HTTP/1.1 ${status} ${reason}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`, () => socket.destroy());
}

function sendError(req: IncomingMessage, res: ServerResponse, error: unknown, debug = false): void {
  req.resume(); // drain an unread body, so the client reads this answer rather than a reset connection
  if (req.socket.destroyed) return; // the client went away (or timed out) mid-request: no one to answer
  if (res.headersSent) {
    res.destroy();
    return;
  }
  if (error instanceof ThawError) {
    if (error.code === 'ERR_UNAUTHORIZED') res.setHeader('www-authenticate', 'Bearer realm="thaw"');
    if (error.exitCode === EXIT.INTERNAL) logServerError(error, debug);
    return sendJson(res, error.status, { error: { code: error.code, message: error.message } });
  }
  // A bug in thaw, not the caller's fault: say so without leaking internals, keep serving.
  logServerError(error, debug);
  sendJson(res, 500, { error: { code: 'ERR_INTERNAL', message: `internal error: ${(error as Error)?.message ?? String(error)}` } });
}

/** One line in the server's log; the stack only with thaw serve --debug. */
function logServerError(error: unknown, debug: boolean): void {
  const e = error as Error & { code?: string };
  const line = debug ? (e?.stack ?? String(error)) : `${e?.code ?? 'ERR_INTERNAL'}: ${e?.message ?? String(error)}`;
  process.stderr.write(`thaw: ${line}\n`);
}
