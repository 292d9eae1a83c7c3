// The zygote tree (SOCK, ATC'18 §4): which package sets get a zygote. Pure functions, no I/O.
//
// A package set is name → exact version. Each deployed function (its latest version) brings its
// direct dependencies and a popularity weight. The tree is grown top-down from the empty set:
//
//   at a node with set S and the functions below it (each one's dependencies ⊋ S):
//     repeat: among the packages not in S, take the most shared one p (most functions, then most
//             weight, then name) whose group G = {functions depending on p} earns a zygote
//             (|G| ≥ minFunctions, or weight(G) ≥ popularWeight: one popular function is enough);
//             the child's set is everything G has in common (∩ deps(f) over G, ⊇ S ∪ {p}), grown
//             the same way with G; the others carry on at this node.
//
// So a child's set always contains its parent's, sets are unique, and every set is contained in
// the dependencies of every function it was grown for. Node.js cannot fork, so the tree is not a
// process tree: each zygote imports its whole set itself; the tree decides which sets exist.
// Caps: at most maxZygotes sets and maxMemoryMb of zygote memory (memoryMb × replicas), kept in
// order of score = Σ(1 + weight) of the functions that can use the set × the packages it adds to
// its parent (what it saves over the next shallower zygote). A function starts from the DEEPEST
// kept set contained in its dependencies (same names, same exact versions); none: a cold start.
//
// Zygotes differ by network too (a sandbox's network namespace is fixed when it starts): functions
// with network access get a tree of their own.

import { createHash } from 'node:crypto';

/** name → exact version. */
export type PackageSet = Readonly<Record<string, string>>;

export interface TreeCandidate {
  /** The function's name (one candidate per function: its latest version). */
  name: string;
  /** Its direct dependencies as installed: name → exact version. */
  dependencies: PackageSet;
  /** Popularity, ≥ 0: e.g. its cold starts or invocations in a recent window. */
  weight: number;
  /** Its memory limit, MB: a zygote serves functions up to its own limit. */
  memoryMb: number;
  network: boolean;
}

export interface TreeOptions {
  /** Functions that must share a set for it to earn a zygote. Default 2. */
  minFunctions: number;
  /** Weight with which a set earns a zygote even for one function. Default 10. */
  popularWeight: number;
  /** Most zygote sets kept. Default 8. */
  maxZygotes: number;
  /** Most memory all zygotes may hold (memoryMb × replicas, summed), MB. Default 2048. */
  maxMemoryMb: number;
  /** Zygotes kept ready per set. Default 1. */
  replicas: number;
  /** Also keep a zygote of the empty set (a pre-booted runtime any function can use). Default false. */
  rootZygote: boolean;
  /** Smallest memory limit of a zygote, MB. Default 64. */
  minMemoryMb: number;
}

export const DEFAULT_TREE_OPTIONS: TreeOptions = {
  minFunctions: 2,
  popularWeight: 10,
  maxZygotes: 8,
  maxMemoryMb: 2048,
  replicas: 1,
  rootZygote: false,
  minMemoryMb: 64,
};

export interface ZygoteNode {
  /** Stable id of (network, set). */
  key: string;
  packages: PackageSet;
  network: boolean;
  /** key of the parent in the grown tree; null under the (empty) root. */
  parent: string | null;
  /** 0 for the root, 1 for its children, ... */
  depth: number;
  /** Functions whose dependencies contain this set (all of which could start from it). */
  users: string[];
  /** Functions that start from it: those whose deepest kept set it is (kept nodes only). */
  serves: string[];
  /** Σ weight of the users. */
  weight: number;
  /** The zygote's memory limit: the largest of its users', MB. */
  memoryMb: number;
  score: number;
  kept: boolean;
  /** Why a node was not kept (caps). */
  dropped?: string;
}

export interface ZygoteTree {
  /** Every node grown, parents before children (the root only with rootZygote). */
  nodes: ZygoteNode[];
  /** The nodes that get zygotes. */
  kept: ZygoteNode[];
  /** Each function's deepest kept node (absent: it starts cold). */
  assignment: Map<string, string>;
  options: TreeOptions;
}

/** `name@version` pairs, sorted: a readable, canonical form of a set. */
export function describeSet(set: PackageSet): string {
  const entries = Object.entries(set).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return entries.length === 0 ? '(no packages)' : entries.map(([n, v]) => `${n}@${v}`).join(' ');
}

/** Stable hash of a set (16 hex digits): names its package folder. */
export function packagesHash(set: PackageSet): string {
  const entries = Object.entries(set).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return createHash('sha256').update(JSON.stringify(entries)).digest('hex').slice(0, 16);
}

/** Stable id of a zygote kind: its set and whether it has the network. */
export function zygoteKey(set: PackageSet, network: boolean): string {
  return network ? `${packagesHash(set)}-net` : packagesHash(set);
}

/** Whether every package of `set` is in `deps` at the same exact version. */
export function isContained(set: PackageSet, deps: PackageSet): boolean {
  for (const [name, version] of Object.entries(set)) {
    if (!Object.prototype.hasOwnProperty.call(deps, name) || deps[name] !== version) return false;
  }
  return true;
}

export function setSize(set: PackageSet): number {
  return Object.keys(set).length;
}

/**
 * The deepest of `sets` contained in `deps` (most packages; ties: smallest key), or undefined.
 * `accept` filters further (ready, same network, enough memory, ...).
 */
export function deepestContained<T extends { key: string; packages: PackageSet }>(sets: Iterable<T>, deps: PackageSet, accept: (s: T) => boolean = () => true): T | undefined {
  let best: T | undefined;
  let bestSize = -1;
  for (const s of sets) {
    if (!isContained(s.packages, deps) || !accept(s)) continue;
    const size = setSize(s.packages);
    if (size > bestSize || (size === bestSize && best !== undefined && s.key < best.key)) {
      best = s;
      bestSize = size;
    }
  }
  return best;
}

function validate(c: TreeCandidate): void {
  if (typeof c.name !== 'string' || c.name === '') throw new TypeError('a tree candidate needs a name');
  if (c.dependencies === null || typeof c.dependencies !== 'object') throw new TypeError(`${c.name}: dependencies must be an object of exact versions`);
  for (const [n, v] of Object.entries(c.dependencies)) {
    if (typeof v !== 'string' || v === '') throw new TypeError(`${c.name}: dependency ${n} needs an exact version, got ${JSON.stringify(v)}`);
  }
  if (!(Number.isFinite(c.weight) && c.weight >= 0)) throw new TypeError(`${c.name}: weight must be a finite number ≥ 0, got ${c.weight}`);
  if (!(Number.isFinite(c.memoryMb) && c.memoryMb > 0)) throw new TypeError(`${c.name}: memoryMb must be positive, got ${c.memoryMb}`);
}

function resolveOptions(partial: Partial<TreeOptions>): TreeOptions {
  const o = { ...DEFAULT_TREE_OPTIONS, ...Object.fromEntries(Object.entries(partial).filter(([, v]) => v !== undefined)) } as TreeOptions;
  if (!(Number.isInteger(o.minFunctions) && o.minFunctions >= 1)) throw new TypeError(`minFunctions must be an integer ≥ 1, got ${o.minFunctions}`);
  if (!(o.popularWeight > 0)) throw new TypeError(`popularWeight must be > 0 (Infinity: never for one function), got ${o.popularWeight}`);
  if (!(Number.isInteger(o.maxZygotes) && o.maxZygotes >= 0)) throw new TypeError(`maxZygotes must be an integer ≥ 0, got ${o.maxZygotes}`);
  if (!(o.maxMemoryMb >= 0)) throw new TypeError(`maxMemoryMb must be ≥ 0, got ${o.maxMemoryMb}`);
  if (!(Number.isInteger(o.replicas) && o.replicas >= 1)) throw new TypeError(`replicas must be an integer ≥ 1, got ${o.replicas}`);
  if (!(o.minMemoryMb > 0)) throw new TypeError(`minMemoryMb must be > 0, got ${o.minMemoryMb}`);
  return o;
}

const byName = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

/** Plans the zygote tree for these functions (see the top of this file). Deterministic. */
export function planZygoteTree(candidates: readonly TreeCandidate[], partial: Partial<TreeOptions> = {}): ZygoteTree {
  const options = resolveOptions(partial);
  const seen = new Set<string>();
  for (const c of candidates) {
    validate(c);
    if (seen.has(c.name)) throw new TypeError(`function ${c.name} appears twice among the tree candidates`);
    seen.add(c.name);
  }
  const nodes: ZygoteNode[] = [];
  for (const network of [false, true]) {
    const group = candidates.filter((c) => c.network === network).sort((a, b) => byName(a.name, b.name));
    if (group.length === 0) continue;
    const rootKey = zygoteKey({}, network);
    if (options.rootZygote) nodes.push(makeNode({}, network, null, 0, group, options));
    grow({}, options.rootZygote ? rootKey : null, 1, group, group, network, nodes, options);
  }

  // Scores, then the caps.
  const byKey = new Map(nodes.map((n) => [n.key, n]));
  for (const n of nodes) {
    const parentSize = n.parent === null ? 0 : setSize(byKey.get(n.parent)?.packages ?? {});
    const added = n.depth === 0 ? 0.5 : setSize(n.packages) - parentSize;
    const usersWeight = n.users.reduce((sum, name) => sum + 1 + candidates.find((c) => c.name === name)!.weight, 0);
    n.score = usersWeight * added;
  }
  const order = [...nodes].sort((a, b) => (a.depth === 0) !== (b.depth === 0) ? (a.depth === 0 ? -1 : 1) : b.score - a.score || a.depth - b.depth || byName(a.key, b.key));
  let memory = 0;
  let count = 0;
  for (const n of order) {
    const need = n.memoryMb * options.replicas;
    if (count >= options.maxZygotes) {
      n.dropped = `over maxZygotes (${options.maxZygotes})`;
    } else if (memory + need > options.maxMemoryMb) {
      n.dropped = `over maxMemoryMb (${memory} + ${need} > ${options.maxMemoryMb} MB)`;
    } else {
      n.kept = true;
      memory += need;
      count += 1;
    }
  }
  const kept = nodes.filter((n) => n.kept);
  const assignment = new Map<string, string>();
  for (const c of candidates) {
    const best = deepestContained(kept, c.dependencies, (n) => n.network === c.network && n.memoryMb >= c.memoryMb);
    if (best) {
      assignment.set(c.name, best.key);
      best.serves.push(c.name);
    }
  }
  for (const n of kept) n.serves.sort(byName);
  return { nodes, kept, assignment, options };
}

function makeNode(set: PackageSet, network: boolean, parent: string | null, depth: number, all: readonly TreeCandidate[], options: TreeOptions): ZygoteNode {
  const users = all.filter((c) => isContained(set, c.dependencies));
  return {
    key: zygoteKey(set, network),
    packages: Object.fromEntries(Object.entries(set).sort(([a], [b]) => byName(a, b))),
    network,
    parent,
    depth,
    users: users.map((c) => c.name),
    serves: [],
    weight: users.reduce((sum, c) => sum + c.weight, 0),
    memoryMb: Math.max(options.minMemoryMb, ...users.map((c) => c.memoryMb)),
    score: 0,
    kept: false,
  };
}

function grow(
  set: PackageSet,
  parentKey: string | null,
  depth: number,
  below: readonly TreeCandidate[],
  all: readonly TreeCandidate[],
  network: boolean,
  out: ZygoteNode[],
  options: TreeOptions,
): void {
  const size = setSize(set);
  let remaining = below.filter((c) => setSize(c.dependencies) > size);
  for (;;) {
    const stats = new Map<string, { name: string; version: string; count: number; weight: number }>();
    for (const c of remaining) {
      for (const [name, version] of Object.entries(c.dependencies)) {
        if (Object.prototype.hasOwnProperty.call(set, name)) continue;
        const id = `${name}@${version}`;
        const s = stats.get(id) ?? { name, version, count: 0, weight: 0 };
        s.count += 1;
        s.weight += c.weight;
        stats.set(id, s);
      }
    }
    const eligible = [...stats.entries()]
      .filter(([, s]) => s.count >= options.minFunctions || s.weight >= options.popularWeight)
      .sort(([ia, a], [ib, b]) => b.count - a.count || b.weight - a.weight || byName(ia, ib));
    if (eligible.length === 0) return;
    const [, pick] = eligible[0]!;
    const group = remaining.filter((c) => c.dependencies[pick.name] === pick.version);
    // Everything the group has in common.
    const common: Record<string, string> = {};
    for (const [name, version] of Object.entries(group[0]!.dependencies)) {
      if (group.every((c) => c.dependencies[name] === version)) common[name] = version;
    }
    const node = makeNode(common, network, parentKey, depth, all, options);
    out.push(node);
    grow(common, node.key, depth + 1, group, all, network, out, options);
    remaining = remaining.filter((c) => !group.includes(c));
  }
}
