// The records the store keeps. Times are epoch milliseconds (wall clock, injectable for tests);
// durations are milliseconds; memory is MB.

import type { StartKind } from '../../core/instance.ts';
import type { FunctionVersion } from '../function.ts';
import type { ErrorKind } from '../../runtime/protocol.ts';

export { START_KINDS, type StartKind } from '../../core/instance.ts';
export type { FunctionVersion, Language, NewFunctionVersion, StartPreference, VersionSettings } from '../function.ts';

export type InvocationMode = 'sync' | 'async' | 'timer';
export type InvocationStatus = 'queued' | 'running' | 'succeeded' | 'failed';
/** The runtime's error kinds, plus failures the platform itself decides. */
export type InvocationErrorKind = ErrorKind | 'platform' | 'throttled' | 'cancelled' | 'expired';

/** Why a job is a dead letter. */
export type DeadLetterReason = 'retries-exhausted' | 'not-retryable' | 'expired';
export const DEAD_LETTER_REASONS: readonly DeadLetterReason[] = ['retries-exhausted', 'not-retryable', 'expired'];

export const INVOCATION_MODES: readonly InvocationMode[] = ['sync', 'async', 'timer'];

export interface FunctionInfo {
  name: string;
  /** The newest successfully deployed version; null only while a function has none. */
  latestVersion: number | null;
  versionCount: number;
  createdAt: number;
  updatedAt: number;
  latest: FunctionVersion | undefined;
}

/** Phase durations of one invocation, ms. Phases that did not happen (a warm start has no sandboxMs) are 0. */
export interface PhaseTimings {
  /** Waiting before an instance took the invocation (async queue, concurrency limit). */
  queueMs: number;
  sandboxMs: number;
  runtimeBootMs: number;
  importMs: number;
  initMs: number;
  execMs: number;
  /** The platform's own overhead around the rest (routing, protocol, recording). */
  platformMs: number;
}
export const PHASES: readonly (keyof PhaseTimings)[] = ['queueMs', 'sandboxMs', 'runtimeBootMs', 'importMs', 'initMs', 'execMs', 'platformMs'];

export interface InvocationError {
  kind: InvocationErrorKind;
  message: string;
}

export interface InvocationRecord extends PhaseTimings {
  id: string;
  functionName: string;
  version: number;
  mode: InvocationMode;
  status: InvocationStatus;
  startKind: StartKind | null;
  instanceId: string | null;
  /** End-to-end latency the caller saw, ms (by default the sum of the phases). */
  totalMs: number | null;
  memoryMb: number;
  /** Billed duration, whole ms (rounded up). */
  billedMs: number | null;
  billedGbSeconds: number | null;
  createdAt: number;
  startedAt: number | null;
  finishedAt: number | null;
  error: InvocationError | null;
  /** The returned value; undefined when there is none or it was over the size limit (`resultTruncated`). */
  result: unknown;
  resultTruncated: boolean;
  stdout: string;
  stderr: string;
  /** Whether stdout or stderr was cut to the size limit (the newest output is kept). */
  logsTruncated: boolean;
  attempts: number;
}

export type JobStatus = 'pending' | 'running' | 'succeeded' | 'failed';

export interface QueueJob {
  /** Also the id of the job's invocation record. */
  id: string;
  functionName: string;
  version: number;
  mode: InvocationMode;
  payload: unknown;
  status: JobStatus;
  attempts: number;
  maxAttempts: number;
  enqueuedAt: number;
  /** Not claimed before this time (retry back-off). */
  availableAt: number;
  claimedAt: number | null;
  finishedAt: number | null;
  lastError: InvocationError | null;
  /** The Idempotency-Key it was accepted with. */
  idempotencyKey: string | null;
  /** W3C trace context of the request that enqueued it. */
  traceparent: string | null;
  /** Dead-lettered if not run by then (epoch ms; null: no limit). */
  expiresAt: number | null;
  /** Set while the job is a dead letter (status failed): why. */
  deadReason: DeadLetterReason | null;
  /** How many times it was redriven from the dead letters. */
  redrives: number;
  /** Cluster mode: which node ran each attempt (the last entry is the current or last one). */
  attemptLog?: AttemptEntry[];
}

/** One attempt of an async invocation, in cluster mode. */
export interface AttemptEntry {
  attempt: number;
  /** The node that ran it. */
  node: string;
  startedAt: number;
  finishedAt: number | null;
  /** Why it failed; null while it runs or when it succeeded. */
  error: InvocationError | null;
}
