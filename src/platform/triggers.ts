// Timer triggers: a cron expression per function (croner's syntax: 5 fields, or 6 with seconds).
// Each firing enqueues an async invocation with the trigger's payload, so timer invocations are
// persisted, retried and recorded like any other async invocation.

import { Cron } from 'croner';
import { invalidOption } from '../core/errors.ts';

/** Checks a cron expression without scheduling anything (thaw deploy --schedule, before it deploys). */
export function validateCron(cron: string, option = 'schedule'): void {
  cronJob(cron, undefined, option).stop();
}

function cronJob(cron: string, run: (() => void) | undefined, option = 'schedule'): Cron {
  try {
    return run ? new Cron(cron, { protect: true, unref: true }, run) : new Cron(cron, { paused: true });
  } catch (error) {
    throw invalidOption(option, `'${cron}' is not a valid cron expression: ${(error as Error).message}`);
  }
}

export class TimerTriggers {
  readonly #jobs = new Map<string, { cron: string; payload: unknown; job: Cron }>();

  constructor(
    readonly fire: (name: string, payload: unknown) => void,
    readonly onWarning?: (message: string) => void,
  ) {}

  set(name: string, cron: string, payload: unknown): void {
    const job = cronJob(cron, () => {
      try {
        this.fire(name, payload);
      } catch (error) {
        this.onWarning?.(`timer trigger of ${name}: ${(error as Error).message}`);
      }
    });
    this.remove(name);
    this.#jobs.set(name, { cron, payload, job });
  }

  remove(name: string): void {
    this.#jobs.get(name)?.job.stop();
    this.#jobs.delete(name);
  }

  list(): Array<{ name: string; cron: string; next: string | null }> {
    return [...this.#jobs].map(([name, t]) => ({ name, cron: t.cron, next: t.job.nextRun()?.toISOString() ?? null }));
  }

  close(): void {
    for (const name of [...this.#jobs.keys()]) this.remove(name);
  }
}
