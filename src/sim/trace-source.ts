// Where a trace comes from, as plain data (a path or generator spec plus reader options), so that it
// can be handed to sweep workers, which open it themselves.

import type { Trace } from '../core/trace.ts';
import { withScaledColdStarts } from './calibration.ts';
import { openTrace, type OpenTraceOptions } from './traces/index.ts';

export interface TraceSource {
  /** A directory of Azure 2019 files, an Azure 2021 CSV, or `synthetic:...`. */
  spec: string;
  options?: OpenTraceOptions;
  /** Cold starts simulated as another start kind: their times scaled by a measured ratio (calibration.ts). */
  coldStartScale?: { ratio: number; label: string };
}

export function openTraceSource(source: TraceSource): Trace {
  const trace = openTrace(source.spec, source.options ?? {});
  const scale = source.coldStartScale;
  return scale ? withScaledColdStarts(trace, scale.ratio, scale.label) : trace;
}
