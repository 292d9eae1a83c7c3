// A FaaSCache-compatible run's result in the simulator's own summary shape, so sweeps, tables and
// reports show both modes alike. What the reference does not measure is 0.

import type { SimSummary } from '../result.ts';
import type { FaasCacheResult } from './faascache.ts';

export function compatSummary(r: FaasCacheResult): SimSummary {
  const served = r.hits + r.misses;
  return {
    invocations: r.invocations,
    served,
    warm: r.hits,
    cold: r.misses,
    dropped: r.drops,
    queued: 0,
    meanQueueWaitMs: 0,
    coldStartRatio: served > 0 ? r.misses / served : 0,
    coldStartOverheadPct: r.coldStartOverheadPct ?? 0,
    evictions: r.evictions,
    expirations: 0,
    wastedMemoryGBs: 0,
    busyMemoryGBs: 0,
    peakMemoryMb: 0,
  };
}
