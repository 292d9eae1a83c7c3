// The platform's client commands: they talk to a running `thaw serve` over HTTP. Each one checks
// all of its input before its first request (a bad option changes nothing), prints a table for
// people or, with --json, JSON for machines on stdout, and fails with the server's own error code.

import { readdirSync, readFileSync, statSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { join, relative } from 'node:path';
import { ERRORS, invalidOption, invocationErrorCode, isErrorCode, ThawError } from '../../core/errors.ts';
import { validateSettings, type DeploySettings } from '../../platform/function.ts';
import { parseAliasRoutes } from '../../platform/store/aliases.ts';
import { validateFunctionName } from '../../platform/store/names.ts';
import { formatTable } from '../../sim/report/table.ts';
import { numberOption, parseOptions } from '../args.ts';
import { print, say } from '../output.ts';
import { parseDuration, parseMemory } from '../units.ts';

const CLIENT_OPTIONS = { url: { type: 'string' }, token: { type: 'string' }, json: { type: 'boolean' } } as const;

const CLIENT_OPTIONS_HELP = `  --url URL             the thaw serve to talk to (default $THAW_URL or http://127.0.0.1:8080)
  --token TOKEN         its API token (default $THAW_TOKEN; thaw serve --token-file)
  --json                print JSON on stdout instead of a table`;

const help = (usage: string, ...lines: string[]) => [usage, ...lines, CLIENT_OPTIONS_HELP].join('\n');

export const DEPLOY_HELP = help(
  'thaw deploy DIR [options]     deploy a function folder (package.json + handler)',
  '  --name NAME           the function (default package.json\'s "thaw.name" or "name")',
  '  --memory SIZE         memory of an instance, e.g. 256MB (64MB–10GB; default 256MB)',
  '  --timeout DUR         longest invocation, e.g. 30s (default 30s, at most 15m)',
  '  --concurrency N       at most N invocations at once (default 10)',
  '  --provisioned N       N instances kept started with no traffic (default 0)',
  '  --instance-concurrency N  invocations one instance serves at once (default 1)',
  '  --env KEY=VALUE       an environment variable (repeatable)',
  '  --network             give it network access (default none)',
  '  --start MODE          cold, zygote, snapshot, isolate or auto (default cold)',
  '  --no-bundle           run from its installed node_modules (default: thaw decides per function)',
  "  --schedule CRON       a timer trigger, e.g. '*/5 * * * *' (checked before anything is deployed)",
  '  --schedule-payload JSON  the event the timer sends (default {})',
);
export const INVOKE_HELP = help(
  'thaw invoke NAME[@ALIAS|@VERSION] [options]   invoke a function; the result on stdout',
  '  --data JSON           the event (default {})',
  '  --version N           that version (or NAME@N)',
  '  --async               queue it and print its id (read it with thaw invocation ID --wait)',
  '  --idempotency-key KEY  with --async: a repeat gets the first invocation\'s id',
  '  exit code: 0 it succeeded, 1 the function failed (threw, timed out, ran out of memory)',
);
export const INVOCATION_HELP = help(
  'thaw invocation ID [--wait]   an invocation\'s record: status, start, phases, result, logs',
  '  --wait                until it is final (an async one: every retry included)',
  '  exit code: 0 succeeded (or not final yet), 1 the function failed; as thaw invoke',
);
export const LS_HELP = help('thaw ls                       deployed functions');
export const LOGS_HELP = help(
  'thaw logs NAME [--limit N] [--follow]   stdout/stderr of the latest invocations',
  '  --limit N             how many (default 20, at most 1000)',
  '  --follow              then keep printing each invocation as it finishes, until interrupted',
  '                        (with --json: one JSON object a line)',
  '  --interval DUR        how often --follow asks (default 1s)',
);
export const RM_HELP = help('thaw rm NAME                  remove a function and its versions');
export const STATS_HELP = help('thaw stats [NAME]             instances and memory, or a function\'s latencies by start kind and phase');
export const EVICT_HELP = help(
  'thaw evict NAME [--wait]      stop its idle instances, so its next invocation starts cold',
  '  --wait                busy ones too, once they finish',
);
export const DLQ_HELP = help(
  'thaw dlq ls [--function NAME] [--limit N]   async invocations that failed for good (dead letters)',
  'thaw dlq redrive ID... | --all [--function NAME]   put dead letters back in the queue',
);
export const ALIAS_HELP = help(
  'thaw alias NAME ALIAS VERSION[:WEIGHT][,VERSION:WEIGHT]   point an alias at versions by percent',
  '                              (e.g. 3:90,4:10; invoke NAME@ALIAS); again to re-point or roll back',
  'thaw alias NAME [ALIAS --delete]   list a function\'s aliases, or delete one',
);

type ClientValues = { url?: string; token?: string; json?: boolean };

interface RequestOptions {
  method?: string;
  headers?: Record<string, string>;
  body?: string;
}

interface Answer {
  status: number;
  body: any;
  headers: { get(name: string): string | null };
  /** Where it came from, for messages. */
  origin: string;
}

/** The thaw a client command talks to: --url (or $THAW_URL), with --token (or $THAW_TOKEN) on every request. */
function connect(values: ClientValues) {
  const base = (values.url ?? process.env.THAW_URL ?? 'http://127.0.0.1:8080').replace(/\/$/, '');
  try {
    if (!/^https?:$/.test(new URL(base).protocol)) throw new Error('not http');
  } catch {
    throw invalidOption('--url', `expected http://HOST:PORT, got '${base}'`);
  }
  const token = values.token ?? process.env.THAW_TOKEN;
  return {
    base,
    /** The answer; a failed one thrown as the ThawError the server raised. */
    request: async (path: string, init: RequestOptions = {}): Promise<Answer> => {
      const r = await request(base + path, token ? { ...init, headers: { ...init.headers, authorization: `Bearer ${token}` } } : init);
      failIfError(r);
      return r;
    },
  };
}

/**
 * One HTTP request with node:http (fetch would load undici: a few hundred ms at every start of a
 * command that makes one request, and an open pool that delays the exit).
 */
async function request(url: string, init: RequestOptions): Promise<Answer> {
  const target = new URL(url);
  const origin = target.origin;
  // https (and TLS) only loaded when asked for.
  const send = target.protocol === 'https:' ? (await import('node:https')).request : httpRequest;
  return new Promise<Answer>((resolve, reject) => {
    const body = init.body === undefined ? undefined : Buffer.from(init.body);
    const req = send(target, { method: init.method ?? 'GET', headers: { ...init.headers, ...(body ? { 'content-length': String(body.length) } : {}) }, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('error', reject);
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        const headers = { get: (name: string) => String(res.headers[name.toLowerCase()] ?? '') || null };
        try {
          resolve({ status: res.statusCode ?? 0, body: text ? JSON.parse(text) : null, headers, origin });
        } catch {
          // thaw answers every API request with JSON: anything else is another server.
          reject(new ThawError('ERR_NOT_THAW', `${origin} answered HTTP ${res.statusCode}${res.statusMessage ? ` ${res.statusMessage}` : ''} with ${res.headers['content-type'] ?? 'a body'} that is not JSON, not as thaw does`));
        }
      });
    });
    req.on('error', (error) => reject(new ThawError('ERR_UNREACHABLE', `cannot reach thaw at ${origin} (${error.message})`, { cause: error })));
    req.end(body);
  });
}

/** A failed answer as the ThawError the server raised: its code (so its exit code) and message. */
function failIfError(r: Answer): void {
  if (r.status < 400) return;
  const error = r.body?.error;
  if (!isErrorCode(error?.code) || typeof error.message !== 'string') throw new ThawError('ERR_NOT_THAW', `${r.origin} answered HTTP ${r.status} without a thaw error, not as thaw does`);
  throw new ThawError(error.code, error.kind ? `${error.kind}: ${error.message}` : error.message);
}

const json = { 'content-type': 'application/json' };
const fn = (name: string) => `/functions/${encodeURIComponent(name)}`;

/** Prints `data` as JSON with --json, else `table()`. */
function output(values: ClientValues, data: unknown, table: () => string | undefined): void {
  if (values.json) print(JSON.stringify(data, null, 2));
  else {
    const text = table();
    if (text) print(text);
  }
}

/** The one function name a command takes, checked. */
function nameArgument(positionals: string[], command: string, ref = false): string {
  const name = positionals[0];
  if (!name) throw new ThawError('ERR_INVALID_OPTION', `thaw ${command}: expected a function name (see 'thaw ${command} --help')`);
  if (positionals.length > 1) throw new ThawError('ERR_INVALID_OPTION', `thaw ${command}: unexpected argument '${positionals[1]}' (see 'thaw ${command} --help')`);
  validateFunctionName(ref ? name.split('@')[0] : name, `thaw ${command}`);
  return name;
}

function jsonOption(text: string, option: string): unknown {
  try {
    return JSON.parse(text);
  } catch (error) {
    throw invalidOption(option, `not valid JSON (${(error as Error).message}): ${text.length > 60 ? `${text.slice(0, 60)}…` : text}`);
  }
}

/** A folder as the gateway's {files} body: node_modules and .git left out, binary files as base64. */
export function packFolder(dir: string): Record<string, string | { base64: string }> {
  const files: Record<string, string | { base64: string }> = {};
  const walk = (d: string): void => {
    for (const entry of readdirSync(d, { withFileTypes: true })) {
      if (entry.name === 'node_modules' || entry.name === '.git') continue;
      const path = join(d, entry.name);
      if (entry.isDirectory()) walk(path);
      else if (entry.isFile()) {
        const data = readFileSync(path);
        const rel = relative(dir, path).split('\\').join('/');
        const text = data.toString('utf8');
        files[rel] = Buffer.from(text, 'utf8').equals(data) ? text : { base64: data.toString('base64') };
      }
    }
  };
  walk(dir);
  return files;
}

export async function deployCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parseOptions(
    argv,
    {
      ...CLIENT_OPTIONS,
      name: { type: 'string' },
      memory: { type: 'string' },
      timeout: { type: 'string' },
      concurrency: { type: 'string' },
      provisioned: { type: 'string' },
      'instance-concurrency': { type: 'string' },
      env: { type: 'string', multiple: true },
      network: { type: 'boolean' },
      start: { type: 'string' },
      'no-bundle': { type: 'boolean' },
      schedule: { type: 'string' },
      'schedule-payload': { type: 'string' },
    },
    'deploy',
  );
  // Everything is checked before the deploy: a bad option (or cron) deploys nothing.
  const dir = positionals[0];
  if (!dir || !statSync(dir, { throwIfNoEntry: false })?.isDirectory()) throw new ThawError('ERR_INVALID_OPTION', `thaw deploy: expected a function folder, got '${dir ?? ''}'`);
  if (positionals.length > 1) throw new ThawError('ERR_INVALID_OPTION', `thaw deploy: unexpected argument '${positionals[1]}' (one folder at a time)`);
  const raw: DeploySettings = {};
  if (values.name !== undefined) raw.name = validateFunctionName(values.name, 'option --name');
  if (values.memory !== undefined) raw.memoryMb = parseMemory(values.memory);
  if (values.timeout !== undefined) raw.timeoutMs = parseDuration(values.timeout, '--timeout');
  if (values.concurrency !== undefined) raw.maxConcurrency = numberOption(values.concurrency, '--concurrency', 10, Number.isInteger);
  if (values.provisioned !== undefined) raw.provisioned = numberOption(values.provisioned, '--provisioned', 0, Number.isInteger);
  if (values['instance-concurrency'] !== undefined) raw.instanceConcurrency = numberOption(values['instance-concurrency'], '--instance-concurrency', 1, Number.isInteger);
  if (values.network) raw.network = true;
  if (values.start !== undefined) raw.start = values.start as DeploySettings['start'];
  if (values['no-bundle']) raw.bundle = false;
  if (values.env) {
    raw.env = Object.fromEntries(
      values.env.map((kv) => {
        const i = kv.indexOf('=');
        if (i <= 0) throw invalidOption('--env', `expected KEY=VALUE, got '${kv}'`);
        return [kv.slice(0, i), kv.slice(i + 1)];
      }),
    );
  }
  const settings = validateSettings(raw, 'option');
  if (values['schedule-payload'] !== undefined && values.schedule === undefined) throw invalidOption('--schedule-payload', 'applies with --schedule CRON');
  const payload = values['schedule-payload'] === undefined ? {} : jsonOption(values['schedule-payload'], '--schedule-payload');
  if (values.schedule !== undefined) (await import('../../platform/triggers.ts')).validateCron(values.schedule, '--schedule');
  const files = packFolder(dir);

  const api = connect(values);
  const r = await api.request('/functions', { method: 'POST', headers: json, body: JSON.stringify({ files, settings }) });
  const v = r.body.version;
  let schedule: unknown;
  if (values.schedule !== undefined) {
    schedule = (await api.request(`${fn(r.body.name)}/schedule`, { method: 'PUT', headers: json, body: JSON.stringify({ cron: values.schedule, payload }) })).body;
  }
  if (values.json) print(JSON.stringify(schedule === undefined ? r.body : { ...r.body, schedule }, null, 2));
  else {
    say(`deployed ${r.body.name} version ${v.version} (${v.memoryMb} MB, timeout ${v.timeoutMs} ms) in ${(r.body.timings.totalMs / 1000).toFixed(1)} s`);
    if (values.schedule !== undefined) say(`timer trigger '${values.schedule}'`);
    if (v.layout) say(`${v.layout === 'installed' ? 'runs from its installed node_modules' : 'runs as one bundle'}: ${v.layoutReason ?? ''}`);
  }
  return 0;
}

export async function invokeCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parseOptions(
    argv,
    { ...CLIENT_OPTIONS, data: { type: 'string' }, async: { type: 'boolean' }, version: { type: 'string' }, 'idempotency-key': { type: 'string' } },
    'invoke',
  );
  const name = nameArgument(positionals, 'invoke', true);
  if (values['idempotency-key'] !== undefined && !values.async) throw invalidOption('--idempotency-key', 'applies to --async invocations');
  if (values.version !== undefined && !/^\d+$/.test(values.version)) throw invalidOption('--version', `expected a version number, got '${values.version}'`);
  if (values.version !== undefined && name.includes('@')) throw invalidOption('--version', `'${name}' names a version already: use one`);
  const data = values.data ?? '{}';
  jsonOption(data, '--data');
  const query = new URLSearchParams();
  if (values.async) query.set('async', '1');
  if (values.version) query.set('version', values.version);
  const headers: Record<string, string> = { ...json };
  if (values['idempotency-key'] !== undefined) headers['idempotency-key'] = values['idempotency-key'];
  const r = await connect(values).request(`${fn(name)}/invoke?${query}`, { method: 'POST', headers, body: data });
  if (values.async) {
    output(values, r.body, () => r.body.id);
    return 0;
  }
  const meta = { id: r.headers.get('x-thaw-invocation-id'), version: Number(r.headers.get('x-thaw-version')), startKind: r.headers.get('x-thaw-start-kind'), durationMs: Number(r.headers.get('x-thaw-duration-ms')) };
  if (values.json) print(JSON.stringify({ ...meta, result: r.body }, null, 2));
  else {
    print(JSON.stringify(r.body, null, 2));
    say(`${meta.startKind} start of v${meta.version}, ${meta.durationMs.toFixed(1)} ms, invocation ${meta.id}`);
  }
  return 0;
}

/** thaw invocation ID [--wait]: the record, waited for until final. */
export async function invocationCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parseOptions(argv, { ...CLIENT_OPTIONS, wait: { type: 'boolean' } }, 'invocation');
  const id = positionals[0];
  if (!id || positionals.length > 1) throw new ThawError('ERR_INVALID_OPTION', "thaw invocation: expected one invocation id (see 'thaw invocation --help')");
  const api = connect(values);
  const path = `/invocations/${encodeURIComponent(id)}`;
  let record = (await api.request(path)).body;
  // The server waits at most a minute per request: ask again until the record is final.
  while (values.wait && !isFinal(record)) record = (await api.request(`${path}?wait=60000`)).body;
  output(values, record, () => describeInvocation(record));
  return record.status === 'failed' ? ERRORS[invocationErrorCode(record.error?.kind ?? 'error')].exit : 0;
}

/** An async invocation between retries is queued again: only these two are final. */
function isFinal(record: { status: string }): boolean {
  return record.status === 'succeeded' || record.status === 'failed';
}

function describeInvocation(r: any): string {
  const lines = [`invocation ${r.id}: ${r.functionName} v${r.version}, ${r.mode}, ${r.status}${r.attempts > 1 ? ` after ${r.attempts} attempts` : ''}`];
  if (r.startKind) lines.push(`${r.startKind} start, ${Number(r.totalMs ?? 0).toFixed(1)} ms (${['queueMs', 'sandboxMs', 'runtimeBootMs', 'importMs', 'initMs', 'execMs', 'platformMs'].filter((p) => r[p] > 0).map((p) => `${p.replace(/Ms$/, '')} ${r[p].toFixed(1)}`).join(', ')})`);
  if (r.error) lines.push(`error: ${r.error.kind}: ${r.error.message}`);
  if (r.status === 'succeeded') lines.push(`result: ${JSON.stringify(r.result)}`);
  if (r.stdout) lines.push(r.stdout.trimEnd());
  if (r.stderr) lines.push(r.stderr.trimEnd().split('\n').map((l: string) => `stderr| ${l}`).join('\n'));
  return lines.join('\n');
}

export async function lsCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parseOptions(argv, CLIENT_OPTIONS, 'ls');
  if (positionals.length > 0) throw new ThawError('ERR_INVALID_OPTION', `thaw ls: unexpected argument '${positionals[0]}'`);
  const r = await connect(values).request('/functions');
  output(values, r.body, () =>
    formatTable(['name', 'version', 'versions', 'memory', 'timeout', 'start', 'snapshot'], r.body.functions.map((f: any) => [f.name, f.latestVersion, f.versions, `${f.memoryMb} MB`, `${f.timeoutMs} ms`, f.start, f.snapshotStatus ?? '—'])),
  );
  return 0;
}

export async function logsCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parseOptions(argv, { ...CLIENT_OPTIONS, limit: { type: 'string' }, follow: { type: 'boolean' }, interval: { type: 'string' } }, 'logs');
  const name = nameArgument(positionals, 'logs');
  const limit = numberOption(values.limit, '--limit', 20, (n) => Number.isInteger(n) && n >= 1 && n <= 1000);
  if (values.interval !== undefined && !values.follow) throw invalidOption('--interval', 'applies with --follow');
  const intervalMs = values.interval === undefined ? 1000 : parseDuration(values.interval, '--interval');
  const api = connect(values);
  const fetchLogs = async (n: number) => (await api.request(`${fn(name)}/logs?limit=${n}`)).body.logs as any[];
  const shown = new Set<string>();
  const show = (entries: any[]) => {
    for (const entry of [...entries].reverse()) {
      // A running invocation has no logs yet: it is shown once it is final.
      if (shown.has(entry.id) || (values.follow && entry.status !== 'succeeded' && entry.status !== 'failed')) continue;
      shown.add(entry.id);
      if (values.json && values.follow) print(JSON.stringify(entry));
      else if (!values.json) print(describeLog(entry));
    }
  };
  const first = await fetchLogs(limit);
  if (values.json && !values.follow) print(JSON.stringify({ logs: first }, null, 2));
  else show(first);
  if (!values.follow) return 0;
  // Until interrupted: ask for the latest invocations and print the ones not yet shown.
  let stop = false;
  const interrupt = () => (stop = true);
  process.once('SIGINT', interrupt);
  process.once('SIGTERM', interrupt);
  while (!stop) {
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
    if (!stop) show(await fetchLogs(100));
  }
  return 0;
}

function describeLog(entry: any): string {
  const lines = [`── ${entry.id} v${entry.version} ${entry.status} ${new Date(entry.createdAt).toISOString()}${entry.error ? ` — ${entry.error.kind}: ${entry.error.message}` : ''}`];
  if (entry.stdout) lines.push(entry.stdout.trimEnd());
  if (entry.stderr) lines.push(entry.stderr.trimEnd().split('\n').map((l: string) => `stderr| ${l}`).join('\n'));
  return lines.join('\n');
}

export async function rmCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parseOptions(argv, CLIENT_OPTIONS, 'rm');
  const name = nameArgument(positionals, 'rm');
  const r = await connect(values).request(fn(name), { method: 'DELETE' });
  if (values.json) print(JSON.stringify(r.body, null, 2));
  else say(`removed ${name}`);
  return 0;
}

export async function statsCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parseOptions(argv, CLIENT_OPTIONS, 'stats');
  const api = connect(values);
  if (positionals.length === 0) {
    const r = await api.request('/stats');
    output(values, r.body, () => {
      const functions = (r.body.functions ?? []) as Array<{ functionName: string; version: number; starting: number; busy: number; idle: number; paused: number; memoryMb: number; concurrencyLimit?: number }>;
      // The adaptive concurrency limit's column only where the server learns one.
      const limited = functions.some((f) => f.concurrencyLimit !== undefined);
      return [
        formatTable(['state', 'instances'], Object.entries(r.body.instances)),
        `memory: ${r.body.usedMb} MB held (${r.body.idleMb} MB idle) of ${r.body.budgetMb} MB; ${r.body.waiting} requests waiting`,
        ...(functions.length > 0
          ? [formatTable(['function', 'version', 'starting', 'busy', 'idle', 'paused', 'MB', ...(limited ? ['concurrency limit'] : [])], functions.map((f) => [f.functionName, f.version, f.starting, f.busy, f.idle, f.paused, f.memoryMb, ...(limited ? [f.concurrencyLimit ?? ''] : [])]))]
          : []),
      ].join('\n');
    });
    return 0;
  }
  const name = nameArgument(positionals, 'stats');
  const r = await api.request(`${fn(name)}/stats`);
  const ms = (x: Record<string, number | null> | undefined, key = 'p50') => (x?.[key] == null ? '—' : x[key]!.toFixed(1));
  const phases = ['sandboxMs', 'runtimeBootMs', 'importMs', 'initMs', 'execMs', 'platformMs'];
  output(values, r.body, () => {
    const table = formatTable(
      ['start kind', 'count', 'failed', 'p50 ms', 'p95 ms', 'p99 ms', ...phases.map((p) => `${p.replace(/Ms$/, '')} p50`), 'billed GB-s'],
      [r.body.all, ...r.body.byStartKind].map((s: any) => [s.startKind, s.count, s.failed, ms(s.totalMs), ms(s.totalMs, 'p95'), ms(s.totalMs, 'p99'), ...phases.map((p) => ms(s.phases[p])), s.billedGbSeconds.toFixed(4)]),
    );
    return r.body.idle ? `${table}\nidle instances cost the platform ${r.body.idle.idleGbSeconds.toFixed(3)} GB-s` : table;
  });
  return 0;
}

/** thaw dlq ls | thaw dlq redrive ID... | --all: the dead letters of async invocations. */
export async function dlqCommand(argv: string[]): Promise<number> {
  const [sub, ...rest] = argv;
  if (sub !== 'ls' && sub !== 'redrive') throw new ThawError('ERR_INVALID_OPTION', `thaw dlq: expected 'ls' or 'redrive', got '${sub ?? ''}' (see 'thaw dlq --help')`);
  const { values, positionals } = parseOptions(rest, { ...CLIENT_OPTIONS, function: { type: 'string' }, all: { type: 'boolean' }, limit: { type: 'string' } }, `dlq ${sub}`);
  if (values.function !== undefined) validateFunctionName(values.function, 'option --function');
  if (sub === 'ls') {
    if (positionals.length > 0) throw new ThawError('ERR_INVALID_OPTION', `thaw dlq ls: unexpected argument '${positionals[0]}'`);
    const query = new URLSearchParams({ limit: String(numberOption(values.limit, '--limit', 100, (n) => Number.isInteger(n) && n >= 1 && n <= 1000)) });
    if (values.function) query.set('function', values.function);
    const r = await connect(values).request(`/dead-letters?${query}`);
    output(values, r.body, () =>
      formatTable(
        ['id', 'function', 'version', 'attempts', 'reason', 'error', 'failed at'],
        r.body.deadLetters.map((d: any) => [d.id, d.functionName, d.version, d.attempts, d.deadReason, d.lastError ? `${d.lastError.kind}: ${d.lastError.message}`.slice(0, 60) : '—', new Date(d.finishedAt).toISOString()]),
      ),
    );
    return 0;
  }
  if (values.all === (positionals.length > 0)) throw new ThawError('ERR_INVALID_OPTION', 'thaw dlq redrive: expected dead letter ids or --all');
  if (values.function && !values.all) throw invalidOption('--function', 'applies to --all');
  if (values.limit !== undefined) throw invalidOption('--limit', 'applies to thaw dlq ls');
  const body = values.all ? { all: true, function: values.function } : { ids: positionals };
  const r = await connect(values).request('/dead-letters/redrive', { method: 'POST', headers: json, body: JSON.stringify(body) });
  if (values.json) print(JSON.stringify(r.body, null, 2));
  else {
    say(`redrove ${r.body.redriven.length} dead letter${r.body.redriven.length === 1 ? '' : 's'}`);
    for (const job of r.body.redriven) print(job.id);
  }
  return 0;
}

/** thaw alias NAME | thaw alias NAME ALIAS ROUTES | thaw alias NAME ALIAS --delete */
export async function aliasCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parseOptions(argv, { ...CLIENT_OPTIONS, delete: { type: 'boolean' } }, 'alias');
  const [name, alias, routes, extra] = positionals;
  if (!name || extra !== undefined) throw new ThawError('ERR_INVALID_OPTION', "thaw alias: expected NAME [ALIAS VERSION[:WEIGHT][,VERSION:WEIGHT]] (see 'thaw alias --help')");
  validateFunctionName(name, 'thaw alias');
  const path = `${fn(name)}/aliases`;
  const show = (a: { name: string; routes: Array<{ version: number; weight: number }> }) => `${name}@${a.name} → ${a.routes.map((r) => `v${r.version} ${r.weight}%`).join(', ')}`;
  if (values.delete) {
    if (!alias || routes !== undefined) throw invalidOption('--delete', 'takes NAME ALIAS');
    const r = await connect(values).request(`${path}/${encodeURIComponent(alias)}`, { method: 'DELETE' });
    if (values.json) print(JSON.stringify(r.body, null, 2));
    else say(`deleted alias ${name}@${alias}`);
    return 0;
  }
  if (alias === undefined) {
    const r = await connect(values).request(path);
    output(values, r.body, () => r.body.aliases.map(show).join('\n'));
    return 0;
  }
  if (routes === undefined) throw new ThawError('ERR_INVALID_OPTION', `thaw alias: expected the versions of ${name}@${alias}, e.g. '3' or '3:90,4:10'`);
  const parsed = parseAliasRoutes(routes);
  const r = await connect(values).request(`${path}/${encodeURIComponent(alias)}`, { method: 'PUT', headers: json, body: JSON.stringify({ routes: parsed }) });
  output(values, r.body, () => show(r.body));
  return 0;
}

export async function evictCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parseOptions(argv, { ...CLIENT_OPTIONS, wait: { type: 'boolean' } }, 'evict');
  const name = nameArgument(positionals, 'evict');
  const r = await connect(values).request(`${fn(name)}/instances${values.wait ? '?wait=1' : ''}`, { method: 'DELETE' });
  if (values.json) print(JSON.stringify(r.body, null, 2));
  else say(`stopped ${r.body.stopped} idle instance${r.body.stopped === 1 ? '' : 's'} of ${name}${values.wait ? ` and ${r.body.waitedFor} busy one${r.body.waitedFor === 1 ? '' : 's'} once they finished` : ''}`);
  return 0;
}
