// Reader of the Azure Functions 2019 trace (Shahrad et al., ATC'20): per-minute invocation counts
// per function, one execution-time summary per function, and memory per application (or per
// function, in the invitro samples). It accepts the original day files unchanged (minute columns
// 1..1440, memory per app) and the invitro 8-hour sample (minute columns 480..959, memory per
// function), and builds the trace the way FaaSCache did (docs/techniques.md §1.1 and Appendix A).
//
// All three files are parsed and validated completely before a Trace is returned, so a simulation
// never starts on a half-read or broken trace.

import { readdirSync, statSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { ThawError, TraceFormatError, invalidOption } from '../../core/errors.ts';
import type { FunctionSpec, Trace } from '../../core/trace.ts';
import { CountRowScanner, badValue, detach, emptyValue, parseDecimal, withCsv, type CsvFile, type CsvRow } from './csv.ts';
import { MinuteArrivals, MinuteCountsBuilder, MS_PER_MINUTE, type MinuteCounts, type MinuteSpacing } from './minute-counts.ts';

export interface Azure2019Files {
  /** invocations_per_function_md.anon.dXX.csv, or the sample's invocations.csv. */
  invocations: string;
  /** function_durations_percentiles.anon.dXX.csv, or durations.csv. */
  durations: string;
  /** app_memory_percentiles.anon.dXX.csv (per app), or memory.csv (per function, has HashFunction). */
  memory: string;
}

export interface Azure2019Options {
  /**
   * Reproduce the FaaSCache reference's trace exactly (Appendix A): implies rounding 'faascache'
   * and strict false, and joins on HashFunction alone as the reference does.
   */
  compat?: 'faascache';
  /**
   * Strict validation (default true, false under compat): an empty field or a duplicate function is
   * an error. When false, rows with an empty field are dropped (pandas dropna) and duplicates keep
   * their first row (pandas drop_duplicates), both counted in `stats.dropped`.
   */
  strict?: boolean;
  /**
   * 'none' (default): memory = app MB / functions of the app, warm = Average, cold start =
   * max(0, Maximum − Average), all unrounded. 'faascache': memory = ceil(...), warm = trunc(Average),
   * cold start = trunc(Maximum) − trunc(Average), as the reference's int() and ceil().
   */
  rounding?: 'none' | 'faascache';
  /** Placement of k invocations within a minute (default 'even', the reference's rule). */
  spacing?: MinuteSpacing;
  /** Seed of spacing 'random' (default 0). */
  seed?: number;
  /** A fixed cold-start time for every function, ms, instead of the one derived from durations. */
  coldStartMs?: number;
  /** Functions invoked fewer times than this in the file are dropped (default 2, as the reference). */
  minInvocations?: number;
  /** Target arrivals per batch (default 65536). */
  batchSize?: number;
  /** Trace name (default: the folder of the invocations file). */
  name?: string;
}

export interface Azure2019Stats {
  /** Data rows in each file (header and blank lines excluded). */
  rows: { invocations: number; durations: number; memory: number };
  functionsKept: number;
  invocationsKept: number;
  /** Minute columns in the invocations file, and the name of the first (the trace's minute 0). */
  minutes: number;
  firstMinuteColumn: number;
  /** True when the memory file has a HashFunction column (the invitro samples). */
  memoryPerFunction: boolean;
  dropped: {
    /** Functions with fewer than minInvocations invocations. */
    belowMinInvocations: number;
    /** Functions with no row in the durations file. */
    missingDurations: number;
    /** Functions whose app (or, per-function memory, the function) has no row in the memory file. */
    missingMemory: number;
    /** Repeated rows dropped, keeping the first (non-strict mode only; strict mode refuses them). */
    duplicates: { invocations: number; durations: number; memory: number };
    /** Rows dropped for an empty field (non-strict mode only). */
    missingValues: { invocations: number; durations: number; memory: number };
  };
}

export interface Azure2019Trace extends Trace {
  readonly stats: Azure2019Stats;
  /** The per-minute counts the arrivals are generated from (function indices as in `functions`). */
  readonly counts: MinuteCounts;
}

interface ResolvedOptions {
  strict: boolean;
  joinOnHashOnly: boolean;
  rounding: 'none' | 'faascache';
  spacing: MinuteSpacing;
  seed: number;
  coldStartMs: number | undefined;
  minInvocations: number;
  batchSize: number | undefined;
}

function resolveOptions(options: Azure2019Options): ResolvedOptions {
  const { compat } = options;
  if (compat !== undefined && compat !== 'faascache') throw invalidOption('compat', `expected 'faascache', got '${String(compat)}'`);
  const rounding = options.rounding ?? (compat ? 'faascache' : 'none');
  if (rounding !== 'none' && rounding !== 'faascache') throw invalidOption('rounding', `expected 'none' or 'faascache', got '${String(rounding)}'`);
  const spacing = options.spacing ?? 'even';
  if (!['even', 'start', 'random'].includes(spacing)) throw invalidOption('spacing', `expected 'even', 'start' or 'random', got '${String(spacing)}'`);
  const minInvocations = options.minInvocations ?? 2;
  if (!Number.isInteger(minInvocations) || minInvocations < 0) throw invalidOption('minInvocations', `expected a non-negative integer, got ${minInvocations}`);
  const { coldStartMs } = options;
  if (coldStartMs !== undefined && !(Number.isFinite(coldStartMs) && coldStartMs >= 0)) {
    throw invalidOption('coldStartMs', `expected a non-negative number of ms, got ${coldStartMs}`);
  }
  const { batchSize } = options;
  if (batchSize !== undefined && !(Number.isInteger(batchSize) && batchSize > 0)) throw invalidOption('batchSize', `expected a positive integer, got ${batchSize}`);
  return {
    strict: options.strict ?? !compat,
    joinOnHashOnly: compat === 'faascache',
    rounding,
    spacing,
    seed: options.seed ?? 0,
    coldStartMs,
    minInvocations,
    batchSize,
  };
}

// ---------------------------------------------------------------------------------------------
// Reading the three files. Each row goes through the same steps in both modes; strict mode turns
// what the reference would silently clean (empty fields, repeated rows) into errors.

/** Why a row is unusable: an empty field (dropped in non-strict mode, an error in strict mode). */
function firstEmptyField(row: CsvRow): number {
  const { fields } = row;
  for (let i = 0; i < fields.length; i++) if (fields[i] === '') return i;
  return -1;
}

function refuseEmpty(csv: CsvFile, lineNo: number, position: number): never {
  throw emptyValue(csv.file, lineNo, csv.header.names[position]!, ' (--lenient, or strict: false, drops rows with missing values)');
}

function duplicateError(csv: CsvFile, lineNo: number, column: string, key: string, firstLine: number): TraceFormatError {
  return new TraceFormatError(
    csv.file,
    lineNo,
    column,
    `duplicate ${column} '${key}' (first at line ${firstLine}, again at line ${lineNo}; --lenient, or strict: false, keeps the first)`,
  );
}

function nonNegative(csv: CsvFile, row: CsvRow, position: number): number {
  const text = row.fields[position]!;
  const value = parseDecimal(text);
  if (!(value >= 0)) throw badValue(csv.file, row.lineNo, csv.header.names[position]!, 'expected a non-negative number', text);
  return value;
}

interface DurationRow {
  readonly owner: string;
  readonly app: string;
  readonly averageMs: number;
  readonly maximumMs: number;
}

interface Durations {
  readonly byFunction: Map<string, DurationRow>;
  /** Functions of each app in the durations file: the divisor of the app's memory, as in the reference. */
  readonly functionsPerApp: Map<string, number>;
  rows: number;
  duplicates: number;
  missingValues: number;
}

function readDurations(file: string, options: ResolvedOptions): Durations {
  return withCsv(file, (csv) => readDurationRows(csv, options));
}

function readDurationRows(csv: CsvFile, options: ResolvedOptions): Durations {
  const { header } = csv;
  const at = {
    owner: header.require('HashOwner'),
    app: header.require('HashApp'),
    fn: header.require('HashFunction'),
    average: header.require('Average'),
    maximum: header.require('Maximum'),
  };
  const durations: Durations = { byFunction: new Map(), functionsPerApp: new Map(), rows: 0, duplicates: 0, missingValues: 0 };
  const lineOf = new Map<string, number>();
  for (const row of csv) {
    durations.rows++;
    const { fields } = row;
    const empty = firstEmptyField(row);
    if (empty >= 0 && options.strict) refuseEmpty(csv, row.lineNo, empty);
    const fn = fields[at.fn]!;
    const firstLine = lineOf.get(fn);
    if (firstLine !== undefined) {
      if (options.strict) throw duplicateError(csv, row.lineNo, 'HashFunction', fn, firstLine);
      durations.duplicates++;
      continue;
    }
    lineOf.set(fn, row.lineNo);
    const app = fields[at.app]!;
    // The reference counts an app's functions after drop_duplicates, before anything else is
    // dropped, so a row with an empty Average still counts towards its app.
    if (app !== '') durations.functionsPerApp.set(app, (durations.functionsPerApp.get(app) ?? 0) + 1);
    if (empty >= 0) {
      durations.missingValues++;
      continue;
    }
    durations.byFunction.set(fn, {
      owner: fields[at.owner]!,
      app,
      averageMs: nonNegative(csv, row, at.average),
      maximumMs: nonNegative(csv, row, at.maximum),
    });
  }
  return durations;
}

interface Memory {
  /** Keyed by HashFunction when perFunction, else by HashApp. */
  readonly averageMb: Map<string, number>;
  readonly perFunction: boolean;
  rows: number;
  duplicates: number;
  missingValues: number;
}

function readMemory(file: string, options: ResolvedOptions): Memory {
  return withCsv(file, (csv) => readMemoryRows(csv, options));
}

function readMemoryRows(csv: CsvFile, options: ResolvedOptions): Memory {
  const { header } = csv;
  const perFunction = header.has('HashFunction');
  const keyColumn = perFunction ? 'HashFunction' : 'HashApp';
  const at = { key: header.require(keyColumn), app: header.require('HashApp'), averageMb: header.require('AverageAllocatedMb') };
  const memory: Memory = { averageMb: new Map(), perFunction, rows: 0, duplicates: 0, missingValues: 0 };
  const lineOf = new Map<string, number>();
  for (const row of csv) {
    memory.rows++;
    const empty = firstEmptyField(row);
    if (empty >= 0 && options.strict) refuseEmpty(csv, row.lineNo, empty);
    const key = row.fields[at.key]!;
    const firstLine = lineOf.get(key);
    if (firstLine !== undefined) {
      if (options.strict) throw duplicateError(csv, row.lineNo, keyColumn, key, firstLine);
      memory.duplicates++;
      continue;
    }
    lineOf.set(key, row.lineNo);
    if (empty >= 0) {
      memory.missingValues++;
      continue;
    }
    memory.averageMb.set(key, nonNegative(csv, row, at.averageMb));
  }
  return memory;
}

/** The minute columns of the invocations header: integer names, consecutive, in order. */
function minuteColumns(csv: CsvFile): { positions: Int32Array; first: number } {
  const { header } = csv;
  const positions: number[] = [];
  let first = -1;
  let previous = -1;
  header.names.forEach((name, position) => {
    if (!/^\d+$/.test(name)) return;
    const minute = Number(name);
    if (positions.length > 0 && minute !== previous + 1) {
      throw new TraceFormatError(csv.file, header.lineNo, name, `minute columns must be consecutive integers, but '${name}' follows '${previous}'`);
    }
    if (positions.length === 0) first = minute;
    positions.push(position);
    previous = minute;
  });
  if (positions.length === 0) {
    throw new TraceFormatError(csv.file, header.lineNo, undefined, 'no minute columns (integer-named columns such as 1..1440) in the header');
  }
  return { positions: Int32Array.from(positions), first };
}

// ---------------------------------------------------------------------------------------------

/** Reads, validates and joins the three files of one Azure 2019 trace. */
export function readAzure2019(files: Azure2019Files, options: Azure2019Options = {}): Azure2019Trace {
  const resolved = resolveOptions(options);
  const durations = readDurations(files.durations, resolved);
  const memory = readMemory(files.memory, resolved);
  const { functions, counts, stats } = withCsv(files.invocations, (csv) => readInvocationRows(csv, resolved, durations, memory));

  const arrivals = new MinuteArrivals(counts);
  const generation = { spacing: resolved.spacing, seed: resolved.seed, ...(resolved.batchSize ? { batchSize: resolved.batchSize } : {}) };
  return {
    name: options.name ?? basename(dirname(files.invocations)),
    functions,
    invocationCount: counts.total,
    spanMs: counts.minutes * MS_PER_MINUTE,
    stats,
    counts,
    batches: () => arrivals.batches(generation),
  };
}

/** Reads the invocations file and joins each row with its durations and memory. */
function readInvocationRows(
  csv: CsvFile,
  resolved: ResolvedOptions,
  durations: Durations,
  memory: Memory,
): { functions: FunctionSpec[]; counts: MinuteCounts; stats: Azure2019Stats } {
  const { header } = csv;
  const at = {
    owner: header.require('HashOwner'),
    app: header.require('HashApp'),
    fn: header.require('HashFunction'),
    trigger: header.indexOf('Trigger'),
  };
  const minutes = minuteColumns(csv);
  const minuteCount = minutes.positions.length;
  const counts = new Int32Array(minuteCount);
  const builder = new MinuteCountsBuilder(minuteCount);
  const functions: FunctionSpec[] = [];
  const stats: Azure2019Stats = {
    rows: { invocations: 0, durations: durations.rows, memory: memory.rows },
    functionsKept: 0,
    invocationsKept: 0,
    minutes: minuteCount,
    firstMinuteColumn: minutes.first,
    memoryPerFunction: memory.perFunction,
    dropped: {
      belowMinInvocations: 0,
      missingDurations: 0,
      missingMemory: 0,
      duplicates: { invocations: 0, durations: durations.duplicates, memory: memory.duplicates },
      missingValues: { invocations: 0, durations: durations.missingValues, memory: memory.missingValues },
    },
  };
  const { dropped } = stats;
  // Strict mode: every row's first line, to refuse any repeat. Otherwise, as the reference: repeats
  // are removed after the empty-field and minimum-invocation filters, keeping the first survivor.
  const lineOf = new Map<string, number>();

  // The invocations file is the big one (a day file: ~46 k rows × 1,444 columns), so it is parsed
  // with the one-pass scanner rather than split into strings.
  const scanner = new CountRowScanner(header, minutes.positions);
  const { texts } = scanner;
  for (const { lineNo, text } of csv.lines()) {
    stats.rows.invocations++;
    const empty = scanner.scan(text, lineNo, counts);
    if (empty >= 0) {
      if (resolved.strict) refuseEmpty(csv, lineNo, empty);
      dropped.missingValues.invocations++;
      continue;
    }
    const fn = detach(texts[at.fn]!); // kept beyond the row: see detach()
    const owner = texts[at.owner]!;
    const app = texts[at.app]!;
    if (resolved.strict) {
      const firstLine = lineOf.get(fn);
      if (firstLine !== undefined) throw duplicateError(csv, lineNo, 'HashFunction', fn, firstLine);
      lineOf.set(fn, lineNo);
    }

    let sum = 0;
    for (let m = 0; m < minuteCount; m++) sum += counts[m]!;
    if (sum < resolved.minInvocations) {
      dropped.belowMinInvocations++;
      continue;
    }
    if (!resolved.strict) {
      if (lineOf.has(fn)) {
        dropped.duplicates.invocations++;
        continue;
      }
      lineOf.set(fn, lineNo);
    }

    const duration = durations.byFunction.get(fn);
    // The reference joins on HashFunction alone; otherwise the whole identity must match.
    if (duration === undefined || (!resolved.joinOnHashOnly && (duration.app !== app || duration.owner !== owner))) {
      dropped.missingDurations++;
      continue;
    }
    const memoryMb = functionMemory(memory, durations, fn, app, resolved.rounding);
    if (memoryMb === undefined) {
      dropped.missingMemory++;
      continue;
    }

    const index = functions.length;
    const timing = functionTiming(duration, resolved);
    const spec: FunctionSpec = { index, id: fn, app: detach(app), memoryMb, warmMs: timing.warmMs, coldStartMs: timing.coldStartMs };
    functions.push(at.trigger >= 0 ? { ...spec, trigger: texts[at.trigger]! } : spec);
    builder.addFunction(index, counts);
    stats.invocationsKept += sum;
  }
  stats.functionsKept = functions.length;

  if (functions.length === 0) {
    throw new ThawError(
      'ERR_TRACE_EMPTY',
      `${csv.file}: no function left after joining and filtering (${stats.rows.invocations} rows; dropped: ` +
        `${dropped.belowMinInvocations} below ${resolved.minInvocations} invocations, ${dropped.missingDurations} without durations, ` +
        `${dropped.missingMemory} without memory)`,
    );
  }

  return { functions, counts: builder.build(), stats };
}

/** Memory of one function, or undefined when the memory file has no row for it. */
function functionMemory(memory: Memory, durations: Durations, fn: string, app: string, rounding: 'none' | 'faascache'): number | undefined {
  if (memory.perFunction) {
    const mb = memory.averageMb.get(fn);
    if (mb === undefined) return undefined;
    return rounding === 'faascache' ? Math.ceil(mb) : mb;
  }
  const appMb = memory.averageMb.get(app);
  if (appMb === undefined) return undefined;
  // The app's memory is shared evenly by its functions, counted in the durations file as the
  // reference does (the invocations file may list fewer of them).
  const functionsOfApp = durations.functionsPerApp.get(app) ?? 1;
  return rounding === 'faascache' ? Math.ceil(appMb / functionsOfApp) : appMb / functionsOfApp;
}

function functionTiming(duration: DurationRow, options: ResolvedOptions): { warmMs: number; coldStartMs: number } {
  if (options.rounding === 'faascache') {
    // Python int(): truncation. The reference runs a cold start for int(Maximum) in total, so the
    // extra time is whatever makes warm + cold start equal that total, negative on odd data.
    const warmMs = Math.trunc(duration.averageMs);
    return { warmMs, coldStartMs: options.coldStartMs ?? Math.trunc(duration.maximumMs) - warmMs };
  }
  return { warmMs: duration.averageMs, coldStartMs: options.coldStartMs ?? Math.max(0, duration.maximumMs - duration.averageMs) };
}

// ---------------------------------------------------------------------------------------------
// Finding the files in a folder.

const SAMPLE_NAMES = { invocations: 'invocations.csv', durations: 'durations.csv', memory: 'memory.csv' } as const;
/** Original day files are PREFIX + XX + '.csv'. */
const DAY_PREFIXES = {
  invocations: 'invocations_per_function_md.anon.d',
  durations: 'function_durations_percentiles.anon.d',
  memory: 'app_memory_percentiles.anon.d',
} as const;
type FileRole = keyof typeof SAMPLE_NAMES;
const ROLES: readonly FileRole[] = ['invocations', 'durations', 'memory'];

export interface Azure2019DirOptions extends Azure2019Options {
  /** Which original day file set to read (the XX of *.dXX.csv); default the lowest complete day. */
  day?: number;
}

/**
 * Finds the three files of a trace in a folder, either the invitro sample names (invocations.csv,
 * durations.csv, memory.csv) or the original day files (*.anon.dXX.csv), and reads them.
 */
export function readAzure2019Dir(dir: string, options: Azure2019DirOptions = {}): Azure2019Trace {
  const { day, ...readOptions } = options;
  const found = locateAzure2019Files(dir, day);
  return readAzure2019(found.files, { name: found.name, ...readOptions });
}

export function locateAzure2019Files(dir: string, day?: number): { files: Azure2019Files; name: string } {
  if (day !== undefined && !(Number.isInteger(day) && day >= 0)) throw invalidOption('day', `expected a day number such as 1, got ${day}`);
  let entries: string[];
  try {
    entries = readdirSync(dir).filter((name) => statSync(join(dir, name)).isFile());
  } catch (error) {
    throw new TraceFormatError(dir, undefined, undefined, `cannot list the folder: ${(error as Error).message}`);
  }
  const dayOf = (role: FileRole, name: string): number | undefined => {
    const prefix = DAY_PREFIXES[role];
    if (!name.startsWith(prefix) || !name.endsWith('.csv')) return undefined;
    const digits = name.slice(prefix.length, -'.csv'.length);
    return /^\d+$/.test(digits) ? Number(digits) : undefined;
  };
  const isSampleName = (name: string): boolean => ROLES.some((role) => SAMPLE_NAMES[role] === name);
  const traceFiles = entries.filter((name) => isSampleName(name) || ROLES.some((role) => dayOf(role, name) !== undefined));
  const listing = traceFiles.length > 0 ? `found: ${traceFiles.sort().join(', ')}` : 'found no Azure 2019 trace files';
  const fail = (what: string): never => {
    throw new TraceFormatError(dir, undefined, undefined, `${what} (${listing})`);
  };

  // Day files: day number -> role -> file name. Keys compare numerically so d1 and d01 are the same day.
  const days = new Map<number, Partial<Record<FileRole, string>>>();
  for (const name of entries) {
    for (const role of ROLES) {
      const number = dayOf(role, name);
      if (number === undefined) continue;
      const roles = days.get(number) ?? {};
      roles[role] = name;
      days.set(number, roles);
    }
  }
  const completeDays = [...days].filter(([, roles]) => ROLES.every((role) => roles[role] !== undefined)).map(([number]) => number).sort((a, b) => a - b);
  const samplePresent = ROLES.filter((role) => entries.includes(SAMPLE_NAMES[role]));

  if (day !== undefined) {
    const roles = days.get(day);
    if (!roles || !completeDays.includes(day)) {
      const missing = ROLES.filter((role) => !roles?.[role]).map((role) => `${DAY_PREFIXES[role]}${twoDigits(day)}.csv`);
      fail(`day ${day} is incomplete or absent: missing ${missing.join(', ')}`);
    }
    return { files: dayFiles(dir, roles!), name: `${basename(dir)} day ${twoDigits(day)}` };
  }
  if (samplePresent.length === ROLES.length && completeDays.length === 0) {
    return { files: { invocations: join(dir, SAMPLE_NAMES.invocations), durations: join(dir, SAMPLE_NAMES.durations), memory: join(dir, SAMPLE_NAMES.memory) }, name: basename(dir) };
  }
  if (samplePresent.length === ROLES.length) fail('both sample files and day files are present: pass a day to choose the day files');
  if (completeDays.length > 0) {
    const lowest = completeDays[0]!;
    return { files: dayFiles(dir, days.get(lowest)!), name: `${basename(dir)} day ${twoDigits(lowest)}` };
  }
  if (samplePresent.length > 0) {
    fail(`incomplete sample: missing ${ROLES.filter((role) => !samplePresent.includes(role)).map((role) => SAMPLE_NAMES[role]).join(', ')}`);
  }
  return fail('no complete Azure 2019 trace: need invocations.csv, durations.csv and memory.csv, or the three *.anon.dXX.csv files of one day');
}

function twoDigits(day: number): string {
  return String(day).padStart(2, '0');
}

function dayFiles(dir: string, roles: Partial<Record<FileRole, string>>): Azure2019Files {
  return { invocations: join(dir, roles.invocations!), durations: join(dir, roles.durations!), memory: join(dir, roles.memory!) };
}
