// The HTTP gateway: thaw's API on node:http. JSON in, JSON out; every error is a JSON body
// {"error": {"code", "message"}} with a status that says whose fault it was. With API tokens
// (--token-file), every route but /healthz and the dashboard's files needs `Authorization: Bearer`:
// an invoke token for invoking (and GET /invocations/:id, GET /functions[/:name]), admin for the rest.
//
//   GET    /                                the dashboard (static files under /dashboard/)
//   GET    /dashboard/state                 what it shows: functions, instances, memory, invocations, decisions
//   GET    /events                          server-sent events: invocations, decisions, deploys, live state
//   GET    /healthz                         liveness and the isolation in force
//   GET    /cluster                         cluster mode: the members and their adverts
//   GET    /functions                       deployed functions
//   POST   /functions                       deploy: {"files": {path: contents}, "settings": {...}}
//                                           or a .tar.gz body (settings in ?name=&memory=...)
//   GET    /functions/:name                 a function and its versions
//   DELETE /functions/:name                 remove it
//   GET    /functions/:name/aliases         its aliases
//   PUT    /functions/:name/aliases/:alias  create or re-point: {"routes": [{"version": 3, "weight": 90}, ...]}
//   DELETE /functions/:name/aliases/:alias
//   POST   /functions/:name/invoke          synchronous invocation (body: the event); :name may be
//                                           NAME@VERSION or NAME@ALIAS (a weighted pick per invocation);
//                                           answers with Server-Timing (the phases); accepts a W3C traceparent
//   POST   /functions/:name/invoke?async=1  asynchronous: 202 {id}; also header X-Thaw-Invocation-Type: async;
//                                           Idempotency-Key: a repeat gets the first invocation's id
//   GET    /invocations/:id[?wait=MS]       an invocation's record: status, result, phases, logs
//                                           (wait: until it is final, at most MS ms)
//   DELETE /functions/:name/instances[?wait=1]  evict: stop its idle instances (wait=1: busy ones too, as
//                                           they finish), so the next invocation starts cold
//   GET    /functions/:name/invocations     the latest records
//   GET    /functions/:name/logs            stdout/stderr of the latest invocations
//   GET    /functions/:name/stats           counts and latency percentiles by start kind and phase
//   PUT    /functions/:name/schedule        timer trigger {"cron": "*/5 * * * *", "payload": {...}}
//   DELETE /functions/:name/schedule
//   GET    /dead-letters[?function=NAME]    async invocations that failed for good, with their payload
//   POST   /dead-letters/redrive            {"ids": [...]} or {"all": true, "function"?}: back into the queue
//   GET    /stats                           instances, memory, costs
//   GET    /metrics                         Prometheus
//   POST   /debug/clock                     advance the manual clock (thaw serve --clock manual only)

import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ERRORS, EXIT, invocationErrorCode, ThawError } from '../../core/errors.ts';
import type { DeploySettings } from '../deploy/index.ts';
import type { ManualScheduler } from '../invoker/scheduler.ts';
import type { Platform } from '../platform.ts';
import { validateAliasRoutes } from '../store/aliases.ts';
import { dashboardState, serveDashboardAsset, streamEvents } from './dashboard.ts';
import type { Scope, TokenSet } from '../auth/tokens.ts';
import { parseFunctionRef } from '../traffic.ts';
import { parseTraceparent, serverTiming } from '../tracing.ts';

export const DEPLOY_BODY_LIMIT = 60 * 1024 * 1024;

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
  /** API tokens (thaw serve --token-file): every route but /healthz and the dashboard's files needs one. */
  tokens?: TokenSet;
  /** Log the stack of a request's 5xx error (thaw serve --debug); else one line. */
  debug?: boolean;
}

export async function startGateway(platform: Platform, options: GatewayOptions = {}): Promise<Gateway> {
  const server = createServer((req, res) => {
    handle(platform, req, res, options).catch((error: unknown) => sendError(res, error, options.debug));
  });
  server.keepAliveTimeout = 65_000;
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

async function handle(platform: Platform, req: IncomingMessage, res: ServerResponse, options: GatewayOptions): Promise<void> {
  const clock = options.manualClock;
  const url = new URL(req.url ?? '/', 'http://thaw');
  const parts = url.pathname.split('/').filter(Boolean).map(decodeURIComponent);
  const method = req.method ?? 'GET';
  const route = `${method} /${parts.map((p, i) => (i % 2 === 1 && ['functions', 'invocations', 'aliases'].includes(parts[i - 1]!) ? ':id' : p)).join('/')}`;

  if (method === 'GET' && serveDashboardAsset(url.pathname, res)) return;
  if (options.tokens && route !== 'GET /healthz') {
    // EventSource cannot send headers: the dashboard's event stream may carry its token in the query.
    const queryToken = route === 'GET /events' ? url.searchParams.get('access_token') : null;
    try {
      options.tokens.authorize(req.headers.authorization ?? (queryToken ? `Bearer ${queryToken}` : undefined), scopeOf(route));
    } catch (error) {
      req.resume(); // drain the body, so the client reads the 401/403 rather than a reset connection
      throw error;
    }
  }
  switch (route) {
    case 'GET /dashboard/state':
      return sendJson(res, 200, await dashboardState(platform));
    case 'GET /events':
      return streamEvents(platform, req, res);
    case 'GET /cluster':
      return sendJson(res, 200, platform.options.cluster?.status() ?? { self: null, members: [] });
    case 'GET /healthz':
      return sendJson(res, 200, { ok: true, isolation: platform.backend.isolation });
    case 'GET /functions':
      return sendJson(res, 200, { functions: platform.store.functions.list().map(summarizeFunction) });
    case 'POST /functions':
      return deploy(platform, req, res, url);
    case 'GET /functions/:id': {
      const info = platform.store.functions.require(parts[1]!);
      return sendJson(res, 200, { ...summarizeFunction(info), versions: platform.store.functions.versions(info.name), aliases: platform.store.aliases.list(info.name) });
    }
    case 'GET /functions/:id/aliases':
      platform.store.functions.require(parts[1]!);
      return sendJson(res, 200, { aliases: platform.store.aliases.list(parts[1]!) });
    case 'PUT /functions/:id/aliases/:id': {
      const body = (await readJson(req, 64 * 1024)) as { routes?: unknown };
      return sendJson(res, 200, platform.setAlias(parts[1]!, parts[3]!, validateAliasRoutes(body?.routes)));
    }
    case 'DELETE /functions/:id/aliases/:id':
      platform.removeAlias(parts[1]!, parts[3]!);
      return sendJson(res, 200, { removed: parts[3] });
    case 'DELETE /functions/:id':
      platform.remove(parts[1]!);
      return sendJson(res, 200, { removed: parts[1] });
    case 'DELETE /functions/:id/instances': {
      const wait = url.searchParams.get('wait');
      if (wait !== null && !['0', '1', 'true', 'false'].includes(wait)) throw new ThawError('ERR_INVALID_OPTION', `query parameter wait must be 1 or 0, got '${wait}'`);
      return sendJson(res, 200, await platform.evict(parts[1]!, { waitForBusy: wait === '1' || wait === 'true' }));
    }
    case 'POST /functions/:id/invoke':
      return invoke(platform, req, res, parts[1]!, url);
    case 'GET /invocations/:id': {
      const wait = url.searchParams.has('wait') ? intParam(url, 'wait', 0, 60_000) : 0;
      return sendJson(res, 200, wait > 0 ? await platform.waitForInvocation(parts[1]!, wait) : await platform.invocation(parts[1]!));
    }
    case 'GET /functions/:id/invocations':
      return sendJson(res, 200, { invocations: await platform.latestInvocations(parts[1]!, intParam(url, 'limit', 20)) });
    case 'GET /functions/:id/logs':
      platform.store.functions.require(parts[1]!);
      return sendJson(res, 200, { logs: platform.store.invocations.logs(parts[1]!, { limit: intParam(url, 'limit', 20) }) });
    case 'GET /functions/:id/stats':
      platform.store.functions.require(parts[1]!);
      platform.flushCosts();
      return sendJson(res, 200, { ...platform.store.invocations.stats(parts[1]!), idle: platform.store.costs.totals({ functionName: parts[1]! })[0] ?? null });
    case 'PUT /functions/:id/schedule': {
      const body = (await readJson(req, 64 * 1024)) as { cron?: unknown; payload?: unknown };
      if (typeof body?.cron !== 'string') throw new ThawError('ERR_INVALID_OPTION', 'expected {"cron": "<expression>", "payload": {...}}');
      platform.setSchedule(parts[1]!, body.cron, body.payload ?? {});
      return sendJson(res, 200, { schedules: platform.schedules().filter((s) => s.name === parts[1]) });
    }
    case 'DELETE /functions/:id/schedule':
      platform.setSchedule(parts[1]!, null);
      return sendJson(res, 200, { removed: true });
    case 'GET /dead-letters': {
      const functionName = url.searchParams.get('function') ?? undefined;
      if (functionName) platform.store.functions.require(functionName);
      return sendJson(res, 200, { deadLetters: await platform.asyncQueue.deadLetters({ functionName, limit: intParam(url, 'limit', 100) }) });
    }
    case 'POST /dead-letters/redrive': {
      const body = (await readJson(req, 64 * 1024)) as { ids?: unknown; all?: unknown; function?: unknown };
      const ids = body?.ids;
      const validIds = Array.isArray(ids) && ids.length > 0 && ids.every((id) => typeof id === 'string');
      if (validIds === (body?.all === true) || (body?.function !== undefined && typeof body.function !== 'string')) {
        throw new ThawError('ERR_INVALID_OPTION', 'expected {"ids": ["<invocation id>", ...]} or {"all": true, "function": "<name>" (optional)}');
      }
      const redriven = [];
      if (validIds) for (const id of ids as string[]) redriven.push(...(await platform.redrive({ id })));
      else redriven.push(...(await platform.redrive({ all: true, functionName: body.function as string | undefined })));
      return sendJson(res, 200, { redriven });
    }
    case 'GET /stats':
      platform.flushCosts();
      return sendJson(res, 200, { ...platform.invoker.snapshot(), idleCost: platform.store.costs.totals(), schedules: platform.schedules(), zygotes: (await platform.zygotes?.stats()) ?? null });
    case 'POST /debug/clock': {
      if (!clock) throw new ThawError('ERR_NOT_FOUND', 'the clock is the wall clock (start thaw serve --clock manual to drive it)');
      const body = (await readJson(req, 1024)) as { advanceMs?: unknown };
      if (typeof body?.advanceMs !== 'number' || !(body.advanceMs >= 0)) throw new ThawError('ERR_INVALID_OPTION', 'expected {"advanceMs": <number ≥ 0>}');
      clock.advance(body.advanceMs);
      return sendJson(res, 200, { now: clock.now() });
    }
    case 'GET /metrics':
      res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4' });
      res.end(platform.renderMetrics());
      return;
    default:
      throw new ThawError('ERR_NOT_FOUND', `no route ${method} ${url.pathname} (see the API in docs/platform.md)`);
  }
}

/** Invoking, and what an invoker needs around it (its records, the functions there are), is the invoke scope; the rest is admin. */
const INVOKE_SCOPE = new Set(['POST /functions/:id/invoke', 'GET /invocations/:id', 'GET /functions', 'GET /functions/:id']);

function scopeOf(route: string): Scope {
  return INVOKE_SCOPE.has(route) ? 'invoke' : 'admin';
}

async function invoke(platform: Platform, req: IncomingMessage, res: ServerResponse, ref: string, url: URL): Promise<void> {
  const { name, target: qualifier } = parseFunctionRef(ref);
  platform.store.functions.require(name);
  const version = url.searchParams.get('version');
  if (version !== null && ref.includes('@')) throw new ThawError('ERR_INVALID_OPTION', `both '${ref}' and ?version=${version} name a version: use one`);
  if (version !== null && !/^\d+$/.test(version)) throw new ThawError('ERR_INVALID_OPTION', `query parameter version must be a version number, got '${version}'`);
  const target = version !== null ? Number(version) : qualifier;
  const payload = await readJson(req, platform.options.maxPayloadBytes, true);
  const async = url.searchParams.get('async') === '1' || url.searchParams.get('async') === 'true' || req.headers['x-thaw-invocation-type'] === 'async';
  if (async) {
    const idempotencyKey = header(req, 'idempotency-key');
    const { job, duplicate } = await platform.invokeAsync(name, payload, { target, idempotencyKey, traceparent: parseTraceparent(header(req, 'traceparent')) });
    res.setHeader('location', `/invocations/${job.id}`);
    if (duplicate) res.setHeader('idempotent-replayed', 'true');
    return sendJson(res, 202, { id: job.id, status: duplicate ? job.status : 'queued', ...(duplicate ? { duplicate: true } : {}) });
  }
  const record = await platform.invokeSync(name, payload, target, { traceparent: parseTraceparent(header(req, 'traceparent')) });
  res.setHeader('server-timing', serverTiming(record, record.totalMs ?? 0));
  res.setHeader('x-thaw-invocation-id', record.id);
  res.setHeader('x-thaw-version', String(record.version));
  res.setHeader('x-thaw-start-kind', record.startKind ?? 'none');
  res.setHeader('x-thaw-duration-ms', String(record.totalMs ?? 0));
  if (record.status === 'succeeded') return sendJson(res, 200, record.result ?? null);
  const kind = record.error?.kind ?? 'error';
  if (kind === 'throttled') res.setHeader('retry-after', '1');
  const code = invocationErrorCode(kind);
  return sendJson(res, ERRORS[code].status, { error: { code, kind, message: record.error?.message ?? 'the invocation failed', invocationId: record.id } });
}

async function deploy(platform: Platform, req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
  const type = req.headers['content-type'] ?? '';
  const body = await readBody(req, DEPLOY_BODY_LIMIT);
  let settings: DeploySettings;
  let result;
  if (type.includes('json')) {
    const parsed = parseJson(body) as { files?: unknown; settings?: DeploySettings };
    settings = parsed?.settings ?? {};
    result = await platform.deploy({ upload: { files: parsed?.files as Record<string, string> } }, settings);
  } else {
    settings = Object.fromEntries(url.searchParams) as DeploySettings;
    result = await platform.deploy({ upload: { tarball: body } }, settings);
  }
  return sendJson(res, 201, result);
}

function summarizeFunction(info: { name: string; latestVersion: number | null; versionCount: number; latest?: { memoryMb: number; timeoutMs: number; start: string; snapshotStatus: string | null } }) {
  return {
    name: info.name,
    latestVersion: info.latestVersion,
    versions: info.versionCount,
    memoryMb: info.latest?.memoryMb,
    timeoutMs: info.latest?.timeoutMs,
    start: info.latest?.start,
    snapshotStatus: info.latest?.snapshotStatus ?? null,
  };
}

async function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  const declared = Number(req.headers['content-length']);
  if (declared > limit) throw tooLarge(declared, limit, req);
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > limit) throw tooLarge(size, limit, req);
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
}

function tooLarge(size: number, limit: number, req: IncomingMessage): ThawError {
  req.resume(); // drain the rest so the client gets the 413 instead of a reset connection
  return new ThawError('ERR_PAYLOAD_TOO_LARGE', `request body is ${Number.isFinite(size) ? `${size} bytes` : 'too large'}, over the limit of ${limit} bytes`);
}

async function readJson(req: IncomingMessage, limit: number, emptyIsNull = false): Promise<unknown> {
  const body = await readBody(req, limit);
  if (body.length === 0 && emptyIsNull) return null;
  return parseJson(body);
}

function parseJson(body: Buffer): unknown {
  try {
    return JSON.parse(body.toString('utf8'));
  } catch (error) {
    throw new ThawError('ERR_INVALID_JSON', `the request body is not valid JSON: ${(error as Error).message}`);
  }
}

function intParam(url: URL, name: string, fallback: number, max = 1000): number {
  const raw = url.searchParams.get(name);
  if (raw === null) return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1 || n > max) throw new ThawError('ERR_INVALID_OPTION', `query parameter ${name} must be an integer from 1 to ${max}, got '${raw}'`);
  return n;
}

/** A request header's value, undefined when absent (the first, if repeated). */
function header(req: IncomingMessage, name: string): string | undefined {
  const value = req.headers[name];
  return Array.isArray(value) ? value[0] : value;
}

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

function sendError(res: ServerResponse, error: unknown, debug = false): void {
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
