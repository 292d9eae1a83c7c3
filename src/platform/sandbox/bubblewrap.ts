// SOCK-style lean containers made with bubblewrap (their backend is lean-container.ts). Only the
// isolation a function needs: new pid, ipc, uts, cgroup and net namespaces (a function that may use
// the network gets a network namespace of its own with egress only, made by netns.ts and joined with
// nsenter before bwrap starts; without one on this machine it shares the host's, said loudly); a
// root filesystem holding nothing but the node binary and the libraries it links (read-only), the
// runtime agent at /runtime/agent.cjs and the function's code at /code (both read-only), a fresh
// /proc, a minimal /dev and a private, size-limited /tmp; every capability dropped (but the two
// needed to switch to the unprivileged user, which the agent does before the function's code runs);
// and the cgroup limits of the process backend, entered before bwrap starts.
//
// The function's environment goes through the process environment (sh → bwrap → node), not through
// --setenv: arguments are readable by every user in /proc/<pid>/cmdline, environments are not.

import { spawn } from 'node:child_process';
import { constants as fsConstants, openSync } from 'node:fs';
import { access, lstat, readFile, readlink, readdir, realpath } from 'node:fs/promises';
import { dirname, isAbsolute, join, resolve } from 'node:path';

import type { CgroupDriver } from './cgroups.ts';
import { SandboxError } from './errors.ts';
import type { FunctionNetwork, NetworkNamespaces } from './netns.ts';
import { findOnPath, runCapture } from './run.ts';
import { seccompFilterFile } from './seccomp.ts';
import { agentMarksInvocations, agentServesConcurrently, concurrencyArguments, heapBound, type Launcher, nodeArguments, type RuntimeEntry, runtimeEnvironment, type RuntimeHandle, type SpawnCommand } from './launcher.ts';
import { type ProcessBackendOptions, type ResolvedProcessOptions, resolveProcessOptions } from './process.ts';
import { deferredTimer, RuntimeProcess, signalName } from './runtime-process.ts';
import type { IsolationReport, SandboxSpec, ZygoteBoot, ZygoteCapableBackend } from './types.ts';

export const AGENT_PATH_INSIDE = '/runtime/agent.cjs';
export const CODE_DIR_INSIDE = '/code';
/** Where a zygote's package folder is mounted, read-only (added). */
export const ZYGOTE_DIR_INSIDE = '/zygote';
/** Where a V8 snapshot's blob is mounted, read-only, for a restore (added). */
export const SNAPSHOT_BLOB_INSIDE = '/snapshot/function.blob';

/** Files outside the node binary's own libraries that a node function may reasonably need. Public data only. */
const EXTRA_READ_ONLY = [
  '/etc/ld.so.cache',
  '/etc/ssl/certs',
  '/etc/ssl/openssl.cnf',
  '/etc/ca-certificates',
  '/usr/share/ca-certificates',
  '/usr/share/zoneinfo',
  '/etc/localtime',
  '/etc/hosts',
  '/etc/resolv.conf',
  '/etc/nsswitch.conf',
  '/etc/host.conf',
  '/etc/gai.conf',
];

export interface LeanContainerOptions extends ProcessBackendOptions {
  /** Result of detectLeanContainers() (required: the backend is only made where it works). */
  detection: LeanContainerDetection & { ok: true };
  /** Size of the private /tmp, MB. Default 64. (Its pages count against the memory limit too.) */
  tmpSizeMb?: number;
  /**
   * Network namespaces for functions that may use the network (the backend closes them with itself).
   * null or absent: such functions share the host's network namespace.
   */
  networks?: NetworkNamespaces | null;
  /** Stems kept waiting for cold instances (stem-pool.ts); 0 or absent: none. */
  stemPoolSize?: number;
}

export interface LeanContainerDetection {
  ok: boolean;
  bwrapPath?: string;
  /** bwrap's version line. */
  version?: string;
  /** The read-only system mounts (bwrap arguments) that give node what it needs. */
  systemArgs?: string[];
  /** Why lean containers cannot be used here, when !ok. */
  reason?: string;
}

// ------------------------------------------------------------------ the system mounts

/**
 * Walks `path` from the root, recording every symlink met (location → target, as written) so it
 * can be recreated inside, and returns the real path it leads to.
 */
export async function resolveWithSymlinks(path: string, symlinks: Map<string, string>, depth = 0): Promise<string> {
  if (depth > 40) throw new Error(`too many levels of symbolic links resolving ${path}`);
  const parts = resolve(path).split('/').filter(Boolean);
  let current = '/';
  for (let i = 0; i < parts.length; i++) {
    const next = join(current, parts[i]!);
    const st = await lstat(next);
    if (st.isSymbolicLink()) {
      const target = await readlink(next);
      symlinks.set(next, target);
      return resolveWithSymlinks(join(resolve(current, target), ...parts.slice(i + 1)), symlinks, depth + 1);
    }
    current = next;
  }
  return current;
}

/** The shared libraries (and the program interpreter) `ldd` lists for a binary. */
export function parseLdd(output: string): string[] {
  const libs = new Set<string>();
  for (const line of output.split('\n')) {
    const arrow = /=>\s+(\/\S+)/.exec(line);
    if (arrow) {
      libs.add(arrow[1]!);
      continue;
    }
    const bare = /^\s*(\/\S+)\s+\(0x[0-9a-f]+\)/.exec(line);
    if (bare) libs.add(bare[1]!);
  }
  return [...libs];
}

function isUnder(path: string, dir: string): boolean {
  return path === dir || path.startsWith(dir.endsWith('/') ? dir : `${dir}/`);
}

/**
 * bwrap arguments mounting, read-only, exactly what `nodePath` needs to run: the binary itself, the
 * directories of the libraries it links (so the C library can still load its own modules, e.g. for
 * name resolution), the symlinks on the way to each, and a few public data files.
 */
export async function planSystemMounts(nodePath: string): Promise<string[]> {
  const symlinks = new Map<string, string>();
  const nodeReal = await resolveWithSymlinks(nodePath, symlinks);
  const ldd = await runCapture('ldd', [nodeReal], 10_000);
  let libs = parseLdd(ldd.stdout);
  if (libs.length === 0 && !/not a dynamic executable|statically linked/.test(ldd.stdout + ldd.stderr)) {
    // No ldd: bind the usual library directories that exist.
    libs = [];
    for (const dir of ['/lib', '/lib64', '/usr/lib', '/usr/lib64', '/usr/local/lib']) {
      try {
        await access(dir, fsConstants.R_OK);
        libs.push(join(dir, '.keep-dir'));
      } catch {
        // absent
      }
    }
  }
  const fileBinds = new Set<string>([nodeReal]);
  const dirBinds = new Set<string>();
  for (const lib of libs) {
    if (lib.endsWith('/.keep-dir')) {
      dirBinds.add(await resolveWithSymlinks(dirname(lib), symlinks));
      continue;
    }
    const real = await resolveWithSymlinks(lib, symlinks);
    dirBinds.add(dirname(real));
  }
  // Drop binds already covered by a bound directory.
  const dirs = [...dirBinds].sort((a, b) => a.length - b.length).filter((d, i, all) => !all.slice(0, i).some((o) => isUnder(d, o)));
  const files = [...fileBinds].filter((f) => !dirs.some((d) => isUnder(f, d)));
  const args: string[] = [];
  const mounts: string[] = [...dirs, ...files];
  const links = [...symlinks].sort(([a], [b]) => a.length - b.length).filter(([at]) => !(dirs.some((d) => isUnder(at, d)) || files.includes(at)));
  const extras = EXTRA_READ_ONLY.filter((extra) => !dirs.some((d) => isUnder(extra, d)));
  // bwrap makes missing parent directories 0700, which the unprivileged user could not cross:
  // make each one first, 0755.
  args.push(...parentDirArgs([...mounts, ...links.map(([at]) => at), ...extras], new Set([...mounts, ...links.map(([at]) => at)])));
  for (const d of dirs) args.push('--ro-bind', d, d);
  for (const f of files) args.push('--ro-bind', f, f);
  for (const [at, target] of links) args.push('--symlink', target, at);
  for (const extra of extras) args.push('--ro-bind-try', extra, extra);
  return args;
}

/** `--perms 0755 --dir` for every ancestor directory of the given paths (outermost first), except those mounted or linked. */
export function parentDirArgs(paths: string[], mountedOrLinked: Set<string>): string[] {
  const parents = new Set<string>();
  for (const p of paths) {
    for (let dir = dirname(p); dir !== '/' && dir !== '.'; dir = dirname(dir)) parents.add(dir);
  }
  const args: string[] = [];
  for (const dir of [...parents].sort((a, b) => a.split('/').length - b.split('/').length || a.localeCompare(b))) {
    if ([...mountedOrLinked].some((m) => isUnder(dir, m))) continue;
    args.push('--perms', '0755', '--dir', dir);
  }
  return args;
}

// ------------------------------------------------------------------ detection

const detections = new Map<string, Promise<LeanContainerDetection>>();

/**
 * Whether lean containers work here: bwrap is present and a trial container (every namespace and
 * mount the backend uses) runs node and talks back on fd 3. Run once per bwrap/node pair (cached).
 */
export function detectLeanContainers(options: { bwrapPath?: string; nodePath?: string } = {}): Promise<LeanContainerDetection> {
  const nodePath = options.nodePath ?? process.execPath;
  const key = `${options.bwrapPath ?? ''}\n${nodePath}`;
  let found = detections.get(key);
  if (!found) {
    found = detectOnce(options.bwrapPath, nodePath);
    detections.set(key, found);
  }
  return found;
}

async function detectOnce(bwrapOption: string | undefined, nodePath: string): Promise<LeanContainerDetection> {
  if (process.platform !== 'linux') return { ok: false, reason: 'bubblewrap containers need Linux' };
  const bwrapPath = bwrapOption ?? (await findOnPath('bwrap'));
  if (!bwrapPath) return { ok: false, reason: 'bwrap (bubblewrap) is not installed (not found on PATH)' };
  const versionRun = await runCapture(bwrapPath, ['--version'], 10_000);
  if (versionRun.code !== 0) return { ok: false, bwrapPath, reason: `${bwrapPath} --version failed: ${versionRun.stderr.trim() || `exit ${versionRun.code}`}` };
  const version = versionRun.stdout.trim();
  let systemArgs: string[];
  try {
    systemArgs = await planSystemMounts(nodePath);
  } catch (err) {
    return { ok: false, bwrapPath, version, reason: `cannot work out what node needs mounted: ${(err as Error).message}` };
  }
  const trial = await trialRun(bwrapPath, nodePath, systemArgs);
  if (!trial.ok) return { ok: false, bwrapPath, version, reason: `a trial container failed: ${trial.reason}` };
  return { ok: true, bwrapPath, version, systemArgs };
}

function trialRun(bwrapPath: string, nodePath: string, systemArgs: string[]): Promise<{ ok: true } | { ok: false; reason: string }> {
  const args = [
    ...namespaceArgs(false),
    '--hostname',
    'thaw-probe',
    '--cap-drop',
    'ALL',
    ...rootFilesystemArgs(systemArgs, 1024 * 1024),
    '--chdir',
    '/tmp',
    '--',
    nodePath,
    '-e',
    "require('fs').writeSync(3, 'thaw-ok:' + require('os').hostname())",
  ];
  return new Promise((resolvePromise) => {
    const child = spawn(bwrapPath, args, { stdio: ['ignore', 'ignore', 'pipe', 'pipe'], env: {}, timeout: 20_000 });
    let said = '';
    let stderr = '';
    (child.stdio[3] as NodeJS.ReadableStream).on('data', (d: Buffer) => (said += d.toString()));
    (child.stdio[3] as NodeJS.ReadableStream).on('error', () => undefined);
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', (err) => resolvePromise({ ok: false, reason: String(err) }));
    child.on('close', (code, signal) => {
      if (code === 0 && said === 'thaw-ok:thaw-probe') resolvePromise({ ok: true });
      else {
        const why = stderr.trim().split('\n').slice(-3).join(' | ') || (signal ? `killed by ${signal}` : `exit ${code}`);
        resolvePromise({ ok: false, reason: said ? `${why} (fd 3 said ${JSON.stringify(said)})` : `${why} (nothing arrived on fd 3)` });
      }
    });
  });
}

/**
 * A container's root: the system mounts, a fresh /proc, a minimal /dev and a private /tmp of
 * `tmpSizeBytes` — the same for the trial container and every sandbox, so the trial tests them.
 */
function rootFilesystemArgs(systemArgs: readonly string[], tmpSizeBytes: number): string[] {
  return [...systemArgs, '--proc', '/proc', '--dev', '/dev', '--perms', '1777', '--size', String(tmpSizeBytes), '--tmpfs', '/tmp'];
}

function namespaceArgs(network: boolean): string[] {
  const args = ['--unshare-pid', '--unshare-ipc', '--unshare-uts', '--unshare-cgroup-try'];
  if (!network) args.push('--unshare-net');
  // The container dies with bwrap and bwrap with thaw; setsid stops TIOCSTI injection.
  args.push('--die-with-parent', '--new-session');
  return args;
}

/** A hostname from the function's name: [a-z0-9-], at most 63 characters. */
export function containerHostname(functionName: string): string {
  const cleaned = functionName
    .toLowerCase()
    .replace(/[^a-z0-9-]+/g, '-')
    .replace(/^-+|-+$/g, '');
  return `fn-${cleaned || 'function'}`.slice(0, 63).replace(/-+$/, '');
}

// ------------------------------------------------------------------ the sandbox

export interface ResolvedLeanOptions extends ResolvedProcessOptions {
  bwrapPath: string;
  systemArgs: string[];
  tmpSizeBytes: number;
  networks?: NetworkNamespaces | null;
}

/**
 * The seccomp filter for a bwrap command: bwrap reads it from fd 4 (a fresh open of the filter
 * file, spawned as the child's fd 4) and installs it just before it execs node.
 */
export function seccompOnFd4(dir: string): { args: string[]; extraFds: number[] } {
  const filter = seccompFilterFile(dir);
  return filter ? { args: ['--seccomp', '4'], extraFds: [openSync(filter, 'r')] } : { args: [], extraFds: [] };
}

/**
 * bubblewrap around node (see the top of this file). Its RuntimeEntry decides what node runs: the
 * agent, a zygote (its package folder read-only at /zygote), or a V8 snapshot's restore (the blob
 * read-only at /snapshot/function.blob; node reads it as root before the snapshot agent drops to
 * the function's user).
 */
export class BubblewrapLauncher implements Launcher {
  readonly backend = 'container';
  /** The network namespace it runs in (a function with network access, where namespaces work). */
  #network: FunctionNetwork | undefined;

  constructor(
    private readonly spec: SandboxSpec,
    private readonly lean: ResolvedLeanOptions,
    readonly entry: RuntimeEntry,
  ) {
    if (entry.kind === 'snapshot' && !isAbsolute(entry.blobPath)) throw new TypeError(`blobPath must be absolute, got ${JSON.stringify(entry.blobPath)}`);
  }

  /** The bwrap arguments of this sandbox (without the command), for inspection and tests. */
  bwrapArgs(): string[] {
    const args = [...namespaceArgs(this.spec.network), '--hostname', containerHostname(this.spec.functionName), '--cap-drop', 'ALL'];
    // Only to switch to the unprivileged user; setuid() clears them before any function code runs.
    if (this.lean.runAs) args.push('--cap-add', 'CAP_SETUID', '--cap-add', 'CAP_SETGID');
    args.push(
      ...rootFilesystemArgs(this.lean.systemArgs, this.lean.tmpSizeBytes),
      '--perms',
      '0755',
      '--dir',
      dirname(AGENT_PATH_INSIDE),
      '--ro-bind',
      this.lean.agentPath,
      AGENT_PATH_INSIDE,
      '--ro-bind',
      this.spec.codeDir,
      CODE_DIR_INSIDE,
    );
    // A zygote: its packages, read-only. Its /code is a bind of its own host folder, empty now; a
    // bind shows what the host writes there later (the function's bundle, just before specialising).
    if (this.entry.kind === 'zygote') args.push('--ro-bind', this.entry.boot.packageDir, ZYGOTE_DIR_INSIDE);
    args.push('--chdir', CODE_DIR_INSIDE);
    if (this.entry.kind === 'snapshot') args.push('--perms', '0755', '--dir', dirname(SNAPSHOT_BLOB_INSIDE), '--ro-bind', this.entry.blobPath, SNAPSHOT_BLOB_INSIDE);
    return args;
  }

  /** The network namespace it runs in, once started (for inspection). */
  get network(): FunctionNetwork | undefined {
    return this.#network;
  }

  marksInvocations(): boolean {
    return agentMarksInvocations(this.entry);
  }

  servesConcurrently(): boolean {
    return agentServesConcurrently(this.entry);
  }

  bundlePathForAgent(): string {
    return `${CODE_DIR_INSIDE}/bundle.cjs`;
  }

  /** Nothing on the host (/tmp is a tmpfs inside the container) but a network namespace, if it may use the network. */
  async prepare(): Promise<void> {
    if (this.spec.network && this.lean.networks) this.#network = await this.lean.networks.acquire();
  }

  /** If it took a namespace, the pool makes the next one (after the start, not during it). */
  afterStart(): void {
    if (this.spec.network) this.lean.networks?.replenish();
  }

  async release(): Promise<void> {
    const network = this.#network;
    this.#network = undefined;
    if (network) await this.lean.networks!.release(network);
  }

  command(handle: RuntimeHandle): SpawnCommand {
    const node = this.nodeCommand(handle);
    return this.bwrapCommand([node.file, ...node.args]);
  }

  /** node with the agent (or a zygote, a restore), as run inside the container, in its environment. */
  nodeCommand(handle: RuntimeHandle): SpawnCommand {
    const paths = { agentPath: AGENT_PATH_INSIDE, bundlePath: this.bundlePathForAgent(), zygoteDir: ZYGOTE_DIR_INSIDE, blobPath: SNAPSHOT_BLOB_INSIDE };
    // No /sys in the container: node sizes its heap from the machine's memory, as thaw's own node does.
    const heap = heapBound(this.lean.cgroups?.features.memory === true, this.spec.memoryMb);
    const args = [...nodeArguments(this.entry, paths, this.spec.memoryMb, handle.logNonce, this.lean.runAs, heap), ...concurrencyArguments(handle)];
    return { file: this.lean.nodePath, args, env: { ...runtimeEnvironment(this.spec, '/tmp'), PATH: '/usr/bin:/bin' }, cwd: CODE_DIR_INSIDE };
  }

  /**
   * A stem's command (stem-pool.ts): the same container, with the host's shell `shell` bound
   * read-only at `shellInside`, running `shellInside ...shellArgs` instead of node.
   */
  stemCommand(shell: string, shellInside: string, shellArgs: string[]): SpawnCommand {
    return this.bwrapCommand([shellInside, ...shellArgs], ['--perms', '0755', '--dir', dirname(shellInside), '--ro-bind', shell, shellInside]);
  }

  /** bwrap (in the sandbox's network namespace) around `inside`, under the seccomp filter. */
  private bwrapCommand(inside: string[], extraMounts: string[] = []): SpawnCommand {
    const seccomp = seccompOnFd4(this.lean.tmpRoot);
    return {
      ...this.inNetwork(this.lean.bwrapPath, [...this.bwrapArgs(), ...extraMounts, ...seccomp.args, '--', ...inside]),
      env: { ...runtimeEnvironment(this.spec, '/tmp'), PATH: '/usr/bin:/bin' },
      cwd: this.spec.codeDir,
      extraFds: seccomp.extraFds,
    };
  }

  /** `file args`, run inside the sandbox's network namespace when it has one (nsenter execs it: no extra process). */
  inNetwork(file: string, args: string[]): { file: string; args: string[] } {
    if (!this.#network) return { file, args };
    return { file: this.lean.networks!.tools.nsenter, args: [`--net=${this.#network.path}`, '--', file, ...args] };
  }

  /** bwrap exits with the runtime's status, a signal n as 128 + n. */
  translateExit(code: number | null, signal: NodeJS.Signals | null): { code: number | null; signal: string | null } {
    if (signal === null && code !== null && code > 128 && code <= 128 + 64) {
      const name = signalName(code - 128);
      if (name) return { code: null, signal: name };
    }
    return { code, signal };
  }

  /**
   * Kills node first, so bwrap's reaper and then bwrap itself exit in order, each reaped by its
   * parent (killing all three at once orphans the reaper to the host's init as a zombie); then
   * whatever is left, as for any sandbox.
   */
  async beforeKill(handle: RuntimeHandle): Promise<void> {
    const runtime = handle.pid;
    if (runtime === undefined || runtime === handle.spawnedPid || handle.hasExited) return;
    try {
      process.kill(runtime, 'SIGKILL');
    } catch {
      // already gone
    }
    const grace = deferredTimer(1000);
    await Promise.race([handle.exited, grace.promise]);
    grace.cancel();
  }

  /** bwrap → its pid-1 reaper → node: the node process's host pid. */
  async findRuntimePid(spawnedPid: number): Promise<number> {
    const nodeReal = await realpath(this.lean.nodePath);
    const queue = [spawnedPid];
    const seen = new Set<number>();
    while (queue.length > 0) {
      const pid = queue.shift()!;
      if (seen.has(pid)) continue;
      seen.add(pid);
      if (pid !== spawnedPid) {
        try {
          if ((await readlink(`/proc/${pid}/exe`)) === nodeReal) return pid;
        } catch {
          // gone or unreadable
        }
      }
      queue.push(...(await childrenOf(pid)));
    }
    return spawnedPid;
  }
}

async function childrenOf(pid: number): Promise<number[]> {
  const out: number[] = [];
  let tasks: string[];
  try {
    tasks = await readdir(`/proc/${pid}/task`);
  } catch {
    return out;
  }
  for (const tid of tasks) {
    try {
      const text = await readFile(`/proc/${pid}/task/${tid}/children`, 'utf8');
      for (const c of text.split(/\s+/).filter(Boolean)) out.push(Number(c));
    } catch {
      // kernel without CONFIG_PROC_CHILDREN: give up on this one
    }
  }
  return out;
}

/**
 * What lean containers isolate here. `sharedNetworkBecause`: why functions with network access
 * share the host's network namespace (absent: they get namespaces of their own).
 */
export function containerIsolationReport(cgroups: CgroupDriver | null, dropsToUnprivileged: boolean, extraWarnings: string[], sharedNetworkBecause?: string): IsolationReport {
  const warnings = [...extraWarnings];
  if (sharedNetworkBecause !== undefined) {
    warnings.push(
      `SHARED HOST NETWORK: functions deployed with network access run in this host's network namespace: they reach 127.0.0.1 (thaw's API ` +
        `among it), every service of this host and link-local addresses (${sharedNetworkBecause}).`,
    );
  }
  if (!cgroups) {
    warnings.push('NO CGROUPS: containers have no memory, CPU or process-count limits; pause uses SIGSTOP; setLimits() is unavailable.');
  } else {
    if (!cgroups.features.cpu) warnings.push('No cgroup cpu controller: CPU weight is not enforced.');
    if (!cgroups.features.pids) warnings.push('No cgroup pids controller: the number of processes is not limited.');
    if (!cgroups.features.freezer) warnings.push('No cgroup freezer: pause uses SIGSTOP.');
  }
  if (!dropsToUnprivileged && process.getuid?.() === 0) {
    warnings.push('Functions run as uid 0 inside their container (without capabilities): runAs is off.');
  }
  if (process.arch !== 'x64') warnings.push(`No seccomp filter on ${process.arch} (thaw's filter is for x86-64): the whole system-call surface of the kernel is reachable from a function.`);
  return {
    backend: 'container',
    namespaces: true,
    cgroups: cgroups ? cgroups.version : 'none',
    freezer: cgroups?.features.freezer ? 'cgroup' : 'signal',
    network: sharedNetworkBecause === undefined ? 'namespace' : 'host',
    warnings,
  };
}
