// A network namespace per sandbox of a function that may use the network: egress to the world,
// nothing of this machine. (Issue 14 item 6, "a closed door".)
//
// Each namespace is made with iproute2 (`ip netns add`, so it is a file under /run/netns that the
// sandbox joins with `nsenter --net=...`) and gets its way out from pasta (Debian's passt): a
// user-space daemon holding the namespace's tap device that turns the function's TCP/UDP/ICMP
// flows into ordinary sockets on the host. pasta is started with
//   -t none -u none     no port of the host forwarded into the namespace (nobody can connect in),
//   -T none -U none     no port of the namespace forwarded to the host's loopback,
//   --no-map-gw         the gateway's address is the real gateway, not an alias of the host,
//   --config-net        the namespace's interface, addresses and routes copied from the host's,
//   --runas 0           it must stay root to enter the namespace (it keeps only CAP_SYS_ADMIN and
//                       CAP_NET_BIND_SERVICE, under its own seccomp filter and namespaces).
// Inside, 127.0.0.1 is the namespace's own loopback; abstract UNIX sockets are the namespace's own.
// What pasta would still reach on the host's behalf is closed by `prohibit` policy rules (pref 100,
// consulted after the namespace's local table and before any route): link-local (169.254.0.0/16,
// fe80::/10, where cloud metadata services live), the AWS IPv6 metadata address, and every
// address of this host's interfaces (pasta connects from the host, so a flow to one of them would
// land on the host's own services; the addresses --config-net copied are local inside and answer
// from the namespace itself). A function runs without capabilities, as nobody: it cannot change
// the rules.
//
// Why a namespace made before the sandbox rather than `bwrap --unshare-net` and pasta attached to
// bwrap's pid afterwards: the function's first instruction already runs behind the rules (no
// window in which the network is half set up), setup can be done ahead of time (a small pool takes
// it off the cold-start path), and each namespace is a named file a restarted thaw can find and
// remove after a crash.
//
// One namespace per sandbox, never reused: instances of one function cannot reach each other either,
// and nothing (sockets in TIME_WAIT, neighbour caches) carries over from one instance to the next.
// Names are thaw-<pid>-<start time>-<n>: the owner is known, so platform start removes only
// the namespaces (and their pasta) of thaws that are gone.

import { readFileSync } from 'node:fs';
import { mkdir, readFile, readdir, rm } from 'node:fs/promises';
import { networkInterfaces } from 'node:os';
import { join } from 'node:path';

import { SandboxError } from './errors.ts';
import { findOnPath, runCapture } from './run.ts';

/** Where `ip netns` keeps its namespaces. */
export const NETNS_DIR = '/run/netns';
/** Where pasta writes each namespace's daemon pid (<name>.pid). */
export const DEFAULT_NETNS_RUN_DIR = '/run/thaw-netns';
/** Policy-rule priority of the blocks: after the local table (0), before main (32766). */
const RULE_PREF = 100;
const TOOL_TIMEOUT_MS = 10_000;

export interface NetnsTools {
  ip: string;
  pasta: string;
  nsenter: string;
}

export type NetnsDetection =
  | { ok: true; tools: NetnsTools }
  | {
      ok: false;
      /** What is missing or failed, said plainly. */
      reason: string;
      /** The command that installs what is missing, when a package is. */
      install?: string;
    };

/** Which package brings each tool (Debian). */
const PACKAGES: Record<keyof NetnsTools, string> = { ip: 'iproute2', pasta: 'passt', nsenter: 'util-linux' };

const detections = new Map<string, Promise<NetnsDetection>>();

/**
 * Whether per-function network namespaces work here: Linux, root, ip, pasta and nsenter on PATH,
 * and a trial namespace that comes up with egress routes and the blocks in place. Cached per PATH.
 */
export function detectNetworkNamespaces(): Promise<NetnsDetection> {
  const key = process.env.PATH ?? '';
  let found = detections.get(key);
  if (!found) {
    found = detectOnce();
    detections.set(key, found);
  }
  return found;
}

async function detectOnce(): Promise<NetnsDetection> {
  if (process.platform !== 'linux') return { ok: false, reason: 'network namespaces need Linux' };
  const found: Partial<NetnsTools> = {};
  const missing: (keyof NetnsTools)[] = [];
  for (const tool of ['ip', 'pasta', 'nsenter'] as const) {
    const path = await findOnPath(tool);
    if (path) found[tool] = path;
    else missing.push(tool);
  }
  if (missing.length > 0) {
    const packages = [...new Set(missing.map((tool) => PACKAGES[tool]))];
    return {
      ok: false,
      reason: `${missing.map((tool) => `${tool} (${PACKAGES[tool]})`).join(', ')} not found on PATH`,
      install: `apt-get install ${packages.join(' ')}`,
    };
  }
  if (process.getuid?.() !== 0) return { ok: false, reason: 'thaw is not running as root (making a network namespace and starting pasta for it needs root)' };
  const tools = found as NetnsTools;
  const trial = new NetworkNamespaces(tools, { poolSize: 0 });
  try {
    const ns = await trial.acquire();
    try {
      const probe = await routeVerdict(tools, ns, '169.254.169.254');
      if (probe.verdict !== 'prohibited') return { ok: false, reason: `a trial namespace does not block link-local addresses (${probe.detail})` };
      const egress = await runCapture(tools.ip, ['-n', ns.name, '-4', 'route', 'show', 'default'], TOOL_TIMEOUT_MS);
      if (egress.code !== 0 || egress.stdout.trim() === '') return { ok: false, reason: `pasta gave a trial namespace no default route (${egress.stderr.trim() || 'no route'})` };
    } finally {
      await trial.release(ns);
    }
  } catch (err) {
    return { ok: false, reason: `a trial namespace failed: ${(err as Error).message}` };
  }
  return { ok: true, tools };
}

// ------------------------------------------------------------------ what is blocked

export interface BlockedDestinations {
  v4: string[];
  v6: string[];
}

/**
 * The destinations a function's namespace refuses: link-local and metadata addresses, and every
 * address of this host's interfaces but loopback (inside, loopback is the namespace's own).
 */
export function blockedDestinations(interfaces: ReturnType<typeof networkInterfaces> = networkInterfaces()): BlockedDestinations {
  const v4 = new Set(['169.254.0.0/16']);
  const v6 = new Set(['fe80::/10', 'fd00:ec2::254/128']);
  for (const addresses of Object.values(interfaces)) {
    for (const a of addresses ?? []) {
      if (a.family === 'IPv4' && !a.address.startsWith('127.')) v4.add(`${a.address}/32`);
      // (A link-local address is inside fe80::/10 already; its zone makes it no prefix of its own.)
      if (a.family === 'IPv6' && a.address !== '::1' && !/^fe[89ab]/i.test(a.address)) v6.add(`${a.address}/128`);
    }
  }
  return { v4: [...v4], v6: [...v6] };
}

/** `ip -batch` lines adding a prohibit rule per destination. */
export function prohibitRules(destinations: string[]): string {
  return destinations.map((to) => `rule add to ${to} prohibit pref ${RULE_PREF}\n`).join('');
}

// ------------------------------------------------------------------ names and owners

/** This process's start time in clock ticks since boot (field 22 of /proc/self/stat): with the pid, an owner no later process can impersonate. */
function startTicks(pid: number | 'self'): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
  } catch {
    return undefined;
  }
}

const OWN_TAG = `${process.pid}-${startTicks('self') ?? '0'}`;
const NAME = /^thaw-(\d+)-(\d+)-\d+$/;
let sequence = 0;

/** Whether a namespace name is thaw's and its owner is gone. */
export function ownerIsGone(name: string): boolean {
  const m = NAME.exec(name);
  if (!m) return false;
  return startTicks(Number(m[1])) !== m[2];
}

// ------------------------------------------------------------------ the namespaces

export interface FunctionNetwork {
  /** The namespace's name (`ip netns` name). */
  readonly name: string;
  /** Its file, to join: nsenter --net=<path>. */
  readonly path: string;
  /** The pasta daemon giving it egress. */
  readonly pastaPid: number;
  /** How long making it took, ms. */
  readonly setupMs: number;
}

export interface NetworkNamespacesOptions {
  /** Namespaces made ahead of need, once replenish() is first called (0: make each on demand). Default 2. */
  poolSize?: number;
  /** Where pasta's pid files go. Default /run/thaw-netns. */
  runDir?: string;
  /** What to block (default: blockedDestinations() when each namespace is made). */
  blocked?: () => BlockedDestinations;
}

export class NetworkNamespaces {
  readonly tools: NetnsTools;
  readonly poolSize: number;
  readonly runDir: string;
  readonly #blocked: () => BlockedDestinations;
  readonly #pool: FunctionNetwork[] = [];
  #filling: Promise<void> | undefined;
  #closed = false;
  readonly #leased = new Map<string, FunctionNetwork>();
  /** Namespaces being made for acquire() right now. */
  readonly #making = new Set<Promise<unknown>>();

  constructor(tools: NetnsTools, options: NetworkNamespacesOptions = {}) {
    const poolSize = options.poolSize ?? 2;
    if (!(Number.isInteger(poolSize) && poolSize >= 0)) throw new TypeError(`poolSize must be a non-negative integer, got ${poolSize}`);
    this.tools = tools;
    this.poolSize = poolSize;
    this.runDir = options.runDir ?? DEFAULT_NETNS_RUN_DIR;
    this.#blocked = options.blocked ?? (() => blockedDestinations());
  }

  /** Namespaces waiting in the pool (for inspection). */
  get pooled(): number {
    return this.#pool.length;
  }

  /** Names of the namespaces handed out and not yet released. */
  get leased(): string[] {
    return [...this.#leased.keys()];
  }

  /** Settles once the pool has finished refilling (tests, benchmarks). */
  async filled(): Promise<void> {
    await this.#filling;
  }

  /**
   * A ready namespace for one sandbox: from the pool when one waits there, else made now. It does not
   * refill the pool: call replenish() once the sandbox has started, so making the next namespace does
   * not compete with this start for the CPU.
   */
  async acquire(): Promise<FunctionNetwork> {
    if (this.#closed) throw new SandboxError('ERR_SANDBOX_STATE', 'the network namespaces were closed');
    let ns = this.#pool.shift();
    if (!ns) {
      const making = this.create();
      this.#making.add(making);
      try {
        ns = await making;
      } finally {
        this.#making.delete(making);
      }
    }
    if (this.#closed) {
      await this.#destroy(ns.name, ns.pastaPid);
      throw new SandboxError('ERR_SANDBOX_STATE', 'the network namespaces were closed while one was made');
    }
    this.#leased.set(ns.name, ns);
    return ns;
  }

  /** Refills the pool in the background (one namespace at a time); see filled(). */
  replenish(): void {
    this.#refill();
  }

  /** Stops its pasta and removes the namespace. Idempotent; never throws. */
  async release(ns: FunctionNetwork): Promise<void> {
    this.#leased.delete(ns.name);
    await this.#destroy(ns.name, ns.pastaPid);
  }

  /**
   * Removes the pool and every namespace still handed out (the platform closes its sandboxes first;
   * one whose start was still under way must not outlive thaw either).
   */
  async close(): Promise<void> {
    this.#closed = true;
    await Promise.allSettled([this.#filling, ...this.#making]);
    const left = [...this.#pool.splice(0), ...this.#leased.values()];
    this.#leased.clear();
    await Promise.all(left.map((ns) => this.#destroy(ns.name, ns.pastaPid)));
  }

  /** Removes the namespaces and pasta daemons of thaws that are gone (a crash, a kill -9); returns their names. */
  async reapStale(): Promise<string[]> {
    const names = new Set<string>();
    for (const entry of await readdir(NETNS_DIR).catch(() => [] as string[])) if (ownerIsGone(entry)) names.add(entry);
    for (const entry of await readdir(this.runDir).catch(() => [] as string[])) {
      const name = entry.replace(/\.pid$/, '');
      if (entry.endsWith('.pid') && ownerIsGone(name)) names.add(name);
    }
    await Promise.all([...names].map((name) => this.#destroy(name, undefined)));
    return [...names].sort();
  }

  /** Makes one namespace: the namespace, its blocks and loopback, then pasta. On failure nothing is left. */
  async create(): Promise<FunctionNetwork> {
    const t0 = performance.now();
    const name = `thaw-${OWN_TAG}-${++sequence}`;
    const { ip, pasta } = this.tools;
    const fail = async (what: string, run: { code: number | null; stderr: string }): Promise<never> => {
      await this.#destroy(name, undefined);
      throw new SandboxError('ERR_SANDBOX_START', `could not make network namespace ${name}: ${what}: ${run.stderr.trim() || `exit ${run.code}`}`);
    };
    const added = await runCapture(ip, ['netns', 'add', name], TOOL_TIMEOUT_MS);
    if (added.code !== 0) return fail('ip netns add', added);
    const blocked = this.#blocked();
    const v4 = await runCapture(ip, ['-n', name, '-4', '-batch', '-'], TOOL_TIMEOUT_MS, `link set lo up\n${prohibitRules(blocked.v4)}`);
    if (v4.code !== 0) return fail('adding the IPv4 blocks', v4);
    if (hostHasIpv6()) {
      const v6 = await runCapture(ip, ['-n', name, '-6', '-batch', '-'], TOOL_TIMEOUT_MS, prohibitRules(blocked.v6));
      if (v6.code !== 0) return fail('adding the IPv6 blocks', v6);
    }
    await mkdir(this.runDir, { recursive: true, mode: 0o700 });
    const pidFile = this.#pidFile(name);
    const daemon = await runCapture(
      pasta,
      ['--runas', '0', '--config-net', '-t', 'none', '-u', 'none', '-T', 'none', '-U', 'none', '--no-map-gw', '-q', '-P', pidFile, '--netns', join(NETNS_DIR, name)],
      TOOL_TIMEOUT_MS,
    );
    if (daemon.code !== 0) return fail('pasta', daemon);
    const pastaPid = Number((await readFile(pidFile, 'utf8').catch(() => '')).trim());
    if (!(Number.isInteger(pastaPid) && pastaPid > 0)) return fail('pasta', { code: daemon.code, stderr: `wrote no pid to ${pidFile}` });
    return { name, path: join(NETNS_DIR, name), pastaPid, setupMs: performance.now() - t0 };
  }

  #pidFile(name: string): string {
    return join(this.runDir, `${name}.pid`);
  }

  #refill(): void {
    if (this.#filling || this.#closed || this.#pool.length >= this.poolSize) return;
    this.#filling = (async () => {
      try {
        while (!this.#closed && this.#pool.length < this.poolSize) this.#pool.push(await this.create());
      } catch {
        // The next acquire makes its own and reports what fails.
      } finally {
        this.#filling = undefined;
      }
    })();
  }

  async #destroy(name: string, knownPid: number | undefined): Promise<void> {
    const pidFile = this.#pidFile(name);
    const pid = knownPid ?? Number((await readFile(pidFile, 'utf8').catch(() => '')).trim());
    // Only a pasta serving this very namespace (a pid may have been reused since).
    if (Number.isInteger(pid) && pid > 0) {
      const cmdline = await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '');
      if (cmdline.split('\0').includes(join(NETNS_DIR, name))) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          // gone
        }
      }
    }
    await runCapture(this.tools.ip, ['netns', 'delete', name], TOOL_TIMEOUT_MS);
    await rm(pidFile, { force: true });
  }
}

function hostHasIpv6(): boolean {
  try {
    return readFileSync('/proc/net/if_inet6', 'utf8').trim() !== '';
  } catch {
    return false;
  }
}

/** What the namespace's routing does with traffic to `address`: refuse it, keep it inside, or send it out (never sends anything). */
export async function routeVerdict(tools: NetnsTools, ns: Pick<FunctionNetwork, 'name'>, address: string): Promise<{ verdict: 'prohibited' | 'unreachable' | 'local' | 'egress'; detail: string }> {
  const run = await runCapture(tools.ip, ['-n', ns.name, 'route', 'get', address], TOOL_TIMEOUT_MS);
  const detail = (run.stdout + run.stderr).trim().split('\n')[0] ?? '';
  if (run.code !== 0) return { verdict: /permission denied/i.test(run.stderr) ? 'prohibited' : 'unreachable', detail };
  if (/^local\b/.test(run.stdout.trim())) return { verdict: 'local', detail };
  return { verdict: /\bvia\b|\bdev\b/.test(run.stdout) ? 'egress' : 'unreachable', detail };
}
