// The `thaw` command: dispatches to subcommands and turns thaw's errors into clear messages.

import { createRequire } from 'node:module';
import { ThawError } from '../core/errors.ts';
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
`;

export async function main(argv: string[]): Promise<number> {
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
        return await serveCommand(rest);
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
    if (error instanceof ThawError) {
      process.stderr.write(`thaw: ${error.message}\n`);
      return 2;
    }
    throw error;
  }
}
