// The platform's own cost: memory held by idle instances (kept alive after use, provisioned, or
// pre-warmed before a request), in GB-s per function. Users are billed only for their invocations
// (billing.ts); this is what keeping starts warm costs thaw. Accumulated per function, hour and
// reason, so it can be shown as a total or a series.

import { ThawError } from '../../core/errors.ts';
import type { StoreContext } from './context.ts';

export type IdleReason = 'keepalive' | 'provisioned' | 'prewarm' | 'zygote' | 'snapshot';
export const IDLE_REASONS: readonly IdleReason[] = ['keepalive', 'provisioned', 'prewarm', 'zygote', 'snapshot'];

const HOUR_MS = 3_600_000;

export interface IdleSample {
  functionName: string;
  memoryMb: number;
  idleMs: number;
  reason?: IdleReason;
  /** When the idle period ended (epoch ms; default now): chooses the hour it is counted in. */
  at?: number;
}

export interface PlatformCost {
  functionName: string;
  idleMs: number;
  idleGbSeconds: number;
  byReason: Partial<Record<IdleReason, { idleMs: number; idleGbSeconds: number }>>;
}

export class PlatformCostRepository {
  readonly #ctx: StoreContext;

  constructor(ctx: StoreContext) {
    this.#ctx = ctx;
  }

  /** Adds one idle period of one instance. */
  addIdle(sample: IdleSample): void {
    const reason = sample.reason ?? 'keepalive';
    if (!IDLE_REASONS.includes(reason)) throw new ThawError('ERR_INVALID_OPTION', `idle reason must be one of ${IDLE_REASONS.join(', ')}, got ${String(reason)}`);
    if (!(sample.idleMs >= 0) || !Number.isFinite(sample.idleMs)) throw new ThawError('ERR_INVALID_OPTION', `idleMs must be a finite number ≥ 0, got ${sample.idleMs}`);
    if (!(sample.memoryMb > 0)) throw new ThawError('ERR_INVALID_OPTION', `memoryMb must be > 0, got ${sample.memoryMb}`);
    if (sample.idleMs === 0) return;
    const hour = Math.floor((sample.at ?? this.#ctx.now()) / HOUR_MS) * HOUR_MS;
    const gbs = (sample.memoryMb / 1024) * (sample.idleMs / 1000);
    this.#ctx.db
      .prepare(
        `INSERT INTO platform_cost (function_name, hour, reason, idle_ms, idle_gb_s) VALUES (?, ?, ?, ?, ?)
         ON CONFLICT (function_name, hour, reason) DO UPDATE SET idle_ms = idle_ms + excluded.idle_ms, idle_gb_s = idle_gb_s + excluded.idle_gb_s`,
      )
      .run(sample.functionName, hour, reason, sample.idleMs, gbs);
  }

  /** Idle cost per function (one, or all), since `since` (rounded down to its hour). */
  totals(options: { functionName?: string; since?: number } = {}): PlatformCost[] {
    const rows = this.#ctx.db
      .prepare(
        `SELECT function_name, reason, SUM(idle_ms) AS ms, SUM(idle_gb_s) AS gbs FROM platform_cost
         WHERE (? IS NULL OR function_name = ?) AND hour >= ? GROUP BY function_name, reason ORDER BY function_name, reason`,
      )
      .all(options.functionName ?? null, options.functionName ?? null, Math.floor((options.since ?? 0) / HOUR_MS) * HOUR_MS) as {
      function_name: string;
      reason: IdleReason;
      ms: number;
      gbs: number;
    }[];
    const out = new Map<string, PlatformCost>();
    for (const r of rows) {
      let c = out.get(r.function_name);
      if (!c) out.set(r.function_name, (c = { functionName: r.function_name, idleMs: 0, idleGbSeconds: 0, byReason: {} }));
      c.idleMs += r.ms;
      c.idleGbSeconds += r.gbs;
      c.byReason[r.reason] = { idleMs: r.ms, idleGbSeconds: r.gbs };
    }
    return [...out.values()];
  }

  /** Idle GB-s of one function per hour (epoch ms of the hour's start), oldest first. */
  hourly(functionName: string, options: { since?: number } = {}): { hour: number; idleGbSeconds: number }[] {
    const rows = this.#ctx.db
      .prepare('SELECT hour, SUM(idle_gb_s) AS gbs FROM platform_cost WHERE function_name = ? AND hour >= ? GROUP BY hour ORDER BY hour')
      .all(functionName, options.since ?? 0) as { hour: number; gbs: number }[];
    return rows.map((r) => ({ hour: r.hour, idleGbSeconds: r.gbs }));
  }
}
