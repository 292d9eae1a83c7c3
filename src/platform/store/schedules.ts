// Timer triggers, persisted so they survive a restart: a cron expression and a payload per function.

import type { StoreContext } from './context.ts';

export interface Schedule {
  functionName: string;
  cron: string;
  payload: unknown;
  updatedAt: number;
}

export class ScheduleRepository {
  readonly #ctx: StoreContext;

  constructor(ctx: StoreContext) {
    this.#ctx = ctx;
  }

  set(functionName: string, cron: string, payload: unknown): void {
    this.#ctx.db
      .prepare(
        `INSERT INTO schedules (function_name, cron, payload_json, updated_at) VALUES (?, ?, ?, ?)
         ON CONFLICT (function_name) DO UPDATE SET cron = excluded.cron, payload_json = excluded.payload_json, updated_at = excluded.updated_at`,
      )
      .run(functionName, cron, JSON.stringify(payload ?? {}), this.#ctx.now());
  }

  remove(functionName: string): void {
    this.#ctx.db.prepare('DELETE FROM schedules WHERE function_name = ?').run(functionName);
  }

  list(): Schedule[] {
    const rows = this.#ctx.db.prepare('SELECT function_name, cron, payload_json, updated_at FROM schedules ORDER BY function_name').all() as Array<{
      function_name: string;
      cron: string;
      payload_json: string;
      updated_at: number;
    }>;
    return rows.map((r) => ({ functionName: r.function_name, cron: r.cron, payload: JSON.parse(r.payload_json), updatedAt: r.updated_at }));
  }
}
