// Reading a request's raw parts strictly: the path (from the request line itself, since WHATWG URL
// parsing resolves dot segments — `DELETE /functions/hello/../hello` would delete `hello`), the
// query, and the body (a size limit, and a nesting limit checked before JSON.parse so a deep body is
// refused with a 400 instead of exhausting the stack of whatever walks it next). Every failure is a
// ThawError that says which part was wrong.

import type { IncomingMessage } from 'node:http';
import { ThawError } from '../../core/errors.ts';

/** Deepest nesting of arrays and objects accepted in a JSON body. */
export const MAX_JSON_DEPTH = 64;

export function badRequest(message: string): ThawError {
  return new ThawError('ERR_INVALID_REQUEST', message);
}

export interface RequestTarget {
  /** Decoded path segments. */
  segments: string[];
  /** The path as sent, for messages. */
  rawPath: string;
  /** Decoded query parameters; a name given twice is refused. */
  query: Map<string, string>;
}

/** Splits and decodes the request target: origin form (`/a/b?c=d`) or absolute form (`http://host/a/b`). */
export function parseTarget(target: string): RequestTarget {
  let rest = target;
  // (An absolute-form target is rare: the usual one, a path, skips the expression.)
  const absolute = rest.startsWith('/') ? null : /^https?:\/\/[^/?#]*/i.exec(rest);
  if (absolute) rest = rest.slice(absolute[0].length) || '/';
  if (!rest.startsWith('/')) throw badRequest(`the request target must be a path starting with '/', got '${clip(target)}'`);
  const hash = rest.indexOf('#');
  if (hash >= 0) rest = rest.slice(0, hash);
  const q = rest.indexOf('?');
  const rawPath = q >= 0 ? rest.slice(0, q) : rest;
  const rawQuery = q >= 0 ? rest.slice(q + 1) : '';
  const raws = rawPath === '/' ? [] : rawPath.slice(1).split('/');
  const segments = raws.map((raw, i) => {
    const segment = decode(raw, () => `path segment ${i + 1} '${clip(raw)}'`);
    if (segment === '.' || segment === '..') throw badRequest(`path '${clip(rawPath)}': dot segments ('.' and '..') are not accepted`);
    if (segment === '' && i < raws.length - 1) throw badRequest(`path '${clip(rawPath)}': empty path segment ${i + 1}`);
    if (segment.includes('/') || segment.includes('\0')) throw badRequest(`path segment ${i + 1} '${clip(raw)}': an encoded '/' or NUL is not accepted`);
    return segment;
  });
  // One trailing slash is tolerated: `/functions/` is `/functions`.
  if (segments.length > 0 && segments[segments.length - 1] === '') segments.pop();
  const query = new Map<string, string>();
  if (rawQuery !== '') {
    for (const pair of rawQuery.split('&')) {
      if (pair === '') continue;
      const eq = pair.indexOf('=');
      const rawName = eq >= 0 ? pair.slice(0, eq) : pair;
      const name = decode(rawName.replace(/\+/g, ' '), () => `query parameter name '${clip(rawName)}'`);
      const value = decode((eq >= 0 ? pair.slice(eq + 1) : '').replace(/\+/g, ' '), () => `query parameter '${clip(name)}'`);
      if (query.has(name)) throw badRequest(`query parameter '${clip(name)}' is given more than once`);
      query.set(name, value);
    }
  }
  return { segments, rawPath, query };
}

function decode(raw: string, where: () => string): string {
  if (!raw.includes('%')) return raw; // nothing escaped (a function's name, on every invocation)
  try {
    return decodeURIComponent(raw);
  } catch {
    throw badRequest(`${where()}: malformed percent-escape (a '%' must be followed by two hex digits of UTF-8)`);
  }
}

/**
 * The body, at most `limit` bytes (413 beyond it, the rest drained so the client reads the answer).
 * Read with 'data' events rather than an async iterator: that allocated an iterator and a promise
 * per chunk, on every invocation.
 */
export function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  const declared = Number(req.headers['content-length']);
  if (declared > limit) return Promise.reject(tooLarge(`Content-Length ${declared}`, limit, req));
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const done = (error?: Error) => {
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('error', onError);
      req.off('close', onClose);
      if (error) reject(error);
      else resolve(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size));
    };
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) return done(tooLarge(`more than ${limit} bytes`, limit, req));
      chunks.push(chunk);
      // All the declared bytes are here: the parser frames a body by its Content-Length, so
      // nothing follows but 'end', a tick later (a warm invocation's answer need not wait for it).
      if (size === declared) done();
    };
    const onEnd = () => done();
    const onError = (error: Error) => done(error);
    // Closed before its end: the client went away mid-body.
    const onClose = () => done(Object.assign(new Error('aborted'), { code: 'ECONNRESET' }));
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('error', onError);
    req.on('close', onClose);
  });
}

function tooLarge(size: string, limit: number, req: IncomingMessage): ThawError {
  req.resume(); // drain the rest so the client gets the 413 instead of a reset connection
  return new ThawError('ERR_PAYLOAD_TOO_LARGE', `request body: ${size}, over the limit of ${limit} bytes`);
}

/** Parses a JSON body; undefined for an empty one. Refuses invalid JSON and nesting deeper than MAX_JSON_DEPTH. */
export function parseJsonBody(body: Buffer): unknown {
  return body.length === 0 ? undefined : parseJsonText(body.toString('utf8'));
}

/** parseJsonBody for a body already decoded as UTF-8 text (not empty). */
export function parseJsonText(text: string): unknown {
  const depth = jsonDepth(text);
  if (depth > MAX_JSON_DEPTH) throw badRequest(`body: nested more than ${MAX_JSON_DEPTH} levels deep (arrays and objects)`);
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new ThawError('ERR_INVALID_JSON', `the request body is not valid JSON: ${(error as Error).message}`);
  }
}

/** Deepest nesting of [ and { outside strings; stops counting once past the limit. Linear, no recursion. */
function jsonDepth(text: string): number {
  let depth = 0;
  let max = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c) i++; // backslash: skip the escaped character
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x5b || c === 0x7b) {
      if (++depth > max) max = depth;
      if (max > MAX_JSON_DEPTH) return max;
    } else if (c === 0x5d || c === 0x7d) depth--;
  }
  return max;
}

function clip(s: string): string {
  return s.length > 80 ? `${s.slice(0, 80)}…` : s;
}
