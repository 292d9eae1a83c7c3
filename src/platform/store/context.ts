// What every repository shares: the open database, the clock, the data directory, limits.

import { isAbsolute, relative, resolve, sep } from 'node:path';
import type Sqlite from 'better-sqlite3';
import type { IdGenerator } from './ids.ts';

export interface StoreLimits {
  /** Largest async payload accepted into the queue, bytes of JSON. */
  payloadBytes: number;
  /** Largest result kept in an invocation record, bytes of JSON (larger ones are dropped, flagged truncated). */
  resultBytes: number;
  /** Most of stdout, and of stderr, kept per invocation, bytes: its first and last half, with a marker of what was left out between. */
  logBytes: number;
}

export const DEFAULT_LIMITS: StoreLimits = {
  payloadBytes: 1024 * 1024,
  resultBytes: 256 * 1024,
  logBytes: 32 * 1024,
};

export interface StoreContext {
  readonly db: Sqlite.Database;
  readonly dataDir: string;
  readonly now: () => number;
  readonly ids: IdGenerator;
  readonly limits: StoreLimits;
}

/** A path as stored: relative to the data dir when inside it, so a data dir can be moved. */
export function toStoredPath(ctx: StoreContext, path: string): string {
  const abs = resolve(ctx.dataDir, path);
  const rel = relative(ctx.dataDir, abs);
  return rel === '' || rel.startsWith('..' + sep) || rel === '..' || isAbsolute(rel) ? abs : rel;
}

export function fromStoredPath(ctx: StoreContext, stored: string): string {
  return resolve(ctx.dataDir, stored);
}
