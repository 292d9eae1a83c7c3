// Small hand-made results for the report tests: few enough numbers to check by eye.

import type { CurveResult, SimResult, SimSummary, SweepPoint, SweepResult } from '../../../src/sim/result.ts';

export const trace: SimResult['trace'] = { name: 'tiny-trace', functions: 3, invocations: 1000, spanMs: 5 * 60_000 };

export function summary(overrides: Partial<SimSummary> = {}): SimSummary {
  return {
    invocations: 1000,
    served: 990,
    warm: 900,
    cold: 90,
    dropped: 10,
    queued: 0,
    meanQueueWaitMs: 0,
    coldStartRatio: 90 / 990,
    coldStartOverheadPct: 12.5,
    evictions: 40,
    expirations: 5,
    wastedMemoryGBs: 1234.5,
    busyMemoryGBs: 4321,
    peakMemoryMb: 2000,
    ...overrides,
  };
}

function point(policy: string, memoryMb: number, overheadPct: number, coldStartRatio: number, dropped: number): SweepPoint {
  return { policy, memoryMb, summary: summary({ coldStartOverheadPct: overheadPct, coldStartRatio, dropped }), elapsedMs: 20 };
}

export function sweep(): SweepResult {
  return {
    trace,
    policies: ['GD', 'TTL'],
    memoriesMb: [1024, 2048, 4096],
    servers: 1,
    points: [
      point('GD', 1024, 30, 0.2, 120),
      point('GD', 2048, 5.25, 0.05, 3),
      point('GD', 4096, 0.004, 0.001, 0),
      point('TTL', 1024, 150, 0.6, 1500),
      point('TTL', 2048, 40, 0.3, 12),
      point('TTL', 4096, 10, 0.1, 0),
    ],
  };
}

export function simResult(overrides: Partial<SimResult> = {}): SimResult {
  return {
    policy: 'GD',
    serverMemoryMb: [2048],
    trace,
    options: { keepAliveMs: 600_000, queue: false },
    summary: summary(),
    timeline: {
      intervalMs: 60_000,
      t: [60_000, 120_000, 180_000, 240_000, 300_000],
      usedMb: [512, 1024, 2000, 1500, 800],
      idleMb: [256, 512, 300, 900, 600],
      capacityMb: [2048, 2048, 2048, 2048, 2048],
      warm: [100, 150, 250, 200, 200],
      cold: [40, 20, 15, 10, 5],
      dropped: [0, 0, 10, 0, 0],
    },
    perFunction: [
      { id: 'fn-a', app: 'app-1', memoryMb: 256, invocations: 600, warm: 580, cold: 20, dropped: 0, evictions: 10, expirations: 1, wastedMemoryGBs: 500, coldStartOverheadPct: 3 },
      { id: 'fn-b', app: 'app-1', memoryMb: 512, invocations: 300, warm: 240, cold: 60, dropped: 0, evictions: 25, expirations: 2, wastedMemoryGBs: 600, coldStartOverheadPct: 40 },
      { id: 'fn-c', app: 'app-2', memoryMb: 1024, invocations: 100, warm: 80, cold: 10, dropped: 10, evictions: 5, expirations: 2, wastedMemoryGBs: 134.5, coldStartOverheadPct: 11 },
    ],
    elapsedMs: 42,
    invocationsPerSecond: 23_809,
    ...overrides,
  };
}

export function dynamicSimResult(): SimResult {
  const result = simResult({ policy: 'GD+dynamic' });
  result.timeline.capacityMb = [2048, 2048, 2560, 2560, 2048];
  result.dynamicSizing = {
    targetMissRatio: 0.1,
    resizes: [
      { t: 150_000, invocation: 400, fromMb: 2048, toMb: 2560, missSpeed: 0.4, targetMissSpeed: 0.25 },
      { t: 290_000, invocation: 950, fromMb: 2560, toMb: 2048, missSpeed: 0.05, targetMissSpeed: 0.2 },
    ],
    meanCapacityMb: 2252,
    missSpeed: [0.66, 0.33, 0.25, 0.16, 0.08],
    targetMissSpeed: [0.25, 0.25, 0.25, 0.2, 0.2],
  };
  return result;
}

export function curve(): CurveResult {
  return {
    trace,
    exact: { sizesMb: [128, 256, 512, 1024, 2048], hitRatio: [0.2, 0.5, 0.8, 0.92, 0.97] },
    sampled: { sizesMb: [128, 256, 512, 1024, 2048], hitRatio: [0.22, 0.48, 0.79, 0.93, 0.97], rate: 0.1, sampledInvocations: 100 },
    sampledError: { meanAbs: 0.012, maxAbs: 0.02 },
    target: 0.9,
    sizeForTargetMb: { exact: 1024, sampled: 1024 },
    kneeMb: { exact: 512, sampled: 512 },
  };
}
