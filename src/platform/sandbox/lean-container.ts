// LeanContainerBackend: the sandbox backend of lean containers (bubblewrap.ts makes them, stem-pool.ts
// keeps some made ahead of need). It lives apart from bubblewrap.ts so the launcher and the pool of
// stems, which builds on the launcher, do not import each other.

import { SandboxError } from './errors.ts';
import { BubblewrapLauncher, containerIsolationReport, type LeanContainerOptions, type ResolvedLeanOptions } from './bubblewrap.ts';
import type { RuntimeEntry } from './launcher.ts';
import { resolveProcessOptions } from './process.ts';
import { RuntimeProcess } from './runtime-process.ts';
import { StemLauncher, StemPool } from './stem-pool.ts';
import type { IsolationReport, SandboxSpec, ZygoteBoot, ZygoteCapableBackend } from './types.ts';

export class LeanContainerBackend implements ZygoteCapableBackend {
  readonly name = 'container';
  readonly isolation: IsolationReport;
  private readonly options: ResolvedLeanOptions;

  constructor(options: LeanContainerOptions) {
    const d = options.detection;
    if (!d?.ok || !d.bwrapPath || !d.systemArgs) throw new SandboxError('ERR_ISOLATION_UNAVAILABLE', `lean containers are not available: ${d?.reason ?? 'not detected'}`);
    const tmpSizeMb = options.tmpSizeMb ?? 64;
    if (!(Number.isInteger(tmpSizeMb) && tmpSizeMb > 0)) throw new TypeError(`tmpSizeMb must be a positive integer, got ${tmpSizeMb}`);
    const base = resolveProcessOptions(options);
    const networks = options.networks ?? null;
    this.options = { ...base, bwrapPath: d.bwrapPath, systemArgs: d.systemArgs, tmpSizeBytes: tmpSizeMb * 1024 * 1024, networks };
    this.isolation = options.isolation ?? containerIsolationReport(base.cgroups, base.runAs !== null, [], networks ? undefined : 'network namespaces not configured');
    const stems = options.stemPoolSize ?? 0;
    this.stems = stems > 0 ? new StemPool(this.options, { size: stems }) : null;
    this.stems?.refill();
  }

  /** Stems waiting for cold instances (null: no pool). */
  readonly stems: StemPool | null;

  /** Removes the stems and the network namespaces made ahead of need. */
  async close(): Promise<void> {
    await this.stems?.close();
    await this.options.networks?.close();
  }

  /** A cold instance: in a stem when the pool has one, else in a container made now. */
  create(spec: SandboxSpec): RuntimeProcess {
    if (this.stems) return new RuntimeProcess(spec, this.options, new StemLauncher(spec, this.options, this.stems));
    return this.createWith(spec, { kind: 'agent' });
  }

  /** An instance running `entry` (a V8 snapshot's restore: see v8-snapshot/launch.ts). */
  createWith(spec: SandboxSpec, entry: RuntimeEntry): RuntimeProcess {
    return new RuntimeProcess(spec, this.options, new BubblewrapLauncher(spec, this.options, entry));
  }

  /** The resolved options its sandboxes are made with (the snapshot builder runs in the same container). */
  get resolvedOptions(): Readonly<ResolvedLeanOptions> {
    return this.options;
  }

  /**
   * A zygote in a lean container (added): the same namespaces, mounts, user and cgroup as a cold
   * instance, plus `zygote.packageDir` read-only at /zygote; `spec.codeDir`, the zygote's own host
   * folder, is bound read-only at /code before anything is in it (a mount cannot be added to a
   * running container), and the platform writes the function's bundle there before specialising.
   */
  createZygote(spec: SandboxSpec, zygote: ZygoteBoot): RuntimeProcess {
    return this.createWith(spec, { kind: 'zygote', boot: zygote });
  }
}
