// Zygotes hold memory, so they count against the same budget as instances and are evicted by the
// same keep-alive machinery. The zygote start path asks a ZygoteMemory for each zygote it starts:
//
//   BudgetZygoteMemory — a fixed budget of its own (standalone use: tests, benchmarks);
//   PoolZygoteMemory   — the invoker's core Pool: each zygote is an instance of a pseudo-function
//                        `zygote:<key>` (memoryMb = the zygote's limit), made with Pool.prewarm()
//                        (which never evicts: a zygote only uses memory that is free), idle once
//                        ready, and therefore evicted or expired by the keep-alive policy like any
//                        idle instance. Specialising a zygote kills its pseudo-instance (its memory
//                        is free again) while the function's own Pool.acquire() accounts for the
//                        instance it became.

import type { Instance } from '../../../core/instance.ts';
import type { Pool, RemovalReason } from '../../../core/pool.ts';
import type { FunctionSpec } from '../../../core/trace.ts';

export interface ZygoteLease {
  /** The zygote started and waits (`startMs`: how long its start took): its memory is now idle and evictable. */
  ready(startMs: number): void;
  /** The zygote is gone (specialised, failed, destroyed): its memory is free. Idempotent. */
  release(): void;
}

export interface ZygoteMemory {
  /**
   * Memory for one zygote of kind `key`, never by evicting anything. undefined: no room now.
   * `evicted` is called (once) if the memory's owner takes it back (eviction or expiry by the
   * keep-alive policy): the zygote must then be destroyed. It is not called after release().
   */
  reserve(key: string, memoryMb: number, evicted: () => void): ZygoteLease | undefined;
}

/** A budget of its own: reserve() succeeds while the zygotes' memory fits; nothing is ever evicted. */
export class BudgetZygoteMemory implements ZygoteMemory {
  #usedMb = 0;
  constructor(readonly capacityMb: number) {
    if (!(capacityMb >= 0)) throw new TypeError(`capacityMb must be ≥ 0, got ${capacityMb}`);
  }

  get usedMb(): number {
    return this.#usedMb;
  }

  reserve(_key: string, memoryMb: number): ZygoteLease | undefined {
    if (this.#usedMb + memoryMb > this.capacityMb) return undefined;
    this.#usedMb += memoryMb;
    let released = false;
    return {
      ready: () => undefined,
      release: () => {
        if (released) return;
        released = true;
        this.#usedMb -= memoryMb;
      },
    };
  }
}

/**
 * A ZygoteMemory bound later: the start path is built before the invoker whose Pool holds the
 * memory (the planner is an argument of the invoker's constructor). Until bind(), nothing fits;
 * the path refills on the next deploy or cold start.
 */
export class DeferredZygoteMemory implements ZygoteMemory {
  #target: ZygoteMemory | undefined;

  bind(target: ZygoteMemory): void {
    if (this.#target && this.#target !== target) throw new TypeError('this zygote memory is already bound');
    this.#target = target;
  }

  get bound(): ZygoteMemory | undefined {
    return this.#target;
  }

  reserve(key: string, memoryMb: number, evicted: () => void): ZygoteLease | undefined {
    return this.#target?.reserve(key, memoryMb, evicted);
  }
}

export const ZYGOTE_SPEC_PREFIX = 'zygote:';

export interface PoolZygoteMemoryOptions {
  /**
   * A FunctionSpec.index no other spec of this Pool uses (the invoker's own counter, so zygote
   * pseudo-functions and functions never collide).
   */
  allocateIndex: () => number;
  /** Called after the Pool's state changed here (a zygote became idle, or left): reschedule expiry, serve waiters. */
  onChange?: () => void;
}

interface Lease {
  instance: Instance;
  evicted: () => void;
}

/**
 * Zygotes as idle instances of pseudo-functions `zygote:<key>` in the core Pool. The Pool's owner
 * (the invoker) must forward its PoolListener.removed() calls to onRemoved(), so that a zygote the
 * keep-alive policy evicts or expires is destroyed.
 */
export class PoolZygoteMemory implements ZygoteMemory {
  readonly #pool: Pool;
  readonly #options: PoolZygoteMemoryOptions;
  readonly #specs = new Map<string, FunctionSpec>();
  readonly #leases = new Map<Instance, Lease>();

  constructor(pool: Pool, options: PoolZygoteMemoryOptions) {
    if (typeof options?.allocateIndex !== 'function') throw new TypeError('PoolZygoteMemory needs allocateIndex()');
    this.#pool = pool;
    this.#options = options;
  }

  /** The pseudo-function of zygotes of kind `key` with this memory. */
  specFor(key: string, memoryMb: number): FunctionSpec {
    const id = `${ZYGOTE_SPEC_PREFIX}${key}/${memoryMb}`;
    let spec = this.#specs.get(id);
    if (!spec) {
      // coldStartMs (Greedy-Dual's cost) is learnt from the zygotes' measured starts.
      spec = { index: this.#options.allocateIndex(), id, app: 'zygote', memoryMb, warmMs: 0, coldStartMs: 500 };
      this.#specs.set(id, spec);
    }
    return spec;
  }

  /** Whether a Pool instance is a zygote's. */
  isZygote(instance: Instance): boolean {
    return instance.fn.id.startsWith(ZYGOTE_SPEC_PREFIX);
  }

  /** Zygote instances held now (starting or idle). */
  get count(): number {
    return this.#leases.size;
  }

  reserve(key: string, memoryMb: number, evicted: () => void): ZygoteLease | undefined {
    const spec = this.specFor(key, memoryMb);
    const instance = this.#pool.prewarm(spec); // never evicts
    if (!instance) return undefined;
    this.#leases.set(instance, { instance, evicted });
    let released = false;
    return {
      ready: (startMs: number) => {
        if (released || instance.state !== 'starting') return;
        if (Number.isFinite(startMs) && startMs > 0) (spec as { coldStartMs: number }).coldStartMs = spec.coldStartMs * 0.7 + startMs * 0.3;
        this.#pool.started(instance);
        this.#pool.release(instance); // idle: kept, evicted or expired by the keep-alive policy
        this.#options.onChange?.();
      },
      release: () => {
        if (released) return;
        released = true;
        this.#leases.delete(instance);
        if (instance.state !== 'dead') this.#pool.kill(instance);
        this.#options.onChange?.();
      },
    };
  }

  /**
   * Forward PoolListener.removed() here. Returns true when the instance was a zygote's (the caller
   * has no sandbox for it). An eviction, expiry or resize destroys the zygote, as does a kill by
   * anyone but its own release() (which forgets the lease before it kills).
   */
  onRemoved(instance: Instance, _reason: RemovalReason): boolean {
    if (!this.isZygote(instance)) return false;
    const lease = this.#leases.get(instance);
    if (lease) {
      this.#leases.delete(instance);
      lease.evicted();
    }
    return true;
  }
}
