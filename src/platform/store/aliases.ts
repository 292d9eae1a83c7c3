// Aliases: a name (prod, canary) for a weighted set of a function's versions — `3:90,4:10` sends 90 %
// of the alias's invocations to version 3 and 10 % to version 4. Re-pointing an alias is how a
// version is rolled out gradually and rolled back. Versions are immutable and never deleted, so an
// alias always points at code that exists; removing the function deletes its aliases.

import { ThawError } from '../../core/errors.ts';
import type { StoreContext } from './context.ts';

export interface AliasRoute {
  version: number;
  /** Percent of the alias's invocations, 1–100; the routes of an alias sum to 100. */
  weight: number;
}

export interface Alias {
  functionName: string;
  name: string;
  routes: AliasRoute[];
  updatedAt: number;
}

/** Alias names start with a letter (so `NAME@3` is always a version) and are not `latest`. */
export const ALIAS_NAME = /^[a-z][a-z0-9_-]{0,62}$/;

export function validateAliasName(name: unknown): string {
  if (typeof name !== 'string' || !ALIAS_NAME.test(name) || name === 'latest') {
    throw new ThawError('ERR_INVALID_OPTION', `alias ${JSON.stringify(name)} is not a valid alias name (1–63 characters: a-z, 0-9, '-', '_', starting with a letter; not 'latest')`);
  }
  return name;
}

/**
 * Parses `VERSION[:WEIGHT][,VERSION:WEIGHT]...`: weights are percents; one version may leave its
 * weight out and gets the rest (`4` is 4:100, `3,4:10` is 3:90 and 4:10).
 */
export function parseAliasRoutes(text: string): AliasRoute[] {
  const parts = text.split(',').map((p) => p.trim());
  const routes: Array<{ version: number; weight: number | undefined }> = parts.map((part) => {
    const m = /^(\d+)(?::(\d+(?:\.\d+)?))?$/.exec(part);
    if (!m) throw new ThawError('ERR_INVALID_OPTION', `alias routes: expected VERSION[:WEIGHT][,VERSION:WEIGHT] (e.g. 3:90,4:10), got '${part}' in '${text}'`);
    return { version: Number(m[1]), weight: m[2] === undefined ? undefined : Number(m[2]) };
  });
  const unweighted = routes.filter((r) => r.weight === undefined);
  if (unweighted.length > 1) throw new ThawError('ERR_INVALID_OPTION', `alias routes: only one version may leave out its weight, in '${text}'`);
  const given = routes.reduce((sum, r) => sum + (r.weight ?? 0), 0);
  return validateAliasRoutes(routes.map((r) => ({ version: r.version, weight: r.weight ?? 100 - given })));
}

/** Distinct existing-looking versions, weights in (0, 100] that sum to 100. */
export function validateAliasRoutes(routes: unknown): AliasRoute[] {
  if (!Array.isArray(routes) || routes.length === 0) throw new ThawError('ERR_INVALID_OPTION', 'alias routes: expected at least one {"version": N, "weight": PERCENT}');
  const seen = new Set<number>();
  for (const r of routes as AliasRoute[]) {
    if (!Number.isInteger(r?.version) || r.version < 1) throw new ThawError('ERR_INVALID_OPTION', `alias routes: version must be an integer ≥ 1, got ${JSON.stringify(r?.version)}`);
    if (seen.has(r.version)) throw new ThawError('ERR_INVALID_OPTION', `alias routes: version ${r.version} appears twice`);
    seen.add(r.version);
    if (typeof r.weight !== 'number' || !(r.weight > 0 && r.weight <= 100)) throw new ThawError('ERR_INVALID_OPTION', `alias routes: version ${r.version}'s weight must be a percent in (0, 100], got ${JSON.stringify(r.weight)}`);
  }
  const total = (routes as AliasRoute[]).reduce((sum, r) => sum + r.weight, 0);
  if (Math.abs(total - 100) > 1e-9) throw new ThawError('ERR_INVALID_OPTION', `alias routes: weights must sum to 100, got ${total}`);
  return (routes as AliasRoute[]).map((r) => ({ version: r.version, weight: r.weight }));
}

export class AliasRepository {
  readonly #ctx: StoreContext;

  constructor(ctx: StoreContext) {
    this.#ctx = ctx;
  }

  /** Creates or re-points an alias; every version must exist. */
  set(functionName: string, name: string, routes: AliasRoute[]): Alias {
    validateAliasName(name);
    const valid = validateAliasRoutes(routes);
    const { db } = this.#ctx;
    return db
      .transaction(() => {
        const exists = db.prepare('SELECT 1 FROM functions WHERE name = ? AND removed_at IS NULL').get(functionName);
        if (!exists) throw new ThawError('ERR_NOT_FOUND', `no function named '${functionName}'`);
        for (const r of valid) {
          if (!db.prepare('SELECT 1 FROM function_versions WHERE function_name = ? AND version = ?').get(functionName, r.version)) {
            throw new ThawError('ERR_NOT_FOUND', `function '${functionName}' has no version ${r.version}`);
          }
        }
        db.prepare(
          `INSERT INTO aliases (function_name, alias, routes_json, updated_at) VALUES (?, ?, ?, ?)
           ON CONFLICT (function_name, alias) DO UPDATE SET routes_json = excluded.routes_json, updated_at = excluded.updated_at`,
        ).run(functionName, name, JSON.stringify(valid), this.#ctx.now());
        return this.get(functionName, name)!;
      })
      .immediate();
  }

  get(functionName: string, name: string): Alias | undefined {
    const row = this.#ctx.db.prepare('SELECT * FROM aliases WHERE function_name = ? AND alias = ?').get(functionName, name) as AliasRow | undefined;
    return row && toAlias(row);
  }

  require(functionName: string, name: string): Alias {
    const alias = this.get(functionName, name);
    if (!alias) throw new ThawError('ERR_NOT_FOUND', `function '${functionName}' has no alias '${name}'`);
    return alias;
  }

  /** A function's aliases by name. */
  list(functionName: string): Alias[] {
    return (this.#ctx.db.prepare('SELECT * FROM aliases WHERE function_name = ? ORDER BY alias').all(functionName) as AliasRow[]).map(toAlias);
  }

  remove(functionName: string, name: string): boolean {
    return this.#ctx.db.prepare('DELETE FROM aliases WHERE function_name = ? AND alias = ?').run(functionName, name).changes > 0;
  }
}

interface AliasRow {
  function_name: string;
  alias: string;
  routes_json: string;
  updated_at: number;
}

function toAlias(r: AliasRow): Alias {
  return { functionName: r.function_name, name: r.alias, routes: JSON.parse(r.routes_json), updatedAt: r.updated_at };
}
