// Small helpers for running the system tools the sandboxes are made with (bwrap, ldd, ip, pasta):
// find one on PATH, run it with a clean environment and collect what it says.

import { type ChildProcess, spawn } from 'node:child_process';
import { constants as fsConstants } from 'node:fs';
import { access } from 'node:fs/promises';
import { delimiter, join } from 'node:path';

export interface CapturedRun {
  /** Exit status; null when it could not be spawned or was killed. */
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `file args` (PATH /usr/sbin:/usr/bin:/sbin:/bin, C locale), feeding `input` to its stdin when given. */
export function runCapture(file: string, args: string[], timeoutMs: number, input?: string): Promise<CapturedRun> {
  return new Promise((resolvePromise) => {
    let child: ChildProcess;
    try {
      child = spawn(file, args, {
        stdio: [input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
        env: { PATH: '/usr/sbin:/usr/bin:/sbin:/bin', LC_ALL: 'C' },
        timeout: timeoutMs,
      });
    } catch (err) {
      resolvePromise({ code: null, stdout: '', stderr: String(err) });
      return;
    }
    let stdout = '';
    let stderr = '';
    child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    if (input !== undefined) {
      child.stdin!.on('error', () => undefined);
      child.stdin!.end(input);
    }
    child.on('error', (err) => resolvePromise({ code: null, stdout, stderr: stderr + String(err) }));
    child.on('close', (code) => resolvePromise({ code, stdout, stderr }));
  });
}

/** The first executable `name` in PATH (then in `extraDirs`), or undefined. */
export async function findOnPath(name: string, extraDirs: string[] = []): Promise<string | undefined> {
  for (const dir of [...(process.env.PATH ?? '/usr/local/bin:/usr/bin:/bin').split(delimiter), ...extraDirs]) {
    if (!dir) continue;
    const candidate = join(dir, name);
    try {
      await access(candidate, fsConstants.X_OK);
      return candidate;
    } catch {
      // next
    }
  }
  return undefined;
}
