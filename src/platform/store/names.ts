import { ThawError } from '../../core/errors.ts';

/** Function names: lower-case letters and digits, then up to 62 of those, '-' or '_'. They name folders and URL paths. */
export const FUNCTION_NAME = /^[a-z0-9][a-z0-9_-]{0,62}$/;

export function isValidFunctionName(name: unknown): name is string {
  return typeof name === 'string' && FUNCTION_NAME.test(name);
}

export function validateFunctionName(name: unknown, where = 'function name'): string {
  if (!isValidFunctionName(name)) {
    throw new ThawError(
      'ERR_INVALID_OPTION',
      `${where}: ${JSON.stringify(name)} is not a valid function name (1–63 characters: a-z, 0-9, '-', '_', starting with a letter or digit)`,
    );
  }
  return name;
}
