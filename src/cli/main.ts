// The `thaw` command: dispatches to subcommands and turns every error into one line on stderr
// (`thaw: message — what to do`) and the exit code of its class (core/errors.ts's ERRORS); the
// stack only with --debug (or THAW_DEBUG=1).

import { createRequire } from 'node:module';
import { ERRORS, ThawError, toThawError } from '../core/errors.ts';
import { BENCH_HELP, benchCommand } from './commands/bench.ts';
import { aliasCommand, CLIENT_HELP, deployCommand, dlqCommand, evictCommand, invokeCommand, logsCommand, lsCommand, rmCommand, statsCommand } from './commands/client.ts';
import { CURVE_HELP, curveCommand } from './commands/curve.ts';
import { SERVE_HELP, serveCommand } from './commands/serve.ts';
import { SIM_HELP, simCommand } from './commands/sim.ts';
import { SWEEP_HELP, sweepCommand } from './commands/sweep.ts';

const HELP = `thaw — serverless functions that do not start cold, and a simulator that shows why

Usage:
${SERVE_HELP}

${CLIENT_HELP}

${SIM_HELP}

${SWEEP_HELP}

${CURVE_HELP}

${BENCH_HELP}

  thaw help | --help    this text          thaw --version    the version
  --debug (any command) print the stack of an error (also THAW_DEBUG=1); thaw serve logs the
                        stacks of its internal errors
  exit codes: 0 ok, 1 failed (the function, the run), 2 bad input (nothing changed), 3 not found,
  4 conflict, 5 not allowed, 6 unavailable (server, port, system feature), 70 a bug in thaw
`;

export async function main(args: string[]): Promise<number> {
  const debug = args.includes('--debug') || process.env.THAW_DEBUG === '1';
  const argv = args.filter((a) => a !== '--debug');
  const [command, ...rest] = argv;
  try {
    switch (command) {
      case 'sim':
        return rest[0] === 'sweep' ? await sweepCommand(rest.slice(1)) : await simCommand(rest);
      case 'curve':
        return await curveCommand(rest);
      case 'bench':
        return benchCommand(rest);
      case 'serve':
        return await serveCommand(rest, { debug });
      case 'deploy':
        return await deployCommand(rest);
      case 'invoke':
        return await invokeCommand(rest);
      case 'ls':
        return await lsCommand(rest);
      case 'logs':
        return await logsCommand(rest);
      case 'alias':
        return await aliasCommand(rest);
      case 'evict':
        return await evictCommand(rest);
      case 'dlq':
        return await dlqCommand(rest);
      case 'rm':
        return await rmCommand(rest);
      case 'stats':
        return await statsCommand(rest);
      case '--version':
      case 'version':
        process.stdout.write(`${createRequire(import.meta.url)('../../package.json').version}\n`);
        return 0;
      case undefined:
      case 'help':
      case '--help':
      case '-h':
        process.stdout.write(HELP);
        return command === undefined ? 2 : 0;
      default:
        throw new ThawError('ERR_INVALID_OPTION', `unknown command '${command}' (see 'thaw help')`);
    }
  } catch (error) {
    return reportError(error, debug);
  }
}

/** One line: the message and, when its code has one, what to do; the exit code of its class. */
export function reportError(error: unknown, debug: boolean): number {
  const e = toThawError(error);
  const hint = (ERRORS[e.code] as { hint?: string }).hint;
  process.stderr.write(`thaw: ${e.message}${hint && !e.message.includes(hint) ? ` — ${hint}` : ''}\n`);
  if (debug) process.stderr.write(`${stackOf(e)}\n`);
  return e.exitCode;
}

function stackOf(error: Error): string {
  const lines = [error.stack ?? String(error)];
  for (let cause = error.cause; cause !== undefined; cause = (cause as Error).cause) lines.push(`caused by: ${(cause as Error)?.stack ?? String(cause)}`);
  return lines.join('\n');
}
