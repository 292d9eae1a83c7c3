// Validation of the sizing options: each check throws ThawError('ERR_INVALID_OPTION') naming the
// option, the accepted range and the value received.

import { invalidOption } from '../../core/errors.ts';

export function requireNumberIn(name: string, value: number, min: number, max: number, range = `[${min}, ${max}]`): number {
  if (typeof value !== 'number' || !(value >= min && value <= max)) throw invalidOption(name, `must be a number in ${range}, got ${String(value)}`);
  return value;
}

/** A fraction: in (0, 1] when includeOne, else in (0, 1). */
export function requireFraction(name: string, value: number, { includeOne }: { includeOne: boolean }): number {
  const ok = typeof value === 'number' && value > 0 && (includeOne ? value <= 1 : value < 1);
  if (!ok) throw invalidOption(name, `must be a number in (0, 1${includeOne ? ']' : ')'}, got ${String(value)}`);
  return value;
}

export function requireInteger(name: string, value: number, min: number, max = Number.MAX_SAFE_INTEGER): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    const range = max === Number.MAX_SAFE_INTEGER ? `≥ ${min}` : `in [${min}, ${max}]`;
    throw invalidOption(name, `must be an integer ${range}, got ${String(value)}`);
  }
  return value;
}

export function requirePositive(name: string, value: number, unit = ''): number {
  if (typeof value !== 'number' || !(value > 0) || !Number.isFinite(value)) throw invalidOption(name, `must be a positive finite number${unit}, got ${String(value)}`);
  return value;
}

export function requireNonNegative(name: string, value: number, unit = ''): number {
  if (typeof value !== 'number' || !(value >= 0) || !Number.isFinite(value)) throw invalidOption(name, `must be a finite number ≥ 0${unit}, got ${String(value)}`);
  return value;
}
