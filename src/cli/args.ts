// Command-line option parsing on top of node:util's parseArgs, with errors that name the option.

import { parseArgs, type ParseArgsConfig } from 'node:util';
import { ThawError } from '../core/errors.ts';

export type OptionSpec = NonNullable<ParseArgsConfig['options']>;

export function parseOptions<T extends OptionSpec>(argv: string[], options: T, command: string) {
  try {
    return parseArgs({ args: argv, options, strict: true, allowPositionals: true });
  } catch (error) {
    throw new ThawError('ERR_INVALID_OPTION', `thaw ${command}: ${(error as Error).message.replace(/\. To specify a positional.*$/s, '')} (see 'thaw ${command} --help')`);
  }
}

/** The value of a numeric option, checked. */
export function numberOption(value: string | undefined, name: string, fallback: number, check: (n: number) => boolean = Number.isFinite): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!check(n)) throw new ThawError('ERR_INVALID_OPTION', `option ${name}: invalid value '${value}'`);
  return n;
}
