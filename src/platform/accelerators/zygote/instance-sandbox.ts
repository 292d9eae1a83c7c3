// The Sandbox a zygote start hands the invoker: on start() it writes the function's variant bundle
// into the zygote's own /code folder and specialises the zygote (no sandbox to create, no runtime to
// boot, the zygote's packages already imported); from then on it is the function's instance and
// every call goes to the specialised zygote. A zygote that cannot be specialised for a reason that
// is not the function's (it died, its limits could not be set, the variant failed where the
// function's own bundle may not) gives way to a cold start of the same spec: a start path never
// fails a request that a cold start could serve.

import { chmod, copyFile, link, mkdir, readdir, readFile, readlink, symlink } from 'node:fs/promises';
import { join } from 'node:path';
import { isInstalledLoader } from '../../deploy/layout.ts';

import type { InvocationContext, ZygoteLoadReport } from '../../../runtime/protocol.ts';
import { SandboxError, SandboxStartError } from '../../sandbox/errors.ts';
import type { ExitInfo, InvokeOutcome, Sandbox, SandboxBackend, SandboxSpec, StartTimings, ZygoteSandbox } from '../../sandbox/types.ts';

export interface TakenZygote {
  /** The zygote's id (its cgroup, its slot folder). */
  id: string;
  key: string;
  sandbox: ZygoteSandbox;
  /** The variant bundle to copy to the zygote's /code/bundle.cjs. */
  variantPath: string;
}

export interface InstanceSandboxHooks {
  /** The zygote could not be used (platform reasons); `variant` = the variant bundle is suspect. */
  onFallback(reason: string, variant: boolean): void;
  /** The zygote became the function's instance. */
  onSpecialised(timings: StartTimings, load: ZygoteLoadReport | undefined): void;
  /**
   * The taken zygote's start is over — the instance answered its first invocation (or did not start,
   * fell back to cold, was destroyed, or got no invocation within `refillAfterMs` of starting): time
   * to start its replacement, which would otherwise compete with this first response for CPU.
   * Called once.
   */
  onZygoteDone(): void;
}

/** After a successful start with no invocation, the replacement zygote starts anyway after this, ms. */
export const REFILL_AFTER_START_MS = 1000;

export class ZygoteInstanceSandbox implements Sandbox {
  readonly id: string;
  readonly exited: Promise<ExitInfo>;
  /** How it really started: 'zygote', or 'cold' after a fallback (undefined before start()). */
  startedAs: 'zygote' | 'cold' | undefined;
  /** Why it fell back to a cold start, if it did. */
  fallbackReason: string | undefined;
  /** What the specialisation loaded (structure, not timing): preloaded packages, modules compiled. */
  load: ZygoteLoadReport | undefined;
  /** The zygote it was made from (undefined when there was none to take). */
  readonly zygoteId: string | undefined;
  readonly zygoteKey: string | undefined;

  #inner: Sandbox | undefined;
  #zygote: TakenZygote | undefined;
  #started = false;
  #destroyed = false;
  #doneReported = false;
  #doneTimer: NodeJS.Timeout | undefined;
  #invoked = false;
  #resolveExited!: (info: ExitInfo) => void;

  constructor(
    readonly spec: SandboxSpec,
    zygote: TakenZygote | undefined,
    private readonly backend: SandboxBackend,
    private readonly hooks: InstanceSandboxHooks,
  ) {
    this.id = spec.instanceId;
    this.#zygote = zygote;
    this.zygoteId = zygote?.id;
    this.zygoteKey = zygote?.key;
    this.exited = new Promise((resolve) => (this.#resolveExited = resolve));
  }

  get pid(): number | undefined {
    return this.#inner?.pid;
  }

  /** The start kind it really took, for the invoker's startKindOf() (= startedAs). */
  get startKind(): 'zygote' | 'cold' | undefined {
    return this.startedAs;
  }

  /** The sandbox it runs in once started: the specialised zygote, or the cold fallback (inspection). */
  get inner(): Sandbox | undefined {
    return this.#inner;
  }

  /**
   * What its sandbox serves at once: the function's concurrency (a zygote takes it when it is
   * specialised, as a cold fallback from its spec). 1 before start().
   */
  get concurrency(): number {
    return this.#inner?.concurrency ?? 1;
  }

  get inFlight(): number {
    return this.#inner?.inFlight ?? 0;
  }

  async start(): Promise<StartTimings> {
    if (this.#started) throw new SandboxError('ERR_SANDBOX_STATE', `sandbox ${this.id}: start() runs once`);
    this.#started = true;
    let timings: StartTimings;
    try {
      timings = await this.#start();
    } catch (err) {
      this.#zygoteDone();
      throw err;
    }
    if (this.startedAs !== 'zygote' || this.#invoked) this.#zygoteDone();
    else if (!this.#doneReported && this.#zygote) {
      this.#doneTimer = setTimeout(() => this.#zygoteDone(), REFILL_AFTER_START_MS);
      this.#doneTimer.unref?.();
    }
    return timings;
  }

  #zygoteDone(): void {
    if (this.#doneTimer) clearTimeout(this.#doneTimer);
    this.#doneTimer = undefined;
    if (this.#doneReported || !this.#zygote) return;
    this.#doneReported = true;
    this.hooks.onZygoteDone();
  }

  async #start(): Promise<StartTimings> {
    if (this.#destroyed) throw new SandboxError('ERR_SANDBOX_STATE', `sandbox ${this.id} was destroyed before it started`);
    const zygote = this.#zygote;
    if (!zygote) return this.#cold('no zygote was available when the instance was created', false);

    const t0 = performance.now();
    const z = zygote.sandbox;
    try {
      // The bundle goes into the zygote's own folder, mounted at /code since it started; readable
      // by the unprivileged user the zygote already runs as.
      const target = join(z.codeDir, 'bundle.cjs');
      await copyFile(zygote.variantPath, target);
      await chmod(target, 0o644);
      // The installed layout: the function's tree goes in too (hard links: same bytes, no copy).
      if (isInstalledLoader(await readFile(target, 'utf8'))) await linkTree(join(this.spec.codeDir, 'src'), join(z.codeDir, 'src'));
      // The function's limits (the zygote started with its own, at least as large).
      // (A zygote waits with a low CPU weight; the instance gets the function's, or the default.)
      const limits: { memoryMb?: number; cpuShares?: number; cpuQuota?: number | null } = { memoryMb: this.spec.memoryMb, cpuShares: this.spec.cpuShares ?? 1024 };
      if (this.spec.cpuQuota !== undefined) limits.cpuQuota = this.spec.cpuQuota;
      await z.setLimits(limits).catch((err: unknown) => {
        if (err instanceof SandboxError && err.code === 'ERR_SANDBOX_UNSUPPORTED') return; // no cgroups: nothing to set
        throw err;
      });
    } catch (err) {
      await z.destroy().catch(() => undefined);
      return this.#cold(`the zygote could not be prepared: ${(err as Error).message}`, false);
    }
    if (this.#destroyed) {
      await z.destroy().catch(() => undefined);
      throw new SandboxError('ERR_SANDBOX_STATE', `sandbox ${this.id} was destroyed while it started`);
    }
    const prepareMs = performance.now() - t0;

    this.#adopt(z);
    try {
      const timings = await z.specialise({ functionName: this.spec.functionName, version: this.spec.version, env: this.spec.env, concurrency: this.spec.concurrency });
      this.startedAs = 'zygote';
      this.load = timings.zygote;
      const result: StartTimings = {
        sandboxMs: prepareMs + timings.sandboxMs,
        runtimeBootMs: 0,
        agentSetupMs: 0,
        importMs: timings.importMs,
        initMs: timings.initMs,
        cgroupMs: 0,
      };
      this.hooks.onSpecialised(result, timings.zygote);
      return result;
    } catch (err) {
      if (this.#destroyed) throw err;
      // A function that hangs while loading would hang cold too: do not wait for it twice.
      if (err instanceof SandboxStartError && err.code === 'ERR_SANDBOX_START_TIMEOUT') throw err;
      this.#inner = undefined;
      await z.destroy().catch(() => undefined);
      const why = err instanceof Error ? err.message : String(err);
      return this.#cold(`the specialised zygote failed to load the function: ${why}`, true);
    }
  }

  /** From now on calls go to `inner`, and its exit is ours. */
  #adopt(inner: Sandbox): void {
    this.#inner = inner;
    void inner.exited.then((info) => {
      if (this.#inner === inner) this.#resolveExited(info);
    });
  }

  async #cold(reason: string, variant: boolean): Promise<StartTimings> {
    this.fallbackReason = reason;
    this.hooks.onFallback(reason, variant);
    if (this.#destroyed) throw new SandboxError('ERR_SANDBOX_STATE', `sandbox ${this.id} was destroyed while it started`);
    const cold = this.backend.create(this.spec);
    this.#adopt(cold);
    this.startedAs = 'cold';
    return cold.start();
  }

  #require(): Sandbox {
    if (!this.#inner) throw new SandboxError('ERR_SANDBOX_STATE', `sandbox ${this.id} has not started`);
    return this.#inner;
  }

  invoke(payload: unknown, context: InvocationContext, timeoutMs: number, payloadJson?: string): Promise<InvokeOutcome> {
    const inner = this.#require();
    if (this.#invoked || this.#doneReported) return inner.invoke(payload, context, timeoutMs, payloadJson);
    this.#invoked = true;
    const first = inner.invoke(payload, context, timeoutMs, payloadJson);
    void first.finally(() => this.#zygoteDone()).catch(() => undefined);
    return first;
  }

  pause(): Promise<void> {
    return this.#require().pause();
  }

  resume(): Promise<void> {
    return this.#require().resume();
  }

  setLimits(limits: { memoryMb?: number; cpuShares?: number; cpuQuota?: number | null }): Promise<void> {
    return this.#require().setLimits(limits);
  }

  async memoryUsageMb(): Promise<number> {
    return this.#inner ? this.#inner.memoryUsageMb() : 0;
  }

  async destroy(): Promise<void> {
    this.#destroyed = true;
    const inner = this.#inner;
    const zygote = this.#zygote;
    if (!this.#started) this.#zygoteDone();
    this.#zygote = undefined;
    if (inner) {
      await inner.destroy();
      this.#resolveExited(await inner.exited);
    } else {
      // Taken but never started (or its start is still preparing): the zygote goes.
      if (zygote) await zygote.sandbox.destroy().catch(() => undefined);
      this.#resolveExited({ code: null, signal: null, oom: false });
    }
  }
}

/** Recreates a folder tree at `to`: files hard-linked (copied across file systems), links as links. */
async function linkTree(from: string, to: string): Promise<void> {
  await mkdir(to, { mode: 0o755 });
  for (const entry of await readdir(from, { withFileTypes: true })) {
    const a = join(from, entry.name);
    const b = join(to, entry.name);
    if (entry.isSymbolicLink()) await symlink(await readlink(a), b);
    else if (entry.isDirectory()) await linkTree(a, b);
    else if (entry.isFile()) {
      await link(a, b).catch(async (err: NodeJS.ErrnoException) => {
        if (err.code !== 'EXDEV' && err.code !== 'EPERM') throw err;
        await copyFile(a, b);
      });
    }
  }
}
