// Who is in the cluster and what each node offers, in two KV buckets whose entries age out:
//
//   <prefix>_members   one key per node: its id, role and HTTP address, re-put every ttl/3
//                      (the heartbeat)
//   <prefix>_adverts   one key per invoker: its load, memory, idle instances per function,
//                      ready snapshots and zygote sets, put when they change (at most every
//                      `advertEveryMs`) and with each heartbeat
//
// A node that stops heart-beating is dropped by every other node once `ttlMs` has passed since it
// was last heard from — measured on the observer's own clock, so clock skew between machines does
// not matter — and its adverts with it. The buckets' own max age (the same TTL) removes the stale
// entries from the server. A node leaving on purpose deletes its keys, which every watcher sees at
// once.

import { EventEmitter } from 'node:events';
import { Kvm, type KV, type KvWatchEntry } from '@nats-io/kv';
import type { Clock } from '../../core/clock.ts';
import type { ClusterConnection } from './connection.ts';

export type NodeRole = 'gateway' | 'invoker' | 'both';
export const NODE_ROLES: readonly NodeRole[] = ['gateway', 'invoker', 'both'];

export interface MemberInfo {
  id: string;
  role: NodeRole;
  /** The node's HTTP API, e.g. http://127.0.0.1:8081. */
  url: string;
  startedAt: number;
}

/** What an invoker offers, for routing (src/policies/placement/routing.ts). */
export interface NodeAdvert {
  id: string;
  /** Invocations running or starting. */
  load: number;
  capacityMb: number;
  freeMb: number;
  reclaimableMb: number;
  /** Idle (warm or paused) instances per function version, keyed `name@version`. */
  idle: Record<string, number>;
  /** Function versions (`name@version`) this node can start from a snapshot it holds. */
  snapshots: string[];
  /** Zygote package sets ready on this node. */
  zygotes: string[];
}

export function isInvoker(role: NodeRole): boolean {
  return role === 'invoker' || role === 'both';
}

interface Heard<T> {
  value: T;
  heardAt: number;
}

/**
 * The membership as one node sees it: entries fed in from the buckets' watchers, dropped once
 * `ttlMs` passes without news. Pure (an injected clock), so expiry is tested without waiting.
 */
export class MembershipView extends EventEmitter<{ joined: [MemberInfo]; left: [MemberInfo]; advert: [NodeAdvert] }> {
  readonly ttlMs: number;
  readonly #clock: Clock;
  readonly #members = new Map<string, Heard<MemberInfo>>();
  readonly #adverts = new Map<string, Heard<NodeAdvert>>();

  constructor(ttlMs: number, clock: Clock) {
    super();
    this.ttlMs = ttlMs;
    this.#clock = clock;
  }

  heardMember(info: MemberInfo): void {
    const known = this.#members.has(info.id);
    this.#members.set(info.id, { value: info, heardAt: this.#clock.now() });
    if (!known) this.emit('joined', info);
  }

  heardAdvert(advert: NodeAdvert): void {
    this.#adverts.set(advert.id, { value: advert, heardAt: this.#clock.now() });
    this.emit('advert', advert);
  }

  /** The node deleted its keys (it left on purpose) or they were purged. */
  forget(id: string): void {
    const member = this.#members.get(id);
    this.#members.delete(id);
    this.#adverts.delete(id);
    if (member) this.emit('left', member.value);
  }

  forgetAdvert(id: string): void {
    this.#adverts.delete(id);
  }

  /** Drops what has not been heard from within the TTL. Returns the members that left. */
  expire(): MemberInfo[] {
    const deadline = this.#clock.now() - this.ttlMs;
    const left: MemberInfo[] = [];
    for (const [id, heard] of this.#adverts) if (heard.heardAt <= deadline) this.#adverts.delete(id);
    for (const [id, heard] of this.#members) {
      if (heard.heardAt > deadline) continue;
      this.#members.delete(id);
      this.#adverts.delete(id);
      left.push(heard.value);
      this.emit('left', heard.value);
    }
    return left;
  }

  members(): MemberInfo[] {
    return [...this.#members.values()].map((h) => h.value).sort((a, b) => a.id.localeCompare(b.id));
  }

  member(id: string): MemberInfo | undefined {
    return this.#members.get(id)?.value;
  }

  /** Live invokers with a live advert, by id. */
  invokers(): Array<{ member: MemberInfo; advert: NodeAdvert }> {
    const out: Array<{ member: MemberInfo; advert: NodeAdvert }> = [];
    for (const member of this.members()) {
      if (!isInvoker(member.role)) continue;
      const advert = this.#adverts.get(member.id)?.value;
      if (advert) out.push({ member, advert });
    }
    return out;
  }

  advert(id: string): NodeAdvert | undefined {
    return this.#adverts.get(id)?.value;
  }
}

export interface MembershipOptions {
  self: MemberInfo;
  /** How long a node stays a member without a heartbeat, ms (default 3000). */
  ttlMs?: number;
  /** Fewest ms between two adverts of this node (default 100). */
  advertEveryMs?: number;
  /** This node's current advert (invokers only). */
  advert?: () => NodeAdvert;
  clock: Clock;
  onWarning?: (message: string) => void;
}

/** This node's part in the membership: heart-beats, advertises, watches the others. */
export class Membership {
  readonly view: MembershipView;
  readonly self: MemberInfo;
  readonly #options: MembershipOptions;
  readonly #members: KV;
  readonly #adverts: KV;
  readonly #timers: NodeJS.Timeout[] = [];
  #advertPending: NodeJS.Timeout | undefined;
  #lastAdvertAt = 0;
  #closed = false;
  readonly #watchers: Array<{ stop(): void }> = [];

  private constructor(options: MembershipOptions, members: KV, adverts: KV) {
    this.#options = options;
    this.self = options.self;
    this.view = new MembershipView(options.ttlMs ?? 3000, options.clock);
    this.#members = members;
    this.#adverts = adverts;
  }

  static async join(connection: ClusterConnection, options: MembershipOptions): Promise<Membership> {
    const ttlMs = options.ttlMs ?? 3000;
    const kvm = new Kvm(connection.nc);
    const [members, adverts] = await Promise.all([
      kvm.create(connection.name('members'), { ttl: ttlMs, history: 1, replicas: connection.replicas }),
      kvm.create(connection.name('adverts'), { ttl: ttlMs, history: 1, replicas: connection.replicas }),
    ]);
    const membership = new Membership(options, members, adverts);
    await membership.#start();
    return membership;
  }

  /** Says this node's advert changed: it is put soon (at most every advertEveryMs). */
  advertise(): void {
    if (this.#closed || !this.#options.advert || this.#advertPending) return;
    const wait = Math.max(0, this.#lastAdvertAt + (this.#options.advertEveryMs ?? 100) - Date.now());
    this.#advertPending = setTimeout(() => {
      this.#advertPending = undefined;
      void this.#putAdvert();
    }, wait);
    this.#advertPending.unref();
  }

  /** Leaves on purpose: deletes this node's keys, so the others drop it at once. */
  async leave(): Promise<void> {
    if (this.#closed) return;
    this.stop();
    await Promise.all([this.#members.delete(this.self.id).catch(() => undefined), this.#adverts.delete(this.self.id).catch(() => undefined)]);
  }

  /** Stops heart-beating and watching without a word (the others drop this node after the TTL). */
  stop(): void {
    this.#closed = true;
    for (const t of this.#timers) clearInterval(t);
    if (this.#advertPending) clearTimeout(this.#advertPending);
    for (const w of this.#watchers) w.stop();
  }

  async #start(): Promise<void> {
    await this.#heartbeat();
    await this.#watch(this.#members, (entry) => {
      if (entry.operation === 'PUT') this.view.heardMember(entry.json<MemberInfo>());
      else this.view.forget(entry.key);
    });
    await this.#watch(this.#adverts, (entry) => {
      if (entry.operation === 'PUT') this.view.heardAdvert(entry.json<NodeAdvert>());
      else this.view.forgetAdvert(entry.key);
    });
    const ttlMs = this.view.ttlMs;
    const beat = setInterval(() => void this.#heartbeat(), Math.max(50, Math.floor(ttlMs / 3)));
    beat.unref();
    this.#timers.push(beat);
    // Expiry on this node's clock: checked at least every ttl/4, and at the next known deadline.
    const sweep = setInterval(() => this.view.expire(), Math.max(50, Math.floor(ttlMs / 4)));
    sweep.unref();
    this.#timers.push(sweep);
  }

  async #heartbeat(): Promise<void> {
    if (this.#closed) return;
    try {
      await this.#members.put(this.self.id, JSON.stringify(this.self));
      await this.#putAdvert();
    } catch (error) {
      this.#options.onWarning?.(`cluster heartbeat: ${(error as Error).message}`);
    }
  }

  async #putAdvert(): Promise<void> {
    const advert = this.#options.advert?.();
    if (!advert || this.#closed) return;
    this.#lastAdvertAt = Date.now();
    await this.#adverts.put(this.self.id, JSON.stringify(advert)).catch((error: Error) => this.#options.onWarning?.(`cluster advert: ${error.message}`));
  }

  async #watch(kv: KV, apply: (entry: KvWatchEntry) => void): Promise<void> {
    const iterator = await kv.watch();
    this.#watchers.push(iterator);
    void (async () => {
      try {
        for await (const entry of iterator) {
          try {
            apply(entry);
          } catch (error) {
            this.#options.onWarning?.(`cluster: a bad entry ${entry.key} in ${entry.bucket}: ${(error as Error).message}`);
          }
        }
      } catch (error) {
        if (!this.#closed) this.#options.onWarning?.(`cluster watch of ${kv.constructor.name}: ${(error as Error).message}`);
      }
    })();
  }
}
