// The keep-alive policies by name, as the CLI and the platform's --keep-alive option spell them.

import { ThawError } from '../../core/errors.ts';
import type { KeepAlivePolicy } from '../../core/policy.ts';
import { FrequencyKeepAlive, GreedyDualKeepAlive, InstanceGreedyDualKeepAlive, LandlordKeepAlive, SizeKeepAlive } from './greedy-dual.ts';
import { HybridHistogramPolicy, type HybridHistogramOptions } from './hybrid-histogram.ts';
import { LruKeepAlive } from './lru.ts';
import { TtlKeepAlive } from './ttl.ts';

export interface KeepAliveOptions {
  /** TTL's keep-alive window, ms. */
  ttlMs?: number;
  /** Hybrid histogram's options. */
  hybrid?: HybridHistogramOptions;
}

const factories: Record<string, (options: KeepAliveOptions) => KeepAlivePolicy> = {
  ttl: (o) => new TtlKeepAlive({ ttlMs: o.ttlMs }),
  lru: () => new LruKeepAlive(),
  gd: () => new GreedyDualKeepAlive(),
  'gd-instance': () => new InstanceGreedyDualKeepAlive(),
  freq: () => new FrequencyKeepAlive(),
  size: () => new SizeKeepAlive(),
  landlord: () => new LandlordKeepAlive(),
  hybrid: (o) => new HybridHistogramPolicy(o.hybrid),
};

export const KEEP_ALIVE_POLICIES = Object.keys(factories);

export function createKeepAlive(name: string, options: KeepAliveOptions = {}): KeepAlivePolicy {
  const factory = factories[name.toLowerCase()];
  if (!factory) throw new ThawError('ERR_UNKNOWN_POLICY', `unknown keep-alive policy '${name}' (known: ${KEEP_ALIVE_POLICIES.join(', ')})`);
  return factory(options);
}

export { HybridHistogramPolicy, FrequencyKeepAlive, GreedyDualKeepAlive, InstanceGreedyDualKeepAlive, LandlordKeepAlive, LruKeepAlive, SizeKeepAlive, TtlKeepAlive };
