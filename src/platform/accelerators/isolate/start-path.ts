// V8 isolates as a start path (`--start isolate`, and a candidate of `auto`): a new instance is an
// isolate in the long-running isolate host instead of a container with its own node, so its start is
// a heap and a context (milliseconds), not a process. The path serves a version only when its bundle
// is compatible (compat.ts) and the host can run here (isolated-vm built); otherwise, and when an
// isolate fails to load the function, the instance starts in a container and the reason is kept
// (compatibility()) and said once (onWarning). Isolates are instances in the invoker's Pool like any
// other: they count the function's memory and their measured start cost is what the planner and
// Greedy-Dual learn.

import { readFileSync } from 'node:fs';
import { join } from 'node:path';

import type { DeployedFunction } from '../../function.ts';
import type { Sandbox, SandboxBackend, SandboxSpec } from '../../sandbox/types.ts';
import type { StartPath, StartPathKind } from '../start-path.ts';
import { checkBundle, stripInlineSourceMap, type Compatibility } from './compat.ts';
import { findIsolatedVm, IsolateHost } from './host-process.ts';
import { IsolateSandbox } from './sandbox.ts';

export interface IsolateStartPathOptions {
  backend: SandboxBackend;
  dataDir: string;
  /** CPU time one invocation may use, ms; default: the function's timeout. */
  cpuLimitMs?: number;
  /** Run the host under bubblewrap where it works (default true). */
  bubblewrap?: boolean;
  /**
   * How many versions the host keeps a spare isolate for — loaded ahead, bundle evaluated — so their
   * next start skips the imports (default 4; 0: none). Each spare holds the version's heap outside the
   * Pool's memory accounting.
   */
  spares?: number;
  /** Where a version's verdict is recorded (its isolateStatus: `thaw ls --json`, GET /functions/NAME). */
  status?: { setIsolateStatus(name: string, version: number, status: string | null): void };
  onWarning?: (message: string) => void;
}

const DEFAULT_SPARES = 4;

interface VersionState {
  verdict: Compatibility;
  code?: string;
  warned: boolean;
}

export class IsolateStartPath implements StartPath {
  readonly kind: StartPathKind = 'isolate';
  readonly host: IsolateHost;
  /** Why isolates cannot run on this machine at all (isolated-vm missing or not built), if so. */
  readonly unavailable: string | undefined;
  readonly #versions = new Map<string, VersionState>();

  constructor(readonly options: IsolateStartPathOptions) {
    this.host = new IsolateHost({ dataDir: options.dataDir, bubblewrap: options.bubblewrap, onWarning: options.onWarning });
    const ivm = findIsolatedVm();
    this.unavailable = 'reason' in ivm ? ivm.reason : undefined;
  }

  /** Whether `fn` runs in an isolate, and if not, why (the recorded reason of its fallback). */
  compatibility(fn: DeployedFunction): Compatibility {
    if (this.unavailable) return { compatible: false, reason: this.unavailable };
    return this.#state(fn).verdict;
  }

  available(fn: DeployedFunction): boolean {
    const verdict = this.compatibility(fn);
    if (!verdict.compatible) this.#warnOnce(fn, verdict.reason);
    return verdict.compatible;
  }

  create(fn: DeployedFunction, spec: SandboxSpec): Sandbox {
    const state = this.#state(fn);
    state.code ??= stripInlineSourceMap(readFileSync(join(fn.codeDir, 'bundle.cjs'), 'utf8'));
    return new IsolateSandbox({
      host: this.host,
      spec,
      cacheKey: keyOf(fn),
      code: state.code,
      cpuLimitMs: this.options.cpuLimitMs ?? fn.timeoutMs,
      timeoutMs: fn.timeoutMs,
      spares: this.options.spares ?? DEFAULT_SPARES,
      fallback: () => this.options.backend.create(spec),
      onFallback: (reason) => {
        state.verdict = { compatible: false, reason };
        state.code = undefined;
        this.#record(fn, state.verdict);
        this.#warnOnce(fn, reason);
      },
    });
  }

  onDeploy(fn: DeployedFunction): void {
    if (fn.start !== 'isolate' && fn.start !== 'auto') return;
    const verdict = this.compatibility(fn);
    this.#record(fn, verdict);
    // The host starts with the first version that may use it, so the first isolate does not wait for it.
    if (verdict.compatible) this.host.start().catch((error: Error) => this.options.onWarning?.(`isolate host: ${error.message}`));
  }

  onRetire(fn: DeployedFunction): void {
    this.#versions.delete(keyOf(fn));
    // Its code cache and spare go with it (a host that is not running holds neither).
    if (this.host.pid !== undefined) void this.host.request({ op: 'dispose', isolate: '', forget: keyOf(fn) }).catch(() => undefined);
  }

  /** Waits until the host's spare of `fn`, if one is loading, has loaded; whether one is ready. */
  async spareReady(fn: DeployedFunction): Promise<boolean> {
    if (this.host.pid === undefined) return false;
    return (await this.host.request({ op: 'spare', cacheKey: keyOf(fn) })).spare === true;
  }

  close(): Promise<void> {
    return this.host.close();
  }

  #state(fn: DeployedFunction): VersionState {
    const key = keyOf(fn);
    let state = this.#versions.get(key);
    if (!state) {
      let verdict: Compatibility;
      try {
        verdict = checkBundle(readFileSync(join(fn.codeDir, 'bundle.cjs'), 'utf8'));
      } catch (error) {
        verdict = { compatible: false, reason: `cannot read its bundle: ${(error as Error).message}` };
      }
      state = { verdict, warned: false };
      this.#versions.set(key, state);
    }
    return state;
  }

  /** Records the version's verdict where users read it; a store that cannot take it is said, not thrown. */
  #record(fn: DeployedFunction, verdict: Compatibility): void {
    try {
      this.options.status?.setIsolateStatus(fn.name, fn.version, verdict.compatible ? 'compatible' : `container: ${verdict.reason}`);
    } catch (error) {
      this.options.onWarning?.(`${keyOf(fn)}: could not record the isolate status: ${(error as Error).message}`);
    }
  }

  #warnOnce(fn: DeployedFunction, reason: string): void {
    const state = this.#state(fn);
    if (state.warned || fn.start !== 'isolate') return;
    state.warned = true;
    this.options.onWarning?.(`${fn.name}@${fn.version}: starts in a container, not an isolate: ${reason}`);
  }
}

function keyOf(fn: DeployedFunction): string {
  return `${fn.name}@${fn.version}`;
}
