// The options every trace-reading command shares (--trace and how to build the trace from it).

import { invalidOption } from '../core/errors.ts';
import { loadStartCosts, START_COST_KINDS, startCostRatio, type StartCostKind } from '../sim/calibration.ts';
import type { TraceSource } from '../sim/trace-source.ts';
import { DEFAULT_TRACE_DIR, type MinuteSpacing } from '../sim/traces/index.ts';
import { numberOption, type OptionSpec } from './args.ts';
import { parseDuration, parseMemory } from './units.ts';

/** Memory of each simulated server when --memory is not given (thaw sim, plain and --compat). */
export const DEFAULT_SIM_MEMORY = '16GB';

export const TRACE_OPTIONS = {
  trace: { type: 'string' },
  spacing: { type: 'string' },
  seed: { type: 'string' },
  'min-invocations': { type: 'string' },
  'cold-start': { type: 'string' },
  'function-memory': { type: 'string' },
  compat: { type: 'string' },
  lenient: { type: 'boolean' },
  'start-costs': { type: 'string' },
  'start-path': { type: 'string' },
} as const satisfies OptionSpec;

export const TRACE_HELP = `Trace options:
  --trace PATH          a folder of Azure 2019 files (the original day files or an invitro sample),
                        an Azure 2021 per-invocation file, or synthetic:PATTERN:key=value,...
                        (default: the bundled 500-function, 8-hour Azure 2019 sample)
  --spacing MODE        Azure 2019: how k invocations spread over their minute:
                        even (default, 60/k s apart from the minute's start), start, random
  --seed N              seed of --spacing random
  --min-invocations N   Azure 2019: drop functions invoked fewer times (default 2)
  --cold-start DUR      a fixed cold-start time for every function (default: Maximum − Average
                        duration for Azure 2019, 1 s for Azure 2021)
  --function-memory SZ  Azure 2021: memory of every function (default 256MB)
  --lenient             Azure 2019: keep the first of duplicate functions and drop rows with empty
                        fields (counted) instead of refusing the trace
  --compat faascache    build the trace and run exactly as FaaSCache's reference simulator
  --start-costs FILE    start costs measured on the platform (thaw bench starts --export FILE,
                        thaw bench vm-restore --export FILE, thaw replay --calibrate --export-costs FILE)
  --start-path KIND     with --start-costs: simulate cold starts as snapshot, zygote, isolate,
                        resumed or warm starts, their times scaled by the measured ratio to a cold start`;

type TraceFlags = { [K in Exclude<keyof typeof TRACE_OPTIONS, 'lenient'>]?: string } & { lenient?: boolean };

function coldStartScale(values: TraceFlags): TraceSource['coldStartScale'] {
  const file = values['start-costs'];
  const kind = values['start-path'];
  if (file === undefined && kind === undefined) return undefined;
  if (file === undefined || kind === undefined) throw invalidOption(file === undefined ? '--start-path' : '--start-costs', 'goes with --start-costs FILE --start-path KIND');
  if (!(START_COST_KINDS as readonly string[]).includes(kind) || kind === 'cold') throw invalidOption('--start-path', `expected snapshot, zygote, isolate, resumed or warm, got '${kind}'`);
  const { ratio, functions } = startCostRatio(loadStartCosts(file), kind as StartCostKind);
  return { ratio, label: `${kind} starts measured on ${functions.join(', ')}` };
}

export function traceSourceFrom(values: TraceFlags): TraceSource {
  const compat = values.compat;
  if (compat !== undefined && compat !== 'faascache') throw invalidOption('--compat', `the only compatibility mode is 'faascache', got '${compat}'`);
  const spacing = values.spacing as MinuteSpacing | undefined;
  if (spacing !== undefined && !['even', 'start', 'random'].includes(spacing)) throw invalidOption('--spacing', `expected even, start or random, got '${spacing}'`);
  const seed = numberOption(values.seed, '--seed', 0, Number.isInteger);
  const coldStartMs = values['cold-start'] === undefined ? undefined : parseDuration(values['cold-start'], '--cold-start');
  const minInvocations = values['min-invocations'] === undefined ? undefined : numberOption(values['min-invocations'], '--min-invocations', 2, (n) => Number.isInteger(n) && n >= 0);
  const memoryMb = values['function-memory'] === undefined ? undefined : parseMemory(values['function-memory'], '--function-memory');
  return {
    coldStartScale: coldStartScale(values),
    spec: values.trace ?? DEFAULT_TRACE_DIR,
    options: {
      azure2019: { compat: compat as 'faascache' | undefined, strict: values.lenient ? false : undefined, spacing, seed, coldStartMs, minInvocations },
      azure2021: { coldStartMs, memoryMb },
    },
  };
}
