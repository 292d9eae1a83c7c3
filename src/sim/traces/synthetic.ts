// Seeded synthetic workloads: groups of functions, each with an arrival pattern (Poisson, periodic,
// bursty on/off, diurnal) and parameters fixed or drawn from ranges. The same spec always gives the
// same trace. Arrivals are generated lazily, per function, and merged by time with a heap, so
// memory stays proportional to the number of functions however long the trace is.

import { invalidOption } from '../../core/errors.ts';
import { deriveSeed, seededRandom } from '../../core/random.ts';
import type { ArrivalBatch, FunctionSpec, Trace } from '../../core/trace.ts';
import { BatchBuffer, DEFAULT_BATCH_SIZE } from './batch.ts';
import { TimeHeap } from './time-heap.ts';

/** A fixed value, or a range from which each function draws its own value uniformly. */
export type ValueOrRange = number | { readonly min: number; readonly max: number };

export type ArrivalPattern =
  /** Independent arrivals at a constant rate. */
  | { readonly kind: 'poisson'; readonly ratePerMin: number }
  /** One arrival per period (timer triggers), at a random phase, each delayed by up to jitterMs. */
  | { readonly kind: 'periodic'; readonly periodMs: number; readonly jitterMs?: number }
  /** Alternating on/off phases of exponential length, Poisson arrivals at a different rate in each. */
  | {
      readonly kind: 'bursty';
      readonly onRatePerMin: number;
      readonly offRatePerMin: number;
      readonly meanOnMs: number;
      readonly meanOffMs: number;
    }
  /** Poisson arrivals whose rate follows mean·(1 + amplitude·sin(2πt/period)), t from the trace start. */
  | { readonly kind: 'diurnal'; readonly meanRatePerMin: number; readonly amplitude: number; readonly periodMs?: number };

export type PatternKind = ArrivalPattern['kind'];

export interface SyntheticGroup {
  /** Number of functions in the group. */
  readonly count: number;
  readonly pattern: ArrivalPattern;
  /** Default 256 MB. */
  readonly memoryMb?: ValueOrRange;
  /** Default 100 ms. */
  readonly warmMs?: ValueOrRange;
  /** Default 1000 ms. */
  readonly coldStartMs?: ValueOrRange;
}

export interface SyntheticSpec {
  readonly seed: number;
  readonly durationMs: number;
  readonly groups: readonly SyntheticGroup[];
  readonly name?: string;
  /** Arrivals per batch (default 65536). */
  readonly batchSize?: number;
}

export const SYNTHETIC_DEFAULTS = { memoryMb: 256, warmMs: 100, coldStartMs: 1000, diurnalPeriodMs: 24 * 60 * 60 * 1000 } as const;

const MS_PER_MINUTE = 60_000;

// ---------------------------------------------------------------------------------------------
// Validation

function requireNumber(name: string, value: unknown, { min = 0, max = Infinity, integer = false, positive = false } = {}): number {
  const ok = typeof value === 'number' && Number.isFinite(value) && value >= min && value <= max && (!integer || Number.isInteger(value)) && (!positive || value > 0);
  if (!ok) {
    const kind = integer ? 'an integer' : 'a number';
    const range = positive ? '> 0' : max === Infinity ? `≥ ${min}` : `in ${min}..${max}`;
    throw invalidOption(name, `expected ${kind} ${range}, got ${String(value)}`);
  }
  return value as number;
}

function requireRange(name: string, value: ValueOrRange): void {
  if (typeof value === 'number') {
    requireNumber(name, value);
    return;
  }
  const min = requireNumber(`${name}.min`, value?.min);
  const max = requireNumber(`${name}.max`, value?.max);
  if (min > max) throw invalidOption(name, `range min ${min} is above max ${max}`);
}

function validatePattern(name: string, pattern: ArrivalPattern): void {
  switch (pattern?.kind) {
    case 'poisson':
      requireNumber(`${name}.ratePerMin`, pattern.ratePerMin);
      return;
    case 'periodic': {
      const period = requireNumber(`${name}.periodMs`, pattern.periodMs, { positive: true });
      // Jitter up to one period keeps each function's arrivals in order.
      requireNumber(`${name}.jitterMs`, pattern.jitterMs ?? 0, { max: period });
      return;
    }
    case 'bursty':
      requireNumber(`${name}.onRatePerMin`, pattern.onRatePerMin);
      requireNumber(`${name}.offRatePerMin`, pattern.offRatePerMin);
      requireNumber(`${name}.meanOnMs`, pattern.meanOnMs, { positive: true });
      requireNumber(`${name}.meanOffMs`, pattern.meanOffMs, { positive: true });
      return;
    case 'diurnal':
      requireNumber(`${name}.meanRatePerMin`, pattern.meanRatePerMin);
      requireNumber(`${name}.amplitude`, pattern.amplitude, { max: 1 });
      requireNumber(`${name}.periodMs`, pattern.periodMs ?? SYNTHETIC_DEFAULTS.diurnalPeriodMs, { positive: true });
      return;
    default:
      throw invalidOption(`${name}.kind`, `expected poisson, periodic, bursty or diurnal, got ${String((pattern as { kind?: unknown })?.kind)}`);
  }
}

function validateSpec(spec: SyntheticSpec): void {
  requireNumber('seed', spec.seed, { min: -Number.MAX_SAFE_INTEGER });
  requireNumber('durationMs', spec.durationMs, { positive: true });
  if (spec.batchSize !== undefined) requireNumber('batchSize', spec.batchSize, { integer: true, positive: true });
  if (!Array.isArray(spec.groups) || spec.groups.length === 0) throw invalidOption('groups', 'expected at least one function group');
  spec.groups.forEach((group, g) => {
    const name = `groups[${g}]`;
    requireNumber(`${name}.count`, group.count, { integer: true });
    validatePattern(`${name}.pattern`, group.pattern);
    if (group.memoryMb !== undefined) requireRange(`${name}.memoryMb`, group.memoryMb);
    if (group.warmMs !== undefined) requireRange(`${name}.warmMs`, group.warmMs);
    if (group.coldStartMs !== undefined) requireRange(`${name}.coldStartMs`, group.coldStartMs);
  });
}

// ---------------------------------------------------------------------------------------------
// Per-function arrival streams. Each returns its next arrival time, or Infinity once past the end.

type Stream = () => number;

/** Exponential with the given rate per ms (mean 1/rate); 1 − u is in (0, 1], so the log is finite. */
function exponential(random: () => number, ratePerMs: number): number {
  return -Math.log(1 - random()) / ratePerMs;
}

function makeStream(pattern: ArrivalPattern, durationMs: number, random: () => number): Stream {
  const end = (t: number): number => (t < durationMs ? t : Infinity);
  switch (pattern.kind) {
    case 'poisson': {
      const rate = pattern.ratePerMin / MS_PER_MINUTE;
      let t = 0;
      return () => (rate > 0 ? end((t += exponential(random, rate))) : Infinity);
    }
    case 'periodic': {
      const { periodMs } = pattern;
      const jitterMs = pattern.jitterMs ?? 0;
      // A random phase, so functions with the same period do not all fire at once.
      const phase = random() * periodMs;
      let n = 0;
      return () => end(phase + n++ * periodMs + random() * jitterMs);
    }
    case 'bursty': {
      const onRate = pattern.onRatePerMin / MS_PER_MINUTE;
      const offRate = pattern.offRatePerMin / MS_PER_MINUTE;
      // Start in each phase with its long-run share of time (the stationary distribution).
      let on = random() < pattern.meanOnMs / (pattern.meanOnMs + pattern.meanOffMs);
      let t = 0;
      let phaseEnd = exponential(random, 1 / (on ? pattern.meanOnMs : pattern.meanOffMs));
      return () => {
        // Exponential gaps are memoryless, so restarting the draw at a phase boundary is exact.
        for (;;) {
          if (t >= durationMs) return Infinity;
          const rate = on ? onRate : offRate;
          const candidate = rate > 0 ? t + exponential(random, rate) : Infinity;
          if (candidate < phaseEnd) return end((t = candidate));
          t = phaseEnd;
          on = !on;
          phaseEnd = t + exponential(random, 1 / (on ? pattern.meanOnMs : pattern.meanOffMs));
        }
      };
    }
    case 'diurnal': {
      const mean = pattern.meanRatePerMin / MS_PER_MINUTE;
      const { amplitude } = pattern;
      const omega = (2 * Math.PI) / (pattern.periodMs ?? SYNTHETIC_DEFAULTS.diurnalPeriodMs);
      const peak = mean * (1 + amplitude);
      let t = 0;
      // Thinning (Lewis & Shedler): candidates at the peak rate, each kept with probability rate(t)/peak.
      return () => {
        if (peak <= 0) return Infinity;
        for (;;) {
          t += exponential(random, peak);
          if (t >= durationMs) return Infinity;
          if (random() * peak < mean * (1 + amplitude * Math.sin(omega * t))) return t;
        }
      };
    }
  }
}

// ---------------------------------------------------------------------------------------------

interface PlannedFunction {
  readonly spec: FunctionSpec;
  readonly pattern: ArrivalPattern;
}

function draw(value: ValueOrRange, random: () => number): number {
  return typeof value === 'number' ? value : value.min + random() * (value.max - value.min);
}

/**
 * Two independent streams per function (parameters, arrivals), derived from the seed and the
 * function's index, so changing one group's parameters does not change another group's arrivals.
 */
const parameterSeed = (seed: number, index: number): number => deriveSeed(seed, 2 * index);
const arrivalSeed = (seed: number, index: number): number => deriveSeed(seed, 2 * index + 1);

export interface SyntheticTrace extends Trace {
  readonly spec: SyntheticSpec;
}

export function syntheticTrace(spec: SyntheticSpec): SyntheticTrace {
  validateSpec(spec);
  const planned: PlannedFunction[] = [];
  spec.groups.forEach((group, g) => {
    for (let j = 0; j < group.count; j++) {
      const index = planned.length;
      const random = seededRandom(parameterSeed(spec.seed, index));
      const id = `g${g}-${group.pattern.kind}-${j}`;
      planned.push({
        pattern: group.pattern,
        spec: {
          index,
          id,
          app: id, // one function per app: the simplest grouping, and what per-app policies see as isolated
          memoryMb: draw(group.memoryMb ?? SYNTHETIC_DEFAULTS.memoryMb, random),
          warmMs: draw(group.warmMs ?? SYNTHETIC_DEFAULTS.warmMs, random),
          coldStartMs: draw(group.coldStartMs ?? SYNTHETIC_DEFAULTS.coldStartMs, random),
        },
      });
    }
  });

  const streamOf = (f: PlannedFunction): Stream => makeStream(f.pattern, spec.durationMs, seededRandom(arrivalSeed(spec.seed, f.spec.index)));
  // Counting needs one pass over every stream; it stores nothing.
  let invocationCount = 0;
  for (const f of planned) {
    const next = streamOf(f);
    while (next() !== Infinity) invocationCount++;
  }
  const batchSize = spec.batchSize ?? DEFAULT_BATCH_SIZE;

  return {
    name: spec.name ?? describeSpec(spec),
    spec,
    functions: planned.map((f) => f.spec),
    invocationCount,
    spanMs: spec.durationMs,
    *batches(): Generator<ArrivalBatch> {
      const streams = planned.map(streamOf);
      const heap = new TimeHeap(streams.length);
      streams.forEach((next, fn) => {
        const t = next();
        if (t !== Infinity) heap.push(t, fn);
      });
      const buffer = new BatchBuffer(Math.max(1, Math.min(batchSize, invocationCount)));
      let length = 0;
      while (heap.size > 0) {
        const time = heap.topTime();
        const fn = heap.topItem();
        heap.pop();
        buffer.fn[length] = fn;
        buffer.time[length++] = time;
        if (length === buffer.capacity) {
          yield buffer.view(length);
          length = 0;
        }
        const next = streams[fn]!();
        if (next !== Infinity) heap.push(next, fn);
      }
      if (length > 0) yield buffer.view(length);
    },
  };
}

/** A short human-readable name, e.g. `synthetic 50×poisson+10×periodic, 60 min, seed 1`. */
function describeSpec(spec: SyntheticSpec): string {
  const groups = spec.groups.map((g) => `${g.count}×${g.pattern.kind}`).join('+');
  return `synthetic ${groups}, ${+(spec.durationMs / MS_PER_MINUTE).toFixed(3)} min, seed ${spec.seed}`;
}

// ---------------------------------------------------------------------------------------------
// The compact string form, for the CLI.
//
//   synthetic:<group>[;<group>...]
//   <group>  := <pattern>:<key>=<value>[,<key>=<value>...]
//   <value>  := <number> | <number>..<number>        (a range, only for mem, warm, cold)
//
// Keys of every group:
//   fns=N        functions in the group (default 10)
//   mem=MB       memory per instance (default 256)       warm=MS   warm execution time (default 100)
//   cold=MS      cold-start time (default 1000)
// Keys of the whole trace, written in any one group (at most once):
//   minutes=M    trace length (default 60)               seed=S    generator seed (default 1)
// Keys of each pattern (rates are invocations per minute per function):
//   poisson:  rate (required)
//   periodic: periodMs (required), jitterMs (default 0)
//   bursty:   onRate, offRate, onMs, offMs (all required; onMs/offMs are mean phase lengths)
//   diurnal:  rate (mean, required), amplitude (0..1, required), periodMs (default 86400000)
//
// Examples:
//   synthetic:poisson:fns=50,rate=2,minutes=60,seed=1
//   synthetic:poisson:fns=40,rate=0.5,mem=64..512;periodic:fns=10,periodMs=60000,jitterMs=500,minutes=120

export const SYNTHETIC_PREFIX = 'synthetic:';

const PATTERN_KEYS: Record<PatternKind, { required: readonly string[]; optional: readonly string[] }> = {
  poisson: { required: ['rate'], optional: [] },
  periodic: { required: ['periodMs'], optional: ['jitterMs'] },
  bursty: { required: ['onRate', 'offRate', 'onMs', 'offMs'], optional: [] },
  diurnal: { required: ['rate', 'amplitude'], optional: ['periodMs'] },
};
const GROUP_KEYS = ['fns', 'mem', 'warm', 'cold'] as const;
const TRACE_KEYS = ['minutes', 'seed'] as const;
const RANGE_KEYS: ReadonlySet<string> = new Set(['mem', 'warm', 'cold']);

export function parseSyntheticSpec(text: string): SyntheticSpec {
  const fail = (what: string): never => {
    throw invalidOption('trace', `synthetic spec '${text}': ${what} (see the grammar in src/sim/traces/synthetic.ts, e.g. synthetic:poisson:fns=50,rate=2,minutes=60,seed=1)`);
  };
  if (!text.startsWith(SYNTHETIC_PREFIX)) fail(`must start with '${SYNTHETIC_PREFIX}'`);
  const traceValues = new Map<string, number>();
  const groups: SyntheticGroup[] = [];

  for (const groupText of text.slice(SYNTHETIC_PREFIX.length).split(';')) {
    const colon = groupText.indexOf(':');
    const kind = (colon < 0 ? groupText : groupText.slice(0, colon)).trim();
    if (!(kind in PATTERN_KEYS)) fail(`unknown pattern '${kind}' (expected ${Object.keys(PATTERN_KEYS).join(', ')})`);
    const keys = PATTERN_KEYS[kind as PatternKind];
    const values = new Map<string, ValueOrRange>();
    const pairs = colon < 0 ? [] : groupText.slice(colon + 1).split(',').filter((pair) => pair.trim() !== '');
    for (const pair of pairs) {
      const eq = pair.indexOf('=');
      if (eq < 0) fail(`'${pair}' is not key=value`);
      const key = pair.slice(0, eq).trim();
      const valueText = pair.slice(eq + 1).trim();
      const known = [...keys.required, ...keys.optional, ...GROUP_KEYS, ...TRACE_KEYS];
      if (!known.includes(key)) fail(`unknown key '${key}' for pattern ${kind} (known: ${known.join(', ')})`);
      const value = parseValue(valueText, RANGE_KEYS.has(key), (what) => fail(`${key}: ${what}`));
      if ((TRACE_KEYS as readonly string[]).includes(key)) {
        if (traceValues.has(key) && traceValues.get(key) !== value) fail(`'${key}' is given twice with different values`);
        traceValues.set(key, value as number);
      } else {
        if (values.has(key)) fail(`'${key}' is given twice in one group`);
        values.set(key, value);
      }
    }
    for (const key of keys.required) if (!values.has(key)) fail(`pattern ${kind} needs ${key}=...`);
    const number = (key: string): number => values.get(key) as number;
    const pattern = ((): ArrivalPattern => {
      switch (kind as PatternKind) {
        case 'poisson':
          return { kind: 'poisson', ratePerMin: number('rate') };
        case 'periodic':
          return { kind: 'periodic', periodMs: number('periodMs'), jitterMs: values.has('jitterMs') ? number('jitterMs') : 0 };
        case 'bursty':
          return { kind: 'bursty', onRatePerMin: number('onRate'), offRatePerMin: number('offRate'), meanOnMs: number('onMs'), meanOffMs: number('offMs') };
        case 'diurnal':
          return {
            kind: 'diurnal',
            meanRatePerMin: number('rate'),
            amplitude: number('amplitude'),
            periodMs: values.has('periodMs') ? number('periodMs') : SYNTHETIC_DEFAULTS.diurnalPeriodMs,
          };
      }
    })();
    groups.push({
      count: values.has('fns') ? number('fns') : 10,
      pattern,
      memoryMb: values.get('mem') ?? SYNTHETIC_DEFAULTS.memoryMb,
      warmMs: values.get('warm') ?? SYNTHETIC_DEFAULTS.warmMs,
      coldStartMs: values.get('cold') ?? SYNTHETIC_DEFAULTS.coldStartMs,
    });
  }
  const spec: SyntheticSpec = { seed: traceValues.get('seed') ?? 1, durationMs: (traceValues.get('minutes') ?? 60) * MS_PER_MINUTE, groups, name: text };
  validateSpec(spec);
  return spec;
}

function parseValue(text: string, rangeAllowed: boolean, fail: (what: string) => never): ValueOrRange {
  const numberOf = (part: string): number => {
    const value = part.trim() === '' ? Number.NaN : Number(part);
    return Number.isFinite(value) ? value : fail(`'${part}' is not a number`);
  };
  const dots = text.indexOf('..');
  if (dots < 0) return numberOf(text);
  if (!rangeAllowed) fail('a range is not allowed here');
  return { min: numberOf(text.slice(0, dots)), max: numberOf(text.slice(dots + 2)) };
}
