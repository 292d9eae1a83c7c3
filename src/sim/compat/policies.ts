// thaw's policy names (as --policy spells them) → the reference's.

import { invalidOption } from '../../core/errors.ts';
import { FAASCACHE_POLICIES, type FaasCachePolicy } from './faascache.ts';

const ALIASES: Record<string, FaasCachePolicy> = { landlord: 'LND', lnd: 'LND', hist: 'HIST', 'long-ttl': 'LONG-TTL' };

export function toFaasCachePolicy(name: string): FaasCachePolicy {
  const lower = name.toLowerCase();
  const policy = ALIASES[lower] ?? (name.toUpperCase() as FaasCachePolicy);
  if (!FAASCACHE_POLICIES.includes(policy)) {
    throw invalidOption('--policy', `'${name}' is not a policy of FaaSCache's reference simulator (known: gd, lru, ttl, landlord, freq, size, hist, long-ttl)`);
  }
  return policy;
}
