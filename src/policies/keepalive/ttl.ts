// TTL: a fixed keep-alive window after each invocation (OpenWhisk's 10 minutes), expired eagerly;
// under memory pressure before the window ends, instances are evicted in LRU order.

import { invalidOption } from '../../core/errors.ts';
import type { FunctionGroup } from '../../core/instance.ts';
import { LruKeepAlive } from './lru.ts';

export const DEFAULT_TTL_MS = 10 * 60_000;

export class TtlKeepAlive extends LruKeepAlive {
  override readonly name = 'ttl';
  readonly ttlMs: number;

  constructor(options: { ttlMs?: number } = {}) {
    super();
    this.ttlMs = options.ttlMs ?? DEFAULT_TTL_MS;
    if (!(this.ttlMs >= 0)) throw invalidOption('ttl', `must be a duration ≥ 0, got ${options.ttlMs}`);
  }

  override keepAliveMs(_group: FunctionGroup): number {
    return this.ttlMs;
  }
}
