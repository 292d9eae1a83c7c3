// Fuzzing the gateway with seeded malformed input: thousands of requests written byte by byte on
// raw sockets (mutated methods, paths, percent-escapes, dot segments, queries, headers, framing and
// JSON bodies) and malformed deploy packages (JSON file maps and .tar.gz archives). Every one must
// get an answer, and none a 5xx; the platform must not crash; and a good request must still succeed
// afterwards. THAW_FUZZ_SEED and THAW_FUZZ_REQUESTS replay or widen a run; a failure prints the
// seed and the request.

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { after, before, describe, it } from 'node:test';
import { gunzipSync, gzipSync } from 'node:zlib';
import { packFolder } from '../../../src/cli/commands/client.ts';
import { seededRandom } from '../../../src/core/random.ts';
import { HELLO, TestGateway } from './helpers.ts';

const SEED = Number(process.env.THAW_FUZZ_SEED ?? 20261203);
const REQUESTS = Number(process.env.THAW_FUZZ_REQUESTS ?? 3000);
const PACKAGES = Number(process.env.THAW_FUZZ_PACKAGES ?? 120);

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

class Fuzzer {
  readonly #random: () => number;
  constructor(seed: number) {
    this.#random = seededRandom(seed);
  }
  int(n: number): number {
    return Math.floor(this.#random() * n);
  }
  chance(p: number): boolean {
    return this.#random() < p;
  }
  pick<T>(xs: readonly T[]): T {
    return xs[this.int(xs.length)]!;
  }
}

interface RequestParts {
  method: string;
  segments: string[];
  query: string[];
  version: string;
  headers: string[];
  body: Buffer | undefined;
  /** Content-Length as declared: the body's length unless a mutation lies about it. */
  length?: string;
}

const ID = '01JF3W6Q4V4ZK8J7Y2N0M5R9TB';
/** Valid requests to start from (none removes hello, none streams). */
const BASES: Array<[string, string, string?, Json?, Record<string, string>?]> = [
  ['GET', '/functions'],
  ['GET', '/functions/hello'],
  ['POST', '/functions/hello/invoke', '', { name: 'fuzz', nested: { list: [1, 'two', null, true] } }],
  ['POST', '/functions/hello@1/invoke', 'async=1', { a: 1 }, { 'Idempotency-Key': 'key-1' }],
  ['POST', '/functions/hello/invoke', 'version=1', [1, 2, 3], { traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01' }],
  ['GET', `/invocations/${ID}`, 'wait=0'],
  ['GET', '/functions/hello/logs', 'limit=2'],
  ['GET', '/functions/hello/invocations', 'limit=2'],
  ['GET', '/functions/hello/stats'],
  ['PUT', '/functions/hello/aliases/prod', '', { routes: [{ version: 1, weight: 100 }] }],
  ['DELETE', '/functions/hello/aliases/prod'],
  ['PUT', '/functions/hello/schedule', '', { cron: '*/5 * * * *', payload: { from: 'fuzz' } }],
  ['DELETE', '/functions/hello/schedule'],
  ['GET', '/dead-letters', 'function=hello&limit=5'],
  ['POST', '/dead-letters/redrive', '', { ids: [ID] }],
  ['DELETE', '/functions/hello/instances', 'wait=0'],
  ['POST', '/debug/clock', '', { advanceMs: 10 }],
  ['GET', '/stats'],
  ['GET', '/metrics'],
  ['GET', '/openapi.json'],
  ['GET', '/healthz'],
  ['GET', '/'],
  ['GET', '/dashboard/app.js'],
  ['GET', '/dashboard/state'],
  ['GET', '/cluster'],
];

const METHODS = ['GET', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS', 'HEAD', 'TRACE', 'CONNECT', 'FOO', 'get', 'G ET', '', 'POST\0'];
const SEGMENTS = ['..', '.', '%2e%2e', '%2E.', '%ZZ', '%', '%e0%a4%a', '%00', '%2f', '%2F..', 'hello%20', 'HELLO', '', 'a'.repeat(300), 'hello@', '@1', 'hello@0', 'hello@99999999999', 'hello@latest', 'hello@prod', 'hello@Prod!', '~', '%F0%9F%98%80', '\u00e9', ' ', ';x', '*', 'invoke', 'functions', 'hello', ID, '%C0%AF', '%uFFFF', '+', '\\'];
const QUERY_NAMES = ['version', 'async', 'wait', 'limit', 'function', 'name', 'memoryMb', 'access_token', 'x', '', '%ZZ', 'version[]', '__proto__'];
const QUERY_VALUES = ['abc', '-1', '0', '1', '2', '1.5', '1e3', '99999999999999999999', '', '%ZZ', 'true', 'false', '%00', 'a'.repeat(2000), '+', '%2B', '=', '&&', '60001', 'NaN', 'Infinity', '0x10', ' 1'];
const HEADERS = [
  'Content-Length: abc',
  'Content-Length: -1',
  'Content-Length: 1\r\nContent-Length: 2',
  'Transfer-Encoding: chunked',
  'Transfer-Encoding: gzip',
  'Transfer-Encoding: chunked\r\nContent-Length: 3',
  'Content-Type: application/gzip',
  'Content-Type: text/plain',
  'Content-Type: ',
  'Content-Type: application/json; charset=latin1',
  'Idempotency-Key: ',
  'Idempotency-Key: a b',
  `Idempotency-Key: ${'k'.repeat(300)}`,
  'Idempotency-Key: one\r\nIdempotency-Key: two',
  'traceparent: garbage',
  'traceparent: 00-00000000000000000000000000000000-0000000000000000-01',
  'X-Thaw-Invocation-Type: async',
  'X-Thaw-Invocation-Type: Event',
  'Authorization: Bearer nope',
  'Authorization: Basic',
  'Expect: 100-continue',
  'Expect: something-else',
  'Upgrade: websocket\r\nConnection: Upgrade',
  `X-Big: ${'a'.repeat(20_000)}`,
  'Bad Header: x',
  'X-Ctl: a\u0001b',
  ' folded: continuation',
  'Connection: keep-alive',
  'Host: a\r\nHost: b',
];
const VERSIONS = ['HTTP/1.1', 'HTTP/1.0', 'HTTP/2.0', 'HTTP/9.9', 'HTTX/1.1', 'HTTP/1.1 extra', ''];
const JSON_VALUES: Json[] = [null, -1, 0, 1.5, 1e308, -0, '', 'x'.repeat(1000), [], {}, true, false, { __proto__: { polluted: 1 } } as Json, { constructor: { prototype: { x: 1 } } }, '\u0000', '\ud800', [[[[[[]]]]]], 99999999999999999999, 'hello', 'prod', ID, -1e-300];
const RAW_BODIES = [
  '',
  '{',
  '{"a":',
  'null',
  '"string"',
  '\ufeff{}',
  '['.repeat(200) + ']'.repeat(200),
  '{"a":'.repeat(100) + '1' + '}'.repeat(100),
  '[1,]',
  '{"a" 1}',
  'NaN',
  '1'.repeat(10_000),
  '{"__proto__": {"polluted": true}}',
  '\u0000',
];

/** Replaces one leaf (or the whole) of a JSON value with something else. */
function mutateJson(f: Fuzzer, value: Json): Json {
  if (f.chance(0.2) || value === null || typeof value !== 'object') return f.pick(JSON_VALUES);
  if (Array.isArray(value)) {
    const copy = [...value];
    if (copy.length === 0 || f.chance(0.2)) copy.push(f.pick(JSON_VALUES));
    else copy[f.int(copy.length)] = mutateJson(f, copy[f.int(copy.length)]!);
    return copy;
  }
  const copy: { [k: string]: Json } = { ...value };
  const keys = Object.keys(copy);
  if (keys.length === 0 || f.chance(0.2)) copy[f.pick(['extra', 'routes', 'cron', 'ids', 'all', 'function', 'advanceMs', 'version', 'weight', 'files', 'settings'])] = f.pick(JSON_VALUES);
  else if (f.chance(0.2)) delete copy[f.pick(keys)];
  else {
    const key = f.pick(keys);
    copy[key] = mutateJson(f, copy[key]!);
  }
  return copy;
}

function baseRequest(f: Fuzzer): RequestParts {
  const [method, path, query = '', body, headers = {}] = f.pick(BASES);
  return {
    method,
    segments: path === '/' ? [] : path.slice(1).split('/'),
    query: query ? query.split('&') : [],
    version: 'HTTP/1.1',
    headers: Object.entries(headers).map(([k, v]) => `${k}: ${v}`),
    body: body === undefined ? undefined : Buffer.from(JSON.stringify(body)),
  };
}

const MUTATIONS: Array<(f: Fuzzer, r: RequestParts) => void> = [
  (f, r) => void (r.method = f.pick(METHODS)),
  (f, r) => {
    if (r.segments.length > 0) r.segments[f.int(r.segments.length)] = f.pick(SEGMENTS);
  },
  (f, r) => void r.segments.splice(f.int(r.segments.length + 1), 0, f.pick(SEGMENTS)),
  (f, r) => void r.segments.splice(f.int(r.segments.length), 1),
  (f, r) => void r.query.push(`${f.pick(QUERY_NAMES)}${f.chance(0.9) ? `=${f.pick(QUERY_VALUES)}` : ''}`),
  (f, r) => {
    if (r.query.length > 0) r.query.push(f.pick(r.query));
  },
  (f, r) => void r.headers.push(f.pick(HEADERS)),
  (f, r) => void (r.version = f.pick(VERSIONS)),
  (f, r) => {
    let parsed: Json = {};
    try {
      parsed = r.body ? (JSON.parse(r.body.toString()) as Json) : {};
    } catch {
      /* an earlier mutation broke it: start from an object */
    }
    r.body = Buffer.from(JSON.stringify(mutateJson(f, parsed)) ?? 'null');
  },
  (f, r) => void (r.body = Buffer.from(f.pick(RAW_BODIES))),
  (f, r) => void (r.body = Buffer.from([0xff, 0xfe, 0x7b, 0x22, 0xc3, 0x28, 0x22, 0x7d])),
  (f, r) => {
    // Declared length longer than the body: the server waits for the rest until its request timeout.
    if (r.body) r.length = String(r.body.length + 1 + f.int(100));
  },
  (f, r) => {
    // Shorter: the rest reads as a second, pipelined request of garbage.
    if (r.body && r.body.length > 1) r.length = String(f.int(r.body.length));
  },
];

function serialize(r: RequestParts): Buffer {
  const query = r.query.length > 0 ? `?${r.query.join('&')}` : '';
  const lines = [`${r.method} /${r.segments.join('/')}${query} ${r.version}`.replace(/ $/, ''), 'Host: fuzz', 'Connection: close', ...r.headers];
  if (r.body !== undefined) {
    if (!r.headers.some((h) => /^content-type/i.test(h))) lines.push('Content-Type: application/json');
    if (!r.headers.some((h) => /^(content-length|transfer-encoding)/i.test(h))) lines.push(`Content-Length: ${r.length ?? r.body.length}`);
  }
  return Buffer.concat([Buffer.from(lines.join('\r\n') + '\r\n\r\n', 'latin1'), r.body ?? Buffer.alloc(0)]);
}

function malformedRequest(f: Fuzzer): Buffer {
  if (f.chance(0.05)) return Buffer.from(Array.from({ length: 1 + f.int(200) }, () => f.int(256))); // noise
  const r = baseRequest(f);
  const n = 1 + f.int(3);
  for (let i = 0; i < n; i++) f.pick(MUTATIONS)(f, r);
  return serialize(r);
}

// —— deploy packages ——

const PACKAGE_JSONS: Array<string | Json> = [
  '{',
  '',
  'null',
  '[]',
  { name: 'Fuzz!' },
  { name: 'fuzz-pkg', main: '../../etc/passwd' },
  { name: 'fuzz-pkg', main: 'missing.js' },
  { name: 'fuzz-pkg', thaw: { memoryMb: 'lots' } },
  { name: 'fuzz-pkg', thaw: { memoryMb: 1e9 } },
  { name: 'fuzz-pkg', thaw: { start: 'warp' } },
  { name: 'fuzz-pkg', thaw: [] },
  { name: 'fuzz-pkg', thaw: { env: { '1BAD': 'x' } } },
  { name: 'fuzz-pkg', thaw: { provisioned: 5, maxConcurrency: 1 } },
  { name: 'fuzz-pkg', dependencies: { lodash: 5 } },
  { name: 'fuzz-pkg', dependencies: [] },
  { name: 'fuzz-pkg', type: 'nonsense' },
  { name: 123 },
  { name: 'fuzz-pkg' },
];
const SOURCES = [
  'exports.handler = async () => 1;',
  'exports.handler = async ( => 1;',
  'export const handler = 3;',
  'module.exports = {};',
  'throw new Error("at load");',
  'import x from "./nowhere.js"; export const handler = () => x;',
  'import "not-declared-anywhere"; export const handler = () => 1;',
  '\u0000\u0001\u0002',
  'export default function () {}',
  'let x: number = "ts in js";',
];
const FILE_NAMES = ['index.js', 'index.mjs', 'index.ts', '../escape.js', '/abs.js', '', 'a/../../b.js', 'dir/', '.', 'package.json/x', 'x'.repeat(300), 'nul\u0000.js', 'ok/nested.js', 'C:\\win.js'];

function filesBody(f: Fuzzer): Json {
  const files: { [k: string]: Json } = {};
  if (f.chance(0.9)) {
    const pkg = f.pick(PACKAGE_JSONS);
    files['package.json'] = typeof pkg === 'string' ? pkg : JSON.stringify(pkg);
  }
  const n = f.int(4);
  for (let i = 0; i < n; i++) {
    const contents: Json = f.chance(0.8) ? f.pick(SOURCES) : f.pick<Json>([3, null, { base64: '!!!not base64' }, { base64: 3 }, { other: 1 }, ['a'], { base64: Buffer.from(f.pick(SOURCES)).toString('base64') }]);
    files[f.chance(0.7) ? 'index.js' : f.pick(FILE_NAMES)] = contents;
  }
  const body: { [k: string]: Json } = { files };
  if (f.chance(0.3)) body.settings = mutateJson(f, { name: 'fuzz-pkg', memoryMb: 128 });
  return f.chance(0.1) ? mutateJson(f, body) : body;
}

function mutateTarball(f: Fuzzer, good: Buffer): Buffer {
  switch (f.int(5)) {
    case 0:
      return good.subarray(0, f.int(good.length)); // truncated gzip
    case 1: {
      const copy = Buffer.from(good);
      for (let i = 0; i < 1 + f.int(8); i++) copy[f.int(copy.length)] = f.int(256); // flipped bytes
      return copy;
    }
    case 2: {
      const tar = Buffer.from(gunzipSync(good));
      // A corrupted header field: name, mode, size, checksum, type flag or magic of one entry.
      const header = 512 * f.int(Math.max(1, Math.floor(tar.length / 512)));
      const field = f.pick([0, 100, 124, 148, 156, 257, 345]);
      for (let i = 0; i < 1 + f.int(12); i++) tar[header + field + i] = f.pick([0x2e, 0x2f, 0x00, 0x37, 0xff, 0x31, 0x20]);
      return gzipSync(tar);
    }
    case 3:
      return gzipSync(Buffer.from(Array.from({ length: f.int(4096) }, () => f.int(256)))); // gzip of noise
    default:
      return Buffer.from(Array.from({ length: f.int(2048) }, () => f.int(256))); // noise
  }
}

describe('gateway fuzz', { timeout: 600_000 }, () => {
  let gw: TestGateway;
  let tarball: Buffer;
  before(async () => {
    gw = await TestGateway.start({ headersMs: 1_000, requestMs: 1_000, checkEveryMs: 100 });
    assert.equal((await gw.deployHello()).status, 201);
    tarball = execFileSync('tar', ['czf', '-', '-C', HELLO, '.']);
  });
  after(() => gw?.close());

  const show = (bytes: Buffer) => JSON.stringify(bytes.toString('latin1').slice(0, 300));

  it(`answers ${REQUESTS} malformed requests on raw sockets, none with a 5xx (seed ${SEED})`, async () => {
    const failures: string[] = [];
    const f = new Fuzzer(SEED);
    const requests = Array.from({ length: REQUESTS }, () => malformedRequest(f));
    const statuses = new Map<number | string, number>();
    // A few connections at once: those that lie about their length wait out the request timeout.
    let next = 0;
    const worker = async () => {
      for (let i = next++; i < requests.length; i = next++) {
        const { status, head } = await gw.exchange(requests[i]!);
        statuses.set(status ?? 'none', (statuses.get(status ?? 'none') ?? 0) + 1);
        if (status === undefined || status >= 500) failures.push(`#${i} (seed ${SEED}) got ${status ?? 'no answer'} for ${show(requests[i]!)}: ${JSON.stringify(head.slice(-300))}`);
      }
    };
    await Promise.all(Array.from({ length: 8 }, worker));
    process.stdout.write(`# statuses: ${JSON.stringify([...statuses].sort())}\n`);
    assert.deepEqual(failures.slice(0, 10), [], `${failures.length} failures; statuses ${JSON.stringify([...statuses])}`);
    // A fuzz that only ever hit the parser would check little: most requests must reach the router.
    const refusedByRoutes = [...statuses].filter(([s]) => s === 400 || s === 404 || s === 405).reduce((n, [, c]) => n + c, 0);
    assert.ok(refusedByRoutes > REQUESTS / 4 && (statuses.get(200) ?? 0) > REQUESTS / 20, JSON.stringify([...statuses]));
  });

  it(`refuses ${PACKAGES} malformed deploy packages with a 4xx (seed ${SEED})`, async () => {
    const failures: string[] = [];
    const f = new Fuzzer(SEED + 1);
    for (let i = 0; i < PACKAGES; i++) {
      const asTarball = f.chance(0.4);
      const body = asTarball ? mutateTarball(f, tarball) : Buffer.from(JSON.stringify(filesBody(f)));
      const query = asTarball && f.chance(0.5) ? `?${f.pick(['name=fuzz-tar', 'memoryMb=abc', 'network=maybe', 'start=warp', 'name=Bad!', 'memoryMb=128&network=true'])}` : '';
      const r = await gw.request('POST', `/functions${query}`, body, { 'content-type': asTarball ? 'application/gzip' : 'application/json' });
      if (r.status >= 500) failures.push(`package #${i} (seed ${SEED + 1}) got ${r.status} ${r.text.slice(0, 200)} for ${show(body)}`);
    }
    assert.deepEqual(failures.slice(0, 10), []);
  });

  it('still serves a good request afterwards: deploy (JSON and tarball) and invoke', async () => {
    assert.equal((await gw.request('POST', '/functions', { files: packFolder(HELLO) })).status, 201);
    const tar = await gw.request('POST', '/functions?name=hello-tar&memoryMb=128', tarball, { 'content-type': 'application/gzip' });
    assert.equal(tar.status, 201, tar.text);
    assert.equal(tar.body.name, 'hello-tar');
    for (const name of ['hello', 'hello-tar']) {
      const r = await gw.request('POST', `/functions/${name}/invoke`, { name: 'after the fuzz' });
      assert.equal(r.status, 200, r.text);
      assert.equal(r.body.message, 'Hello, after the fuzz!');
    }
  });
});
