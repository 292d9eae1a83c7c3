// The priority formulas of FaaSCache's Greedy-Dual family (docs/techniques.md §1.1), written once and
// shared by the keep-alive policies and the FaaSCache compatibility simulator. Lower priority is
// evicted first. The operand order matches the reference so floating-point results are identical.

/** Greedy-Dual-Size-Frequency: clock + freq × cost / size. */
export function greedyDualPriority(clock: number, freq: number, costMs: number, sizeMb: number): number {
  return clock + freq * (costMs / sizeMb);
}

/** FREQ: clock + freq × cost (size ignored). */
export function frequencyPriority(clock: number, freq: number, costMs: number): number {
  return clock + freq * costMs;
}

/** SIZE: clock + freq / size (cost ignored). */
export function sizePriority(clock: number, freq: number, sizeMb: number): number {
  return clock + freq / sizeMb;
}
