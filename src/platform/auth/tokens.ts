// API tokens (thaw serve --token-file FILE): who may call the API, and what for. Two scopes:
//
//   invoke  invoke functions, read invocation records, list and show functions
//   admin   everything: deploy, delete, aliases, evict, schedules, dead letters, logs, stats,
//           metrics, the dashboard's data and event stream (admin includes invoke)
//
// The file has one token per line, `SCOPE TOKEN` (or `SCOPE sha256:HEX`, the SHA-256 of the token,
// so the file need not hold the secret itself), `#` comments and blank lines allowed. Tokens are
// compared by their SHA-256 in constant time. Clients send `Authorization: Bearer TOKEN`. The same
// layer serves single-node and cluster mode: a gateway asks `authorize(header, scope)`.

import { createHash, timingSafeEqual } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import { ThawError } from '../../core/errors.ts';

export type Scope = 'invoke' | 'admin';
export const SCOPES: readonly Scope[] = ['invoke', 'admin'];

/** Tokens shorter than this are refused: a token is a password that never needs typing. */
export const MIN_TOKEN_LENGTH = 16;

export interface Principal {
  scope: Scope;
  /** Line of the token file it came from (for logs; never the token). */
  line: number;
}

interface Entry extends Principal {
  digest: Buffer;
}

export class TokenSet {
  readonly #entries: Entry[];
  /** Set when the file can be read by other users than its owner. */
  readonly warning: string | undefined;

  private constructor(entries: Entry[], warning?: string) {
    this.#entries = entries;
    this.warning = warning;
  }

  /** Reads and checks a token file; an error names the file and line. */
  static load(file: string): TokenSet {
    let text: string;
    let mode: number;
    try {
      text = readFileSync(file, 'utf8');
      mode = statSync(file).mode;
    } catch (error) {
      throw new ThawError('ERR_INVALID_OPTION', `option --token-file: cannot read ${file}: ${(error as Error).message}`);
    }
    const tokens = TokenSet.parse(text, file);
    const warning = mode & 0o077 ? `${file} can be read by other users (mode ${(mode & 0o777).toString(8)}): chmod 600 it` : undefined;
    return new TokenSet(tokens.#entries, warning);
  }

  /** Parses token-file text; `where` names it in errors. */
  static parse(text: string, where = 'token file'): TokenSet {
    const entries: Entry[] = [];
    text.split('\n').forEach((raw, i) => {
      const line = raw.trim();
      if (line === '' || line.startsWith('#')) return;
      const fail = (what: string) => new ThawError('ERR_INVALID_OPTION', `${where}, line ${i + 1}: ${what}`);
      const parts = line.split(/\s+/);
      if (parts.length !== 2) throw fail(`expected 'SCOPE TOKEN' (scope invoke or admin), got ${parts.length} fields`);
      const [scope, token] = parts as [string, string];
      if (!SCOPES.includes(scope as Scope)) throw fail(`unknown scope '${scope}' (expected invoke or admin)`);
      let digest: Buffer;
      if (token.startsWith('sha256:')) {
        if (!/^sha256:[0-9a-f]{64}$/i.test(token)) throw fail('sha256: must be followed by 64 hexadecimal digits');
        digest = Buffer.from(token.slice(7), 'hex');
      } else {
        if (token.length < MIN_TOKEN_LENGTH) throw fail(`a token must be at least ${MIN_TOKEN_LENGTH} characters (e.g. openssl rand -hex 24)`);
        digest = sha256(token);
      }
      if (entries.some((e) => e.digest.equals(digest))) throw fail('the same token appears twice');
      entries.push({ scope: scope as Scope, line: i + 1, digest });
    });
    if (entries.length === 0) throw new ThawError('ERR_INVALID_OPTION', `${where}: no tokens (expected lines 'SCOPE TOKEN', scope invoke or admin)`);
    return new TokenSet(entries);
  }

  /**
   * Who `authorization` (an `Authorization: Bearer` header) is, if allowed `scope`:
   * ERR_UNAUTHORIZED without a known token, ERR_FORBIDDEN with one whose scope is too small.
   */
  authorize(authorization: string | undefined, scope: Scope): Principal {
    const token = bearerToken(authorization);
    if (token === undefined) throw new ThawError('ERR_UNAUTHORIZED', 'this thaw needs an API token: send Authorization: Bearer TOKEN (thaw --token TOKEN, or $THAW_TOKEN)');
    const digest = sha256(token);
    // Compare against every entry, so the time taken says nothing about which (if any) matched.
    let found: Entry | undefined;
    for (const entry of this.#entries) if (timingSafeEqual(entry.digest, digest) && !found) found = entry;
    if (!found) throw new ThawError('ERR_UNAUTHORIZED', 'unknown API token');
    if (scope === 'admin' && found.scope !== 'admin') throw new ThawError('ERR_FORBIDDEN', `this token's scope is ${found.scope}: this needs an admin token`);
    return { scope: found.scope, line: found.line };
  }
}

function bearerToken(authorization: string | undefined): string | undefined {
  if (!authorization) return undefined;
  const m = /^Bearer\s+(\S+)\s*$/i.exec(authorization);
  return m ? m[1] : undefined;
}

function sha256(text: string): Buffer {
  return createHash('sha256').update(text, 'utf8').digest();
}
