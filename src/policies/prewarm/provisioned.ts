// Provisioned concurrency: a fixed or scheduled minimum of instances per function (AWS Lambda's
// "provisioned concurrency", docs/techniques.md §1). At each scheduled time the floor of a function is set
// (Pool.setMinInstances: instances at the floor are neither evicted nor expired) and the missing
// instances are pre-warmed in free memory. A floor of 0 removes it; the instances above the floor
// then get their keep-alive window back.

import { invalidOption } from '../../core/errors.ts';
import type { PrewarmAction, PrewarmContext, PrewarmPolicy } from '../../core/prewarm.ts';

export interface ProvisionedEntry {
  /** Function id, `#index` (its position in the trace), or `*` for every function. */
  fn: string;
  /** Minimum instances from `atMs` on. */
  count: number;
  /** When the floor takes effect, ms since the trace start (default 0). */
  atMs?: number;
}

export class ProvisionedConcurrency implements PrewarmPolicy {
  readonly name = 'provisioned';
  readonly tickMs = 0;
  readonly entries: readonly ProvisionedEntry[];

  constructor(entries: readonly ProvisionedEntry[]) {
    for (const e of entries) {
      if (!Number.isInteger(e.count) || e.count < 0) throw invalidOption('--provisioned', `${e.fn}: the count must be an integer ≥ 0, got ${e.count}`);
      if (e.atMs !== undefined && !(e.atMs >= 0)) throw invalidOption('--provisioned', `${e.fn}: the time must be ≥ 0, got ${e.atMs}`);
    }
    this.entries = entries;
  }

  attach(context: PrewarmContext): PrewarmAction[] {
    const byId = new Map(context.functions.map((f) => [f.id, f]));
    const actions: PrewarmAction[] = [];
    // Entries in time order (stable), so a later entry for the same function wins at equal times.
    const ordered = this.entries.map((e, i) => ({ e, i })).sort((a, b) => (a.e.atMs ?? 0) - (b.e.atMs ?? 0) || a.i - b.i);
    for (const { e } of ordered) {
      const at = e.atMs ?? 0;
      if (e.fn === '*') {
        for (const fn of context.functions) actions.push({ kind: 'provision', fn, at, count: e.count });
        continue;
      }
      const fn = e.fn.startsWith('#') ? context.functions[Number(e.fn.slice(1))] : byId.get(e.fn);
      if (!fn) throw invalidOption('--provisioned', `unknown function '${e.fn}' (give its id, or #index)`);
      actions.push({ kind: 'provision', fn, at, count: e.count });
    }
    return actions;
  }
}

/**
 * Parses `fn=N`, `fn=N@T` entries joined by commas (T a duration from the trace start: `0m`, `2h`;
 * a bare number is minutes), and `*` for every function. `--provisioned-all N` is `*=N`.
 */
export function parseProvisioned(text: string, parseDurationMs: (s: string) => number, option = '--provisioned'): ProvisionedEntry[] {
  return text
    .split(',')
    .map((part) => part.trim())
    .filter(Boolean)
    .map((part) => {
      const m = /^(.+?)=(\d+)(?:@(.+))?$/.exec(part);
      if (!m) throw invalidOption(option, `expected fn=N or fn=N@TIME, got '${part}'`);
      const at = m[3] === undefined ? 0 : /^\d+(\.\d+)?$/.test(m[3]) ? Number(m[3]) * 60_000 : parseDurationMs(m[3]);
      return { fn: m[1]!, count: Number(m[2]), atMs: at };
    });
}
