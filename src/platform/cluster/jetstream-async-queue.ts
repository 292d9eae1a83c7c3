// The async queue of a cluster (the AsyncQueue interface of src/platform/store/async-queue.ts, its
// conformance suite and semantics) on NATS JetStream:
//
//   <prefix>_async          a work-queue stream: one message per run of a job (its id), published
//                           with a message id (`<id>.r<redrives>`) so a publish retried within the
//                           duplicate window is stored once. One durable pull consumer shared by
//                           every node: each message is delivered to one node at a time; a node
//                           holds it (and keeps telling JetStream it is working on it) until the
//                           job succeeds or becomes a dead letter, then acks it. A node that dies
//                           holding messages stops acking: after the ack wait JetStream redelivers
//                           them to another node, which counts the lost attempt and runs the next.
//   <prefix>_jobs           KV: each job's state (status, attempts, back-off, event age, which node
//                           ran each attempt, payload), changed only by compare-and-set on its
//                           revision, so two nodes never both claim one run.
//   <prefix>_dead           KV: the ids of the dead letters (what `thaw dlq ls` lists).
//   <prefix>_idempotency    KV with the idempotency window as its max age: one key per function and
//                           Idempotency-Key, created atomically, so one invocation per key
//                           cluster-wide.
//
// Back-off: a retry due within `holdMs` is held by the node that ran the attempt (the message stays
// un-acked, kept alive with working()); a longer one is handed back to JetStream with nak(delay),
// which redelivers it — to any node — when it is due. Time (back-off, event age, the idempotency
// window) is read from the injected clock; JetStream's own timers only decide when a message comes
// back.

import { createHash } from 'node:crypto';
import { AckPolicy, DeliverPolicy, RetentionPolicy, type Consumer, type JsMsg } from '@nats-io/jetstream';
import { Kvm, type KV, type KvEntry } from '@nats-io/kv';
import type { Subscription } from '@nats-io/transport-node';
import { ThawError } from '../../core/errors.ts';
import {
  deadLetterReason, retryDelayMs, validateAsyncPolicy, validateIdempotencyKey,
  type AsyncPolicy, type AsyncQueue, type AsyncRequest, type Enqueued, type FailAttempt, type RedriveTarget,
} from '../store/async-queue.ts';
import { IdGenerator } from '../store/ids.ts';
import type { InvocationOutcome } from '../store/invocations.ts';
import type { InvocationError, JobStatus, QueueJob } from '../store/types.ts';
import type { ClusterConnection } from './connection.ts';

export interface JetStreamAsyncQueueOptions {
  policy: AsyncPolicy;
  /** This node's id, recorded with each attempt it claims. */
  node: string;
  /** Epoch ms (tests inject one they advance). */
  now?: () => number;
  /** How long JetStream waits for an ack before redelivering a message whose node went silent, ms (default 30 s). */
  ackWaitMs?: number;
  /** Retries due within this long are held by the node instead of handed back to JetStream, ms (default 10 s). */
  holdMs?: number;
  /** How often the queue tells its worker to look for work it was not told of (redeliveries), ms (default 1000). */
  pollMs?: number;
  /** How long the end of an attempt is retried across a NATS outage before its job is handed back, ms (default 2 min). */
  settleMs?: number;
  /** Told of every change of a job, with the outcome of its last attempt (cluster records). */
  onChange?: (job: QueueJob, outcome: Omit<InvocationOutcome, 'status'> | undefined) => void;
}

/** A job as stored: the QueueJob, the SHA-256 of its payload's JSON (idempotency), its last outcome. */
interface StoredJob extends QueueJob {
  payloadSha256: string;
  outcome?: Omit<InvocationOutcome, 'status'>;
}

/** A message this node holds, and the job state it last read (with its KV revision). */
interface Held {
  msg: JsMsg;
  job: StoredJob;
  revision: number;
  /** A claim of this job is in flight on this node. */
  claiming: boolean;
}

/** The duplicate window of the stream: a publish retried within it is stored once. */
const DUPLICATE_WINDOW_MS = 2 * 60_000;

export class JetStreamAsyncQueue implements AsyncQueue {
  readonly policy: AsyncPolicy;
  readonly #connection: ClusterConnection;
  readonly #options: Required<Omit<JetStreamAsyncQueueOptions, 'policy'>>;
  readonly #jobs: KV;
  readonly #dead: KV;
  readonly #idempotency: KV;
  readonly #consumer: Consumer;
  readonly #subject: string;
  readonly #wakeSubject: string;
  readonly #ids = new IdGenerator();
  readonly #held = new Map<string, Held>();
  readonly #listeners: Array<() => void> = [];
  readonly #timers: NodeJS.Timeout[] = [];
  #wakeSubscription: Subscription | undefined;
  #closed = false;

  private constructor(connection: ClusterConnection, options: JetStreamAsyncQueueOptions, kvs: { jobs: KV; dead: KV; idempotency: KV }, consumer: Consumer) {
    this.#connection = connection;
    this.policy = validateAsyncPolicy(options.policy);
    this.#options = { now: Date.now, ackWaitMs: 30_000, holdMs: 10_000, pollMs: 1000, settleMs: 120_000, onChange: () => undefined, ...options };
    this.#jobs = kvs.jobs;
    this.#dead = kvs.dead;
    this.#idempotency = kvs.idempotency;
    this.#consumer = consumer;
    this.#subject = connection.subject('async', 'run');
    this.#wakeSubject = connection.subject('async', 'wake');
  }

  /** Creates (or opens) the stream, consumer and buckets. */
  static async open(connection: ClusterConnection, options: JetStreamAsyncQueueOptions): Promise<JetStreamAsyncQueue> {
    const kvm = new Kvm(connection.nc);
    const [jobs, dead, idempotency] = await Promise.all([
      kvm.create(connection.name('jobs'), { history: 1, replicas: connection.replicas, description: 'thaw: async invocation jobs' }),
      kvm.create(connection.name('dead'), { history: 1, replicas: connection.replicas, description: 'thaw: dead letters (job ids)' }),
      kvm.create(connection.name('idempotency'), { history: 1, replicas: connection.replicas, ttl: options.policy.idempotencyWindowMs, description: 'thaw: Idempotency-Keys' }),
    ]);
    const stream = connection.name('async');
    const subject = connection.subject('async', 'run');
    const ackWaitMs = options.ackWaitMs ?? 30_000;
    await connection.jsm.streams.add({ name: stream, subjects: [subject], retention: RetentionPolicy.Workqueue, num_replicas: connection.replicas, duplicate_window: DUPLICATE_WINDOW_MS * 1e6 }).catch(async (error: Error) => {
      if (!/already in use|exists/i.test(error.message)) throw error;
    });
    await connection.jsm.consumers
      .add(stream, { durable_name: 'workers', ack_policy: AckPolicy.Explicit, deliver_policy: DeliverPolicy.All, ack_wait: ackWaitMs * 1e6, max_deliver: -1, max_ack_pending: 100_000 })
      .catch(async (error: Error) => {
        if (!/already in use|exists/i.test(error.message)) throw error;
        // The cluster's consumer exists: the last node to start sets its ack wait.
        await connection.jsm.consumers.update(stream, 'workers', { ack_wait: ackWaitMs * 1e6 });
      });
    const consumer = await connection.js.consumers.get(stream, 'workers');
    const queue = new JetStreamAsyncQueue(connection, options, { jobs, dead, idempotency }, consumer);
    queue.#start();
    return queue;
  }

  /** `listener` is called when work may have appeared that this node did not enqueue (another node's, a redelivery). */
  onAvailable(listener: () => void): void {
    this.#listeners.push(listener);
  }

  async enqueue(request: AsyncRequest): Promise<Enqueued> {
    const now = this.#options.now();
    const payloadJson = JSON.stringify(request.payload ?? null);
    const payloadSha256 = sha256(payloadJson);
    const key = request.idempotencyKey === undefined ? undefined : validateIdempotencyKey(request.idempotencyKey);
    const id = this.#ids.next(now);
    if (key !== undefined) {
      const duplicate = await this.#claimIdempotencyKey(request.functionName, key, id, payloadSha256, now);
      if (duplicate) return { job: publicJob(duplicate), duplicate: true };
    }
    const job: StoredJob = {
      id, functionName: request.functionName, version: request.version, mode: request.mode ?? 'async', payload: JSON.parse(payloadJson),
      status: 'pending', attempts: 0, maxAttempts: this.policy.maxAttempts, enqueuedAt: now, availableAt: now, claimedAt: null, finishedAt: null,
      lastError: null, idempotencyKey: key ?? null, traceparent: request.traceparent ?? null, expiresAt: this.#expiresAt(now), deadReason: null,
      redrives: 0, attemptLog: [], payloadSha256,
    };
    await this.#jobs.create(id, JSON.stringify(job));
    this.#changed(job);
    await this.#publish(job);
    return { job: publicJob(job), duplicate: false };
  }

  async claim(): Promise<QueueJob | undefined> {
    for (;;) {
      if (this.#closed) return undefined;
      const due = this.#oldestDue();
      if (due) {
        const claimed = await this.#claimHeld(due);
        if (claimed) return claimed;
        continue;
      }
      // Nothing held is due: ask JetStream for the next message (it answers at once when one is
      // there, or after a second with none).
      const msg = await this.#consumer.next({ expires: 1000 }).catch(() => null);
      if (!msg) return undefined;
      await this.#intake(msg);
    }
  }

  async nextAvailableAt(): Promise<number | undefined> {
    let next: number | undefined;
    for (const held of this.#held.values()) {
      if (held.job.status === 'pending' && (next === undefined || held.job.availableAt < next)) next = held.job.availableAt;
    }
    return next;
  }

  async complete(id: string, outcome: Omit<InvocationOutcome, 'status'> = {}): Promise<void> {
    const t = outcome.finishedAt ?? this.#options.now();
    const attempt = this.#held.get(id)?.job.attempts;
    await this.#settle(id, () =>
      this.#change(id, (job) => {
        requireAttempt(job, attempt);
        finishAttempt(job, t, null);
        return { ...job, status: 'succeeded', finishedAt: t, payload: null, outcome };
      }),
    );
    this.#release(id, 'ack');
  }

  async fail(id: string, error: InvocationError, attempt: FailAttempt): Promise<QueueJob> {
    let delay = 0;
    const claimed = this.#held.get(id)?.job.attempts;
    const job = await this.#settle(id, () => this.#change(id, (job) => {
      requireAttempt(job, claimed);
      const t = attempt.outcome?.finishedAt ?? this.#options.now();
      delay = retryDelayMs(this.policy, job.attempts);
      finishAttempt(job, t, error);
      const dead = deadLetterReason(job, !attempt.retryable, t, delay);
      if (dead) return { ...job, status: 'failed', finishedAt: t, lastError: error, deadReason: dead, outcome: attempt.outcome };
      return { ...job, status: 'pending', availableAt: t + delay, claimedAt: null, lastError: error, outcome: attempt.outcome };
    }));
    if (job.status === 'failed') {
      await this.#settle(id, () => this.#dead.put(id, JSON.stringify({ functionName: job.functionName, finishedAt: job.finishedAt })));
      this.#release(id, 'ack');
    } else if (delay > this.#options.holdMs) {
      // A long back-off: JetStream brings the message back (to any node) shortly before it is due.
      this.#release(id, 'nak', delay - Math.min(delay, this.#options.holdMs) / 2);
    }
    return publicJob(job);
  }

  /** The running attempt is carried out on another node (the claimer forwarded it): its record says so. */
  async setAttemptNode(id: string, node: string): Promise<void> {
    await this.#change(id, (job) => {
      requireRunning(job);
      const last = job.attemptLog?.at(-1);
      if (last) last.node = node;
      return job;
    });
  }

  async get(id: string): Promise<QueueJob | undefined> {
    const entry = await this.#read(id);
    return entry && publicJob(entry.job);
  }

  /** The job with the outcome of its last attempt (what its record is made from). */
  async getWithOutcome(id: string): Promise<{ job: QueueJob; outcome: Omit<InvocationOutcome, 'status'> | undefined } | undefined> {
    const entry = await this.#read(id);
    return entry && { job: publicJob(entry.job), outcome: entry.job.outcome };
  }

  async deadLetters(filter: { functionName?: string; limit?: number } = {}): Promise<QueueJob[]> {
    const dead = await this.#deadIndex(filter.functionName);
    dead.sort((a, b) => b.finishedAt - a.finishedAt || (b.id < a.id ? -1 : 1));
    const jobs: QueueJob[] = [];
    for (const d of dead.slice(0, filter.limit ?? 100)) {
      const job = await this.get(d.id);
      if (job?.status === 'failed') jobs.push(job);
    }
    return jobs;
  }

  async redrive(target: RedriveTarget): Promise<QueueJob[]> {
    let ids: string[];
    if ('id' in target) {
      const entry = await this.#read(target.id);
      if (!entry) throw new ThawError('ERR_NOT_FOUND', `no queued job with id '${target.id}'`);
      if (entry.job.status !== 'failed') throw new ThawError('ERR_INVALID_STATE', `job ${target.id} is ${entry.job.status}, not a dead letter`);
      ids = [target.id];
    } else {
      ids = (await this.#deadIndex(target.functionName)).sort((a, b) => a.finishedAt - b.finishedAt || (a.id < b.id ? -1 : 1)).map((d) => d.id);
    }
    const redriven: QueueJob[] = [];
    for (const id of ids) {
      const now = this.#options.now();
      const job = await this.#change(id, (job) => {
        if (job.status !== 'failed') throw new ThawError('ERR_INVALID_STATE', `job ${id} is ${job.status}, not a dead letter`);
        return { ...job, status: 'pending', attempts: 0, availableAt: now, claimedAt: null, finishedAt: null, expiresAt: this.#expiresAt(now), deadReason: null, redrives: job.redrives + 1 };
      });
      await this.#dead.delete(id);
      await this.#publish(job);
      redriven.push(publicJob(job));
    }
    return redriven;
  }

  async counts(functionName?: string): Promise<Record<JobStatus, number>> {
    const out: Record<JobStatus, number> = { pending: 0, running: 0, succeeded: 0, failed: 0 };
    for (const job of (await latestByKey<StoredJob>(this.#jobs)).values()) {
      if (functionName === undefined || job.functionName === functionName) out[job.status]++;
    }
    return out;
  }

  /**
   * Stops claiming and hands the held messages back to JetStream at once (nak), so another node
   * runs them; `abandon` (tests) drops them without a word, as a node that died would.
   */
  async close(options: { abandon?: boolean } = {}): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    for (const t of this.#timers) clearInterval(t);
    this.#wakeSubscription?.unsubscribe();
    if (!options.abandon) for (const held of this.#held.values()) held.msg.nak();
    this.#held.clear();
  }

  // ------------------------------------------------------------------------------------------

  #start(): void {
    // Keep the held messages alive, and hand JetStream back none of them by mistake.
    const keepAlive = setInterval(() => {
      for (const held of this.#held.values()) held.msg.working();
    }, Math.max(100, Math.floor(this.#options.ackWaitMs / 3)));
    keepAlive.unref();
    this.#timers.push(keepAlive);
    // Another node's enqueue or redrive says so on a plain subject; redeliveries say nothing, so
    // the worker is also told to look every pollMs.
    this.#wakeSubscription = this.#connection.nc.subscribe(this.#wakeSubject, { callback: () => this.#notify() });
    const poll = setInterval(() => this.#notify(), this.#options.pollMs);
    poll.unref();
    this.#timers.push(poll);
  }

  #changed(job: StoredJob): void {
    try {
      this.#options.onChange(publicJob(job), job.outcome);
    } catch {
      // a listener's failure is not the queue's
    }
  }

  #notify(): void {
    if (this.#closed) return;
    for (const listener of this.#listeners) listener();
  }

  async #publish(job: StoredJob): Promise<void> {
    await this.#connection.js.publish(this.#subject, job.id, { msgID: `${job.id}.r${job.redrives}` });
    this.#connection.nc.publish(this.#wakeSubject);
  }

  /** A message delivered to this node: hold it, or drop it when its job needs no run. */
  async #intake(msg: JsMsg): Promise<void> {
    const id = msg.string();
    const entry = await this.#read(id);
    if (!entry || entry.job.status === 'succeeded' || entry.job.status === 'failed') {
      msg.ack(); // a run already finished (or a message whose job is gone)
      return;
    }
    if (this.#held.has(id)) {
      msg.ack(); // a second message for a job this node already holds
      return;
    }
    let { job, revision } = entry;
    if (job.status === 'running') {
      if (msg.info.deliveryCount === 1) {
        msg.ack(); // another node holds the job's run: this is a duplicate message
        return;
      }
      // Redelivered while its job was running: the node that held it stopped (killed, or silent
      // past the ack wait). That attempt is lost; the job goes on from here.
      const now = this.#options.now();
      const error: InvocationError = { kind: 'platform', message: `the node running attempt ${job.attempts} (${job.attemptLog?.at(-1)?.node ?? 'unknown'}) stopped` };
      finishAttempt(job, now, error);
      const next: StoredJob =
        job.attempts >= job.maxAttempts
          ? { ...job, status: 'failed', finishedAt: now, lastError: error, deadReason: 'retries-exhausted' }
          : { ...job, status: 'pending', availableAt: now, claimedAt: null, lastError: error };
      try {
        revision = await this.#jobs.update(id, JSON.stringify(next), revision);
        this.#changed(next);
      } catch {
        msg.nak(); // changed meanwhile: look again later
        return;
      }
      job = next;
      if (job.status === 'failed') {
        await this.#dead.put(id, JSON.stringify({ functionName: job.functionName, finishedAt: job.finishedAt }));
        msg.ack();
        return;
      }
    }
    this.#held.set(id, { msg, job, revision, claiming: false });
  }

  #oldestDue(): Held | undefined {
    const now = this.#options.now();
    let best: Held | undefined;
    for (const held of this.#held.values()) {
      const job = held.job;
      if (held.claiming || job.status !== 'pending' || job.availableAt > now) continue;
      if (!best || job.availableAt < best.job.availableAt || (job.availableAt === best.job.availableAt && job.id < best.job.id)) best = held;
    }
    return best;
  }

  /** Claims a held, due job: running, attempts + 1 (compare-and-set). Undefined when it turned out not claimable. */
  async #claimHeld(held: Held): Promise<QueueJob | undefined> {
    held.claiming = true;
    try {
      const now = this.#options.now();
      const job = held.job;
      if (job.expiresAt !== null && job.expiresAt <= now) {
        const error: InvocationError = { kind: 'expired', message: `not run within its maximum event age (accepted ${new Date(job.enqueuedAt).toISOString()}, ${job.attempts} attempts)` };
        const dead: StoredJob = { ...job, status: 'failed', finishedAt: now, lastError: error, deadReason: 'expired' };
        await this.#jobs.update(job.id, JSON.stringify(dead), held.revision);
        this.#changed(dead);
        await this.#dead.put(job.id, JSON.stringify({ functionName: job.functionName, finishedAt: now }));
        this.#release(job.id, 'ack');
        return undefined;
      }
      const attempts = job.attempts + 1;
      const running: StoredJob = {
        ...job, status: 'running', attempts, claimedAt: now,
        attemptLog: [...(job.attemptLog ?? []), { attempt: attempts, node: this.#options.node, startedAt: now, finishedAt: null, error: null }],
      };
      held.revision = await this.#jobs.update(job.id, JSON.stringify(running), held.revision);
      held.job = running;
      this.#changed(running);
      return publicJob(running);
    } catch {
      // Another node changed it (a redrive, a duplicate message's run): read it again.
      const entry = await this.#read(held.job.id);
      if (!entry || entry.job.status !== 'pending') this.#release(held.job.id, 'ack');
      else Object.assign(held, { job: entry.job, revision: entry.revision });
      return undefined;
    } finally {
      held.claiming = false;
    }
  }

  /**
   * Stores the end of an attempt, retried across a NATS outage (a restarted server, a lost
   * connection) for up to settleMs. What cannot be stored is never left held, kept alive and
   * running for ever: the message is handed back, and the node that gets it next finds the job as
   * it is (finished: dropped; still running: the attempt is counted lost and the job runs again).
   * A job another node took over meanwhile (this node was silent past the ack wait) is let go.
   */
  async #settle<T>(id: string, store: () => Promise<T>): Promise<T> {
    const giveUpAt = performance.now() + this.#options.settleMs;
    for (let wait = 100; ; wait = Math.min(2 * wait, 2000)) {
      try {
        return await store();
      } catch (error) {
        const final = error instanceof ThawError && (error.code === 'ERR_INVALID_STATE' || error.code === 'ERR_NOT_FOUND');
        if (final || this.#closed || performance.now() + wait >= giveUpAt) {
          if (error instanceof ThawError && error.code === 'ERR_INVALID_STATE' && /taken over/.test(error.message)) this.#held.delete(id);
          else this.#release(id, 'nak');
          throw error;
        }
        await new Promise((resolve) => setTimeout(resolve, wait));
      }
    }
  }

  /** Read-modify-write of a job by compare-and-set, retried when another writer came first. */
  async #change(id: string, change: (job: StoredJob) => StoredJob): Promise<StoredJob> {
    for (let tries = 0; ; tries++) {
      const entry = await this.#read(id);
      if (!entry) throw new ThawError('ERR_NOT_FOUND', `no queued job with id '${id}'`);
      const next = change(structuredClone(entry.job));
      try {
        const revision = await this.#jobs.update(id, JSON.stringify(next), entry.revision);
        const held = this.#held.get(id);
        if (held) Object.assign(held, { job: next, revision });
        this.#changed(next);
        return next;
      } catch (error) {
        if (tries >= 5) throw new ThawError('ERR_CLUSTER', `job ${id}: could not update it: ${(error as Error).message}`);
      }
    }
  }

  #release(id: string, how: 'ack' | 'nak', delayMs?: number): void {
    const held = this.#held.get(id);
    if (!held) return;
    this.#held.delete(id);
    if (how === 'ack') held.msg.ack();
    else held.msg.nak(delayMs);
  }

  async #read(id: string): Promise<{ job: StoredJob; revision: number } | undefined> {
    const entry: KvEntry | null = await this.#jobs.get(id);
    if (!entry || entry.operation !== 'PUT') return undefined;
    return { job: entry.json<StoredJob>(), revision: entry.revision };
  }

  async #deadIndex(functionName?: string): Promise<Array<{ id: string; finishedAt: number }>> {
    const out: Array<{ id: string; finishedAt: number }> = [];
    for (const [id, d] of await latestByKey<{ functionName: string; finishedAt: number }>(this.#dead)) {
      if (functionName === undefined || d.functionName === functionName) out.push({ id, finishedAt: d.finishedAt });
    }
    return out;
  }

  /**
   * Takes the Idempotency-Key for a new job `id`, or returns the job that holds it (same function,
   * within the window). Another payload under a held key is a conflict.
   */
  async #claimIdempotencyKey(functionName: string, key: string, id: string, payloadSha256: string, now: number): Promise<StoredJob | undefined> {
    const k = sha256(`${functionName}\0${key}`);
    const record = JSON.stringify({ id, payloadSha256, at: now });
    for (let tries = 0; tries < 5; tries++) {
      const entry = await this.#idempotency.get(k);
      if (entry && entry.operation === 'PUT') {
        const held = entry.json<{ id: string; payloadSha256: string; at: number }>();
        const first = now - held.at < this.policy.idempotencyWindowMs ? await this.#read(held.id) : undefined;
        if (first) {
          if (held.payloadSha256 !== payloadSha256) throw new ThawError('ERR_CONFLICT', `Idempotency-Key '${key}' was used for invocation ${held.id} of ${functionName} with another payload`);
          // The node that took the key may have died before publishing: publishing again is
          // harmless within the duplicate window (stored once), and after it the job has run.
          if (first.job.status === 'pending' && now - first.job.enqueuedAt < DUPLICATE_WINDOW_MS) await this.#publish(first.job);
          return first.job;
        }
        // Expired, or its job was never written: the key is free again.
        try {
          await this.#idempotency.update(k, record, entry.revision);
          return undefined;
        } catch {
          continue;
        }
      }
      try {
        await this.#idempotency.create(k, record);
        return undefined;
      } catch {
        // Another node took it first: read what it took.
      }
    }
    throw new ThawError('ERR_CLUSTER', `Idempotency-Key '${key}': could not take it (too much contention)`);
  }

  #expiresAt(now: number): number | null {
    return Number.isFinite(this.policy.maxEventAgeMs) ? now + this.policy.maxEventAgeMs : null;
  }
}

/**
 * Every key's latest value. A bucket's history() is read while others write: a key changed during
 * the read comes again at the end (its new revision), so the last one seen of each key counts.
 */
async function latestByKey<T>(kv: KV): Promise<Map<string, T>> {
  const latest = new Map<string, T>();
  for await (const entry of await kv.history()) {
    if (entry.operation === 'PUT') latest.set(entry.key, entry.json<T>());
    else latest.delete(entry.key);
  }
  return latest;
}

function requireRunning(job: StoredJob): void {
  if (job.status !== 'running') throw new ThawError('ERR_INVALID_STATE', `job ${job.id} is ${job.status}, not running`);
}

/** The job is running the attempt this node claimed (`attempt`, when it holds the job). */
function requireAttempt(job: StoredJob, attempt: number | undefined): void {
  if (attempt !== undefined && job.attempts !== attempt) {
    throw new ThawError('ERR_INVALID_STATE', `job ${job.id}: attempt ${attempt} was taken over by another node (now attempt ${job.attempts}, ${job.status})`);
  }
  requireRunning(job);
}

function finishAttempt(job: StoredJob, t: number, error: InvocationError | null): void {
  const last = job.attemptLog?.at(-1);
  if (last && last.finishedAt === null) Object.assign(last, { finishedAt: t, error });
}

function publicJob(job: StoredJob): QueueJob {
  const { payloadSha256: _, outcome: __, ...rest } = job;
  return rest;
}

function sha256(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}
