// `thaw bench starts|vm-restore [options]`: runs a platform benchmark from bench/ (measured for
// real: every start kind of every example, or microVM restores); `starts --export FILE` writes the
// start-costs file `thaw sim` reads.

import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { ThawError } from '../../core/errors.ts';

export const BENCH_HELP = `thaw bench starts [--runs N] [--export FILE] [--isolation MODE]
                              time to first response of every start kind (cold, snapshot, zygote,
                              resumed, warm) for the examples; --export writes the start costs that
                              thaw sim --start-costs FILE --start-path KIND reads
thaw bench vm-restore [--runs N] [--examples a,b] [--export FILE] [--export-mode MODE]
                              microVMs: cold boot vs lazy, REAP and FaaSnap restores, page cache
                              dropped before each (needs QEMU); --export writes start costs (cold
                              boot vs MODE restore, default faasnap) for thaw sim --start-costs`;

const SCRIPTS: Record<string, string> = { starts: 'starts.ts', 'vm-restore': 'vm-restore.ts' };

export function benchCommand(argv: string[]): number {
  const [what, ...rest] = argv;
  const file = what === undefined ? undefined : SCRIPTS[what];
  if (!file) throw new ThawError('ERR_INVALID_OPTION', `thaw bench: expected ${Object.keys(SCRIPTS).join(' or ')}, got '${what ?? ''}' (see 'thaw help')`);
  const script = fileURLToPath(new URL(`../../../bench/${file}`, import.meta.url));
  const r = spawnSync(process.execPath, ['--import', 'tsx', script, ...rest], { stdio: 'inherit' });
  return r.status ?? 1;
}
