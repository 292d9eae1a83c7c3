// The sandbox an instance of a function gets: its code, its memory limit, and the CPU weight that
// goes with that memory (vertical-scaling.ts). One place, so the benchmarks start what the invoker does.

import type { SandboxSpec } from '../sandbox/types.ts';
import { cpuSharesFor } from './vertical-scaling.ts';

/** What of a deployed function its sandboxes are made from. */
export interface SandboxedFunction {
  name: string;
  version: number;
  codeDir: string;
  memoryMb: number;
  env: Record<string, string>;
  network: boolean;
  /** Invocations one instance serves at once (absent or 1: one at a time). */
  instanceConcurrency?: number;
}

export function sandboxSpecFor(fn: SandboxedFunction, instanceId: string): SandboxSpec {
  return {
    instanceId,
    functionName: fn.name,
    version: fn.version,
    codeDir: fn.codeDir,
    memoryMb: fn.memoryMb,
    cpuShares: cpuSharesFor(fn.memoryMb),
    env: fn.env,
    network: fn.network,
    // Only when over 1: a spec without it is the one-at-a-time sandbox every backend serves.
    ...(fn.instanceConcurrency !== undefined && fn.instanceConcurrency > 1 ? { concurrency: fn.instanceConcurrency } : {}),
  };
}
