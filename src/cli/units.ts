// Parsing of the sizes and durations users type: `512MB`, `16GB`, `1GB..80GB:500MB`, `10m`, `30s`.

import { invalidOption } from '../core/errors.ts';

const MEMORY_UNITS: Record<string, number> = { mb: 1, m: 1, gb: 1024, g: 1024, tb: 1024 * 1024, t: 1024 * 1024, kb: 1 / 1024, k: 1 / 1024 };
const DURATION_UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, min: 60_000, h: 3_600_000, d: 86_400_000 };

function parseQuantity(option: string, text: string, units: Record<string, number>, defaultUnit: string, what: string): number {
  const match = /^\s*(\d+(?:\.\d+)?|\.\d+)\s*([a-zA-Z]*)\s*$/.exec(text);
  const unit = match?.[2]?.toLowerCase() || defaultUnit;
  const factor = units[unit];
  if (!match || factor === undefined) {
    throw invalidOption(option, `expected ${what} like ${Object.keys(units).slice(0, 3).map((u) => `10${u}`).join(', ')}, got '${text}'`);
  }
  return Number(match[1]) * factor;
}

/** A memory size in MB. A bare number is MB. Units: KB, MB, GB, TB (powers of 1024). */
export function parseMemory(text: string, option = '--memory'): number {
  return parseQuantity(option, text, MEMORY_UNITS, 'mb', 'a memory size');
}

/** A duration in ms. A bare number is ms. Units: ms, s, m/min, h, d. */
export function parseDuration(text: string, option: string): number {
  return parseQuantity(option, text, DURATION_UNITS, 'ms', 'a duration');
}

/**
 * One or more memory sizes, MB: a comma-separated list of sizes and ranges. A range `A..B:STEP` runs
 * from A to B inclusive in steps of STEP (`1GB..80GB:500MB`); `A..B/N` gives N evenly spaced sizes.
 */
export function parseMemoryList(text: string, option = '--memory'): number[] {
  const sizes: number[] = [];
  for (const part of text.split(',').map((p) => p.trim()).filter(Boolean)) {
    const range = /^(.+?)\.\.(.+?)(?:([:/])(.+))?$/.exec(part);
    if (!range) {
      sizes.push(parseMemory(part, option));
      continue;
    }
    const from = parseMemory(range[1]!, option);
    const to = parseMemory(range[2]!, option);
    if (to < from) throw invalidOption(option, `range '${part}' ends before it starts`);
    if (range[3] === '/') {
      const count = Number(range[4]);
      if (!Number.isInteger(count) || count < 2) throw invalidOption(option, `range '${part}': the point count after '/' must be an integer ≥ 2`);
      for (let i = 0; i < count; i++) sizes.push(from + ((to - from) * i) / (count - 1));
    } else {
      const step = range[4] === undefined ? NaN : parseMemory(range[4], option);
      if (!(step > 0)) throw invalidOption(option, `range '${part}' needs a step, e.g. '${range[1]}..${range[2]}:1GB' or a count, '/40'`);
      // Step in whole multiples from `from` so floating-point drift does not add or lose a point.
      const count = Math.floor((to - from) / step + 1e-9);
      for (let i = 0; i <= count; i++) sizes.push(from + i * step);
    }
  }
  if (sizes.length === 0) throw invalidOption(option, 'no memory size given');
  return sizes;
}
