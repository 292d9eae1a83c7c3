// The `thaw` command: dispatches to subcommands and turns every error into one line on stderr
// (`thaw: message — what to do`) and the exit code of its class (core/errors.ts's ERRORS); the
// stack only with --debug (or THAW_DEBUG=1). It imports a command's module only to run it (or to
// print its --help), so `thaw --help` starts about as fast as node itself.

import { createRequire } from 'node:module';
import { ERRORS, ThawError, toThawError } from '../core/errors.ts';
import { COMMANDS, findCommand } from './commands/index.ts';

const HELP = `thaw — serverless functions that do not start cold, and a simulator that shows why

Usage: thaw COMMAND [options]      thaw COMMAND --help: its usage and options

${COMMANDS.map((c) => `  ${c.name.padEnd(12)} ${c.summary}`).join('\n')}

  help [COMMAND]  this text, or a command's       --version  the version
  --debug         with any command: print the stack of an error (also THAW_DEBUG=1);
                  thaw serve --debug logs the stacks of its internal errors
Client commands take --url URL (default $THAW_URL or http://127.0.0.1:8080), --token TOKEN
(default $THAW_TOKEN) and --json (machine-readable output on stdout).
Exit codes: 0 ok, 1 failed (the function, the run), 2 bad input (nothing was changed), 3 not found,
4 conflict, 5 not allowed, 6 unavailable (server, port, system feature), 70 a bug in thaw.
Every error code: docs/errors.md.
`;

/** Where main() writes help and errors (a test passes its own). */
export interface Io {
  out(text: string): void;
  err(text: string): void;
}

const PROCESS_IO: Io = { out: (text) => process.stdout.write(text), err: (text) => process.stderr.write(text) };

export async function main(args: string[], io: Io = PROCESS_IO): Promise<number> {
  const debug = args.includes('--debug') || process.env.THAW_DEBUG === '1';
  const argv = args.filter((a) => a !== '--debug');
  try {
    const [first] = argv;
    if (first === undefined) {
      io.err(HELP);
      return 2;
    }
    if (first === '--version' || first === 'version') {
      io.out(`${createRequire(import.meta.url)('../../package.json').version}\n`);
      return 0;
    }
    if (first === 'help' || first === '--help' || first === '-h') return await printHelp(argv.slice(1), io);
    const found = findCommand(argv);
    if (!found) throw new ThawError('ERR_INVALID_OPTION', `unknown command '${first}' (see 'thaw --help')`);
    const command = await found.entry.load();
    if (wantsHelp(found.rest)) {
      io.out(`${command.help}\n`);
      return 0;
    }
    return await command.run(found.rest, { debug });
  } catch (error) {
    return reportError(error, debug, io);
  }
}

/** thaw help [COMMAND]. */
async function printHelp(argv: string[], io: Io): Promise<number> {
  if (argv.length === 0) {
    io.out(HELP);
    return 0;
  }
  const found = findCommand(argv);
  if (!found) throw new ThawError('ERR_INVALID_OPTION', `unknown command '${argv.join(' ')}' (see 'thaw --help')`);
  io.out(`${(await found.entry.load()).help}\n`);
  return 0;
}

/** --help or -h among the options (not after `--`). */
function wantsHelp(argv: string[]): boolean {
  const end = argv.indexOf('--');
  return (end === -1 ? argv : argv.slice(0, end)).some((a) => a === '--help' || a === '-h');
}

/** One line: the message and, when its code has one, what to do; the exit code of its class. */
export function reportError(error: unknown, debug: boolean, io: Io = PROCESS_IO): number {
  const e = toThawError(error);
  const hint = (ERRORS[e.code] as { hint?: string }).hint;
  io.err(`thaw: ${e.message}${hint && !e.message.includes(hint) ? ` — ${hint}` : ''}\n`);
  if (debug) io.err(`${stackOf(e)}\n`);
  return e.exitCode;
}

function stackOf(error: Error): string {
  const lines = [error.stack ?? String(error)];
  for (let cause = error.cause; cause !== undefined; cause = (cause as Error).cause) lines.push(`caused by: ${(cause as Error)?.stack ?? String(cause)}`);
  return lines.join('\n');
}
