// Choosing and building the sandbox backend: detect what isolation this machine really offers,
// build the runtime agent once, and hand back a backend whose IsolationReport says what it provides
// (and, loudly, what it does not).

import { isAbsolute, resolve } from 'node:path';

import { ensureAgentBundle } from './agent-bundle.ts';
import { containerIsolationReport, detectLeanContainers, type LeanContainerDetection } from './bubblewrap.ts';
import { LeanContainerBackend } from './lean-container.ts';
import { type CgroupDetection, type CgroupDriver, detectCgroups } from './cgroups.ts';
import { SandboxError } from './errors.ts';
import { detectNetworkNamespaces, NetworkNamespaces, type NetnsDetection } from './netns.ts';
import { resolveScheduling, type InstanceScheduling } from './scheduling.ts';
import { ProcessBackend, processIsolationReport, resolveProcessOptions, type RunAs } from './process.ts';
import type { SandboxBackend } from './types.ts';
import { MicroVmBackend, type MicroVmBackendOptions } from './microvm/backend.ts';

export type IsolationMode = 'auto' | 'container' | 'process' | 'microvm';

export interface SandboxBackendOptions {
  /**
   * auto: lean containers where they work, else processes (with loud warnings);
   * container: lean containers or an ERR_ISOLATION_UNAVAILABLE error; process: plain processes.
   */
  isolation: IsolationMode;
  /** thaw's data directory: the agent bundle goes to <dataDir>/runtime/agent.cjs. */
  dataDir: string;
  /** Per invocation and per stream, bytes. Default 64 KiB. */
  logLimitBytes?: number;
  /**
   * The user functions run as. Default, when thaw runs as root: nobody (65534:65534), to which the
   * agent switches after reading the bundle and before running any of its code. null: do not switch.
   */
  runAs?: RunAs | null;
  /** Use cgroups when usable (default true). */
  cgroups?: boolean;
  /** Parent cgroup, relative to each hierarchy's mount point. Default "thaw". */
  cgroupParent?: string;
  /** Private /tmp of a container, MB. Default 64. */
  tmpSizeMb?: number;
  startTimeoutMs?: number;
  pidsMax?: number | null;
  /** bwrap binary; default: found on PATH. */
  bwrapPath?: string;
  /** Node binary for the runtime; default: the one running thaw. */
  nodePath?: string;
  /** Network namespaces made ahead of need for functions with network access (default 2; 0: each on demand). */
  networkPoolSize?: number;
  /**
   * Containers: stems (pre-made containers in pre-made cgroups, see stem-pool.ts) kept waiting for
   * cold instances, per kind (without network access; with, once asked for). Default 0 (none).
   */
  stemPoolSize?: number;
  /** The CPU scheduling policy of instances (scheduling.ts): batch (default, where chrt works) or normal. */
  instanceScheduling?: InstanceScheduling;
  /** isolation microvm: the restore mode of VM snapshots (default faasnap), progress lines. */
  microvm?: Pick<MicroVmBackendOptions, 'restore' | 'snapshots' | 'log' | 'status'>;
}

export interface IsolationDetection {
  cgroups: CgroupDetection;
  container: LeanContainerDetection;
  /** Per-function network namespaces (for containers of functions with network access). */
  network: NetnsDetection;
}

/** What isolation this machine offers (each part detected once and cached). */
export async function detectIsolation(options: { cgroups?: boolean; cgroupParent?: string; bwrapPath?: string; nodePath?: string } = {}): Promise<IsolationDetection> {
  const [cgroups, container, network] = await Promise.all([
    options.cgroups === false
      ? Promise.resolve<CgroupDetection>({ driver: null, version: 'none', problems: ['cgroups disabled by configuration'] })
      : detectCgroups({ parent: options.cgroupParent }),
    detectLeanContainers({ bwrapPath: options.bwrapPath, nodePath: options.nodePath }),
    detectNetworkNamespaces(),
  ]);
  return { cgroups, container, network };
}

export async function createSandboxBackend(options: SandboxBackendOptions): Promise<SandboxBackend> {
  const { isolation } = options;
  if (!['auto', 'container', 'process', 'microvm'].includes(isolation)) {
    throw new TypeError(`isolation must be 'auto', 'container', 'process' or 'microvm', got ${JSON.stringify(isolation)}`);
  }
  if (typeof options.dataDir !== 'string' || options.dataDir === '') throw new TypeError('dataDir must be a non-empty path');
  const dataDir = isAbsolute(options.dataDir) ? options.dataDir : resolve(options.dataDir);
  if (isolation === 'microvm') {
    const cgroups = options.cgroups === false ? null : (await detectCgroups({ parent: options.cgroupParent })).driver;
    const reaped = await reapLeftovers(cgroups);
    const backend = await MicroVmBackend.create({ dataDir, cgroups, logLimitBytes: options.logLimitBytes, startTimeoutMs: options.startTimeoutMs, ...options.microvm });
    backend.isolation.warnings.push(...reaped);
    return backend;
  }

  const [agent, detected] = await Promise.all([
    ensureAgentBundle(dataDir),
    detectIsolation({ cgroups: options.cgroups, cgroupParent: options.cgroupParent, bwrapPath: options.bwrapPath, nodePath: options.nodePath }),
  ]);
  const scheduling = resolveScheduling(options.instanceScheduling);
  const reaped = [...(await reapLeftovers(detected.cgroups.driver)), ...(scheduling.unavailable ? [scheduling.unavailable] : [])];
  const runAs = options.runAs !== undefined ? options.runAs : process.getuid?.() === 0 ? { uid: 65534, gid: 65534 } : null;
  const cgroups = detected.cgroups.driver;
  const common = {
    agentPath: agent.path,
    nodePath: options.nodePath,
    logLimitBytes: options.logLimitBytes,
    cgroups,
    runAs,
    startTimeoutMs: options.startTimeoutMs,
    pidsMax: options.pidsMax,
    instanceScheduling: options.instanceScheduling,
  };

  const containerMissing: string[] = [];
  if (!detected.container.ok) containerMissing.push(detected.container.reason ?? 'bubblewrap does not work here');
  if (!cgroups) containerMissing.push(`no usable cgroups (${detected.cgroups.problems.join('; ') || 'none found'})`);
  // (With a driver, the reports below already say which controllers are missing.)
  const cgroupNotes = cgroups ? [] : detected.cgroups.problems.map((p) => `cgroups: ${p}`);

  if (isolation !== 'process' && containerMissing.length === 0) {
    const net = detected.network;
    const networks = net.ok ? new NetworkNamespaces(net.tools, { poolSize: options.networkPoolSize }) : null;
    const reapedNetworks = (await networks?.reapStale().catch(() => [])) ?? [];
    const notes = reapedNetworks.length > 0 ? [`removed ${reapedNetworks.length} network namespace(s) a killed thaw left behind: ${reapedNetworks.join(', ')}`] : [];
    return new LeanContainerBackend({
      ...common,
      detection: detected.container as LeanContainerDetection & { ok: true },
      tmpSizeMb: options.tmpSizeMb,
      networks,
      stemPoolSize: options.stemPoolSize,
      isolation: { ...containerIsolationReport(cgroups, runAs !== null, [...reaped, ...notes], net.ok ? undefined : `${net.reason}${net.install ? `; install with: ${net.install}` : ''}`), scheduling: scheduling.policy },
    });
  }
  if (isolation === 'container') {
    throw new SandboxError('ERR_ISOLATION_UNAVAILABLE', `lean containers are not available on this machine: ${containerMissing.join('; ')}`);
  }

  const resolved = resolveProcessOptions(common);
  const extra =
    isolation === 'auto'
      ? [`FALLING BACK TO PLAIN PROCESSES: lean containers are unavailable: ${containerMissing.join('; ')}.`, ...cgroupNotes]
      : cgroupNotes;
  return new ProcessBackend({
    ...common,
    isolation: { ...processIsolationReport(resolved, dedupe([...extra, ...reaped])), scheduling: scheduling.policy },
  });
}

/** Removes the sandboxes a killed thaw left behind (see CgroupDriver.reapOrphans); says so. */
async function reapLeftovers(cgroups: CgroupDriver | null): Promise<string[]> {
  const reaped = (await cgroups?.reapOrphans().catch(() => [])) ?? [];
  return reaped.length > 0 ? [`removed ${reaped.length} sandbox(es) a killed thaw left behind: ${reaped.join(', ')}`] : [];
}

function dedupe(items: string[]): string[] {
  return [...new Set(items)];
}

export { ensureAgentBundle } from './agent-bundle.ts';
export { BubblewrapLauncher, detectLeanContainers } from './bubblewrap.ts';
export { LeanContainerBackend } from './lean-container.ts';
export { CgroupDriver, InstanceCgroup, detectCgroups } from './cgroups.ts';
export { SandboxError, SandboxStartError } from './errors.ts';
export type { Launcher, RuntimeEntry } from './launcher.ts';
export { ProcessBackend, ProcessLauncher } from './process.ts';
export { RuntimeProcess } from './runtime-process.ts';
export type * from './types.ts';
export { isZygoteCapable } from './types.ts';
