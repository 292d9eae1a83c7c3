export { Store, DB_FILE, type StoreOptions } from './store.ts';
export { DEFAULT_LIMITS, type StoreLimits } from './context.ts';
export { FunctionRepository } from './functions.ts';
export {
  InvocationRepository,
  type NewInvocation, type InvocationOutcome, type LogEntry, type StartKindStats, type FunctionStats,
} from './invocations.ts';
export { QueueRepository, DEFAULT_MAX_ATTEMPTS, type EnqueueOptions, type FailOptions, type RecoveryReport } from './queue.ts';
export * from './async-queue.ts';
export { SqliteAsyncQueue } from './sqlite-async-queue.ts';
export { PlatformCostRepository, IDLE_REASONS, type IdleReason, type IdleSample, type PlatformCost } from './costs.ts';
export { ScheduleRepository, type Schedule } from './schedules.ts';
export { AliasRepository, ALIAS_NAME, parseAliasRoutes, validateAliasName, validateAliasRoutes, type Alias, type AliasRoute } from './aliases.ts';
export { MIGRATIONS, SCHEMA_VERSION, type Migration } from './migrations.ts';
export { billedMs, billedGbSeconds, billableDurationMs, BILLED_PHASES } from './billing.ts';
export { IdGenerator, idTime } from './ids.ts';
export { FUNCTION_NAME, isValidFunctionName, validateFunctionName } from './names.ts';
export { percentile, summarize, type LatencySummary } from './stats.ts';
export * from './types.ts';
