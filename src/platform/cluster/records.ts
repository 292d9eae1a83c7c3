// Invocation records of the whole cluster, in a KV bucket (`<prefix>_records`, key
// `<function>.<id>`, kept `retentionMs`): the node that runs an invocation (or the queue, for an
// async one) puts its record at each change, so any node's API reads any record, and one that is
// waited on (`GET /invocations/:id?wait=`) is watched until it is final.

import { Kvm, type KV } from '@nats-io/kv';
import { ThawError } from '../../core/errors.ts';
import { billableDurationMs, billedGbSeconds, billedMs } from '../store/billing.ts';
import type { InvocationOutcome } from '../store/invocations.ts';
import { keepHeadAndTail } from '../store/text.ts';
import { PHASES, type AttemptEntry, type InvocationRecord, type InvocationStatus, type QueueJob } from '../store/types.ts';
import type { ClusterConnection } from './connection.ts';

export const DEFAULT_RECORD_RETENTION_MS = 7 * 24 * 3600_000;

export class ClusterRecords {
  readonly #kv: KV;
  /** Per record key, this node's write in progress: the next waits for it. */
  readonly #writing = new Map<string, Promise<void>>();

  private constructor(kv: KV) {
    this.#kv = kv;
  }

  static async open(connection: ClusterConnection, retentionMs = DEFAULT_RECORD_RETENTION_MS): Promise<ClusterRecords> {
    const kv = await new Kvm(connection.nc).create(connection.name('records'), { history: 1, replicas: connection.replicas, ttl: retentionMs, description: 'thaw: invocation records' });
    return new ClusterRecords(kv);
  }

  async put(record: InvocationRecord): Promise<void> {
    await this.#kv.put(`${record.functionName}.${record.id}`, JSON.stringify(record));
  }

  /**
   * The record of an async job at one of its changes. Several nodes write a job's record (the one
   * that claimed each attempt), and a slow node's write can arrive after a faster node's later
   * one: a record is replaced only by one of the same or a later change (compare-and-set), so it
   * never goes back from succeeded to running. This node's writes of one record go one after the
   * other, each retried (a conflict, a timeout, a NATS outage) for up to `retryMs`.
   */
  putJob(record: ClusterRecord, job: Pick<QueueJob, 'redrives' | 'attempts' | 'status'>, retryMs = 120_000): Promise<void> {
    const key = `${record.functionName}.${record.id}`;
    const value = JSON.stringify({ ...record, [ORDER]: jobOrder(job) });
    const previous = this.#writing.get(key) ?? Promise.resolve();
    const written = previous.then(() => this.#writeJob(key, value, jobOrder(job), retryMs));
    const settled = written.catch(() => undefined);
    this.#writing.set(key, settled);
    void settled.then(() => {
      if (this.#writing.get(key) === settled) this.#writing.delete(key);
    });
    return written;
  }

  async #writeJob(key: string, value: string, order: number[], retryMs: number): Promise<void> {
    const giveUpAt = performance.now() + retryMs;
    for (let wait = 50; ; wait = Math.min(2 * wait, 2000)) {
      try {
        const entry = await this.#kv.get(key);
        if (!entry || entry.operation !== 'PUT') await this.#kv.create(key, value);
        else if (compareOrder(entry.json<{ [ORDER]?: number[] }>()[ORDER] ?? [], order) > 0) return; // a later change is there
        else await this.#kv.update(key, value, entry.revision);
        return;
      } catch (error) {
        // Another node wrote it meanwhile (read it again), or NATS did not answer (try again).
        if (performance.now() + wait >= giveUpAt) throw new ThawError('ERR_CLUSTER', `record ${key}: could not write it: ${(error as Error).message}`);
        await new Promise((resolve) => setTimeout(resolve, wait));
      }
    }
  }

  async get(id: string): Promise<InvocationRecord | undefined> {
    if (!/^[0-9A-Z]{26}$/.test(id)) return undefined;
    for await (const key of await this.#kv.keys(`*.${id}`)) {
      const entry = await this.#kv.get(key);
      if (entry?.operation === 'PUT') return readRecord(entry.json<InvocationRecord>());
    }
    return undefined;
  }

  async require(id: string): Promise<InvocationRecord> {
    const record = await this.get(id);
    if (!record) throw new ThawError('ERR_NOT_FOUND', `no invocation with id '${id}'`);
    return record;
  }

  /** The function's latest records, newest first (ids sort by time). */
  async latest(functionName: string, limit = 20): Promise<InvocationRecord[]> {
    const keys: string[] = [];
    for await (const key of await this.#kv.keys(`${functionName}.*`)) keys.push(key);
    keys.sort().reverse();
    const records: InvocationRecord[] = [];
    for (const key of keys.slice(0, limit)) {
      const entry = await this.#kv.get(key);
      if (entry?.operation === 'PUT') records.push(readRecord(entry.json<InvocationRecord>()));
    }
    return records;
  }

  /** The record once `isFinal` says so, or as it is when `timeoutMs` has passed. */
  async waitFor(id: string, timeoutMs: number, isFinal: (r: InvocationRecord) => boolean): Promise<InvocationRecord> {
    const record = await this.require(id);
    if (isFinal(record)) return record;
    const watcher = await this.#kv.watch({ key: `${record.functionName}.${id}` });
    const timer = setTimeout(() => watcher.stop(), timeoutMs);
    let last = record;
    try {
      for await (const entry of watcher) {
        if (entry.operation !== 'PUT') continue;
        last = readRecord(entry.json<InvocationRecord>());
        if (isFinal(last)) break;
      }
    } finally {
      clearTimeout(timer);
      watcher.stop();
    }
    return last;
  }
}

/** Where a job's record is in the job's life, stored with it (and not shown): see putJob. */
const ORDER = '_jobOrder';

/** [redrives, attempts, 0 while the attempt runs, 1 once it ended]: increases with every change. */
function jobOrder(job: Pick<QueueJob, 'redrives' | 'attempts' | 'status'>): number[] {
  return [job.redrives, job.attempts, job.status === 'running' ? 0 : 1];
}

function compareOrder(a: readonly number[], b: readonly number[]): number {
  for (let i = 0; i < Math.max(a.length, b.length); i++) if ((a[i] ?? 0) !== (b[i] ?? 0)) return (a[i] ?? 0) - (b[i] ?? 0);
  return 0;
}

function readRecord(stored: InvocationRecord): InvocationRecord {
  const { [ORDER]: _, ...record } = stored as InvocationRecord & { [ORDER]?: number[] };
  return record;
}

/** An invocation record in cluster mode also says which node ran it, and each attempt's node. */
export type ClusterRecord = InvocationRecord & { node: string | null; attemptLog?: AttemptEntry[] };

const RESULT_BYTES = 256 * 1024;
const LOG_BYTES = 32 * 1024;

/**
 * The record of an invocation from what ran it: its identity, its outcome (when it has one), the
 * node. The same rules as the single-node store's (billing, result and log limits).
 */
export function buildRecord(
  init: { id: string; functionName: string; version: number; mode: InvocationRecord['mode']; status: InvocationStatus; memoryMb: number; createdAt: number; startedAt: number | null; attempts: number; node: string | null; attemptLog?: AttemptEntry[] },
  outcome?: Omit<InvocationOutcome, 'status'>,
  error?: InvocationRecord['error'],
): ClusterRecord {
  const t = outcome?.timings ?? {};
  const phases = Object.fromEntries(PHASES.map((p) => [p, t[p] ?? 0])) as Pick<InvocationRecord, (typeof PHASES)[number]>;
  const finished = init.status === 'succeeded' || init.status === 'failed';
  const memoryMb = outcome?.memoryMb ?? init.memoryMb;
  const billed = finished ? billedMs(outcome?.billedDurationMs ?? billableDurationMs(t)) : null;
  let result = outcome?.result;
  const resultTruncated = result !== undefined && Buffer.byteLength(JSON.stringify(result) ?? '') > RESULT_BYTES;
  if (resultTruncated) result = undefined;
  const stdout = keepHeadAndTail(outcome?.stdout ?? '', LOG_BYTES);
  const stderr = keepHeadAndTail(outcome?.stderr ?? '', LOG_BYTES);
  return {
    id: init.id, functionName: init.functionName, version: init.version, mode: init.mode, status: init.status,
    startKind: outcome?.startKind ?? null, instanceId: outcome?.instanceId ?? null, ...phases,
    totalMs: finished ? (outcome?.totalMs ?? Object.values(phases).reduce((a, b) => a + b, 0)) : null,
    memoryMb, billedMs: billed, billedGbSeconds: billed === null ? null : billedGbSeconds(memoryMb, billed),
    createdAt: init.createdAt, startedAt: outcome?.startedAt ?? init.startedAt, finishedAt: finished ? (outcome?.finishedAt ?? Date.now()) : null,
    error: error ?? outcome?.error ?? null, result, resultTruncated, stdout: stdout.text, stderr: stderr.text,
    logsTruncated: stdout.truncated || stderr.truncated, attempts: init.attempts, node: init.node, ...(init.attemptLog ? { attemptLog: init.attemptLog } : {}),
  };
}

/** The record of an async job as it now is (queued, running, or final with its last outcome). */
export function recordOfJob(job: QueueJob, memoryMb: number, outcome?: Omit<InvocationOutcome, 'status'>): ClusterRecord {
  const status: InvocationStatus = job.status === 'pending' ? 'queued' : job.status;
  const last = job.attemptLog?.at(-1);
  return buildRecord(
    {
      id: job.id, functionName: job.functionName, version: job.version, mode: job.mode, status, memoryMb, createdAt: job.enqueuedAt,
      startedAt: job.claimedAt, attempts: job.attempts, node: last?.node ?? null, attemptLog: job.attemptLog,
    },
    status === 'queued' || status === 'running' ? undefined : outcome,
    job.lastError && status !== 'succeeded' ? job.lastError : null,
  );
}
