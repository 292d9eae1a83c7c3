// `thaw bench starts [--runs N] [--export FILE]`: runs bench/starts.ts (every start kind of every
// example, measured for real) and optionally writes the start-costs file `thaw sim` reads.

import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { ThawError } from '../../core/errors.ts';

export const BENCH_HELP = `thaw bench starts [--runs N] [--export FILE] [--isolation MODE]
                              time to first response of every start kind (cold, snapshot, zygote,
                              resumed, warm) for the examples; --export writes the start costs that
                              thaw sim --start-costs FILE --start-path KIND reads`;

export function benchCommand(argv: string[]): number {
  const [what, ...rest] = argv;
  if (what !== 'starts') throw new ThawError('ERR_INVALID_OPTION', `thaw bench: expected 'starts', got '${what ?? ''}' (see 'thaw help')`);
  const script = fileURLToPath(new URL('../../../bench/starts.ts', import.meta.url));
  const r = spawnSync(process.execPath, ['--import', 'tsx', script, ...rest], { stdio: 'inherit' });
  return r.status ?? 1;
}
