// ZygoteStartPath: SOCK's zygotes as a start path (docs/techniques.md §1.4).
//
// A zygote is the runtime agent in its own sandbox — a lean container or a process, with the same
// isolation, user and cgroup limits as a cold instance — that has already imported a set of npm
// packages (name@exact-version) and waits. Node.js cannot fork, so a zygote is consumed: it is
// specialised for one function and becomes that function's instance, and the pool of zygotes is
// refilled in the background.
//
//   onDeploy(fn)      registers the function's dependencies, replans the tree (tree.ts), installs
//                     each kept set's package folder (packages.ts), starts its zygotes, and builds
//                     the function's variant bundle for every kept set contained in its
//                     dependencies (deploy/variant.ts: those packages left as run-time requires)
//   available(fn)     a ready zygote whose set is contained in fn's dependencies (same exact
//                     versions), with fn's variant bundle built for it; the deepest such set
//   create(fn, spec)  takes that zygote (it is never handed out again) and returns a Sandbox whose
//                     start() writes the variant into the zygote's /code and specialises it
//   refill            once a taken zygote's instance has answered its first invocation (or a zygote
//                     dies), another of its set is started in the background, at a low CPU weight
//   memory            each zygote reserves its memory from a ZygoteMemory (the invoker's Pool, see
//                     memory.ts): evicted or expired there, it is destroyed, and refilled on demand
//
// Security: zygotes import only npm packages, installed by name and exact version from the registry
// into a folder of their own; no function's code or files ever enter an unspecialised zygote. Each
// zygote is specialised at most once (the path hands it out once; the sandbox refuses a second
// specialise(); the agent refuses a second `specialise` message), so a function never runs in a
// process that has loaded another function's code.

import { createHash } from 'node:crypto';
import { existsSync, lstatSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

import type { ZygoteLoadReport } from '../../../runtime/protocol.ts';
import { buildVariantBundle, type VariantResult } from '../../deploy/variant.ts';
import { toDeployed, type DeployedFunction } from '../../function.ts';
import { isZygoteCapable, type SandboxBackend, type SandboxSpec, type StartTimings, type ZygoteCapableBackend, type ZygoteSandbox } from '../../sandbox/types.ts';
import type { StartPath, StartPathKind } from '../start-path.ts';
import { ZygoteInstanceSandbox } from './instance-sandbox.ts';
import { BudgetZygoteMemory, type ZygoteLease, type ZygoteMemory } from './memory.ts';
import { ensurePackageFolder, npmInstaller, type PackageFolder, type PackageInstaller } from './packages.ts';
import {
  DEFAULT_TREE_OPTIONS,
  describeSet,
  isContained,
  packagesHash,
  planZygoteTree,
  setSize,
  type PackageSet,
  type TreeCandidate,
  type TreeOptions,
  type ZygoteTree,
} from './tree.ts';

/** A deployed function as the zygote path needs it: DeployedFunction carries its dependencies. */
export type ZygoteFunction = DeployedFunction;

/** The invoker's DeployedFunction of a version row, with its dependencies. */
export const toZygoteFunction = toDeployed;

export interface ZygoteStartPathOptions {
  /** The sandbox backend cold instances use; zygotes are made by the same one (createZygote). */
  backend: SandboxBackend;
  /** thaw's data directory. */
  dataDir: string;
  /**
   * Where package folders, zygote /code folders and nothing else go. Default: <dataDir>/zygotes with
   * containers; without namespaces, <os tmpdir>/thaw-zygotes-<hash of dataDir> (the agent reads
   * them by host path as the unprivileged user, and the data directory may not be traversable).
   */
  rootDir?: string;
  /** Where zygote memory comes from. Default: a budget of its own of tree.maxMemoryMb. */
  memory?: ZygoteMemory;
  /** Installs a set's package folder. Default: npm, as deploys do. */
  installer?: PackageInstaller;
  /** Tree planning (see tree.ts). */
  tree?: Partial<TreeOptions>;
  /**
   * Which deployed functions the tree is planned for (and may start from zygotes). Default: those
   * whose start preference is `zygote` or `auto`, or unset; not those that chose `cold` or `snapshot`.
   */
  shouldUse?: (fn: DeployedFunction) => boolean;
  /** A function's dependencies when DeployedFunction carries none. */
  dependenciesOf?: (fn: DeployedFunction) => Record<string, string> | undefined;
  /** A function's popularity for the tree. Default: the cold starts this path has seen for it. */
  popularity?: (fn: DeployedFunction) => number;
  /**
   * CPU weight of a zygote while it starts and waits (1024 = one core's share): its start is
   * background work and yields to instances under contention. Specialising gives the instance the
   * function's weight. Default 128.
   */
  zygoteCpuShares?: number;
  /** Consecutive failed zygote starts of a set before it is given up (until the next replan). Default 3. */
  maxFailures?: number;
  /** Wait before starting another zygote after a failure, ms (doubled each time). Default 1000. */
  retryDelayMs?: number;
  onWarning?: (message: string) => void;
}

type ZygoteState = 'starting' | 'ready' | 'taken' | 'gone';

interface Zygote {
  id: string;
  set: SetState;
  sandbox: ZygoteSandbox;
  lease: ZygoteLease;
  state: ZygoteState;
  /** Its memory limit (and V8 heap limit) as started: it serves functions up to this. */
  memoryMb: number;
  slotDir: string;
  timings?: StartTimings;
  startMs?: number;
}

interface SetState {
  key: string;
  packages: PackageSet;
  names: string[];
  network: boolean;
  memoryMb: number;
  replicas: number;
  planned: boolean;
  /** Evicted or expired by the keep-alive policy: not refilled until a function asks for it. */
  dormant: boolean;
  folder?: PackageFolder;
  installing?: Promise<PackageFolder | undefined>;
  disabled?: string;
  zygotes: Set<Zygote>;
  /** Zygotes taken but not yet done specialising: their replacements start when they are. */
  specialising: number;
  failures: number;
  retryTimer?: NodeJS.Timeout;
  counts: { started: number; failed: number; taken: number; evicted: number; died: number; noMemory: number };
  lastStart?: StartTimings;
  lastStartMs?: number;
}

interface Variant {
  status: 'building' | 'ready' | 'failed';
  path: string;
  result?: VariantResult;
  error?: string;
}

export interface ZygoteSetStats {
  key: string;
  packages: PackageSet;
  network: boolean;
  memoryMb: number;
  planned: boolean;
  dormant: boolean;
  disabled?: string;
  ready: number;
  starting: number;
  counts: SetState['counts'];
  /** The last zygote start of this set: sandboxMs, runtimeBootMs, importMs (the packages). */
  lastStart?: StartTimings;
  /** Wall time of that start, from asking for the sandbox to zygote-ready, ms. */
  lastStartMs?: number;
  /** Resident memory of each ready zygote, MB (cgroup usage, or RSS without cgroups). */
  residentMb: number[];
}

export interface ZygoteStats {
  sets: ZygoteSetStats[];
  variants: { ready: number; building: number; failed: number };
  specialised: number;
  fallbacks: number;
}

const BOOT_ENV = /^(NODE_(?!ENV$)|UV_)/;
const DEFAULT_ZYGOTE_CPU_SHARES = 128;

/**
 * Zygotes import whatever their package folders hold, into functions' processes: the folders must be
 * thaw's own. A directory someone else made (e.g. planted in a shared /tmp before thaw started), a
 * symbolic link, or one others may write to is refused.
 */
function assertOwnDirectory(dir: string): void {
  const st = lstatSync(dir);
  const uid = process.getuid?.();
  if (!st.isDirectory() || st.isSymbolicLink()) throw new Error(`zygote folder ${dir} is not a plain directory`);
  if (uid !== undefined && st.uid !== uid) throw new Error(`zygote folder ${dir} belongs to uid ${st.uid}, not to thaw (uid ${uid}): refusing to import packages from it`);
  if ((st.mode & 0o022) !== 0) throw new Error(`zygote folder ${dir} is writable by others (mode ${(st.mode & 0o777).toString(8)}): refusing to import packages from it`);
}

export class ZygoteStartPath implements StartPath {
  readonly kind: StartPathKind = 'zygote';
  readonly rootDir: string;
  readonly #backend: ZygoteCapableBackend;
  readonly #memory: ZygoteMemory;
  readonly #installer: PackageInstaller;
  readonly #tree: TreeOptions;
  readonly #options: ZygoteStartPathOptions;
  /** Registered functions: their latest deployed version, by name. */
  readonly #functions = new Map<string, ZygoteFunction>();
  readonly #coldStarts = new Map<string, number>();
  readonly #sets = new Map<string, SetState>();
  /** Variant bundles by codeDir and package-set hash. */
  readonly #variants = new Map<string, Variant>();
  /** Background work, for settled(). */
  readonly #pending = new Set<Promise<unknown>>();
  #plan: ZygoteTree | undefined;
  #replanQueued = false;
  #counter = 0;
  #specialised = 0;
  #fallbacks = 0;
  #closed = false;

  constructor(options: ZygoteStartPathOptions) {
    if (!isZygoteCapable(options.backend)) throw new TypeError(`the ${options.backend.name} sandbox backend cannot start zygotes (no createZygote())`);
    if (typeof options.dataDir !== 'string' || options.dataDir === '') throw new TypeError('dataDir must be a non-empty path');
    this.#options = options;
    this.#backend = options.backend;
    this.#tree = { ...DEFAULT_TREE_OPTIONS, ...Object.fromEntries(Object.entries(options.tree ?? {}).filter(([, v]) => v !== undefined)) } as TreeOptions;
    this.#memory = options.memory ?? new BudgetZygoteMemory(this.#tree.maxMemoryMb);
    this.#installer = options.installer ?? npmInstaller();
    const dataDir = resolve(options.dataDir);
    this.rootDir = resolve(
      options.rootDir ??
        (options.backend.isolation.namespaces ? join(dataDir, 'zygotes') : join(tmpdir(), `thaw-zygotes-${createHash('sha256').update(dataDir).digest('hex').slice(0, 12)}`)),
    );
    for (const dir of [this.rootDir, join(this.rootDir, 'sets'), join(this.rootDir, 'slots')]) {
      mkdirSync(dir, { recursive: true, mode: 0o755 });
      assertOwnDirectory(dir);
    }
    // Slots of a previous run belong to no live zygote.
    rmSync(join(this.rootDir, 'slots'), { recursive: true, force: true });
    mkdirSync(join(this.rootDir, 'slots'), { recursive: true, mode: 0o755 });
  }

  // ------------------------------------------------------------------ StartPath

  /** Whether a ready zygote can start `fn` now. Cheap: a scan of the (few) sets. */
  available(fn: DeployedFunction): boolean {
    if (this.#closed) return false;
    const deps = this.#eligibleDeps(fn);
    if (!deps) return false;
    return this.#choose(fn, deps, true) !== undefined;
  }

  create(fn: DeployedFunction, spec: SandboxSpec): ZygoteInstanceSandbox {
    const deps = this.#closed ? undefined : this.#eligibleDeps(fn);
    const choice = deps ? this.#choose(fn, deps, false) : undefined;
    let taken: ConstructorParameters<typeof ZygoteInstanceSandbox>[1];
    if (choice) {
      const { zygote, variant } = choice;
      // Handed out once: out of the ready set for good, its memory back to the budget (the
      // function's own instance accounts for it from now on).
      zygote.state = 'taken';
      zygote.set.zygotes.delete(zygote);
      zygote.set.counts.taken += 1;
      zygote.set.specialising += 1;
      zygote.lease.release();
      taken = { id: zygote.id, key: zygote.set.key, sandbox: zygote.sandbox, variantPath: variant.path };
    }
    const variantKey = choice ? this.#variantKey(fn.codeDir, choice.zygote.set.packages) : undefined;
    return new ZygoteInstanceSandbox(spec, taken, this.#options.backend, {
      onFallback: (reason, variantSuspect) => {
        this.#fallbacks += 1;
        this.#warn(`${fn.name}@${fn.version}: zygote start fell back to a cold start: ${reason}`);
        if (variantSuspect && variantKey) {
          const v = this.#variants.get(variantKey);
          if (v) {
            v.status = 'failed';
            v.error = reason;
          }
        }
      },
      onSpecialised: () => {
        this.#specialised += 1;
      },
      // Refill once the first response is out: a zygote's boot and imports would compete with it.
      onZygoteDone: () => {
        if (!choice) return;
        choice.zygote.set.specialising -= 1;
        this.#fill(choice.zygote.set);
      },
    });
  }

  onDeploy(fn: DeployedFunction): void {
    try {
      if (this.#closed) return;
      const current = this.#functions.get(fn.name);
      const deps = this.#ownDeps(fn);
      if (deps === undefined) {
        if (this.#uses(fn)) this.#warn(`${fn.name}@${fn.version}: its dependencies are unknown (DeployedFunction.dependencies, or the dependenciesOf option): it gets no zygote`);
        return;
      }
      if (!this.#uses(fn)) {
        // A new version that no longer wants zygotes leaves the tree.
        if (current && current.version <= fn.version) {
          this.#functions.delete(fn.name);
          this.#queueReplan();
        }
        return;
      }
      if (current && current.version > fn.version) return; // an older version: the tree follows the latest
      this.#functions.set(fn.name, { ...fn, dependencies: { ...deps } });
      this.#queueReplan();
    } catch (err) {
      this.#warn(`${fn.name}: zygote planning failed: ${(err as Error).message}`);
    }
  }

  onRetire(fn: DeployedFunction): void {
    const current = this.#functions.get(fn.name);
    if (current && current.version === fn.version) {
      this.#functions.delete(fn.name); // (its popularity stays: it carries over to its next version)
      this.#queueReplan();
    }
    for (const [key, v] of this.#variants) if (key.startsWith(`${fn.codeDir}\0`) && v.status !== 'building') this.#variants.delete(key);
  }

  onColdStart(fn: DeployedFunction, _path: StartPathKind, _startMs: number): void {
    if (this.#options.popularity) return;
    const n = (this.#coldStarts.get(fn.name) ?? 0) + 1;
    this.#coldStarts.set(fn.name, n);
    // Becoming popular can earn a function a zygote of its own.
    if (n === Math.ceil(this.#tree.popularWeight) && this.#functions.has(fn.name)) this.#queueReplan();
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    const destroying: Promise<unknown>[] = [];
    for (const set of this.#sets.values()) {
      if (set.retryTimer) clearTimeout(set.retryTimer);
      for (const z of set.zygotes) destroying.push(this.#discard(z));
    }
    await Promise.all(destroying);
    await this.settled();
    for (const set of this.#sets.values()) for (const z of set.zygotes) await this.#discard(z);
  }

  // ------------------------------------------------------------------ inspection (tests, benchmark)

  /** Resolves when no background work (installs, builds, zygote starts) is left. */
  async settled(): Promise<void> {
    while (this.#pending.size > 0 || this.#replanQueued) {
      if (this.#replanQueued) await new Promise((r) => setImmediate(r));
      await Promise.allSettled([...this.#pending]);
    }
  }

  /** The current plan (after the last replan). */
  get plan(): ZygoteTree | undefined {
    return this.#plan;
  }

  /** The set a cold start of `fn` would take now (undefined: none ready). */
  match(fn: DeployedFunction): { key: string; packages: PackageSet } | undefined {
    const deps = this.#eligibleDeps(fn);
    const choice = deps ? this.#choose(fn, deps, false) : undefined;
    return choice && { key: choice.zygote.set.key, packages: choice.zygote.set.packages };
  }

  /** Ids of the zygotes ready to be taken now. */
  readyZygotes(): Array<{ id: string; key: string; pid: number | undefined }> {
    const out: Array<{ id: string; key: string; pid: number | undefined }> = [];
    for (const set of this.#sets.values()) for (const z of set.zygotes) if (z.state === 'ready') out.push({ id: z.id, key: set.key, pid: z.sandbox.pid });
    return out;
  }

  async stats(): Promise<ZygoteStats> {
    const sets: ZygoteSetStats[] = [];
    for (const set of [...this.#sets.values()].sort((a, b) => setSize(a.packages) - setSize(b.packages) || (a.key < b.key ? -1 : 1))) {
      const ready = [...set.zygotes].filter((z) => z.state === 'ready');
      sets.push({
        key: set.key,
        packages: set.packages,
        network: set.network,
        memoryMb: set.memoryMb,
        planned: set.planned,
        dormant: set.dormant,
        ...(set.disabled ? { disabled: set.disabled } : {}),
        ready: ready.length,
        starting: [...set.zygotes].filter((z) => z.state === 'starting').length,
        counts: { ...set.counts },
        ...(set.lastStart ? { lastStart: set.lastStart, lastStartMs: set.lastStartMs } : {}),
        residentMb: await Promise.all(ready.map((z) => z.sandbox.memoryUsageMb().catch(() => 0))),
      });
    }
    const variants = { ready: 0, building: 0, failed: 0 };
    for (const v of this.#variants.values()) variants[v.status] += 1;
    return { sets, variants, specialised: this.#specialised, fallbacks: this.#fallbacks };
  }

  /** Replans now (onDeploy/onRetire queue it; tests and callers with new popularity call it). */
  replan(): void {
    this.#replanQueued = false;
    if (this.#closed) return;
    const candidates: TreeCandidate[] = [];
    for (const fn of this.#functions.values()) {
      if (this.#bootEnvReason(fn)) continue;
      candidates.push({ name: fn.name, dependencies: fn.dependencies ?? {}, weight: this.#weight(fn), memoryMb: fn.memoryMb, network: fn.network });
    }
    const plan = planZygoteTree(candidates, this.#tree);
    this.#plan = plan;
    const keep = new Set(plan.kept.map((n) => n.key));
    for (const set of this.#sets.values()) {
      if (keep.has(set.key)) continue;
      set.planned = false;
      for (const z of set.zygotes) if (z.state === 'ready') void this.#discard(z);
    }
    for (const node of plan.kept) {
      let set = this.#sets.get(node.key);
      if (!set) {
        set = {
          key: node.key,
          packages: node.packages,
          names: Object.keys(node.packages),
          network: node.network,
          memoryMb: node.memoryMb,
          replicas: this.#tree.replicas,
          planned: true,
          dormant: false,
          zygotes: new Set(),
          specialising: 0,
          failures: 0,
          counts: { started: 0, failed: 0, taken: 0, evicted: 0, died: 0, noMemory: 0 },
        };
        this.#sets.set(node.key, set);
      }
      set.planned = true;
      set.dormant = false;
      set.disabled = undefined;
      set.failures = 0;
      set.replicas = this.#tree.replicas;
      if (node.memoryMb !== set.memoryMb) {
        // New zygotes of the set get the new limit; those waiting keep theirs and serve what fits.
        set.memoryMb = node.memoryMb;
      }
      this.#fill(set);
    }
    // Variants of every registered function for every kept set contained in its dependencies.
    for (const fn of this.#functions.values()) {
      for (const node of plan.kept) {
        if (node.network === fn.network && isContained(node.packages, fn.dependencies ?? {})) this.#ensureVariant(fn, this.#sets.get(node.key)!);
      }
    }
  }

  // ------------------------------------------------------------------ choosing

  /** The version's dependencies: carried by fn, or from the dependenciesOf option. */
  #ownDeps(fn: DeployedFunction): Record<string, string> | undefined {
    const own = (fn as ZygoteFunction).dependencies;
    if (own !== undefined && own !== null) return own;
    return this.#options.dependenciesOf?.(fn);
  }

  /** As #ownDeps, else what was registered for this very version at deploy. */
  #depsOf(fn: DeployedFunction): Record<string, string> | undefined {
    const registered = this.#functions.get(fn.name);
    return this.#ownDeps(fn) ?? (registered?.version === fn.version ? registered.dependencies : undefined);
  }

  /** Environment variables that configure node itself at boot cannot reach a runtime already booted. */
  #bootEnvReason(fn: DeployedFunction): string | undefined {
    for (const [key, value] of Object.entries(fn.env ?? {})) {
      if (BOOT_ENV.test(key)) return `its environment sets ${key}, which node reads at boot`;
      if (key === 'NODE_ENV' && value !== 'production') return `its NODE_ENV (${value}) differs from the one the zygote's packages were imported with (production)`;
    }
    return undefined;
  }

  #uses(fn: DeployedFunction): boolean {
    if (this.#options.shouldUse) return this.#options.shouldUse(fn);
    return fn.start === undefined || fn.start === 'zygote' || fn.start === 'auto';
  }

  #eligibleDeps(fn: DeployedFunction): Record<string, string> | undefined {
    if (!this.#uses(fn)) return undefined;
    const deps = this.#depsOf(fn);
    if (deps === undefined || this.#bootEnvReason(fn)) return undefined;
    return deps;
  }

  /**
   * The deepest set with a ready zygote, contained in `deps`, with the same network and enough
   * memory, whose variant of fn is built. A missing variant of a set is started on the way (the
   * next cold start can use it). `wake`: sets the function could use that were evicted (dormant)
   * or are short of zygotes are refilled: a cold start is demand for them.
   */
  #choose(fn: DeployedFunction, deps: Record<string, string>, wake: boolean): { zygote: Zygote; variant: Variant } | undefined {
    const candidates = [...this.#sets.values()]
      .filter((s) => s.network === fn.network && isContained(s.packages, deps))
      .sort((a, b) => setSize(b.packages) - setSize(a.packages) || (a.key < b.key ? -1 : 1));
    let found: { zygote: Zygote; variant: Variant } | undefined;
    for (const set of candidates) {
      if (wake && set.planned && (set.dormant || set.zygotes.size + set.specialising < set.replicas)) {
        set.dormant = false;
        this.#fill(set);
      }
      if (found) continue;
      const zygote = [...set.zygotes].find((z) => z.state === 'ready' && z.sandbox.status === 'zygote' && z.memoryMb >= fn.memoryMb);
      if (!zygote) continue;
      const variant = this.#variants.get(this.#variantKey(fn.codeDir, set.packages));
      if (variant?.status === 'ready') {
        found = { zygote, variant };
      } else if (!variant) {
        this.#ensureVariant(fn, set);
      }
    }
    return found;
  }

  #weight(fn: DeployedFunction): number {
    const w = this.#options.popularity ? this.#options.popularity(fn) : (this.#coldStarts.get(fn.name) ?? 0);
    return Number.isFinite(w) && w > 0 ? w : 0;
  }

  // ------------------------------------------------------------------ zygotes

  /** Starts zygotes of `set` until it has its replicas (as far as memory allows), in the background. */
  #fill(set: SetState): void {
    if (this.#closed || !set.planned || set.dormant || set.disabled || set.retryTimer) return;
    if (!set.folder) {
      this.#install(set);
      return;
    }
    while (set.zygotes.size < set.replicas) {
      const zygote = this.#spawn(set);
      if (!zygote) break;
    }
  }

  #install(set: SetState): void {
    if (set.installing) return;
    set.installing = this.#track(
      ensurePackageFolder(this.rootDir, set.packages, this.#installer).then(
        (folder) => {
          set.folder = folder;
          set.installing = undefined;
          this.#fill(set);
          return folder;
        },
        (err: Error) => {
          set.installing = undefined;
          set.disabled = `installing ${describeSet(set.packages)} failed: ${err.message}`;
          this.#warn(`zygote ${set.key}: ${set.disabled}`);
          return undefined;
        },
      ),
    );
  }

  /** The set's package folder, installing it if needed (undefined: the install failed). */
  #folderOf(set: SetState): Promise<PackageFolder | undefined> {
    if (set.folder) return Promise.resolve(set.folder);
    this.#install(set);
    return set.installing ?? Promise.resolve(set.folder);
  }

  #spawn(set: SetState): Zygote | undefined {
    let zygote: Zygote | undefined;
    const lease = this.#memory.reserve(set.key, set.memoryMb, () => {
      if (zygote) this.#onEvicted(zygote);
    });
    if (!lease) {
      set.counts.noMemory += 1;
      return undefined;
    }
    const id = `zygote-${set.key.slice(0, 12)}-${process.pid}-${++this.#counter}`;
    const slotDir = join(this.rootDir, 'slots', id);
    let sandbox: ZygoteSandbox;
    try {
      rmSync(slotDir, { recursive: true, force: true });
      mkdirSync(slotDir, { mode: 0o755 });
      const spec: SandboxSpec = {
        instanceId: id,
        functionName: `zygote-${set.key.slice(0, 12)}`,
        version: 0,
        codeDir: slotDir,
        memoryMb: set.memoryMb,
        cpuShares: this.#options.zygoteCpuShares ?? DEFAULT_ZYGOTE_CPU_SHARES,
        env: {},
        network: set.network,
      };
      sandbox = this.#backend.createZygote(spec, { packageDir: set.folder!.dir, packages: set.names });
    } catch (err) {
      lease.release();
      rmSync(slotDir, { recursive: true, force: true });
      this.#failed(set, `could not create a zygote: ${(err as Error).message}`);
      return undefined;
    }
    const z: Zygote = { id, set, sandbox, lease, state: 'starting', memoryMb: set.memoryMb, slotDir };
    zygote = z;
    set.zygotes.add(z);
    set.counts.started += 1;
    const t0 = performance.now();
    // Its /code folder goes when its process does, whoever ends it.
    void sandbox.exited.then(() => {
      rmSync(slotDir, { recursive: true, force: true });
      if (z.state === 'ready') {
        // Died while waiting (killed, out of memory): replace it.
        z.state = 'gone';
        set.zygotes.delete(z);
        set.counts.died += 1;
        lease.release();
        this.#failed(set, `zygote ${id} exited while it waited`);
      }
    });
    this.#track(
      sandbox.start().then(
        (timings) => {
          if (z.state !== 'starting') return; // discarded meanwhile
          if (this.#closed || !set.planned) {
            void this.#discard(z);
            return;
          }
          z.state = 'ready';
          z.timings = timings;
          z.startMs = performance.now() - t0;
          set.lastStart = timings;
          set.lastStartMs = z.startMs;
          set.failures = 0;
          lease.ready(z.startMs);
        },
        (err: Error) => {
          if (z.state !== 'starting') return;
          z.state = 'gone';
          set.zygotes.delete(z);
          lease.release();
          set.counts.failed += 1;
          this.#failed(set, `a zygote of ${describeSet(set.packages)} failed to start: ${err.message}`);
        },
      ),
    );
    return z;
  }

  /** After a failure: retry later with back-off, or give the set up. */
  #failed(set: SetState, message: string): void {
    set.failures += 1;
    const max = this.#options.maxFailures ?? 3;
    if (set.failures >= max) {
      set.disabled = `${message} (${set.failures} failures in a row; not retried until the next replan)`;
      this.#warn(`zygote ${set.key}: ${set.disabled}`);
      return;
    }
    this.#warn(`zygote ${set.key}: ${message}; retrying`);
    if (this.#closed || set.retryTimer) return;
    const delay = (this.#options.retryDelayMs ?? 1000) * 2 ** (set.failures - 1);
    let done!: () => void;
    this.#track(new Promise<void>((r) => (done = r)));
    set.retryTimer = setTimeout(() => {
      set.retryTimer = undefined;
      done();
      this.#fill(set);
    }, delay);
    set.retryTimer.unref?.();
  }

  /** The keep-alive policy evicted or expired a waiting zygote: destroy it; refill on demand only. */
  #onEvicted(z: Zygote): void {
    if (z.state !== 'ready' && z.state !== 'starting') return;
    z.set.counts.evicted += 1;
    z.set.dormant = true;
    void this.#discard(z);
  }

  /** Destroys a zygote that was never taken, and gives its memory back. */
  #discard(z: Zygote): Promise<void> {
    if (z.state === 'taken' || z.state === 'gone') return Promise.resolve();
    z.state = 'gone';
    z.set.zygotes.delete(z);
    z.lease.release();
    return this.#track(z.sandbox.destroy().catch((err: Error) => this.#warn(`could not destroy zygote ${z.id}: ${err.message}`)));
  }

  // ------------------------------------------------------------------ variants

  #variantKey(codeDir: string, packages: PackageSet): string {
    return `${codeDir}\0${packagesHash(packages)}`;
  }

  /** Builds (once) fn's variant bundle with `set`'s packages external, in the version's folder. */
  #ensureVariant(fn: DeployedFunction, set: SetState): void {
    const key = this.#variantKey(fn.codeDir, set.packages);
    if (this.#variants.has(key)) return;
    const dir = join(fn.codeDir, 'zygote');
    const path = join(dir, `${packagesHash(set.packages)}.cjs`);
    const variant: Variant = { status: 'building', path };
    this.#variants.set(key, variant);
    const build = async () => {
      const folder = await this.#folderOf(set);
      if (!folder) throw new Error(`the package folder of ${describeSet(set.packages)} is not available`);
      const metaPath = `${path}.json`;
      const want = JSON.stringify({ packages: set.packages, integrity: folder.integrity });
      if (existsSync(path) && existsSync(metaPath)) {
        try {
          const meta = JSON.parse(readFileSync(metaPath, 'utf8')) as { key?: string; result?: VariantResult };
          if (meta.key === want && meta.result) return meta.result;
        } catch {
          // rebuild
        }
      }
      mkdirSync(dir, { recursive: true, mode: 0o755 });
      const result = await buildVariantBundle(fn.codeDir, { ...set.packages }, path, { integrity: folder.integrity });
      writeFileSync(metaPath, `${JSON.stringify({ key: want, result }, null, 2)}\n`);
      return result;
    };
    this.#track(
      build().then(
        (result) => {
          variant.status = 'ready';
          variant.result = result;
          if (result.bundledInstead.length > 0) {
            this.#warn(`${fn.name}@${fn.version}: with zygote ${set.key}, bundled anyway: ${result.bundledInstead.map((b) => `${b.name} (${b.reason})`).join('; ')}`);
          }
        },
        (err: Error) => {
          variant.status = 'failed';
          variant.error = err.message;
          this.#warn(`${fn.name}@${fn.version}: variant bundle for zygote ${set.key} failed: ${err.message}`);
        },
      ),
    );
  }

  // ------------------------------------------------------------------ plumbing

  /** The variant of fn for a set (for tests and the benchmark). */
  variantOf(fn: DeployedFunction, packages: PackageSet): { status: Variant['status']; path: string; result?: VariantResult; error?: string } | undefined {
    const v = this.#variants.get(this.#variantKey(fn.codeDir, packages));
    return v && { ...v };
  }

  #queueReplan(): void {
    if (this.#replanQueued || this.#closed) return;
    this.#replanQueued = true;
    setImmediate(() => {
      if (!this.#replanQueued) return;
      try {
        this.replan();
      } catch (err) {
        this.#warn(`zygote replan failed: ${(err as Error).message}`);
      }
    });
  }

  #track<T>(promise: Promise<T>): Promise<T> {
    this.#pending.add(promise);
    void promise.finally(() => this.#pending.delete(promise)).catch(() => undefined);
    return promise;
  }

  #warn(message: string): void {
    this.#options.onWarning?.(message);
  }
}

export type { ZygoteLoadReport };
