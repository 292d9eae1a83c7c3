// Pre-warm policies by name, as the CLI (`--prewarm`) and the platform spell them. The hybrid
// histogram is a keep-alive policy that pre-warms too (`--policy hybrid`); provisioned concurrency
// comes from its own options (`--provisioned`).

import { ThawError } from '../../core/errors.ts';
import type { PrewarmPolicy } from '../../core/prewarm.ts';
import { IceBreakerPrewarm, type IceBreakerOptions } from './icebreaker.ts';

export interface PrewarmOptions {
  icebreaker?: IceBreakerOptions;
}

const factories: Record<string, (options: PrewarmOptions) => PrewarmPolicy> = {
  fft: (o) => new IceBreakerPrewarm(o.icebreaker),
};

export const PREWARM_POLICIES = Object.keys(factories);

export function createPrewarm(name: string, options: PrewarmOptions = {}): PrewarmPolicy {
  const factory = factories[name.toLowerCase()];
  if (!factory) throw new ThawError('ERR_UNKNOWN_POLICY', `unknown pre-warm policy '${name}' (known: ${PREWARM_POLICIES.join(', ')})`);
  return factory(options);
}

export { IceBreakerPrewarm };
export { ProvisionedConcurrency, parseProvisioned, type ProvisionedEntry } from './provisioned.ts';
