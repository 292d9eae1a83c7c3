// Control groups for sandboxes: detection (v1 or v2, never assumed), one cgroup per instance under a
// thaw parent, memory / CPU / pids limits, freeze and thaw, usage and OOM readouts, limit changes
// while running, and cleanup.
//
// Where the parent lives: at the root of each hierarchy (v1: /sys/fs/cgroup/<controller>/thaw,
// v2: /sys/fs/cgroup/thaw), not inside the cgroup of the process that runs thaw. Nesting under our
// own cgroup would keep the accounting of whatever started thaw, but it adds children to a cgroup
// we do not own (its owner could no longer remove it, and in v2 a cgroup holding processes cannot
// hand controllers to children at all). The `parent` option overrides it.

import { constants as fsConstants } from 'node:fs';
import { access, mkdir, readdir, readFile, rmdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

import { SandboxError } from './errors.ts';

export type CgroupVersion = 'v1' | 'v2';
export type Controller = 'memory' | 'cpu' | 'freezer' | 'pids';

export interface CgroupLimits {
  memoryMb: number;
  /** 1024 = one core's fair share. */
  cpuShares?: number;
  /** Hard CPU cap in cores (e.g. 0.5); null or undefined = no cap. */
  cpuQuota?: number | null;
  /** Most tasks (processes and threads) the sandbox may hold; null or undefined = no limit. */
  pidsMax?: number | null;
}

export interface CgroupFeatures {
  memory: true;
  /** v1 memory+swap limit (memory.memsw.*), v2 memory.swap.max. */
  swapLimit: boolean;
  cpu: boolean;
  cpuQuota: boolean;
  freezer: boolean;
  pids: boolean;
  /** The kernel counts OOM kills (v1 memory.oom_control oom_kill, v2 memory.events oom_kill). */
  oomKillCounter: boolean;
}

export interface CgroupDetection {
  driver: CgroupDriver | null;
  version: CgroupVersion | 'none';
  /** Each thing that could not be used, said plainly. */
  problems: string[];
}

export interface DetectCgroupsOptions {
  /** Parent cgroup path relative to each hierarchy's mount point. Default "thaw". */
  parent?: string;
  /** For tests: the texts of /proc/self/mountinfo. */
  mountInfo?: string;
}

// ------------------------------------------------------------------------------------ parsing

export interface CgroupMount {
  mountPoint: string;
  /** The cgroup path of the hierarchy that is mounted there. */
  root: string;
  fsType: 'cgroup' | 'cgroup2';
  /** v1: the controllers of the hierarchy (from the super options); v2: empty. */
  controllers: string[];
}

/** The cgroup mounts listed in a /proc/self/mountinfo text. */
export function parseCgroupMounts(mountInfo: string): CgroupMount[] {
  const mounts: CgroupMount[] = [];
  for (const line of mountInfo.split('\n')) {
    if (line.trim() === '') continue;
    const sep = line.indexOf(' - ');
    if (sep < 0) continue;
    const left = line.slice(0, sep).split(' ');
    const right = line.slice(sep + 3).split(' ');
    const fsType = right[0];
    if (fsType !== 'cgroup' && fsType !== 'cgroup2') continue;
    const root = unescapeMountPath(left[3] ?? '/');
    const mountPoint = unescapeMountPath(left[4] ?? '');
    const superOptions = (right[2] ?? '').split(',');
    const controllers =
      fsType === 'cgroup' ? superOptions.filter((o) => !['rw', 'ro'].includes(o) && !o.includes('=') && !o.startsWith('name=')) : [];
    mounts.push({ mountPoint, root, fsType, controllers });
  }
  return mounts;
}

function unescapeMountPath(p: string): string {
  return p.replace(/\\([0-7]{3})/g, (_, oct: string) => String.fromCharCode(parseInt(oct, 8)));
}

/** cpu.shares (2..262144, 1024 = default) to cgroup v2 cpu.weight (1..10000, 100 = default), as runc does. */
export function sharesToWeight(shares: number): number {
  const s = Math.min(262144, Math.max(2, Math.round(shares)));
  return 1 + Math.floor(((s - 2) * 9999) / 262142);
}

// ------------------------------------------------------------------------------------ file helpers

async function exists(path: string): Promise<boolean> {
  try {
    await access(path, fsConstants.F_OK);
    return true;
  } catch {
    return false;
  }
}

async function writeCg(path: string, value: string): Promise<void> {
  try {
    await writeFile(path, value);
  } catch (err) {
    throw new SandboxError('ERR_CGROUP', `cannot write ${JSON.stringify(value)} to ${path}: ${(err as Error).message}`, { cause: err });
  }
}

async function readCg(path: string): Promise<string> {
  try {
    return await readFile(path, 'utf8');
  } catch (err) {
    throw new SandboxError('ERR_CGROUP', `cannot read ${path}: ${(err as Error).message}`, { cause: err });
  }
}

function keyed(text: string, key: string): number | undefined {
  const m = new RegExp(`^${key} (\\d+)$`, 'm').exec(text);
  return m ? Number(m[1]) : undefined;
}

async function removeDir(path: string): Promise<void> {
  // A cgroup whose last task has just died can stay busy for a moment.
  for (let attempt = 0; ; attempt++) {
    try {
      await rmdir(path);
      return;
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') return;
      if (code !== 'EBUSY' || attempt >= 50) {
        throw new SandboxError('ERR_CGROUP', `cannot remove cgroup ${path}: ${(err as Error).message}`, { cause: err });
      }
      await delay(Math.min(20, 1 + attempt));
    }
  }
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Polls `check` (each poll is a few file reads) until it holds, backing off to 10 ms; false on timeout. */
async function pollUntil(check: () => Promise<boolean>, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (let attempt = 0; ; attempt++) {
    if (await check()) return true;
    if (Date.now() >= deadline) return false;
    await delay(Math.min(10, attempt < 5 ? 0 : attempt - 4));
  }
}

// ------------------------------------------------------------------------------------ detection

const detections = new Map<string, Promise<CgroupDetection>>();

/** Detects usable cgroups once per parent (cached): what is mounted, and what can really be written. */
export function detectCgroups(options: DetectCgroupsOptions = {}): Promise<CgroupDetection> {
  const parent = options.parent ?? 'thaw';
  if (!/^[A-Za-z0-9_.-]+(\/[A-Za-z0-9_.-]+)*$/.test(parent) || parent.split('/').some((p) => p === '..' || p === '.')) {
    throw new TypeError(`cgroup parent must be a relative path of plain names, got ${JSON.stringify(parent)}`);
  }
  const key = `${parent}\n${options.mountInfo ?? ''}`;
  let found = detections.get(key);
  if (!found) {
    found = detect(parent, options.mountInfo);
    detections.set(key, found);
  }
  return found;
}

async function detect(parent: string, mountInfoText: string | undefined): Promise<CgroupDetection> {
  const problems: string[] = [];
  if (process.platform !== 'linux') return { driver: null, version: 'none', problems: ['cgroups exist only on Linux'] };
  let mountInfo: string;
  try {
    mountInfo = mountInfoText ?? (await readFile('/proc/self/mountinfo', 'utf8'));
  } catch (err) {
    return { driver: null, version: 'none', problems: [`cannot read /proc/self/mountinfo: ${(err as Error).message}`] };
  }
  const mounts = parseCgroupMounts(mountInfo);

  // v2 first, but only a unified hierarchy that really offers memory and cpu.
  const v2Mounts = mounts
    .filter((m) => m.fsType === 'cgroup2')
    .sort((a, b) => Number(b.mountPoint === '/sys/fs/cgroup') - Number(a.mountPoint === '/sys/fs/cgroup'));
  for (const m of v2Mounts) {
    let controllers: string[] = [];
    try {
      controllers = (await readFile(join(m.mountPoint, 'cgroup.controllers'), 'utf8')).trim().split(/\s+/).filter(Boolean);
    } catch {
      // unreadable: not usable
    }
    if (!controllers.includes('memory') || !controllers.includes('cpu')) {
      problems.push(
        `cgroup v2 at ${m.mountPoint} offers ${controllers.length ? controllers.join(', ') : 'no controllers'} (needs memory and cpu): not used`,
      );
      continue;
    }
    const result = await probeV2(m.mountPoint, parent, controllers);
    if (result.driver) return { driver: result.driver, version: 'v2', problems: [...problems, ...result.problems] };
    problems.push(...result.problems);
  }

  const v1 = new Map<Controller, CgroupMount>();
  for (const m of mounts.filter((m) => m.fsType === 'cgroup')) {
    for (const c of ['memory', 'cpu', 'freezer', 'pids'] as const) {
      if (m.controllers.includes(c) && !v1.has(c)) v1.set(c, m);
    }
  }
  if (!v1.has('memory')) {
    problems.push('no usable cgroup memory controller is mounted (neither v1 nor v2)');
    return { driver: null, version: 'none', problems };
  }
  const result = await probeV1(v1, parent);
  problems.push(...result.problems);
  return result.driver ? { driver: result.driver, version: 'v1', problems } : { driver: null, version: 'none', problems };
}

function probeName(): string {
  return `probe-${process.pid}-${Math.random().toString(16).slice(2, 10)}`;
}

async function probeV1(mounts: Map<Controller, CgroupMount>, parent: string): Promise<{ driver: CgroupDriver | null; problems: string[] }> {
  const problems: string[] = [];
  const dirs: Partial<Record<Controller, string>> = {};
  const features: CgroupFeatures = { memory: true, swapLimit: false, cpu: false, cpuQuota: false, freezer: false, pids: false, oomKillCounter: false };
  const tries: Record<Controller, (dir: string) => Promise<void>> = {
    memory: async (dir) => {
      await writeCg(join(dir, 'memory.limit_in_bytes'), String(256 * 1024 * 1024));
      features.swapLimit = await exists(join(dir, 'memory.memsw.limit_in_bytes'));
      features.oomKillCounter = keyed(await readCg(join(dir, 'memory.oom_control')), 'oom_kill') !== undefined;
    },
    cpu: async (dir) => {
      await writeCg(join(dir, 'cpu.shares'), '1024');
      features.cpuQuota = await exists(join(dir, 'cpu.cfs_quota_us'));
    },
    freezer: async (dir) => {
      const state = (await readCg(join(dir, 'freezer.state'))).trim();
      if (state !== 'THAWED') throw new Error(`freezer.state reads ${state}`);
    },
    pids: async (dir) => {
      await writeCg(join(dir, 'pids.max'), 'max');
    },
  };
  for (const c of ['memory', 'cpu', 'freezer', 'pids'] as const) {
    const mount = mounts.get(c);
    if (!mount) {
      problems.push(`cgroup v1 ${c} controller is not mounted`);
      continue;
    }
    const dir = join(mount.mountPoint, parent);
    const probe = join(dir, probeName());
    try {
      await mkdir(dir, { recursive: true });
      await mkdir(probe);
      try {
        await tries[c](probe);
      } finally {
        await removeDir(probe);
      }
      dirs[c] = dir;
      if (c !== 'memory') features[c] = true;
    } catch (err) {
      problems.push(`cgroup v1 ${c} controller at ${mount.mountPoint} is not writable: ${(err as Error).message}`);
    }
  }
  if (!dirs.memory) return { driver: null, problems };
  if (!features.cpu) problems.push('no cgroup cpu controller: CPU weight and quota are not enforced');
  if (!features.freezer) problems.push('no cgroup freezer: pause uses SIGSTOP, which the function can observe');
  if (!features.pids) problems.push('no cgroup pids controller: the number of processes is not limited (fork bombs)');
  return { driver: new CgroupDriver('v1', dirs as Record<Controller, string> & { memory: string }, features), problems };
}

async function probeV2(mountPoint: string, parent: string, controllers: string[]): Promise<{ driver: CgroupDriver | null; problems: string[] }> {
  const problems: string[] = [];
  const wanted = ['memory', 'cpu', 'pids'].filter((c) => controllers.includes(c));
  const dir = join(mountPoint, parent);
  try {
    // Hand the controllers down from the mount point to the parent, then from the parent to instances.
    let at = mountPoint;
    for (const part of ['', ...parent.split('/')]) {
      at = part === '' ? at : join(at, part);
      await mkdir(at, { recursive: true });
      const enabled = (await readCg(join(at, 'cgroup.subtree_control'))).trim().split(/\s+/);
      for (const c of wanted) if (!enabled.includes(c)) await writeCg(join(at, 'cgroup.subtree_control'), `+${c}`);
    }
    const probe = join(dir, probeName());
    await mkdir(probe);
    const features: CgroupFeatures = {
      memory: true,
      swapLimit: await exists(join(probe, 'memory.swap.max')),
      cpu: await exists(join(probe, 'cpu.weight')),
      cpuQuota: await exists(join(probe, 'cpu.max')),
      freezer: await exists(join(probe, 'cgroup.freeze')),
      pids: await exists(join(probe, 'pids.max')),
      oomKillCounter: false,
    };
    try {
      await writeCg(join(probe, 'memory.max'), String(256 * 1024 * 1024));
      features.oomKillCounter = keyed(await readCg(join(probe, 'memory.events')), 'oom_kill') !== undefined;
    } finally {
      await removeDir(probe);
    }
    if (!features.freezer) problems.push('no cgroup.freeze (kernel < 5.2): pause uses SIGSTOP, which the function can observe');
    if (!features.pids) problems.push('no cgroup pids controller: the number of processes is not limited (fork bombs)');
    const dirs = { memory: dir, cpu: dir, freezer: dir, pids: dir };
    return { driver: new CgroupDriver('v2', dirs, features), problems };
  } catch (err) {
    problems.push(`cgroup v2 at ${mountPoint} is not writable under ${dir}: ${(err as Error).message}`);
    return { driver: null, problems };
  }
}

// ------------------------------------------------------------------------------------ driver

/** Creates instance cgroups under the detected parent(s). */
export class CgroupDriver {
  readonly version: CgroupVersion;
  readonly features: CgroupFeatures;
  /** The parent directory per controller (v2: the same directory for all). */
  readonly parents: Readonly<Partial<Record<Controller, string>>> & { readonly memory: string };

  constructor(version: CgroupVersion, parents: Partial<Record<Controller, string>> & { memory: string }, features: CgroupFeatures) {
    this.version = version;
    this.parents = parents;
    this.features = features;
  }

  /** Creates and configures the cgroup of one instance. Fails if it already exists. */
  async create(id: string, limits: CgroupLimits): Promise<InstanceCgroup> {
    if (!/^[A-Za-z0-9_.-]{1,200}$/.test(id) || id === '.' || id === '..') {
      throw new TypeError(`cgroup name must be 1-200 of [A-Za-z0-9_.-], got ${JSON.stringify(id)}`);
    }
    const dirs: Partial<Record<Controller, string>> = {};
    for (const [c, parent] of Object.entries(this.parents) as [Controller, string][]) dirs[c] = join(parent, id);
    const unique = [...new Set(Object.values(dirs))];
    const made: string[] = [];
    try {
      for (const dir of unique) {
        try {
          await mkdir(dir);
        } catch (err) {
          throw new SandboxError('ERR_CGROUP', `cannot create cgroup ${dir}: ${(err as Error).message}`, { cause: err });
        }
        made.push(dir);
      }
      const cg = new InstanceCgroup(this.version, dirs as Partial<Record<Controller, string>> & { memory: string }, this.features);
      await cg.configure(limits);
      return cg;
    } catch (err) {
      for (const dir of made.reverse()) await rmdir(dir).catch(() => undefined);
      throw err;
    }
  }

  /**
   * Sandboxes a killed thaw left behind: instance cgroups whose processes' parents are all inside
   * the cgroup or PID 1 (a live sandbox's first process is thaw's own child). A paused one is
   * frozen, which under cgroup v1 not even SIGKILL ends: destroy() thaws, kills and removes. A
   * cgroup whose processes still have their parent (another thaw's instances) is never touched.
   * Returns the names of the cgroups reaped.
   */
  async reapOrphans(): Promise<string[]> {
    let entries: string[];
    try {
      entries = (await readdir(this.parents.memory, { withFileTypes: true })).filter((e) => e.isDirectory()).map((e) => e.name);
    } catch {
      return [];
    }
    const reaped: string[] = [];
    for (const name of entries) {
      const dirs: Partial<Record<Controller, string>> = {};
      for (const [c, parent] of Object.entries(this.parents) as [Controller, string][]) dirs[c] = join(parent, name);
      const cg = new InstanceCgroup(this.version, dirs as Partial<Record<Controller, string>> & { memory: string }, this.features);
      const pids = await cg.pids().catch(() => [] as number[]);
      if (pids.length === 0) continue;
      // Live: some process's parent is outside the cgroup and not PID 1 (its thaw). Orphaned: every
      // parent is inside, or PID 1. (A function's daemon re-parented to PID 1 does not make its
      // instance look orphaned while the instance's first process still has its thaw.)
      const inside = new Set(pids);
      const parents = await Promise.all(pids.map((pid) => parentPid(pid)));
      if (parents.some((ppid) => ppid !== undefined && ppid !== 1 && !inside.has(ppid))) continue;
      if (!parents.includes(1)) continue;
      try {
        await cg.destroy();
        reaped.push(name);
      } catch {
        // another time
      }
    }
    return reaped;
  }
}

/** The parent pid of `pid` (from /proc/<pid>/stat), or undefined if it is gone. */
async function parentPid(pid: number): Promise<number | undefined> {
  try {
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
    return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
  } catch {
    return undefined;
  }
}

export type FreezerState = 'THAWED' | 'FREEZING' | 'FROZEN';

/** One instance's cgroup (one directory per v1 hierarchy, one in v2). */
export class InstanceCgroup {
  readonly version: CgroupVersion;
  readonly features: CgroupFeatures;
  readonly dirs: Readonly<Partial<Record<Controller, string>>> & { readonly memory: string };
  private memoryBytes = 0;
  private removed = false;

  constructor(version: CgroupVersion, dirs: Partial<Record<Controller, string>> & { memory: string }, features: CgroupFeatures) {
    this.version = version;
    this.dirs = dirs;
    this.features = features;
  }

  /** Every cgroup.procs file a process must be written to, to be inside this cgroup everywhere. */
  procsFiles(): string[] {
    return [...new Set(Object.values(this.dirs))].map((d) => join(d, 'cgroup.procs'));
  }

  async configure(limits: CgroupLimits): Promise<void> {
    await this.setMemoryLimit(limits.memoryMb);
    if (this.version === 'v2') await writeCg(join(this.dirs.memory, 'memory.oom.group'), '1').catch(() => undefined);
    if (this.features.cpu) await this.setCpuShares(limits.cpuShares ?? 1024);
    if (limits.cpuQuota !== undefined && limits.cpuQuota !== null) await this.setCpuQuota(limits.cpuQuota);
    if (this.features.pids && limits.pidsMax !== undefined) await this.setPidsMax(limits.pidsMax);
  }

  async setMemoryLimit(memoryMb: number): Promise<void> {
    if (!(memoryMb > 0) || !Number.isFinite(memoryMb)) throw new TypeError(`memoryMb must be a positive number, got ${memoryMb}`);
    const bytes = Math.round(memoryMb * 1024 * 1024);
    const dir = this.dirs.memory;
    if (this.version === 'v2') {
      await writeCg(join(dir, 'memory.max'), String(bytes));
      if (this.features.swapLimit) await writeCg(join(dir, 'memory.swap.max'), '0');
    } else if (!this.features.swapLimit) {
      await writeCg(join(dir, 'memory.limit_in_bytes'), String(bytes));
    } else {
      // memsw (memory + swap) must never be below the memory limit: raise it first, lower it last.
      const limit = join(dir, 'memory.limit_in_bytes');
      const memsw = join(dir, 'memory.memsw.limit_in_bytes');
      if (bytes >= this.memoryBytes && this.memoryBytes > 0) {
        await writeCg(memsw, String(bytes));
        await writeCg(limit, String(bytes));
      } else {
        await writeCg(limit, String(bytes));
        await writeCg(memsw, String(bytes));
      }
    }
    this.memoryBytes = bytes;
  }

  async setCpuShares(shares: number): Promise<void> {
    if (!this.features.cpu) throw new SandboxError('ERR_SANDBOX_UNSUPPORTED', 'no cgroup cpu controller: CPU weight cannot be set');
    if (!(shares > 0) || !Number.isFinite(shares)) throw new TypeError(`cpuShares must be a positive number, got ${shares}`);
    if (this.version === 'v2') await writeCg(join(this.dirs.cpu!, 'cpu.weight'), String(sharesToWeight(shares)));
    else await writeCg(join(this.dirs.cpu!, 'cpu.shares'), String(Math.min(262144, Math.max(2, Math.round(shares)))));
  }

  /** Caps CPU time at `cores` cores (0.5 = half of one); null removes the cap. */
  async setCpuQuota(cores: number | null): Promise<void> {
    if (!this.features.cpuQuota) throw new SandboxError('ERR_SANDBOX_UNSUPPORTED', 'no cgroup CPU quota (cfs) support: CPU cannot be capped');
    if (cores !== null && (!(cores > 0) || !Number.isFinite(cores))) throw new TypeError(`cpuQuota must be a positive number of cores or null, got ${cores}`);
    const period = 100_000;
    const quota = cores === null ? null : Math.max(1000, Math.round(cores * period));
    if (this.version === 'v2') {
      await writeCg(join(this.dirs.cpu!, 'cpu.max'), `${quota ?? 'max'} ${period}`);
    } else {
      await writeCg(join(this.dirs.cpu!, 'cpu.cfs_period_us'), String(period));
      await writeCg(join(this.dirs.cpu!, 'cpu.cfs_quota_us'), String(quota ?? -1));
    }
  }

  async setPidsMax(max: number | null): Promise<void> {
    if (!this.features.pids) throw new SandboxError('ERR_SANDBOX_UNSUPPORTED', 'no cgroup pids controller');
    await writeCg(join(this.dirs.pids!, 'pids.max'), max === null ? 'max' : String(max));
  }

  async memoryUsageBytes(): Promise<number> {
    const file = this.version === 'v2' ? 'memory.current' : 'memory.usage_in_bytes';
    return Number((await readCg(join(this.dirs.memory, file))).trim());
  }

  /** Memory limit as the kernel reads it back, bytes. */
  async memoryLimitBytes(): Promise<number> {
    const text = (await readCg(join(this.dirs.memory, this.version === 'v2' ? 'memory.max' : 'memory.limit_in_bytes'))).trim();
    return text === 'max' ? Infinity : Number(text);
  }

  /** How many times the kernel's OOM killer killed a task of this cgroup. */
  async oomKills(): Promise<number> {
    if (this.version === 'v2') return keyed(await readCg(join(this.dirs.memory, 'memory.events')), 'oom_kill') ?? 0;
    const n = keyed(await readCg(join(this.dirs.memory, 'memory.oom_control')), 'oom_kill');
    if (n !== undefined) return n;
    // Old kernels: only that the limit was hit (which often ends in a kill without swap).
    return Number((await readCg(join(this.dirs.memory, 'memory.failcnt'))).trim()) > 0 ? 1 : 0;
  }

  async freezerState(): Promise<FreezerState> {
    if (!this.features.freezer) throw new SandboxError('ERR_SANDBOX_UNSUPPORTED', 'no cgroup freezer');
    if (this.version === 'v1') return (await readCg(join(this.dirs.freezer!, 'freezer.state'))).trim() as FreezerState;
    const events = await readCg(join(this.dirs.freezer!, 'cgroup.events'));
    const frozen = keyed(events, 'frozen') === 1;
    const want = (await readCg(join(this.dirs.freezer!, 'cgroup.freeze'))).trim() === '1';
    return frozen ? 'FROZEN' : want ? 'FREEZING' : 'THAWED';
  }

  /** Freezes every task and resolves once the kernel says they are all frozen. */
  async freeze(timeoutMs = 10_000): Promise<void> {
    await this.setFrozen(true, timeoutMs);
  }

  async thaw(timeoutMs = 10_000): Promise<void> {
    await this.setFrozen(false, timeoutMs);
  }

  private async setFrozen(frozen: boolean, timeoutMs: number): Promise<void> {
    if (!this.features.freezer) throw new SandboxError('ERR_SANDBOX_UNSUPPORTED', 'no cgroup freezer');
    const dir = this.dirs.freezer!;
    const want: FreezerState = frozen ? 'FROZEN' : 'THAWED';
    if (this.version === 'v1') {
      await writeCg(join(dir, 'freezer.state'), want);
      const ok = await pollUntil(async () => {
        const state = await this.freezerState();
        // v1 can stall in FREEZING (a task in an uninterruptible sleep); asking again moves it on.
        if (state === 'FREEZING' && frozen) await writeCg(join(dir, 'freezer.state'), want);
        return state === want;
      }, timeoutMs);
      if (!ok) throw new SandboxError('ERR_CGROUP', `${dir} did not become ${want} within ${timeoutMs} ms (reads ${await this.freezerState()})`);
    } else {
      await writeCg(join(dir, 'cgroup.freeze'), frozen ? '1' : '0');
      const ok = await pollUntil(async () => keyed(await readCg(join(dir, 'cgroup.events')), 'frozen') === (frozen ? 1 : 0), timeoutMs);
      if (!ok) throw new SandboxError('ERR_CGROUP', `${dir} did not become ${want} within ${timeoutMs} ms`);
    }
  }

  /** Process ids in the cgroup (empty once removed). */
  async pids(): Promise<number[]> {
    if (this.removed) return [];
    try {
      const text = await readFile(join(this.dirs.memory, 'cgroup.procs'), 'utf8');
      return text.split('\n').filter(Boolean).map(Number);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw new SandboxError('ERR_CGROUP', `cannot read ${join(this.dirs.memory, 'cgroup.procs')}: ${(err as Error).message}`, { cause: err });
    }
  }

  /** Sends a signal to every process in the cgroup. */
  async signalAll(signal: NodeJS.Signals): Promise<void> {
    for (const pid of await this.pids()) {
      try {
        process.kill(pid, signal);
      } catch {
        // gone already
      }
    }
  }

  /** Kills every process and resolves when the cgroup is empty. */
  async killAll(timeoutMs = 10_000): Promise<void> {
    if (this.removed) return;
    if (this.version === 'v2' && (await exists(join(this.dirs.memory, 'cgroup.kill')))) {
      await writeCg(join(this.dirs.memory, 'cgroup.kill'), '1');
    } else {
      await this.signalAll('SIGKILL');
    }
    // Frozen tasks only act on SIGKILL once thawed.
    if (this.features.freezer && (await this.freezerState()) !== 'THAWED') {
      await writeCg(join(this.dirs.freezer!, this.version === 'v1' ? 'freezer.state' : 'cgroup.freeze'), this.version === 'v1' ? 'THAWED' : '0');
    }
    const empty = await pollUntil(async () => {
      const left = await this.pids();
      if (left.length === 0) return true;
      // Anything forked meanwhile.
      for (const pid of left) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          // gone
        }
      }
      return false;
    }, timeoutMs);
    if (!empty) throw new SandboxError('ERR_CGROUP', `processes ${(await this.pids()).join(', ')} of ${this.dirs.memory} survived SIGKILL for ${timeoutMs} ms`);
  }

  /** Kills what is left and removes the directories. Idempotent. */
  async destroy(): Promise<void> {
    if (this.removed) return;
    await this.killAll();
    for (const dir of [...new Set(Object.values(this.dirs))]) await removeDir(dir);
    this.removed = true;
  }

  get isRemoved(): boolean {
    return this.removed;
  }
}
