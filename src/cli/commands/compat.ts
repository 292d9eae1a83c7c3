// `--compat faascache`: placeholder wired once the compatibility simulator lands.
import { ThawError } from '../../core/errors.ts';
import type { TraceSource } from '../../sim/trace-source.ts';

export function runCompatSim(_source: TraceSource, _values: unknown): number {
  throw new ThawError('ERR_INVALID_OPTION', '--compat faascache is not available yet');
}
export function runCompatSweep(_source: TraceSource, _p: string[], _m: number[], _w: number, _values: unknown): number {
  throw new ThawError('ERR_INVALID_OPTION', '--compat faascache is not available yet');
}
