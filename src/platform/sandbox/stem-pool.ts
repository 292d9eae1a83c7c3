// Stems: lean containers made before any function is known, so a cold start skips making one.
//
// A cold container start spends ~25 ms before node runs: the placing shell, the move into a fresh
// cgroup (the kernel waits out an RCU grace period), bubblewrap's namespaces and mounts. A stem is
// all of that done ahead: a bwrap sandbox (the same namespaces, mounts, seccomp filter and
// capabilities as a cold instance's), spawned into a cgroup of its own, running nothing but a
// waiting shell (`sh -s`, the host's /bin/sh bound read-only at /thaw/sh) that reads its script
// from stdin. On assignment the host links the function's files into the stem's slot (a host
// folder of its own, bound read-only at /code since the stem started: a bind shows what the host
// writes there later), sets the function's limits on the stem's cgroup, and writes the script:
// the function's environment, then `exec node agent.cjs --bundle=/code/bundle.cjs ...`. Node's boot,
// the agent and the import stay on the critical path: a pooled start is still a cold start.
//
// Each stem serves one instance, once; its slot holds only that function's files, so a function
// still sees no other function's code. A function with network access gets a stem made with a
// network namespace of its own (netns.ts), never shared. What a stem cannot know ahead is the
// function's name: a pooled instance's hostname is `fn-pooled`, not `fn-<name>`. The pool refills
// in the background after each start (not during it); a stem that dies waiting is replaced; after
// repeated failures the pool gives up, says why, and instances start as before.

import type { ChildProcess } from 'node:child_process';
import { chmod, mkdir, readdir, readFile, realpath, rm, rmdir } from 'node:fs/promises';
import { dirname, join } from 'node:path';

import { isInstalledLoader } from '../deploy/layout.ts';
import { BubblewrapLauncher, type ResolvedLeanOptions } from './bubblewrap.ts';
import type { InstanceCgroup } from './cgroups.ts';
import { linkEntry, linkTree } from './code-view.ts';
import type { Launcher, RuntimeEntry, RuntimeHandle, SpawnCommand, WaitingRuntime } from './launcher.ts';
import { spawnPlaced } from './runtime-process.ts';
import type { SandboxSpec } from './types.ts';

/** Where the waiting shell is bound inside a stem. */
const SHELL_INSIDE = '/thaw/sh';
/** The function name a stem's container is made for (its hostname: fn-pooled). */
const STEM_FUNCTION = 'pooled';
/** A waiting stem's limits: small and low-weight (assignment sets the function's). */
const STEM_MEMORY_MB = 64;
const STEM_CPU_SHARES = 128;
/** Consecutive stems that die before they are ready before the pool gives up. */
const MAX_FAILURES = 3;
/** Environment names the script can export (others: such a function starts without a stem). */
const SHELL_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

export interface StemPoolOptions {
  /** Stems kept waiting per kind (without network access; with, once a function asked for one). 0: no pool. */
  size: number;
  /** Where slots go (default <tmpRoot>/.stems; each pool makes a folder of its own inside). */
  root?: string;
  /** One line when the pool gives up (default: to stderr). */
  onWarning?: (message: string) => void;
}

export interface StemPoolStatus {
  size: number;
  /** Stems ready (waiting) now, by kind. */
  ready: { isolated: number; network: number };
  /** Stems handed to instances, started, died before assignment. */
  counts: { taken: number; started: number; died: number };
  /** Why the pool gave up, when it did. */
  disabled?: string;
}

/** One stem: a waiting container in its cgroup. */
export class Stem implements WaitingRuntime {
  ready = false;
  handedOver = false;
  #stderr = '';

  constructor(
    readonly id: string,
    readonly network: boolean,
    readonly slotDir: string,
    readonly child: ChildProcess,
    readonly exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>,
    readonly cgroup: InstanceCgroup | undefined,
    /** The stem's own launcher: it holds the stem's network namespace. */
    readonly launcher: BubblewrapLauncher,
  ) {
    child.stderr?.on('data', this.#collectStderr);
  }

  #collectStderr = (chunk: Buffer): void => {
    if (this.#stderr.length < 2000) this.#stderr += chunk.toString();
  };

  get alive(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  /** What the stem wrote before it was handed over (bwrap's error, if it failed). */
  get stderrTail(): string {
    return this.#stderr.trim().split('\n').slice(-3).join(' | ');
  }

  /** Links the version's files into the slot (mounted at /code inside). */
  async fill(codeDir: string): Promise<void> {
    await linkEntry(join(codeDir, 'bundle.cjs'), join(this.slotDir, 'bundle.cjs'));
    const bundle = await readFile(join(this.slotDir, 'bundle.cjs'), 'utf8');
    if (isInstalledLoader(bundle)) await linkTree(join(codeDir, 'src'), join(this.slotDir, 'src'));
  }

  /** The instance's runtime process takes over the stem's process, pipes and cgroup. */
  handOver(): void {
    this.handedOver = true;
    this.child.stderr?.off('data', this.#collectStderr);
  }

  /** The waiting shell runs `cmd` (in /code): its environment exported, then node exec'd (stdin from /dev/null). */
  run(cmd: SpawnCommand): void {
    const lines = Object.entries(cmd.env).map(([k, v]) => `export ${k}=${shellQuote(v)}`);
    // (No `cd`: bwrap started the shell in /code already, and cd would export OLDPWD to the function.)
    lines.push(`exec ${[cmd.file, ...cmd.args].map(shellQuote).join(' ')} </dev/null`);
    const stdin = this.child.stdin!;
    stdin.on('error', () => undefined); // a stem that died meanwhile: its exit says so
    stdin.end(`${lines.join('\n')}\n`);
  }

  /** Kills it (if the instance did not take it over) and removes what it held. */
  async destroy(): Promise<void> {
    if (!this.handedOver) {
      try {
        if (this.child.pid !== undefined) process.kill(-this.child.pid, 'SIGKILL');
      } catch {
        // gone
      }
      await this.cgroup?.killAll().catch(() => undefined);
      await this.exit;
      await this.cgroup?.destroy().catch(() => undefined);
    }
    await this.launcher.release();
    await rm(this.slotDir, { recursive: true, force: true }).catch(() => undefined);
  }
}

/** Single quotes for the shell (a ' becomes '\''). */
export function shellQuote(value: string): string {
  return `'${value.replaceAll("'", `'\\''`)}'`;
}

/** Pools made by this process (names their folders and stems). */
let pools = 0;

export class StemPool {
  readonly size: number;
  /** Its folder of slots, and the prefix of its stems' names (and cgroups). */
  readonly root: string;
  readonly name: string;
  readonly #waiting = new Map<boolean, Set<Stem>>([
    [false, new Set()],
    [true, new Set()],
  ]);
  /** Kinds kept filled: without network always; with network once a function asked for one. */
  readonly #kinds = new Set<boolean>([false]);
  readonly #starting = new Map<boolean, number>([
    [false, 0],
    [true, 0],
  ]);
  readonly #onWarning: (message: string) => void;
  #shell: Promise<string> | undefined;
  #seq = 0;
  #failures = 0;
  #disabled: string | undefined;
  #closed = false;
  #counts = { taken: 0, started: 0, died: 0 };
  #idle: Array<() => void> = [];

  constructor(
    private readonly lean: ResolvedLeanOptions,
    options: StemPoolOptions,
  ) {
    if (!(Number.isInteger(options.size) && options.size >= 0)) throw new TypeError(`stem pool size must be a non-negative integer, got ${options.size}`);
    this.size = options.size;
    // A folder (and stem names) of its own: several pools may live in one thaw (tests, benchmarks).
    this.name = `stem-${process.pid}-${++pools}`;
    this.root = join(options.root ?? join(lean.tmpRoot, '.stems'), this.name);
    this.#onWarning = options.onWarning ?? ((message) => process.stderr.write(`thaw: ${message}\n`));
    this.#reaped = reapStaleStems(dirname(this.root), lean);
  }

  /** Removing what killed thaws left (see reapStaleStems); stems are made after it. */
  readonly #reaped: Promise<void>;

  status(): StemPoolStatus {
    return {
      size: this.size,
      ready: { isolated: this.#readyCount(false), network: this.#readyCount(true) },
      counts: { ...this.#counts },
      ...(this.#disabled ? { disabled: this.#disabled } : {}),
    };
  }

  #readyCount(network: boolean): number {
    return [...this.#waiting.get(network)!].filter((s) => s.ready && s.alive).length;
  }

  /**
   * A waiting stem for a function (with or without network access), ready first, else one still
   * being made (it is further along than a new one); undefined when there is none.
   */
  take(network: boolean): Stem | undefined {
    if (network && this.lean.networks && !this.#kinds.has(true)) this.#kinds.add(true);
    const stems = [...this.#waiting.get(network)!].filter((s) => s.alive);
    const stem = stems.find((s) => s.ready) ?? stems[0];
    if (!stem) return undefined;
    this.#waiting.get(network)!.delete(stem);
    this.#counts.taken += 1;
    return stem;
  }

  /** Makes stems until each kind has `size` (in the background; call after a start, not during it). */
  refill(): void {
    if (this.#closed || this.#disabled || this.size === 0) return;
    for (const network of this.#kinds) {
      while (this.#waiting.get(network)!.size + this.#starting.get(network)! < this.size) {
        this.#starting.set(network, this.#starting.get(network)! + 1);
        void this.#make(network)
          .catch((err: unknown) => this.#failed(`a stem could not be made: ${(err as Error).message}`))
          .finally(() => {
            this.#starting.set(network, this.#starting.get(network)! - 1);
            this.#settle();
          });
      }
    }
  }

  /** Settles once no stem is being made (tests, benchmarks). */
  filled(): Promise<void> {
    if ([...this.#starting.values()].every((n) => n === 0) && [...this.#waiting.values()].every((set) => [...set].every((s) => s.ready))) return Promise.resolve();
    return new Promise((resolve) => this.#idle.push(resolve));
  }

  #settle(): void {
    if ([...this.#starting.values()].some((n) => n > 0)) return;
    if ([...this.#waiting.values()].some((set) => [...set].some((s) => !s.ready && s.alive))) return;
    for (const resolve of this.#idle.splice(0)) resolve();
  }

  #failed(message: string): void {
    this.#failures += 1;
    if (this.#failures >= MAX_FAILURES && !this.#disabled) {
      this.#disabled = `${message} (${MAX_FAILURES} times in a row): instances start without stems`;
      this.#onWarning(`stem pool disabled: ${this.#disabled}`);
    }
  }

  async #make(network: boolean): Promise<void> {
    await this.#reaped;
    this.#seq += 1;
    const id = `${this.name}-${this.#seq}`;
    const slotDir = join(this.root, id);
    await mkdir(this.root, { recursive: true, mode: 0o711 });
    await chmod(dirname(this.root), 0o711);
    await mkdir(slotDir, { mode: 0o755 });
    await chmod(slotDir, 0o755);
    const spec: SandboxSpec = { instanceId: id, functionName: STEM_FUNCTION, version: 0, codeDir: slotDir, memoryMb: STEM_MEMORY_MB, env: {}, network };
    const launcher = new BubblewrapLauncher(spec, this.lean, { kind: 'agent' });
    let cgroup: InstanceCgroup | undefined;
    try {
      await launcher.prepare();
      cgroup = (await this.lean.cgroups?.create(id, { memoryMb: STEM_MEMORY_MB, cpuShares: STEM_CPU_SHARES, cpuQuota: null, pidsMax: this.lean.pidsMax })) ?? undefined;
      const shell = await (this.#shell ??= realpath('/bin/sh'));
      // The ready mark is a line of its own that is not JSON: a stem taken before it said it (still
      // being made) hands it to the instance's channel, which ignores such lines.
      const cmd = launcher.stemCommand(shell, SHELL_INSIDE, ['-c', `echo stem-ready >&3 && exec ${SHELL_INSIDE} -s`]);
      const child = spawnPlaced(cmd, cgroup?.procsFiles() ?? [], 'pipe', this.lean.scheduling.prefix);
      const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
        child.once('exit', (code, signal) => resolve({ code, signal }));
        child.once('error', () => resolve({ code: null, signal: null }));
      });
      const stem = new Stem(id, network, slotDir, child, exit, cgroup, launcher);
      this.#counts.started += 1;
      this.#waiting.get(network)!.add(stem);
      void exit.then(() => this.#onStemExit(stem));
      await whenReady(stem);
      if (stem.ready) this.#failures = 0;
    } catch (err) {
      await cgroup?.destroy().catch(() => undefined);
      await launcher.release();
      await rm(slotDir, { recursive: true, force: true }).catch(() => undefined);
      throw err;
    }
  }

  /** A stem that died waiting is replaced (and counted as a failure if it never got ready). */
  async #onStemExit(stem: Stem): Promise<void> {
    if (stem.handedOver || !this.#waiting.get(stem.network)!.delete(stem)) return;
    if (this.#closed) return;
    this.#counts.died += 1;
    if (!stem.ready) this.#failed(`a stem exited before it was ready${stem.stderrTail ? `: ${stem.stderrTail}` : ''}`);
    this.refill();
    await stem.destroy();
    this.#settle();
  }

  /** The stems waiting now (for inspection). */
  waitingStems(): Stem[] {
    return [...this.#waiting.values()].flatMap((set) => [...set]);
  }

  /** Destroys every waiting stem. */
  async close(): Promise<void> {
    this.#closed = true;
    const stems = [...this.#waiting.values()].flatMap((set) => [...set]);
    for (const set of this.#waiting.values()) set.clear();
    await Promise.all(stems.map((s) => s.destroy()));
    await rm(this.root, { recursive: true, force: true }).catch(() => undefined);
  }
}

/**
 * The slots and (empty) cgroups of the pools of thaws that were killed: bwrap's --die-with-parent
 * ended their stems, but not what they held on the host. A pool is named stem-<pid>-<n>; its pid
 * no longer running is what says it is stale.
 */
async function reapStaleStems(slotsRoot: string, lean: ResolvedLeanOptions): Promise<void> {
  const stale = (name: string): boolean => {
    const pid = /^stem-(\d+)-\d+/.exec(name)?.[1];
    if (pid === undefined || Number(pid) === process.pid) return false;
    try {
      process.kill(Number(pid), 0);
      return false;
    } catch (err) {
      return (err as NodeJS.ErrnoException).code === 'ESRCH';
    }
  };
  const slots = await readdir(slotsRoot).catch(() => [] as string[]);
  for (const name of slots.filter(stale)) await rm(join(slotsRoot, name), { recursive: true, force: true }).catch(() => undefined);
  for (const parent of new Set(Object.values(lean.cgroups?.parents ?? {}))) {
    const groups = await readdir(parent).catch(() => [] as string[]);
    for (const name of groups.filter(stale)) await rmdir(join(parent, name)).catch(() => undefined); // only empty ones go
  }
}

/** Resolves once the stem's shell said it waits (one byte on fd 3), or when it exits first. */
function whenReady(stem: Stem): Promise<void> {
  const channel = stem.child.stdio[3] as NodeJS.ReadableStream;
  return new Promise((resolve) => {
    const onData = (): void => {
      channel.off('data', onData);
      stem.ready = true;
      resolve();
    };
    channel.on('data', onData);
    channel.on('error', () => undefined);
    void stem.exit.then(() => resolve());
  });
}

/**
 * A container instance that starts in a stem when the pool has one, else exactly as a cold
 * container (the inner launcher). Everything but prepare, command and release is the container's.
 */
export class StemLauncher implements Launcher {
  readonly backend = 'container';
  readonly entry: RuntimeEntry = { kind: 'agent' };
  readonly #inner: BubblewrapLauncher;
  #stem: Stem | undefined;

  constructor(
    private readonly spec: SandboxSpec,
    lean: ResolvedLeanOptions,
    private readonly pool: StemPool,
  ) {
    this.#inner = new BubblewrapLauncher(spec, lean, this.entry);
  }

  /** Whether it started in a stem (after start()). */
  get pooled(): boolean {
    return this.#stem !== undefined;
  }

  marksInvocations(): boolean {
    return this.#inner.marksInvocations();
  }

  servesConcurrently(): boolean {
    return this.#inner.servesConcurrently();
  }

  bundlePathForAgent(): string {
    return this.#inner.bundlePathForAgent();
  }

  async prepare(): Promise<void> {
    const usable = Object.keys(this.spec.env).every((k) => SHELL_NAME.test(k));
    const stem = usable ? this.pool.take(this.spec.network) : undefined;
    if (stem) {
      try {
        await stem.fill(this.spec.codeDir);
        if (stem.alive) {
          this.#stem = stem;
          return;
        }
      } catch {
        // the version's files could not be linked in: start without it
      }
      await stem.destroy();
    }
    await this.#inner.prepare();
  }

  takeWaiting(): WaitingRuntime | undefined {
    return this.#stem;
  }

  /** In a stem: node itself (the stem's shell execs it); else the cold container's bwrap command. */
  command(handle: RuntimeHandle): SpawnCommand {
    return this.#stem ? this.#inner.nodeCommand(handle) : this.#inner.command(handle);
  }

  async release(): Promise<void> {
    const stem = this.#stem;
    if (stem) await stem.destroy();
    await this.#inner.release();
  }

  afterStart(): void {
    this.#inner.afterStart();
    this.pool.refill();
  }

  translateExit(code: number | null, signal: NodeJS.Signals | null): { code: number | null; signal: string | null } {
    return this.#inner.translateExit(code, signal);
  }

  findRuntimePid(spawnedPid: number): Promise<number> {
    return this.#inner.findRuntimePid(spawnedPid);
  }

  beforeKill(handle: RuntimeHandle): Promise<void> {
    return this.#inner.beforeKill(handle);
  }
}
