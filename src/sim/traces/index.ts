// One entry point for every trace source: `openTrace(spec)` where spec is a folder of Azure 2019
// files, an Azure 2021 per-invocation file, or a `synthetic:...` generator string.

import { closeSync, openSync, readSync, statSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { ThawError, TraceFormatError } from '../../core/errors.ts';
import type { Trace } from '../../core/trace.ts';
import { readAzure2019Dir, type Azure2019DirOptions } from './azure2019.ts';
import { AZURE2021_HEADER_PREFIX, readAzure2021, type Azure2021Options } from './azure2021.ts';
import { SYNTHETIC_PREFIX, parseSyntheticSpec, syntheticTrace } from './synthetic.ts';

export * from './azure2019.ts';
export * from './azure2021.ts';
export * from './synthetic.ts';
export { MinuteArrivals, naiveEvenArrivals, type MinuteCounts, type MinuteSpacing } from './minute-counts.ts';

/** The bundled 8-hour, 500-function Azure 2019 sample (data/traces/SOURCES.md), resolved from the package root. */
export const DEFAULT_TRACE_DIR = fileURLToPath(new URL('../../../data/traces/azure2019/invitro_sample_500fn_8h', import.meta.url));

/** Reader options by format; plain data, so a trace source can be sent to worker threads. */
export interface OpenTraceOptions {
  azure2019?: Azure2019DirOptions;
  azure2021?: Azure2021Options;
  /** Arrivals per batch of a synthetic trace (the file formats take it in their own options). */
  syntheticBatchSize?: number;
}

/**
 * Opens a trace:
 * - `synthetic:...` → the seeded generator (grammar in synthetic.ts);
 * - a folder → Azure 2019 files (sample names or original day files);
 * - a file whose header starts with `app,func,end_timestamp` → Azure 2021 (any extension, so the
 *   original .txt works too).
 */
export function openTrace(spec: string, options: OpenTraceOptions = {}): Trace {
  if (spec.startsWith(SYNTHETIC_PREFIX)) {
    const parsed = parseSyntheticSpec(spec);
    return syntheticTrace(options.syntheticBatchSize === undefined ? parsed : { ...parsed, batchSize: options.syntheticBatchSize });
  }
  let isDirectory: boolean;
  try {
    isDirectory = statSync(spec).isDirectory();
  } catch {
    throw new ThawError('ERR_INVALID_OPTION', `trace '${spec}': no such file or folder (expected a folder of Azure 2019 files, an Azure 2021 file, or synthetic:...)`);
  }
  if (isDirectory) return readAzure2019Dir(spec, options.azure2019);

  const header = firstLine(spec);
  if (header.startsWith(AZURE2021_HEADER_PREFIX)) return readAzure2021(spec, options.azure2021);
  if (/^(HashOwner|HashFunction|HashApp),/.test(header)) {
    throw new TraceFormatError(spec, 1, undefined, 'this is one file of an Azure 2019 trace: pass the folder that holds its invocations, durations and memory files');
  }
  throw new TraceFormatError(
    spec,
    1,
    undefined,
    `unrecognised trace format: expected a header starting with '${AZURE2021_HEADER_PREFIX}' (Azure 2021), got '${header.slice(0, 60)}'`,
  );
}

/** The start of the first line; reads a few KB only, so a large or binary file is not slurped. */
function firstLine(file: string): string {
  const fd = openSync(file, 'r');
  try {
    const bytes = Buffer.alloc(4096);
    const read = readSync(fd, bytes, 0, bytes.length, 0);
    const text = bytes.toString('utf8', 0, read).replace(/^\uFEFF/, '');
    return text.split(/\r?\n/, 1)[0]!;
  } finally {
    closeSync(fd);
  }
}
