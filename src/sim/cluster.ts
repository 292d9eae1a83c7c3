// Heterogeneous clusters: server tiers, each with a number of servers, their memory, a speed factor
// (start and execution times are divided by it) and a price per GB-s of memory held.
//
//   --tiers NAME:COUNTxSIZE[:speed=S][:price=P],...
//   --tiers high:4x16GB:speed=1.5:price=0.0000166,low:4x64GB:speed=1:price=0.000005
//
// COUNT defaults to 1 (`high:16GB`); speed to 1; price to 0. Servers are named NAME-0, NAME-1, ...

import { invalidOption } from '../core/errors.ts';
import type { ServerSpec } from '../core/instance.ts';

export interface TierSpec {
  name: string;
  count: number;
  memoryMb: number;
  speed: number;
  pricePerGBs: number;
}

export function parseTiers(text: string, parseMemory: (s: string, option: string) => number): TierSpec[] {
  const tiers = text.split(',').map((t) => t.trim()).filter(Boolean).map((part): TierSpec => {
    const [name, size, ...rest] = part.split(':');
    if (!name || !/^[A-Za-z][\w-]*$/.test(name) || !size) throw invalidOption('--tiers', `expected NAME:COUNTxSIZE[:speed=S][:price=P], got '${part}'`);
    const m = /^(?:(\d+)x)?(.+)$/i.exec(size)!;
    const count = m[1] === undefined ? 1 : Number(m[1]);
    if (!Number.isInteger(count) || count < 1) throw invalidOption('--tiers', `${name}: the server count must be an integer ≥ 1, got '${m[1]}'`);
    const tier: TierSpec = { name, count, memoryMb: parseMemory(m[2]!, '--tiers'), speed: 1, pricePerGBs: 0 };
    for (const kv of rest) {
      const [key, value] = kv.split('=');
      const n = Number(value);
      if (key === 'speed') {
        if (!(n > 0)) throw invalidOption('--tiers', `${name}: speed must be a number > 0, got '${value}'`);
        tier.speed = n;
      } else if (key === 'price') {
        if (!(n >= 0)) throw invalidOption('--tiers', `${name}: price must be a number ≥ 0 (per GB-s), got '${value}'`);
        tier.pricePerGBs = n;
      } else {
        throw invalidOption('--tiers', `${name}: unknown key '${key}' (known: speed, price)`);
      }
    }
    return tier;
  });
  if (tiers.length === 0) throw invalidOption('--tiers', 'expected at least one tier');
  const names = new Set<string>();
  for (const t of tiers) {
    if (names.has(t.name)) throw invalidOption('--tiers', `tier '${t.name}' given twice`);
    names.add(t.name);
  }
  return tiers;
}

export function serversOfTiers(tiers: readonly TierSpec[]): ServerSpec[] {
  const servers: ServerSpec[] = [];
  for (const t of tiers) {
    for (let i = 0; i < t.count; i++) servers.push({ name: `${t.name}-${i}`, memoryMb: t.memoryMb, speed: t.speed, pricePerGBs: t.pricePerGBs, tier: t.name });
  }
  return servers;
}
