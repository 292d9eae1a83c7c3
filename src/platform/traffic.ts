// Function references and the traffic router. A reference is `NAME` (its latest version), `NAME@N`
// (version N) or `NAME@ALIAS`; an alias with several weighted versions is resolved per invocation
// by a seeded draw, so a 90/10 split sends each invocation to the second version with probability
// 0.1 — and a test can replay the exact sequence from the seed.

import { randomInt } from 'node:crypto';
import { ThawError } from '../core/errors.ts';
import { seededRandom } from '../core/random.ts';
import type { AliasRoute } from './store/aliases.ts';

export interface FunctionRef {
  name: string;
  /** A version number, 'latest', or an alias name. */
  target: number | 'latest' | { alias: string };
}

/** Parses `NAME`, `NAME@N`, `NAME@latest` or `NAME@ALIAS` (names and aliases are checked where they are looked up). */
export function parseFunctionRef(ref: string): FunctionRef {
  const at = ref.indexOf('@');
  if (at < 0) return { name: ref, target: 'latest' };
  const name = ref.slice(0, at);
  const qualifier = ref.slice(at + 1);
  if (!name || !qualifier) throw new ThawError('ERR_INVALID_OPTION', `'${ref}' is not a function reference (NAME, NAME@VERSION or NAME@ALIAS)`);
  if (qualifier === 'latest') return { name, target: 'latest' };
  if (/^\d+$/.test(qualifier)) return { name, target: Number(qualifier) };
  return { name, target: { alias: qualifier } };
}

export class TrafficRouter {
  readonly #random: () => number;

  /** `seed`: replayable draws (tests); default a fresh seed per process. */
  constructor(seed: number = randomInt(2 ** 32)) {
    this.#random = seededRandom(seed);
  }

  /** The version one invocation of an alias runs: each route with probability weight / 100. */
  pick(routes: readonly AliasRoute[]): number {
    if (routes.length === 1) return routes[0]!.version;
    const total = routes.reduce((sum, r) => sum + r.weight, 0);
    let x = this.#random() * total;
    for (const route of routes) {
      x -= route.weight;
      if (x < 0) return route.version;
    }
    return routes[routes.length - 1]!.version;
  }
}
