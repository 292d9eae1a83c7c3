// Billing: what a user pays for one invocation, in GB-seconds (memory × duration), at 1 ms
// granularity with the duration rounded up to the next whole millisecond.
//
// The billed duration is the time the function's own code ran: importing its bundle (top-level code
// and dependencies), its init(), and the handler itself. Creating the sandbox, booting the runtime,
// queueing and the platform's own overhead are not billed; so a warm, snapshot or zygote start —
// where import and init have already happened — costs the user only the handler. Idle instances kept
// warm are the platform's cost, recorded separately (PlatformCostRepository).

import type { PhaseTimings } from './types.ts';

export const BILLED_PHASES: readonly (keyof PhaseTimings)[] = ['importMs', 'initMs', 'execMs'];

/** A duration rounded up to whole ms. Durations are first rounded to the microsecond, so float noise (3.0000000000000004) does not add a millisecond. */
export function billedMs(durationMs: number): number {
  if (!Number.isFinite(durationMs) || durationMs <= 0) return 0;
  return Math.ceil(Math.round(durationMs * 1000) / 1000);
}

/** GB-seconds for `memoryMb` held for `durationMs` (rounded up to the ms). 1 GB = 1024 MB. */
export function billedGbSeconds(memoryMb: number, durationMs: number): number {
  return (memoryMb * billedMs(durationMs)) / (1024 * 1000);
}

/** The billed duration of an invocation from its phases. */
export function billableDurationMs(timings: Partial<PhaseTimings>): number {
  let sum = 0;
  for (const phase of BILLED_PHASES) sum += timings[phase] ?? 0;
  return sum;
}
