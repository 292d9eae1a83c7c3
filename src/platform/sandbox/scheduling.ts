// The CPU scheduling policy instances run under.
//
// Every warm invocation wakes two processes that wait on each other: thaw's server writes the
// invoke line and the instance wakes; the instance writes its result and the server wakes. Under
// Linux's default policy (SCHED_OTHER) a woken task may preempt the one that woke it: the server,
// half-way through a turn of its event loop with other requests' answers still to write, is switched
// out inside its write() to the instance, and switched back in later (seen with perf: the server's
// writes to instances end in finish_task_switch). SCHED_BATCH is SCHED_OTHER without that wake-up
// preemption — the same weight, the same cgroup CPU shares and quotas, the same fairness over
// time — so a woken instance runs when the server blocks (or its slice ends), on either core.
// Instances are what the server wakes; the server is what every request needs. Measured: warm
// `hello` at concurrency 32 serves about 1.2× as many requests per second (bench/platform.ts,
// docs/benchmarks.md); at concurrency 1 the other core is idle and nothing changes.
//
// The policy is set by util-linux's `chrt` in the placing shell, so it is inherited by everything
// the sandbox starts (bwrap, node, what the function spawns) and by stems made ahead. Without chrt
// (not on PATH, or refused), instances run under the default policy and thaw says so once.

import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';

export type InstanceScheduling = 'batch' | 'normal';
export const INSTANCE_SCHEDULING: readonly InstanceScheduling[] = ['batch', 'normal'];

export interface ResolvedScheduling {
  /** What instances run under. */
  policy: InstanceScheduling;
  /** The command prefix that puts a command under it (empty: the default policy). */
  prefix: readonly string[];
  /** Why `batch` was asked for and not applied. */
  unavailable?: string;
}

let chrtFound: { path: string } | { reason: string } | undefined;

/** chrt, found once: its path, or why it cannot be used. */
function findChrt(): { path: string } | { reason: string } {
  if (chrtFound) return chrtFound;
  const path = ['/usr/bin/chrt', '/bin/chrt'].find((p) => existsSync(p));
  if (!path) return (chrtFound = { reason: 'chrt (util-linux) is not installed' });
  // A trial: a container runtime may refuse sched_setscheduler even for SCHED_BATCH.
  const trial = spawnSync(path, ['-b', '0', 'true'], { stdio: ['ignore', 'ignore', 'pipe'], timeout: 5_000 });
  if (trial.status !== 0) return (chrtFound = { reason: `chrt -b 0 true failed: ${trial.stderr?.toString().trim() || trial.error?.message || `exit ${trial.status}`}` });
  return (chrtFound = { path });
}

export function resolveScheduling(policy: InstanceScheduling = 'batch'): ResolvedScheduling {
  if (!INSTANCE_SCHEDULING.includes(policy)) throw new TypeError(`instance scheduling must be one of ${INSTANCE_SCHEDULING.join(', ')}, got ${JSON.stringify(policy)}`);
  if (policy === 'normal') return { policy, prefix: [] };
  const chrt = findChrt();
  if ('reason' in chrt) return { policy: 'normal', prefix: [], unavailable: `instances run under the default scheduling policy: ${chrt.reason}` };
  return { policy, prefix: [chrt.path, '-b', '0'] };
}
