// The process backend: each sandbox is a RuntimeProcess whose launcher (ProcessLauncher) spawns
// node directly, with no namespaces (with cgroup limits when the machine has usable cgroups), its
// private TMPDIR under <os tmpdir>/thaw-sandboxes. Its options are the base the other backends
// (lean containers, microVMs) resolve theirs from.

import { rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { isAbsolute, join } from 'node:path';

import type { CgroupDriver } from './cgroups.ts';
import { CodeViews } from './code-view.ts';
import { resolveScheduling, type InstanceScheduling } from './scheduling.ts';
import { agentMarksInvocations, agentServesConcurrently, concurrencyArguments, type Launcher, makePrivateDir, nodeArguments, type RunAs, type RuntimeEntry, runtimeEnvironment, type RuntimeHandle, type SpawnCommand } from './launcher.ts';
import { DEFAULT_LOG_LIMIT_BYTES } from './logs.ts';
import { type ResolvedRuntimeOptions, RuntimeProcess } from './runtime-process.ts';
import type { IsolationReport, SandboxSpec, ZygoteBoot, ZygoteCapableBackend } from './types.ts';

export type { RunAs } from './launcher.ts';

export interface ProcessBackendOptions {
  /** The bundled runtime agent (agent.cjs); see ensureAgentBundle(). */
  agentPath: string;
  /** The node binary. Default: the one running thaw. */
  nodePath?: string;
  /** Per invocation and per stream (stdout, stderr), bytes. Default 64 KiB. */
  logLimitBytes?: number;
  /** Cgroups to confine each sandbox in; null = none. */
  cgroups?: CgroupDriver | null;
  /** Run the function as this user (the agent drops to it before the function's code runs); null = as thaw runs. */
  runAs?: RunAs | null;
  /**
   * Where each sandbox gets its private TMPDIR (process backend). Default: <os tmpdir>/thaw-sandboxes
   * (outside the data directory, which may not be traversable by the user functions run as).
   */
  tmpRoot?: string;
  /** Boot + import + init must finish within this, ms. Default 60 s. */
  startTimeoutMs?: number;
  /** Tasks (processes + threads) per sandbox when the pids controller exists; null = no limit. Default 512. */
  pidsMax?: number | null;
  /** What to report as this backend's isolation (computed by createSandboxBackend); a default is derived otherwise. */
  isolation?: IsolationReport;
  /** The CPU scheduling policy of instances (scheduling.ts). Default batch (where chrt works). */
  instanceScheduling?: InstanceScheduling;
}

export interface ResolvedProcessOptions extends ResolvedRuntimeOptions {
  agentPath: string;
  nodePath: string;
  runAs: RunAs | null;
  tmpRoot: string;
}

export function resolveProcessOptions(options: ProcessBackendOptions): ResolvedProcessOptions {
  if (typeof options.agentPath !== 'string' || !isAbsolute(options.agentPath)) {
    throw new TypeError(`agentPath must be an absolute path, got ${JSON.stringify(options.agentPath)}`);
  }
  const logLimitBytes = options.logLimitBytes ?? DEFAULT_LOG_LIMIT_BYTES;
  if (!Number.isInteger(logLimitBytes) || logLimitBytes < 0) throw new TypeError(`logLimitBytes must be a non-negative integer, got ${logLimitBytes}`);
  const startTimeoutMs = options.startTimeoutMs ?? 60_000;
  if (!(startTimeoutMs > 0)) throw new TypeError(`startTimeoutMs must be positive, got ${startTimeoutMs}`);
  const pidsMax = options.pidsMax === undefined ? 512 : options.pidsMax;
  if (pidsMax !== null && (!Number.isInteger(pidsMax) || pidsMax < 16)) throw new TypeError(`pidsMax must be an integer ≥ 16 or null, got ${pidsMax}`);
  const runAs = options.runAs ?? null;
  if (runAs !== null && (!Number.isInteger(runAs.uid) || runAs.uid < 0 || !Number.isInteger(runAs.gid) || runAs.gid < 0)) {
    throw new TypeError(`runAs must be { uid, gid } with non-negative integers, got ${JSON.stringify(runAs)}`);
  }
  return {
    agentPath: options.agentPath,
    nodePath: options.nodePath ?? process.execPath,
    logLimitBytes,
    cgroups: options.cgroups ?? null,
    runAs,
    tmpRoot: options.tmpRoot ?? join(tmpdir(), 'thaw-sandboxes'),
    startTimeoutMs,
    pidsMax,
    scheduling: resolveScheduling(options.instanceScheduling),
  };
}

/**
 * Node itself, as the user functions run as. Without namespaces the agent reads the bundle (and a
 * zygote's package folder) by their host paths: both must be reachable by that user.
 */
export class ProcessLauncher implements Launcher {
  readonly backend = 'process';
  #tmpDir: string | undefined;
  /** The code folder as the agent loads it (a view when the user cannot reach spec.codeDir: see code-view.ts). */
  #codeDir: string;

  constructor(
    private readonly spec: SandboxSpec,
    private readonly options: ResolvedProcessOptions,
    readonly entry: RuntimeEntry,
    private readonly codeViews?: CodeViews,
  ) {
    if (entry.kind === 'snapshot' && !isAbsolute(entry.blobPath)) throw new TypeError(`blobPath must be absolute, got ${JSON.stringify(entry.blobPath)}`);
    this.#codeDir = spec.codeDir;
  }

  marksInvocations(): boolean {
    return agentMarksInvocations(this.entry);
  }

  servesConcurrently(): boolean {
    return agentServesConcurrently(this.entry);
  }

  bundlePathForAgent(): string {
    return join(this.#codeDir, 'bundle.cjs');
  }

  /** Its private TMPDIR; the code folder's view when the agent needs one. */
  async prepare(): Promise<void> {
    this.#tmpDir = await makePrivateDir(this.options.tmpRoot, this.spec.instanceId, this.options.runAs);
    if (this.entry.kind === 'agent' && this.codeViews) this.#codeDir = await this.codeViews.forCodeDir(this.spec.codeDir);
  }

  command(handle: RuntimeHandle): SpawnCommand {
    const home = this.#tmpDir ?? tmpdir();
    const paths = {
      agentPath: this.options.agentPath,
      bundlePath: this.bundlePathForAgent(),
      zygoteDir: this.entry.kind === 'zygote' ? this.entry.boot.packageDir : '',
      blobPath: this.entry.kind === 'snapshot' ? this.entry.blobPath : '',
    };
    return {
      file: this.options.nodePath,
      args: [...nodeArguments(this.entry, paths, this.spec.memoryMb, handle.logNonce, this.options.runAs), ...concurrencyArguments(handle)],
      env: runtimeEnvironment(this.spec, home),
      cwd: this.#codeDir,
    };
  }

  async release(): Promise<void> {
    if (!this.#tmpDir) return;
    await rm(this.#tmpDir, { recursive: true, force: true }).catch(() => undefined);
    this.#tmpDir = undefined;
  }
}

/** Sandboxes as plain child processes (no namespaces), with cgroups when available. */
export class ProcessBackend implements ZygoteCapableBackend {
  readonly name: string = 'process';
  readonly isolation: IsolationReport;
  protected readonly options: ResolvedProcessOptions;
  readonly #codeViews: CodeViews;

  constructor(options: ProcessBackendOptions) {
    this.options = resolveProcessOptions(options);
    this.isolation = options.isolation ?? processIsolationReport(this.options, []);
    this.#codeViews = new CodeViews(join(this.options.tmpRoot, '.code-views'), this.options.runAs);
  }

  /** Removes the code views it made. */
  async close(): Promise<void> {
    await this.#codeViews.close();
  }

  create(spec: SandboxSpec): RuntimeProcess {
    return this.createWith(spec, { kind: 'agent' });
  }

  /** An instance running `entry` (a V8 snapshot's restore: see v8-snapshot/launch.ts). */
  createWith(spec: SandboxSpec, entry: RuntimeEntry): RuntimeProcess {
    return new RuntimeProcess(spec, this.options, new ProcessLauncher(spec, this.options, entry, this.#codeViews));
  }

  /** The resolved options its sandboxes are made with (the snapshot builder runs as they do). */
  get resolvedOptions(): Readonly<ResolvedProcessOptions> {
    return this.options;
  }

  /**
   * A zygote (added): a process that imports `zygote.packages` from `zygote.packageDir` and waits
   * to be specialised (RuntimeProcess.specialise). `spec.codeDir` is a folder of its own, filled in
   * later. Without namespaces the agent reads both by their host paths, as the user functions run
   * as: both must be reachable (traversable, readable) by that user.
   */
  createZygote(spec: SandboxSpec, zygote: ZygoteBoot): RuntimeProcess {
    return this.createWith(spec, { kind: 'zygote', boot: zygote });
  }
}

/** What a process sandbox isolates (and, loudly, what it does not). */
export function processIsolationReport(options: ResolvedProcessOptions, extraWarnings: string[]): IsolationReport {
  const cg = options.cgroups;
  const warnings = [...extraWarnings];
  warnings.push(
    'NO NAMESPACES: functions run as plain processes: they see the host filesystem (whatever their user may read, ' +
      "including other functions' code), the host network (no network=false enforcement) and every host process.",
  );
  if (options.runAs === null && process.getuid?.() === 0) warnings.push('FUNCTIONS RUN AS ROOT on the host (runAs is off).');
  if (!cg) {
    warnings.push(
      'NO CGROUPS: memory is bounded only by V8\'s heap flag (Buffers and native memory are not), CPU is not limited, ' +
        'process count is not limited, pause uses SIGSTOP, and setLimits() is unavailable.',
    );
  } else {
    if (!cg.features.cpu) warnings.push('No cgroup cpu controller: CPU weight is not enforced.');
    if (!cg.features.pids) warnings.push('No cgroup pids controller: the number of processes is not limited.');
    if (!cg.features.freezer) warnings.push('No cgroup freezer: pause uses SIGSTOP.');
  }
  return {
    backend: 'process',
    namespaces: false,
    cgroups: cg ? cg.version : 'none',
    freezer: cg?.features.freezer ? 'cgroup' : 'signal',
    network: 'host',
    warnings,
  };
}
