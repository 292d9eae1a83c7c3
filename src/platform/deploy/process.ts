// Running a child process with a timeout and collecting its output (bounded).

import { spawn, type SpawnOptions } from 'node:child_process';
import { Readable } from 'node:stream';

export interface RunResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  /** What the child wrote on fd 3, when `resultFd` was asked for. */
  fd3: string;
  timedOut: boolean;
  /** Set when the process could not be started at all (e.g. ENOENT). */
  spawnError: NodeJS.ErrnoException | undefined;
  ms: number;
}

const MAX_CAPTURE = 1024 * 1024;

export function run(
  command: string,
  args: readonly string[],
  options: { cwd: string; env: NodeJS.ProcessEnv; timeoutMs: number; resultFd?: boolean },
): Promise<RunResult> {
  const started = performance.now();
  return new Promise((resolvePromise) => {
    const stdio: SpawnOptions['stdio'] = options.resultFd ? ['ignore', 'pipe', 'pipe', 'pipe'] : ['ignore', 'pipe', 'pipe'];
    const child = spawn(command, args, { cwd: options.cwd, env: options.env, stdio, detached: true });
    const out = { stdout: '', stderr: '', fd3: '' };
    const collect = (stream: Readable | null | undefined, key: keyof typeof out) => {
      stream?.setEncoding('utf8');
      stream?.on('data', (chunk: string) => {
        if (out[key].length < MAX_CAPTURE) out[key] += chunk;
      });
    };
    collect(child.stdout, 'stdout');
    collect(child.stderr, 'stderr');
    if (options.resultFd) collect(child.stdio[3] as Readable, 'fd3');
    let timedOut = false;
    let spawnError: NodeJS.ErrnoException | undefined;
    // detached: the child leads its own process group, so a timeout kills what it started too (npm's children).
    const killGroup = () => {
      try {
        if (child.pid !== undefined) process.kill(-child.pid, 'SIGKILL');
      } catch {
        child.kill('SIGKILL');
      }
    };
    const timer = setTimeout(() => {
      timedOut = true;
      killGroup();
    }, options.timeoutMs);
    const finish = (code: number | null, signal: NodeJS.Signals | null) => {
      clearTimeout(timer);
      resolvePromise({ code, signal, ...out, timedOut, spawnError, ms: performance.now() - started });
    };
    child.on('error', (err) => {
      spawnError = err;
      if (child.pid === undefined) finish(null, null); // never started: no 'close' to wait for
    });
    // Whatever the child left running in its group (user code may start processes) dies with it.
    child.on('exit', killGroup);
    child.on('close', finish);
  });
}
