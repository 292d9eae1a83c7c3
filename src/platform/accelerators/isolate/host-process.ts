// Starts and talks to the isolate host (host.ts): builds it into <dataDir>/runtime/isolate-host.cjs,
// runs it with plain `node` inside a bubblewrap container where bubblewrap works (no network, its own
// PID/IPC/UTS namespaces, every capability dropped, read-only system mounts, only node, isolated-vm
// and its own bundle visible) and as a plain child process otherwise (said in `isolation`). One host
// serves every isolate; if it dies, each of its isolates' exits settle and the next start spawns a
// new one.

import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, rename, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

import { build } from 'esbuild';
import { moduleFile } from '../../../core/module-file.ts';

import { ThawError } from '../../../core/errors.ts';
import { detectLeanContainers } from '../../sandbox/bubblewrap.ts';
import { coalescedWriter, frame, onMessages } from '../../../runtime/framing.ts';
import type { HostAnswer, HostRequest } from './protocol.ts';

const HOST_SOURCE = fileURLToPath(moduleFile('./host', import.meta.url));
const HOST_INSIDE = '/runtime/isolate-host.cjs';
const IVM_INSIDE = '/runtime/isolated-vm';

/** The isolated-vm package folder, or why there is none (it is a native addon: it may have failed to build). */
export function findIsolatedVm(): { dir: string } | { reason: string } {
  try {
    const require = createRequire(import.meta.url);
    const dir = dirname(require.resolve('isolated-vm/package.json'));
    // The native addon must have been built (npm ci compiles it); it is loaded by the host, never by thaw.
    if (!existsSync(join(dir, 'out', 'isolated_vm.node'))) return { reason: `isolated-vm's native addon was not built (${join(dir, 'out', 'isolated_vm.node')} is missing): run npm ci with g++ and make installed` };
    return { dir };
  } catch (error) {
    return { reason: `isolated-vm is not usable here: ${(error as Error).message.split('\n')[0]}` };
  }
}

type Request = HostRequest extends infer R ? (R extends { id: number } ? Omit<R, 'id'> : never) : never;

export interface IsolateHostOptions {
  dataDir: string;
  /** Run the host under bubblewrap when it works here (default true). */
  bubblewrap?: boolean;
  onWarning?: (message: string) => void;
}

export class IsolateHost {
  #child: ChildProcess | undefined;
  /** Writes to the running host's stdin, coalesced per turn of the event loop (one pipe carries every isolate's requests). */
  #write: ((chunk: string) => void) | undefined;
  #ready: Promise<void> | undefined;
  #nextId = 1;
  readonly #pending = new Map<number, (answer: HostAnswer) => void>();
  /** Settles when the current host process exits (each isolate's `exited` follows it). */
  #exited: Promise<void> = Promise.resolve();
  /** How the running host is isolated: 'bubblewrap' or 'process' (no container: said plainly). */
  isolation: 'bubblewrap' | 'process' | undefined;
  #closed = false;

  constructor(readonly options: IsolateHostOptions) {}

  /** Starts the host if it is not running; resolves once it listens. */
  start(): Promise<void> {
    if (this.#closed) return Promise.reject(new ThawError('ERR_INVALID_STATE', 'the isolate host is shut down'));
    this.#ready ??= this.#spawn().catch((error: Error) => {
      this.#ready = undefined;
      throw error;
    });
    return this.#ready;
  }

  /** Settles when the host process that is running now exits. */
  get exited(): Promise<void> {
    return this.#exited;
  }

  get pid(): number | undefined {
    return this.#child?.pid;
  }

  async request(req: Request): Promise<HostAnswer> {
    await this.start();
    const child = this.#child!;
    const id = this.#nextId++;
    return new Promise((resolvePromise) => {
      this.#pending.set(id, resolvePromise);
      this.#write!(frame({ ...req, id }));
    });
  }

  async close(): Promise<void> {
    this.#closed = true;
    const child = this.#child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    child.kill('SIGKILL');
    await this.#exited;
  }

  async #spawn(): Promise<void> {
    const ivm = findIsolatedVm();
    if ('reason' in ivm) throw new ThawError('ERR_SANDBOX_UNSUPPORTED', ivm.reason);
    const hostPath = await buildHost(this.options.dataDir);
    const container = this.options.bubblewrap === false ? undefined : await detectLeanContainers();
    let file: string;
    let args: string[];
    let env: Record<string, string>;
    if (container?.ok) {
      this.isolation = 'bubblewrap';
      file = container.bwrapPath!;
      args = [
        '--unshare-pid', '--unshare-ipc', '--unshare-uts', '--unshare-net', '--unshare-cgroup-try', '--die-with-parent', '--new-session',
        '--hostname', 'thaw-isolates', '--cap-drop', 'ALL',
        ...container.systemArgs!,
        '--dir', '/runtime',
        '--ro-bind', hostPath, HOST_INSIDE,
        '--ro-bind', ivm.dir, IVM_INSIDE,
        '--proc', '/proc', '--dev', '/dev',
        '--perms', '1777', '--size', String(16 * 1024 * 1024), '--tmpfs', '/tmp', '--chdir', '/tmp',
        '--', process.execPath, HOST_INSIDE,
      ];
      env = { THAW_ISOLATED_VM: IVM_INSIDE };
    } else {
      this.isolation = 'process';
      if (container && !container.ok) this.options.onWarning?.(`isolate host runs without a container: ${container.reason}`);
      file = process.execPath;
      args = [hostPath];
      env = { THAW_ISOLATED_VM: ivm.dir };
    }
    const child = spawn(file, args, { stdio: ['pipe', 'pipe', 'pipe'], env });
    this.#child = child;
    this.#write = coalescedWriter(child.stdin!);
    let stderr = '';
    child.stderr!.on('data', (d: Buffer) => {
      stderr = (stderr + d.toString()).slice(-4000);
    });
    child.stdin!.on('error', () => undefined);
    this.#exited = new Promise((resolveExit) => {
      child.on('exit', (code, signal) => {
        // Every request in flight ends with the host; later starts spawn a new one.
        const why = `the isolate host exited (${signal ?? `code ${code}`})${stderr.trim() ? `: ${stderr.trim().split('\n').slice(-3).join(' | ')}` : ''}`;
        for (const [id, answer] of this.#pending) answer({ id, ok: false, error: { kind: 'exit', message: why }, fatal: true });
        this.#pending.clear();
        if (this.#child === child) {
          this.#child = undefined;
          this.#ready = undefined;
        }
        if (!this.#closed && code !== 0) this.options.onWarning?.(why);
        resolveExit();
      });
    });
    await new Promise<void>((resolveReady, rejectReady) => {
      child.on('error', (error) => rejectReady(new ThawError('ERR_SANDBOX_START', `cannot start the isolate host: ${error.message}`)));
      void this.#exited.then(() => rejectReady(new ThawError('ERR_SANDBOX_START', `the isolate host exited before it was ready: ${stderr.trim() || 'no output'}`)));
      onMessages<HostAnswer>(
        child.stdout!,
        (answer) => {
          if (answer.ready) return resolveReady();
          const settle = this.#pending.get(answer.id);
          this.#pending.delete(answer.id);
          settle?.(answer);
        },
        (line) => this.options.onWarning?.(`isolate host said something that is not JSON: ${line.slice(0, 200)}`),
      );
    });
  }
}

const builds = new Map<string, Promise<string>>();

/** Bundles host.ts (with its prelude) into one file plain node runs; isolated-vm stays a run-time require. */
function buildHost(dataDir: string): Promise<string> {
  const outPath = resolve(dataDir, 'runtime', 'isolate-host.cjs');
  let pending = builds.get(outPath);
  if (!pending) {
    pending = (async () => {
      const result = await build({
        entryPoints: [HOST_SOURCE],
        bundle: true,
        platform: 'node',
        format: 'cjs',
        target: 'node20',
        write: false,
        external: ['isolated-vm'],
        logLevel: 'silent',
        banner: { js: '// thaw isolate host: generated from src/platform/accelerators/isolate/host.ts by esbuild; do not edit.' },
      });
      await mkdir(dirname(outPath), { recursive: true, mode: 0o755 });
      const tmp = `${outPath}.${process.pid}.${Date.now()}.tmp`;
      await writeFile(tmp, result.outputFiles[0]!.contents, { mode: 0o644 });
      await rename(tmp, outPath);
      return outPath;
    })();
    pending.catch(() => builds.delete(outPath));
    builds.set(outPath, pending);
  }
  return pending;
}

export const ISOLATE_HOST_PATHS = { source: HOST_SOURCE, inside: join(HOST_INSIDE) };
