// The platform's client commands: they talk to a running `thaw serve` over HTTP.
//   thaw deploy DIR | invoke NAME | ls | logs NAME | rm NAME | stats [NAME]

import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { isErrorCode, ThawError } from '../../core/errors.ts';
import { formatTable } from '../../sim/report/table.ts';
import { numberOption, parseOptions } from '../args.ts';
import { print, say } from '../output.ts';
import { parseDuration, parseMemory } from '../units.ts';
import { parseAliasRoutes } from '../../platform/store/aliases.ts';

const URL_OPTION = { url: { type: 'string' }, token: { type: 'string' } } as const;

export const CLIENT_HELP = `thaw deploy DIR [options]     deploy a function folder (package.json + handler)
  --name NAME  --memory SIZE  --timeout DUR  --concurrency N  --provisioned N
  --env KEY=VALUE (repeatable)  --network  --start cold|zygote|snapshot|isolate|auto
  --schedule CRON [--schedule-payload JSON]   a timer trigger
thaw invoke NAME[@ALIAS|@VERSION] [--data JSON] [--async [--idempotency-key KEY]] [--version N]
thaw dlq ls [--function NAME]  async invocations that failed for good (dead letters)
thaw dlq redrive ID... | --all [--function NAME]   put dead letters back in the queue
thaw alias NAME ALIAS VERSION[:WEIGHT][,VERSION:WEIGHT]   point an alias at versions by percent
                              (e.g. 3:90,4:10; invoke NAME@ALIAS); again to re-point or roll back
thaw alias NAME [ALIAS --delete]   list a function's aliases, or delete one
thaw ls                       deployed functions
thaw logs NAME [--limit N]    stdout/stderr of the latest invocations
thaw rm NAME                  remove a function
thaw evict NAME [--wait]      stop its idle instances (--wait: busy ones too, once they finish),
                              so its next invocation starts cold
thaw stats [NAME]             instances and memory, or a function's latencies by start kind
  every client command: --url URL (default $THAW_URL or http://127.0.0.1:8080),
  --token TOKEN (default $THAW_TOKEN): the API token of a thaw serve --token-file`;

/** The thaw a client command talks to: --url (or $THAW_URL), with --token (or $THAW_TOKEN) on every request. */
function connect(values: { url?: string; token?: string }) {
  const base = (values.url ?? process.env.THAW_URL ?? 'http://127.0.0.1:8080').replace(/\/$/, '');
  const token = values.token ?? process.env.THAW_TOKEN;
  return {
    base,
    request: (path: string, init: RequestInit = {}): Promise<Answer> => request(base + path, token ? { ...init, headers: { ...(init.headers as Record<string, string>), authorization: `Bearer ${token}` } } : init),
  };
}

interface Answer {
  status: number;
  body: any;
  headers: Headers;
  /** Where it came from, for messages. */
  origin: string;
}

async function request(url: string, init: RequestInit = {}): Promise<Answer> {
  const origin = new URL(url).origin;
  let res: Response;
  try {
    res = await fetch(url, init);
  } catch (error) {
    throw new ThawError('ERR_UNREACHABLE', `cannot reach thaw at ${origin} (${(error as Error & { cause?: Error }).cause?.message ?? (error as Error).message})`, { cause: error });
  }
  const text = await res.text();
  try {
    return { status: res.status, body: text ? JSON.parse(text) : null, headers: res.headers, origin };
  } catch {
    // thaw answers every API request with JSON: anything else is another server.
    throw new ThawError('ERR_NOT_THAW', `${origin} answered HTTP ${res.status}${res.statusText ? ` ${res.statusText}` : ''} with ${res.headers.get('content-type') ?? 'a body'} that is not JSON, not as thaw does`);
  }
}

/** A failed answer as the ThawError the server raised: its code (so its exit code) and message. */
function failIfError(r: Answer): void {
  if (r.status < 400) return;
  const error = r.body?.error;
  if (!isErrorCode(error?.code) || typeof error.message !== 'string') throw new ThawError('ERR_NOT_THAW', `${r.origin} answered HTTP ${r.status} without a thaw error, not as thaw does`);
  throw new ThawError(error.code, error.kind ? `${error.kind}: ${error.message}` : error.message);
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
      ...URL_OPTION,
      name: { type: 'string' },
      memory: { type: 'string' },
      timeout: { type: 'string' },
      concurrency: { type: 'string' },
      provisioned: { type: 'string' },
      env: { type: 'string', multiple: true },
      network: { type: 'boolean' },
      start: { type: 'string' },
      schedule: { type: 'string' },
      'schedule-payload': { type: 'string' },
    },
    'deploy',
  );
  const dir = positionals[0];
  if (!dir || !statSync(dir, { throwIfNoEntry: false })?.isDirectory()) throw new ThawError('ERR_INVALID_OPTION', `thaw deploy: expected a function folder, got '${dir ?? ''}'`);
  const settings: Record<string, unknown> = {};
  if (values.name) settings.name = values.name;
  if (values.memory) settings.memoryMb = parseMemory(values.memory);
  if (values.timeout) settings.timeoutMs = parseDuration(values.timeout, '--timeout');
  if (values.concurrency) settings.maxConcurrency = numberOption(values.concurrency, '--concurrency', 10, Number.isInteger);
  if (values.provisioned) settings.provisioned = numberOption(values.provisioned, '--provisioned', 0, Number.isInteger);
  if (values.network) settings.network = true;
  if (values.start) settings.start = values.start;
  if (values.env) {
    settings.env = Object.fromEntries(
      values.env.map((kv) => {
        const i = kv.indexOf('=');
        if (i <= 0) throw new ThawError('ERR_INVALID_OPTION', `option --env: expected KEY=VALUE, got '${kv}'`);
        return [kv.slice(0, i), kv.slice(i + 1)];
      }),
    );
  }
  const api = connect(values);
  const r = await api.request('/functions', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ files: packFolder(dir), settings }) });
  failIfError(r);
  const v = r.body.version;
  say(`deployed ${r.body.name} version ${v.version} (${v.memoryMb} MB, timeout ${v.timeoutMs} ms) in ${(r.body.timings.totalMs / 1000).toFixed(1)} s`);
  if (values.schedule) {
    const payload = values['schedule-payload'] ? JSON.parse(values['schedule-payload']) : {};
    const s = await api.request(`/functions/${encodeURIComponent(r.body.name)}/schedule`, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ cron: values.schedule, payload }) });
    failIfError(s);
    say(`timer trigger '${values.schedule}'`);
  }
  return 0;
}

export async function invokeCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parseOptions(
    argv,
    { ...URL_OPTION, data: { type: 'string' }, async: { type: 'boolean' }, version: { type: 'string' }, 'idempotency-key': { type: 'string' } },
    'invoke',
  );
  const name = positionals[0];
  if (!name) throw new ThawError('ERR_INVALID_OPTION', 'thaw invoke: expected a function name');
  if (values['idempotency-key'] !== undefined && !values.async) throw new ThawError('ERR_INVALID_OPTION', 'thaw invoke: --idempotency-key applies to --async invocations');
  const query = new URLSearchParams();
  if (values.async) query.set('async', '1');
  if (values.version) query.set('version', values.version);
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  if (values['idempotency-key'] !== undefined) headers['idempotency-key'] = values['idempotency-key'];
  const r = await connect(values).request(`/functions/${encodeURIComponent(name)}/invoke?${query}`, { method: 'POST', headers, body: values.data ?? '{}' });
  failIfError(r);
  print(JSON.stringify(r.body, null, 2));
  if (!values.async) say(`${r.headers.get('x-thaw-start-kind')} start of v${r.headers.get('x-thaw-version')}, ${Number(r.headers.get('x-thaw-duration-ms')).toFixed(1)} ms, invocation ${r.headers.get('x-thaw-invocation-id')}`);
  return 0;
}

export async function lsCommand(argv: string[]): Promise<number> {
  const { values } = parseOptions(argv, URL_OPTION, 'ls');
  const r = await connect(values).request('/functions');
  failIfError(r);
  print(formatTable(['name', 'version', 'versions', 'memory', 'timeout', 'start', 'snapshot'], r.body.functions.map((f: any) => [f.name, f.latestVersion, f.versions, `${f.memoryMb} MB`, `${f.timeoutMs} ms`, f.start, f.snapshotStatus ?? '—'])));
  return 0;
}

export async function logsCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parseOptions(argv, { ...URL_OPTION, limit: { type: 'string' } }, 'logs');
  const name = positionals[0];
  if (!name) throw new ThawError('ERR_INVALID_OPTION', 'thaw logs: expected a function name');
  const r = await connect(values).request(`/functions/${encodeURIComponent(name)}/logs?limit=${values.limit ?? 20}`);
  failIfError(r);
  for (const entry of [...r.body.logs].reverse()) {
    print(`── ${entry.id} v${entry.version} ${entry.status} ${new Date(entry.createdAt).toISOString()}${entry.error ? ` — ${entry.error.kind}: ${entry.error.message}` : ''}`);
    if (entry.stdout) print(entry.stdout.trimEnd());
    if (entry.stderr) print(entry.stderr.trimEnd().split('\n').map((l: string) => `stderr| ${l}`).join('\n'));
  }
  return 0;
}

export async function rmCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parseOptions(argv, URL_OPTION, 'rm');
  const name = positionals[0];
  if (!name) throw new ThawError('ERR_INVALID_OPTION', 'thaw rm: expected a function name');
  failIfError(await connect(values).request(`/functions/${encodeURIComponent(name)}`, { method: 'DELETE' }));
  say(`removed ${name}`);
  return 0;
}

export async function statsCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parseOptions(argv, URL_OPTION, 'stats');
  const api = connect(values);
  const name = positionals[0];
  if (!name) {
    const r = await api.request('/stats');
    failIfError(r);
    print(formatTable(['state', 'instances'], Object.entries(r.body.instances)));
    print(`memory: ${r.body.usedMb} MB held (${r.body.idleMb} MB idle) of ${r.body.budgetMb} MB; ${r.body.waiting} requests waiting`);
    return 0;
  }
  const r = await api.request(`/functions/${encodeURIComponent(name)}/stats`);
  failIfError(r);
  const ms = (x: { p50: number | null } | undefined, key: 'p50' | 'p95' | 'p99' = 'p50') => ((x as any)?.[key] == null ? '—' : (x as any)[key].toFixed(1));
  const phases = ['sandboxMs', 'runtimeBootMs', 'importMs', 'initMs', 'execMs', 'platformMs'];
  print(
    formatTable(
      ['start kind', 'count', 'failed', 'p50 ms', 'p95 ms', 'p99 ms', ...phases.map((p) => `${p.replace(/Ms$/, '')} p50`), 'billed GB-s'],
      [r.body.all, ...r.body.byStartKind].map((s: any) => [s.startKind, s.count, s.failed, ms(s.totalMs), ms(s.totalMs, 'p95'), ms(s.totalMs, 'p99'), ...phases.map((p) => ms(s.phases[p])), s.billedGbSeconds.toFixed(4)]),
    ),
  );
  if (r.body.idle) print(`idle instances cost the platform ${r.body.idle.idleGbSeconds.toFixed(3)} GB-s`);
  return 0;
}

/** thaw dlq ls | thaw dlq redrive ID... | --all: the dead letters of async invocations. */
export async function dlqCommand(argv: string[]): Promise<number> {
  const [sub, ...rest] = argv;
  const { values, positionals } = parseOptions(rest, { ...URL_OPTION, function: { type: 'string' }, all: { type: 'boolean' }, limit: { type: 'string' } }, `dlq ${sub ?? ''}`.trim());
  const api = connect(values);
  if (sub === 'ls') {
    const query = new URLSearchParams({ limit: values.limit ?? '100' });
    if (values.function) query.set('function', values.function);
    const r = await api.request(`/dead-letters?${query}`);
    failIfError(r);
    print(
      formatTable(
        ['id', 'function', 'version', 'attempts', 'reason', 'error', 'failed at'],
        r.body.deadLetters.map((d: any) => [d.id, d.functionName, d.version, d.attempts, d.deadReason, d.lastError ? `${d.lastError.kind}: ${d.lastError.message}`.slice(0, 60) : '—', new Date(d.finishedAt).toISOString()]),
      ),
    );
    return 0;
  }
  if (sub === 'redrive') {
    if (values.all === (positionals.length > 0)) throw new ThawError('ERR_INVALID_OPTION', 'thaw dlq redrive: expected dead letter ids or --all');
    if (values.function && !values.all) throw new ThawError('ERR_INVALID_OPTION', 'thaw dlq redrive: --function applies to --all');
    const body = values.all ? { all: true, function: values.function } : { ids: positionals };
    const r = await api.request('/dead-letters/redrive', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
    failIfError(r);
    say(`redrove ${r.body.redriven.length} dead letter${r.body.redriven.length === 1 ? '' : 's'}`);
    for (const job of r.body.redriven) print(job.id);
    return 0;
  }
  throw new ThawError('ERR_INVALID_OPTION', `thaw dlq: expected 'ls' or 'redrive', got '${sub ?? ''}'`);
}

/** thaw alias NAME | thaw alias NAME ALIAS ROUTES | thaw alias NAME ALIAS --delete */
export async function aliasCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parseOptions(argv, { ...URL_OPTION, delete: { type: 'boolean' } }, 'alias');
  const [name, alias, routes, extra] = positionals;
  if (!name || extra !== undefined) throw new ThawError('ERR_INVALID_OPTION', 'thaw alias: expected NAME [ALIAS VERSION[:WEIGHT][,VERSION:WEIGHT]] (see thaw help)');
  const api = connect(values);
  const path = `/functions/${encodeURIComponent(name)}/aliases`;
  const show = (a: { name: string; routes: Array<{ version: number; weight: number }> }) => `${name}@${a.name} → ${a.routes.map((r) => `v${r.version} ${r.weight}%`).join(', ')}`;
  if (values.delete) {
    if (!alias || routes !== undefined) throw new ThawError('ERR_INVALID_OPTION', 'thaw alias: --delete takes NAME ALIAS');
    failIfError(await api.request(`${path}/${encodeURIComponent(alias)}`, { method: 'DELETE' }));
    say(`deleted alias ${name}@${alias}`);
    return 0;
  }
  if (alias === undefined) {
    const r = await api.request(path);
    failIfError(r);
    for (const a of r.body.aliases) print(show(a));
    return 0;
  }
  if (routes === undefined) throw new ThawError('ERR_INVALID_OPTION', `thaw alias: expected the versions of ${name}@${alias}, e.g. '3' or '3:90,4:10'`);
  const r = await api.request(`${path}/${encodeURIComponent(alias)}`, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ routes: parseAliasRoutes(routes) }) });
  failIfError(r);
  print(show(r.body));
  return 0;
}

export async function evictCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parseOptions(argv, { ...URL_OPTION, wait: { type: 'boolean' } }, 'evict');
  const name = positionals[0];
  if (!name) throw new ThawError('ERR_INVALID_OPTION', 'thaw evict: expected a function name');
  const r = await connect(values).request(`/functions/${encodeURIComponent(name)}/instances${values.wait ? '?wait=1' : ''}`, { method: 'DELETE' });
  failIfError(r);
  say(`stopped ${r.body.stopped} idle instance${r.body.stopped === 1 ? '' : 's'} of ${name}${values.wait ? ` and ${r.body.waitedFor} busy one${r.body.waitedFor === 1 ? '' : 's'} once they finished` : ''}`);
  return 0;
}
