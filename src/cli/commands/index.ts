// Every thaw command: its name, one line for `thaw --help`, and its module, loaded only when the
// command runs or its own --help is asked for, so `thaw --help` imports none of them (a command's
// module pulls in the platform, the simulator, esbuild, SQLite).

export interface CommandContext {
  /** --debug: stacks of errors (thaw serve: in its log too). */
  debug: boolean;
}

export interface LoadedCommand {
  /** The command's usage and options: `thaw NAME --help`. */
  help: string;
  run(argv: string[], context: CommandContext): Promise<number> | number;
}

export interface CommandEntry {
  /** As typed: 'serve', 'sim sweep'. */
  name: string;
  summary: string;
  /** Talks to a running thaw serve (--url, --token, --json). */
  client?: boolean;
  load(): Promise<LoadedCommand>;
}

/** A command whose help text and function are the exports `help` and `run` of the module `load` imports. */
function lazy<M>(load: () => Promise<M>, help: keyof M, run: keyof M): () => Promise<LoadedCommand> {
  return async () => {
    const m = await load();
    return { help: m[help] as string, run: m[run] as LoadedCommand['run'] };
  };
}

const client = () => import('./client.ts');

export const COMMANDS: readonly CommandEntry[] = [
  { name: 'serve', summary: 'the platform: HTTP gateway + invoker', load: lazy(() => import('./serve.ts'), 'SERVE_HELP', 'serveCommand') },
  { name: 'deploy', summary: 'deploy a function folder (package.json + handler)', client: true, load: lazy(client, 'DEPLOY_HELP', 'deployCommand') },
  { name: 'invoke', summary: 'invoke a function, synchronously or --async', client: true, load: lazy(client, 'INVOKE_HELP', 'invokeCommand') },
  { name: 'invocation', summary: "an invocation's record: status, result, phases, logs (--wait)", client: true, load: lazy(client, 'INVOCATION_HELP', 'invocationCommand') },
  { name: 'ls', summary: 'deployed functions', client: true, load: lazy(client, 'LS_HELP', 'lsCommand') },
  { name: 'logs', summary: 'stdout/stderr of the latest invocations (--follow)', client: true, load: lazy(client, 'LOGS_HELP', 'logsCommand') },
  { name: 'stats', summary: "instances and memory, or a function's latencies by start kind", client: true, load: lazy(client, 'STATS_HELP', 'statsCommand') },
  { name: 'alias', summary: 'point an alias at versions by percent; list or delete aliases', client: true, load: lazy(client, 'ALIAS_HELP', 'aliasCommand') },
  { name: 'evict', summary: "stop a function's idle instances, so its next invocation starts cold", client: true, load: lazy(client, 'EVICT_HELP', 'evictCommand') },
  { name: 'dlq', summary: 'dead letters of async invocations: ls, redrive', client: true, load: lazy(client, 'DLQ_HELP', 'dlqCommand') },
  { name: 'rm', summary: 'remove a function', client: true, load: lazy(client, 'RM_HELP', 'rmCommand') },
  { name: 'sim', summary: 'one simulation run of a keep-alive policy over a trace', load: lazy(() => import('./sim.ts'), 'SIM_HELP', 'simCommand') },
  { name: 'sim sweep', summary: 'policies × memory sizes, on every core', load: lazy(() => import('./sweep.ts'), 'SWEEP_HELP', 'sweepCommand') },
  { name: 'curve', summary: 'hit-ratio curve from reuse distances', load: lazy(() => import('./curve.ts'), 'CURVE_HELP', 'curveCommand') },
  { name: 'replay', summary: 'a trace slice through a real thaw serve, beside the simulator', load: lazy(() => import('./replay.ts'), 'REPLAY_HELP', 'replayCommand') },
  { name: 'bench', summary: 'platform benchmarks: starts, vm-restore', load: lazy(() => import('./bench.ts'), 'BENCH_HELP', 'benchCommand') },
];

/** The command argv names, and the rest of argv: `sim sweep` is one command. */
export function findCommand(argv: string[]): { entry: CommandEntry; rest: string[] } | undefined {
  const two = COMMANDS.find((c) => c.name === `${argv[0]} ${argv[1]}`);
  if (two) return { entry: two, rest: argv.slice(2) };
  const one = COMMANDS.find((c) => c.name === argv[0]);
  return one ? { entry: one, rest: argv.slice(1) } : undefined;
}
