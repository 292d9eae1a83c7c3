// thaw's HTTP API as one table: each route's method and path, who may call it, the schemas of its
// path parameters, query, headers and body, what it answers, an example request, and its handler.
// The gateway validates every request against its route's schemas before the handler runs
// (server.ts), and GET /openapi.json is generated from the same table (openapi.ts): one source of
// truth, so the document cannot drift from what the server accepts.

import { ERRORS, invocationErrorCode, ThawError } from '../../core/errors.ts';
import { LIMITS, START_PREFERENCES, type DeploySettings } from '../function.ts';
import type { Platform } from '../platform.ts';
import { ALIAS_NAME, validateAliasRoutes } from '../store/aliases.ts';
import { FUNCTION_NAME } from '../store/names.ts';
import { resultJsonOf } from '../store/invocations.ts';
import type { InvocationRecord } from '../store/types.ts';
import { parseFunctionRef } from '../traffic.ts';
import { parseTraceparent, serverTiming } from '../tracing.ts';
import { dashboardState, serveDashboardAsset, streamEvents } from './dashboard.ts';
import { openApiDocument } from './openapi.ts';
import { ERROR_SCHEMA, sendJson, sendJsonText, type ResponseSpec, type Route, type RouteContext } from './route.ts';
import type { Schema } from './schema.ts';

// —— Schemas shared by several routes ——

const functionName: Schema = { type: 'string', pattern: FUNCTION_NAME.source, description: "a function name (1–63 of a-z 0-9 - _, starting with a letter or digit)" };
const functionRef: Schema = {
  type: 'string',
  pattern: `^${FUNCTION_NAME.source.slice(1, -1)}(@(latest|[0-9]{1,9}|${ALIAS_NAME.source.slice(1, -1)}))?$`,
  description: 'NAME, NAME@VERSION or NAME@ALIAS',
};
const aliasName: Schema = { type: 'string', pattern: ALIAS_NAME.source, description: "an alias name (1–63 of a-z 0-9 - _, starting with a letter)" };
const invocationId: Schema = { type: 'string', pattern: '^[0-9A-Za-z]{1,64}$', description: 'an invocation id (a ULID: 26 letters and digits)' };
const limit = (max: number): Schema => ({ type: 'integer', minimum: 1, maximum: max, description: `at most this many (1–${max})` });
const flag = (description: string): Schema => ({ type: 'boolean', description: `${description} (1, true, 0 or false)` });
const integerSetting = (key: keyof typeof LIMITS): Schema => ({ type: 'integer', minimum: LIMITS[key].min, maximum: LIMITS[key].max });

const settingsProperties: Record<string, Schema> = {
  name: functionName,
  memoryMb: integerSetting('memoryMb'),
  timeoutMs: integerSetting('timeoutMs'),
  maxConcurrency: integerSetting('maxConcurrency'),
  provisioned: integerSetting('provisioned'),
  instanceConcurrency: { ...integerSetting('instanceConcurrency'), description: 'invocations one instance serves at once (default 1)' },
  network: { type: 'boolean' },
  start: { type: 'string', enum: START_PREFERENCES },
  bundle: { type: 'boolean', description: 'false: run from the installed node_modules (--no-bundle); true: refuse a bundle found unfaithful' },
};
const settings: Schema = {
  type: 'object',
  description: 'deploy settings; they override package.json\'s "thaw" field',
  properties: { ...settingsProperties, env: { type: 'object', additionalProperties: { type: 'string' } } },
  additionalProperties: false,
};

const JSON_LIMIT = () => 64 * 1024;
export const DEPLOY_BODY_LIMIT = 60 * 1024 * 1024;
/** AWS Lambda's synchronous limit, by default (thaw serve's maxPayloadBytes). */
const PAYLOAD_LIMIT = (platform: Platform) => platform.options.maxPayloadBytes;

const json = (description: string, schema?: Schema): ResponseSpec => ({ description, ...(schema ? { schema } : {}) });
const removed: ResponseSpec = json('removed', { type: 'object', properties: { removed: {} } });

// —— The routes ——

export const ROUTES: readonly Route[] = [
  {
    method: 'GET',
    path: '/',
    summary: 'the dashboard',
    scope: 'public',
    responses: { 200: { description: 'the dashboard page', type: 'text/html' } },
    handle: ({ res }) => void serveDashboardAsset('/', res),
  },
  {
    method: 'GET',
    path: '/dashboard/{file}',
    summary: "the dashboard's static files",
    scope: 'public',
    params: { file: { type: 'string', enum: ['app.js', 'style.css', 'uPlot.iife.min.js', 'uPlot.min.css'] } },
    responses: { 200: { description: 'the file', type: 'text/javascript' } },
    example: { params: { file: 'app.js' } },
    handle: ({ res, params }) => void serveDashboardAsset(`/dashboard/${params.file}`, res),
  },
  {
    method: 'GET',
    path: '/dashboard/state',
    summary: "what the dashboard shows: functions, instances, memory, invocations, the policy's decisions",
    scope: 'admin',
    responses: { 200: json('the state') },
    handle: async ({ platform, res }) => sendJson(res, 200, await dashboardState(platform)),
  },
  {
    method: 'GET',
    path: '/events',
    summary: 'server-sent events: invocations, decisions, deploys, live state',
    scope: 'admin',
    query: { access_token: { type: 'string', maxLength: 1024, description: 'an API token (EventSource cannot send headers)' } },
    responses: { 200: { description: 'an event stream', type: 'text/event-stream' } },
    handle: ({ platform, req, res }) => streamEvents(platform, req, res),
  },
  {
    method: 'GET',
    path: '/healthz',
    summary: 'liveness and the isolation in force',
    scope: 'public',
    responses: { 200: json('alive', { type: 'object', properties: { ok: { type: 'boolean' }, isolation: { type: 'object' } } }) },
    handle: ({ platform, res }) => sendJson(res, 200, { ok: true, isolation: platform.backend.isolation }),
  },
  {
    method: 'GET',
    path: '/openapi.json',
    summary: 'this document',
    scope: 'public',
    responses: { 200: json('the OpenAPI 3.1 document of every route') },
    handle: ({ res }) => sendJson(res, 200, openApiDocument(ROUTES)),
  },
  {
    method: 'GET',
    path: '/cluster',
    summary: 'cluster mode: the members and their adverts',
    scope: 'admin',
    responses: { 200: json('members') },
    handle: ({ platform, res }) => sendJson(res, 200, platform.options.cluster?.status() ?? { self: null, members: [] }),
  },
  {
    method: 'GET',
    path: '/functions',
    summary: 'deployed functions',
    scope: 'invoke',
    responses: { 200: json('the functions') },
    handle: ({ platform, res }) => sendJson(res, 200, { functions: platform.store.functions.list().map(summarizeFunction) }),
  },
  {
    method: 'POST',
    path: '/functions',
    summary: 'deploy a new version: a JSON body of files, or a .tar.gz (settings then in the query)',
    scope: 'admin',
    query: settingsProperties,
    headers: { 'content-type': { type: 'string', maxLength: 200, description: 'application/json, or a tarball type' } },
    body: {
      description: '{"files": {path: contents or {"base64"}}, "settings": {...}}, or a .tar.gz of the function folder (npm pack)',
      json: {
        type: 'object',
        required: ['files'],
        properties: {
          files: { type: 'object', additionalProperties: { anyOf: [{ type: 'string' }, { type: 'object', required: ['base64'], properties: { base64: { type: 'string' } }, additionalProperties: false }] } },
          settings,
        },
        additionalProperties: false,
      },
      binary: ['application/gzip', 'application/x-gzip', 'application/x-tar', 'application/octet-stream'],
      required: true,
      limit: () => DEPLOY_BODY_LIMIT,
    },
    responses: { 201: json('deployed: the new version') },
    example: {
      body: {
        files: { 'package.json': '{"name": "hello", "version": "1.0.0"}', 'index.js': 'exports.handler = async (event) => ({ hello: event.name ?? "world" });' },
        settings: { memoryMb: 128 },
      },
    },
    handle: async ({ platform, res, query, body, bodyType }) => {
      const result =
        bodyType === 'application/json'
          ? await platform.deploy({ upload: { files: body.files } }, body.settings ?? {})
          : await platform.deploy({ upload: { tarball: body } }, query as DeploySettings);
      sendJson(res, 201, result);
    },
  },
  {
    method: 'GET',
    path: '/functions/{name}',
    summary: 'a function, its versions and aliases',
    scope: 'invoke',
    params: { name: functionName },
    responses: { 200: json('the function') },
    example: { params: { name: 'hello' } },
    handle: ({ platform, res, params }) => {
      const info = platform.store.functions.require(params.name);
      sendJson(res, 200, { ...summarizeFunction(info), versions: platform.store.functions.versions(info.name), aliases: platform.store.aliases.list(info.name) });
    },
  },
  {
    method: 'DELETE',
    path: '/functions/{name}',
    summary: 'remove a function, its versions, aliases and schedule',
    scope: 'admin',
    params: { name: functionName },
    responses: { 200: removed },
    example: { params: { name: 'hello' } },
    handle: ({ platform, res, params }) => {
      platform.remove(params.name);
      sendJson(res, 200, { removed: params.name });
    },
  },
  {
    method: 'GET',
    path: '/functions/{name}/aliases',
    summary: "a function's aliases",
    scope: 'admin',
    params: { name: functionName },
    responses: { 200: json('the aliases') },
    example: { params: { name: 'hello' } },
    handle: ({ platform, res, params }) => {
      platform.store.functions.require(params.name);
      sendJson(res, 200, { aliases: platform.store.aliases.list(params.name) });
    },
  },
  {
    method: 'PUT',
    path: '/functions/{name}/aliases/{alias}',
    summary: 'create or re-point an alias: versions and their weights (percent, summing to 100)',
    scope: 'admin',
    params: { name: functionName, alias: aliasName },
    body: {
      description: 'the versions the alias routes to',
      json: {
        type: 'object',
        required: ['routes'],
        properties: {
          routes: {
            type: 'array',
            minItems: 1,
            maxItems: 100,
            items: {
              type: 'object',
              required: ['version', 'weight'],
              properties: { version: { type: 'integer', minimum: 1 }, weight: { type: 'number', exclusiveMinimum: 0, maximum: 100 } },
              additionalProperties: false,
            },
          },
        },
        additionalProperties: false,
      },
      required: true,
      limit: JSON_LIMIT,
    },
    responses: { 200: json('the alias') },
    example: { params: { name: 'hello', alias: 'prod' }, body: { routes: [{ version: 1, weight: 90 }, { version: 2, weight: 10 }] } },
    handle: ({ platform, res, params, body }) => sendJson(res, 200, platform.setAlias(params.name, params.alias, validateAliasRoutes(body.routes))),
  },
  {
    method: 'DELETE',
    path: '/functions/{name}/aliases/{alias}',
    summary: 'remove an alias',
    scope: 'admin',
    params: { name: functionName, alias: aliasName },
    responses: { 200: removed },
    example: { params: { name: 'hello', alias: 'prod' } },
    handle: ({ platform, res, params }) => {
      platform.removeAlias(params.name, params.alias);
      sendJson(res, 200, { removed: params.alias });
    },
  },
  {
    method: 'DELETE',
    path: '/functions/{name}/instances',
    summary: "evict: stop the function's idle instances (wait: busy ones too, as they finish) so the next invocation starts cold",
    scope: 'admin',
    params: { name: functionName },
    query: { wait: flag('also stop busy instances as their invocations end') },
    responses: { 200: json('how many were stopped', { type: 'object', properties: { stopped: { type: 'integer' }, waitedFor: { type: 'integer' } } }) },
    example: { params: { name: 'hello' }, query: { wait: '1' } },
    handle: async ({ platform, res, params, query }) => sendJson(res, 200, await platform.evict(params.name, { waitForBusy: query.wait === true })),
  },
  {
    method: 'POST',
    path: '/functions/{name}/invoke',
    summary: 'invoke: synchronously (the answer is the result) or asynchronously (202 and an id)',
    scope: 'invoke',
    params: { name: functionRef },
    query: { version: { type: 'integer', minimum: 1, description: 'the version to run (or NAME@VERSION)' }, async: flag('run asynchronously: answer 202 {id} at once') },
    headers: {
      'x-thaw-invocation-type': { type: 'string', enum: ['sync', 'async'], description: 'async: as ?async=1' },
      'idempotency-key': { type: 'string', pattern: '^[\\x21-\\x7e]{1,255}$', description: '1 to 255 visible ASCII characters without spaces' },
      traceparent: { type: 'string', maxLength: 512, description: 'W3C trace context (an invalid one is ignored, as the W3C spec says)' },
    },
    body: { description: 'the event: any JSON value (empty: null)', json: true, required: false, limit: PAYLOAD_LIMIT },
    responses: {
      200: json("the function's result (headers X-Thaw-Invocation-Id, X-Thaw-Version, X-Thaw-Start-Kind, X-Thaw-Duration-Ms, Server-Timing)"),
      202: json('accepted (async): the invocation id', { type: 'object', properties: { id: { type: 'string' }, status: { type: 'string' }, duplicate: { type: 'boolean' } } }),
      502: json('the function failed: it threw, exited, ran out of memory, or its init() failed', ERROR_SCHEMA),
      503: json('no instance could be had in time (Retry-After)', ERROR_SCHEMA),
      504: json('the function timed out', ERROR_SCHEMA),
    },
    example: { params: { name: 'hello@latest' }, headers: { traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01' }, body: { name: 'thaw' } },
    handle: invoke,
  },
  {
    method: 'GET',
    path: '/invocations/{id}',
    summary: "an invocation's record: status, result, phases, logs",
    scope: 'invoke',
    params: { id: invocationId },
    query: { wait: { type: 'integer', minimum: 0, maximum: 60_000, description: 'long-poll until the record is final, at most this many ms' } },
    responses: { 200: json('the record') },
    example: { params: { id: '01JF3W6Q4V4ZK8J7Y2N0M5R9TB' }, query: { wait: '1000' } },
    handle: async ({ platform, res, params, query }) => {
      const wait: number = query.wait ?? 0;
      sendJson(res, 200, wait > 0 ? await platform.waitForInvocation(params.id, wait) : await platform.invocation(params.id));
    },
  },
  {
    method: 'GET',
    path: '/functions/{name}/invocations',
    summary: 'the latest invocation records',
    scope: 'admin',
    params: { name: functionName },
    query: { limit: limit(1000) },
    responses: { 200: json('records, newest first') },
    example: { params: { name: 'hello' }, query: { limit: '5' } },
    handle: async ({ platform, res, params, query }) => sendJson(res, 200, { invocations: await platform.latestInvocations(params.name, query.limit ?? 20) }),
  },
  {
    method: 'GET',
    path: '/functions/{name}/logs',
    summary: 'stdout and stderr of the latest invocations',
    scope: 'admin',
    params: { name: functionName },
    query: { limit: limit(1000) },
    responses: { 200: json('logs, newest first') },
    example: { params: { name: 'hello' } },
    handle: ({ platform, res, params, query }) => {
      platform.store.functions.require(params.name);
      sendJson(res, 200, { logs: platform.store.invocations.logs(params.name, { limit: query.limit ?? 20 }) });
    },
  },
  {
    method: 'GET',
    path: '/functions/{name}/stats',
    summary: 'counts and latency percentiles by start kind and phase, billed and idle GB-s',
    scope: 'admin',
    params: { name: functionName },
    responses: { 200: json('the statistics') },
    example: { params: { name: 'hello' } },
    handle: ({ platform, res, params }) => {
      platform.store.functions.require(params.name);
      platform.flushCosts();
      sendJson(res, 200, { ...platform.store.invocations.stats(params.name), idle: platform.store.costs.totals({ functionName: params.name })[0] ?? null });
    },
  },
  {
    method: 'PUT',
    path: '/functions/{name}/schedule',
    summary: 'set the timer trigger: a cron expression (5 or 6 fields) and the payload it sends',
    scope: 'admin',
    params: { name: functionName },
    body: {
      description: 'the schedule',
      json: { type: 'object', required: ['cron'], properties: { cron: { type: 'string', minLength: 1, maxLength: 200 }, payload: {} }, additionalProperties: false },
      required: true,
      limit: JSON_LIMIT,
    },
    responses: { 200: json('the schedules of the function') },
    example: { params: { name: 'hello' }, body: { cron: '*/5 * * * *', payload: { from: 'timer' } } },
    handle: ({ platform, res, params, body }) => {
      platform.setSchedule(params.name, body.cron, body.payload ?? {});
      sendJson(res, 200, { schedules: platform.schedules().filter((s) => s.name === params.name) });
    },
  },
  {
    method: 'DELETE',
    path: '/functions/{name}/schedule',
    summary: 'remove the timer trigger',
    scope: 'admin',
    params: { name: functionName },
    responses: { 200: json('removed') },
    example: { params: { name: 'hello' } },
    handle: ({ platform, res, params }) => {
      platform.setSchedule(params.name, null);
      sendJson(res, 200, { removed: true });
    },
  },
  {
    method: 'GET',
    path: '/dead-letters',
    summary: 'async invocations that failed for good, with their payload, newest first',
    scope: 'admin',
    query: { function: functionName, limit: limit(1000) },
    responses: { 200: json('the dead letters') },
    example: { query: { function: 'hello', limit: '10' } },
    handle: async ({ platform, res, query }) => {
      if (query.function) platform.store.functions.require(query.function);
      sendJson(res, 200, { deadLetters: await platform.asyncQueue.deadLetters({ functionName: query.function, limit: query.limit ?? 100 }) });
    },
  },
  {
    method: 'POST',
    path: '/dead-letters/redrive',
    summary: 'put dead letters back into the queue: by id, or all (of one function)',
    scope: 'admin',
    body: {
      description: '{"ids": [...]} or {"all": true, "function": NAME}',
      json: {
        type: 'object',
        properties: { ids: { type: 'array', minItems: 1, maxItems: 1000, items: invocationId }, all: { type: 'boolean' }, function: functionName },
        additionalProperties: false,
      },
      required: true,
      limit: JSON_LIMIT,
    },
    responses: { 200: json('the redriven invocations') },
    example: { body: { all: true, function: 'hello' } },
    handle: async ({ platform, res, body }) => {
      if ((body.ids !== undefined) === (body.all === true)) {
        throw new ThawError('ERR_INVALID_REQUEST', 'body: expected {"ids": ["<invocation id>", ...]} or {"all": true, "function": "<name>" (optional)}');
      }
      const redriven = [];
      if (body.ids) for (const id of body.ids as string[]) redriven.push(...(await platform.redrive({ id })));
      else redriven.push(...(await platform.redrive({ all: true, functionName: body.function })));
      sendJson(res, 200, { redriven });
    },
  },
  {
    method: 'GET',
    path: '/stats',
    summary: 'instances by state (in all and per function version, with its adaptive concurrency limit), memory held and idle, requests waiting, idle cost, schedules, zygotes',
    scope: 'admin',
    responses: { 200: json('the platform statistics') },
    handle: async ({ platform, res }) => {
      platform.flushCosts();
      sendJson(res, 200, { ...platform.invoker.snapshot(), functions: platform.invoker.instancesByFunction(), idleCost: platform.store.costs.totals(), schedules: platform.schedules(), zygotes: (await platform.zygotes?.stats()) ?? null });
    },
  },
  {
    method: 'GET',
    path: '/metrics',
    summary: 'Prometheus metrics',
    scope: 'admin',
    responses: { 200: { description: 'the text exposition format', type: 'text/plain' } },
    handle: ({ platform, res }) => {
      res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4' });
      res.end(platform.renderMetrics());
    },
  },
  {
    method: 'POST',
    path: '/debug/clock',
    summary: 'advance the manual clock (thaw serve --clock manual only)',
    scope: 'admin',
    body: {
      description: 'how far',
      json: { type: 'object', required: ['advanceMs'], properties: { advanceMs: { type: 'number', minimum: 0 } }, additionalProperties: false },
      required: true,
      limit: () => 1024,
    },
    responses: { 200: json('the clock now', { type: 'object', properties: { now: { type: 'number' } } }) },
    example: { body: { advanceMs: 1000 } },
    handle: ({ res, manualClock, body }) => {
      if (!manualClock) throw new ThawError('ERR_NOT_FOUND', 'the clock is the wall clock (start thaw serve --clock manual to drive it)');
      manualClock.advance(body.advanceMs);
      sendJson(res, 200, { now: manualClock.now() });
    },
  },
];

async function invoke({ platform, res, params, query, headers, body, bodyJson }: RouteContext): Promise<void> {
  const ref: string = params.name;
  const { name, target: qualifier } = parseFunctionRef(ref);
  platform.store.functions.require(name);
  if (query.version !== undefined && ref.includes('@')) throw new ThawError('ERR_INVALID_REQUEST', `both '${ref}' and query parameter 'version' (${query.version}) name a version: use one`);
  const target = query.version ?? qualifier;
  const payload = body ?? null;
  const traceparent = parseTraceparent(headers.traceparent);
  if (query.async === true || headers['x-thaw-invocation-type'] === 'async') {
    const { job, duplicate } = await platform.invokeAsync(name, payload, { target, idempotencyKey: headers['idempotency-key'], traceparent });
    res.setHeader('location', `/invocations/${job.id}`);
    if (duplicate) res.setHeader('idempotent-replayed', 'true');
    return sendJson(res, 202, { id: job.id, status: duplicate ? job.status : 'queued', ...(duplicate ? { duplicate: true } : {}) });
  }
  const record = await platform.invokeSync(name, payload, target, { traceparent, payloadJson: bodyJson });
  const answerHeaders = invocationHeaders(record);
  // The result's bytes as the record encoded them (whole, even when too big to keep in the record).
  if (record.status === 'succeeded') return sendJsonText(res, 200, resultJsonOf(record) ?? JSON.stringify(record.result ?? null), answerHeaders);
  // A failure's answer carries them too, the error thrown below as well.
  for (let i = 0; i < answerHeaders.length; i += 2) res.setHeader(answerHeaders[i]!, answerHeaders[i + 1]!);
  // Removed while this invocation started (its code is gone): not the function's failure.
  if (!platform.store.functions.get(name)) throw new ThawError('ERR_NOT_FOUND', `function '${name}' was removed while invocation ${record.id} started`);
  const kind = record.error?.kind ?? 'error';
  if (kind === 'throttled') res.setHeader('retry-after', '1');
  const code = invocationErrorCode(kind);
  return sendJson(res, ERRORS[code].status, { error: { code, kind, message: record.error?.message ?? 'the invocation failed', invocationId: record.id } });
}

/** A synchronous invocation's answer headers (name, value, name, value…): its phases and identity. */
function invocationHeaders(record: InvocationRecord): string[] {
  const totalMs = record.totalMs ?? 0;
  return [
    'server-timing', serverTiming(record, totalMs),
    'x-thaw-invocation-id', record.id,
    'x-thaw-version', String(record.version),
    'x-thaw-start-kind', record.startKind ?? 'none',
    'x-thaw-duration-ms', String(totalMs),
  ];
}

function summarizeFunction(info: { name: string; latestVersion: number | null; versionCount: number; latest?: { memoryMb: number; timeoutMs: number; start: string; snapshotStatus: string | null; isolateStatus: string | null } }) {
  return {
    name: info.name,
    latestVersion: info.latestVersion,
    versions: info.versionCount,
    memoryMb: info.latest?.memoryMb,
    timeoutMs: info.latest?.timeoutMs,
    start: info.latest?.start,
    snapshotStatus: info.latest?.snapshotStatus ?? null,
    isolateStatus: info.latest?.isolateStatus ?? null,
  };
}
