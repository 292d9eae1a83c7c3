// Results shaped like a real sweep over an 8-hour Azure sample (FaaSCache-like curves, a diurnal
// load, a few hundred functions), made from a seeded generator. Used to eyeball the reports
// (write-samples.ts) and to check the renderers cope with realistic sizes.

import type { CurveResult, FunctionResult, SimResult, SimSummary, SweepPoint, SweepResult } from '../../../src/sim/result.ts';

const HOUR_MS = 3_600_000;
const MINUTE_MS = 60_000;

/** mulberry32: small, seeded, good enough for fixtures. */
function random(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export const realisticTrace: SimResult['trace'] = {
  name: 'azure2019/invitro_sample_500fn_8h',
  functions: 424,
  invocations: 1_874_312,
  spanMs: 8 * HOUR_MS,
};

/** How quickly each policy's overhead falls with memory, loosely after the FaaSCache figures. */
const POLICY_SHAPES: Record<string, { start: number; scaleGb: number; floor: number; idleShare: number }> = {
  GD: { start: 95, scaleGb: 2.6, floor: 0.05, idleShare: 0.55 },
  LRU: { start: 140, scaleGb: 5, floor: 0.3, idleShare: 0.6 },
  TTL: { start: 260, scaleGb: 11, floor: 1.2, idleShare: 0.3 },
  HIST: { start: 200, scaleGb: 8, floor: 0.8, idleShare: 0.35 },
  SIZE: { start: 120, scaleGb: 4, floor: 0.2, idleShare: 0.5 },
};

function sweepSummary(policy: string, gb: number, rng: () => number): SimSummary {
  const shape = POLICY_SHAPES[policy]!;
  const noise = 1 + (rng() - 0.5) * 0.08;
  const overhead = (shape.start * Math.exp(-gb / shape.scaleGb) + shape.floor) * noise;
  const invocations = realisticTrace.invocations;
  const dropped = Math.round(invocations * 0.03 * Math.exp(-gb / (shape.scaleGb * 0.6)) * noise);
  const served = invocations - dropped;
  const coldStartRatio = Math.min(0.9, overhead / 400);
  const cold = Math.round(served * coldStartRatio);
  const capacityMb = gb * 1024;
  return {
    invocations,
    served,
    warm: served - cold,
    cold,
    dropped,
    queued: 0,
    meanQueueWaitMs: 0,
    coldStartRatio: cold / served,
    coldStartOverheadPct: overhead,
    evictions: Math.round(cold * 0.9),
    expirations: policy === 'TTL' ? Math.round(cold * 0.4) : 0,
    wastedMemoryGBs: (capacityMb / 1024) * 8 * 3600 * shape.idleShare * (1 - Math.exp(-gb / 20)),
    busyMemoryGBs: 41_000 + rng() * 500,
    peakMemoryMb: Math.min(capacityMb, 30 * 1024),
  };
}

export function realisticSweep(): SweepResult {
  const rng = random(7);
  const policies = Object.keys(POLICY_SHAPES);
  const memoriesMb = Array.from({ length: 16 }, (_, i) => (i + 1) * 5 * 1024);
  const points: SweepPoint[] = [];
  for (const policy of policies) {
    for (const memoryMb of memoriesMb) {
      points.push({ policy, memoryMb, summary: sweepSummary(policy, memoryMb / 1024, rng), elapsedMs: 800 + rng() * 600 });
    }
  }
  return { trace: realisticTrace, policies, memoriesMb, servers: 1, points };
}

function hex(rng: () => number, length: number): string {
  let text = '';
  for (let i = 0; i < length; i++) text += Math.floor(rng() * 16).toString(16);
  return text;
}

function perFunction(rng: () => number): FunctionResult[] {
  return Array.from({ length: realisticTrace.functions }, () => {
    const invocations = Math.round(10 ** (1 + rng() * 3.5));
    const cold = Math.round(invocations * rng() * rng() * 0.3);
    const dropped = rng() < 0.1 ? Math.round(rng() * 20) : 0;
    return {
      id: hex(rng, 64),
      app: hex(rng, 64),
      memoryMb: [128, 170, 256, 300, 512][Math.floor(rng() * 5)]!,
      invocations,
      warm: invocations - cold - dropped,
      cold,
      dropped,
      evictions: Math.round(cold * 0.8),
      expirations: 0,
      wastedMemoryGBs: rng() * 800,
      coldStartOverheadPct: rng() * 60,
    };
  });
}

/** One run of GD over 8 hours in 1-minute intervals; `dynamic` adds a sizing controller's trace. */
export function realisticRun(options: { dynamic?: boolean; policy?: string; memoryGb?: number } = {}): SimResult {
  const rng = random(options.dynamic ? 11 : 3);
  const policy = options.policy ?? (options.dynamic ? 'GD' : 'GD');
  const intervals = 480;
  const staticCapacityMb = (options.memoryGb ?? 20) * 1024;
  const t: number[] = [];
  const usedMb: number[] = [];
  const idleMb: number[] = [];
  const capacityMb: number[] = [];
  const warm: number[] = [];
  const cold: number[] = [];
  const dropped: number[] = [];
  const missSpeed: number[] = [];
  const targetMissSpeed: number[] = [];
  const resizes: NonNullable<SimResult['dynamicSizing']>['resizes'] = [];
  let capacity = options.dynamic ? 5000 : staticCapacityMb;
  let invocation = 0;
  for (let i = 0; i < intervals; i++) {
    const hour = (i + 1) / 60;
    // A morning ramp and an afternoon peak.
    const load = 0.6 + 0.4 * Math.sin((hour / 8) * Math.PI) + 0.15 * Math.sin(hour * 2.1);
    const arrivals = Math.round(3900 * load * (0.9 + rng() * 0.2));
    const coldFraction = Math.max(0.002, (i < 20 ? 0.25 * Math.exp(-i / 6) : 0) + 0.012 * (1 + rng()) * (staticCapacityMb / capacity) ** 0.5);
    const coldNow = Math.round(arrivals * Math.min(0.4, coldFraction));
    const droppedNow = capacity < 8000 && rng() < 0.2 ? Math.round(rng() * 30) : 0;
    const used = Math.min(capacity, capacity * (0.55 + 0.4 * Math.min(1, i / 15)) * (0.92 + rng() * 0.08));
    t.push((i + 1) * MINUTE_MS);
    usedMb.push(used);
    idleMb.push(used * (0.35 + 0.25 * (1 - load) + rng() * 0.05));
    capacityMb.push(capacity);
    warm.push(arrivals - coldNow - droppedNow);
    cold.push(coldNow);
    dropped.push(droppedNow);
    invocation += arrivals;
    const speed = coldNow / 60;
    const target = (0.1 * arrivals) / 60 / 4;
    missSpeed.push(speed);
    targetMissSpeed.push(target);
    if (options.dynamic && i % 25 === 24 && Math.abs(speed - target) / target > 0.3) {
      const toMb = Math.max(5000, Math.min(20000, Math.round((capacity * (speed > target ? 1.25 : 0.85)) / 100) * 100));
      if (toMb !== capacity) {
        resizes.push({ t: (i + 1) * MINUTE_MS, invocation, fromMb: capacity, toMb, missSpeed: speed, targetMissSpeed: target });
        capacity = toMb;
      }
    }
  }
  const sweepLike = sweepSummary('GD', staticCapacityMb / 1024, rng);
  const summary: SimSummary = {
    ...sweepLike,
    invocations: invocation + dropped.reduce((a, b) => a + b, 0),
    served: invocation,
    warm: warm.reduce((a, b) => a + b, 0),
    cold: cold.reduce((a, b) => a + b, 0),
    dropped: dropped.reduce((a, b) => a + b, 0),
    peakMemoryMb: Math.max(...usedMb),
  };
  summary.coldStartRatio = summary.cold / summary.served;
  const result: SimResult = {
    policy,
    serverMemoryMb: [staticCapacityMb],
    trace: realisticTrace,
    options: { keepAlive: 'greedy-dual', coldCost: 'max-minus-average', queue: false, timelineIntervalMs: MINUTE_MS, seed: 42 },
    summary,
    timeline: { intervalMs: MINUTE_MS, t, usedMb, idleMb, capacityMb, warm, cold, dropped },
    perFunction: perFunction(rng),
    elapsedMs: 1630,
    invocationsPerSecond: realisticTrace.invocations / 1.63,
  };
  if (options.dynamic) {
    result.options = { ...result.options, sizing: 'dynamic', targetMissRatio: 0.1, startMb: 5000, maxMb: 20000 };
    result.dynamicSizing = {
      targetMissRatio: 0.1,
      resizes,
      meanCapacityMb: capacityMb.reduce((a, b) => a + b, 0) / capacityMb.length,
      missSpeed,
      targetMissSpeed,
    };
  }
  return result;
}

export function realisticCurve(): CurveResult {
  const rng = random(5);
  const sizesMb = Array.from({ length: 200 }, (_, i) => (i + 1) * 128);
  const exact = sizesMb.map((mb) => 0.975 * (1 - Math.exp(-(mb / 1024) / 2.2)) + 0.02 * Math.min(1, mb / 20000));
  const sampledSizes = sizesMb.filter((_, i) => i % 2 === 0).map((mb) => mb + 37);
  const sampled = sampledSizes.map((mb) => Math.min(1, 0.975 * (1 - Math.exp(-(mb / 1024) / 2.1)) + (rng() - 0.5) * 0.02));
  return {
    trace: realisticTrace,
    exact: { sizesMb, hitRatio: exact },
    sampled: { sizesMb: sampledSizes, hitRatio: sampled, rate: 0.1, sampledInvocations: 187_431 },
    sampledError: { meanAbs: 0.0081, maxAbs: 0.021 },
    target: 0.9,
    sizeForTargetMb: { exact: 5760, sampled: 5673 },
    kneeMb: { exact: 3072, sampled: 3109 },
  };
}
