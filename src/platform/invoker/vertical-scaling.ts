// Vertical scaling: how much CPU an instance gets, adjusted through its cgroup while it lives.
//
// Rule: CPU weight is proportional to the function's memory, as AWS Lambda allocates CPU (one full
// core's weight, 1024, at 1769 MB), never below 128 so small functions still make progress. When an
// idle instance is paused its weight drops to the minimum (2): it keeps its memory, but if the
// freezer fails or a pause is slow it cannot take CPU from running instances. On resume the full
// weight is restored before the invocation runs.

export const FULL_CORE_SHARES = 1024;
export const MB_PER_CORE = 1769;
export const MIN_ACTIVE_SHARES = 128;
export const IDLE_CPU_SHARES = 2;

export function cpuSharesFor(memoryMb: number): number {
  return Math.max(MIN_ACTIVE_SHARES, Math.round((FULL_CORE_SHARES * memoryMb) / MB_PER_CORE));
}
