// The function model: what a deployed function version is, in one place. Its settings (how a
// version runs) come from three places, later ones winning key by key: the defaults, the
// package.json "thaw" field, and the caller (CLI flags or the HTTP request); `env` is merged per
// variable. The store records versions (FunctionVersion); the invoker and the start paths see them
// as DeployedFunction.

import { invalidOption, InvalidPackageError, type ThawError } from '../core/errors.ts';
import type { CodeLayout } from './deploy/layout.ts';

export type Language = 'js' | 'ts';

/** How new instances of a version prefer to start (`start` setting); the start paths read it. */
export type StartPreference = 'cold' | 'zygote' | 'snapshot' | 'isolate' | 'auto';
export const START_PREFERENCES: readonly StartPreference[] = ['cold', 'zygote', 'snapshot', 'isolate', 'auto'];

/** What a deploy decides about how a version runs. */
export interface VersionSettings {
  memoryMb: number;
  timeoutMs: number;
  maxConcurrency: number;
  env: Record<string, string>;
  network: boolean;
  /** Provisioned concurrency: instances kept started even with no traffic. */
  provisioned: number;
  start: StartPreference;
  /**
   * Invocations one instance serves at once (Knative's containerConcurrency, Cloud Run's
   * concurrency). 1, the default: one at a time, a sandbox per concurrent invocation. More: a busy
   * instance takes further invocations up to this many before another starts. Absent: 1.
   */
  instanceConcurrency?: number;
}

/** Everything a new version is recorded with. Paths may be absolute or relative to the data directory. */
export interface NewFunctionVersion extends VersionSettings {
  language: Language;
  /** The entry file, relative to the package root (e.g. `index.ts`). */
  entry: string;
  /** Direct dependencies as installed: name → exact version (from the lockfile). */
  dependencies: Record<string, string>;
  /** The version's folder, holding `bundle.cjs` (SandboxSpec.codeDir). */
  codeDir: string;
  bundlePath: string;
  bundleSha256: string;
  bundleBytes: number;
  /**
   * How the code is laid out (deploy/layout.ts): 'bundle' (bundle.cjs is the whole function) or
   * 'installed' (bundle.cjs loads src/ and its node_modules as npm installed them). Default bundle.
   */
  layout?: CodeLayout;
  /** Why the deploy chose that layout (one line). */
  layoutReason?: string | null;
}

/** An immutable deployed version. Only `snapshotStatus` and `isolateStatus` change after it is recorded. */
export interface FunctionVersion extends NewFunctionVersion {
  layout: CodeLayout;
  layoutReason: string | null;
  functionName: string;
  version: number;
  createdAt: number;
  /** Free text for the snapshot work: e.g. `ready`, `building`, or why it fell back to a cold start. */
  snapshotStatus: string | null;
  snapshotUpdatedAt: number | null;
  /** For start isolate or auto: `compatible`, or `container: <why>` (it starts in a container instead). */
  isolateStatus: string | null;
}

/** A deployed function version, as the invoker and the start paths need it: its settings, where its code is. */
export type DeployedFunction = Omit<VersionSettings, 'start'> & {
  name: string;
  version: number;
  /** Folder holding bundle.cjs. */
  codeDir: string;
  /** Start path preference (cold when absent). */
  start?: VersionSettings['start'];
  /** Direct npm dependencies, name → exact version (zygotes match on them). */
  dependencies?: Record<string, string>;
  /** How its code is laid out (bundle when absent), and why. */
  layout?: CodeLayout;
  layoutReason?: string | null;
};

/** A stored version as the invoker (and the start paths) see it. */
export function toDeployed(v: FunctionVersion): DeployedFunction {
  return {
    name: v.functionName,
    version: v.version,
    codeDir: v.codeDir,
    memoryMb: v.memoryMb,
    timeoutMs: v.timeoutMs,
    maxConcurrency: v.maxConcurrency,
    env: v.env,
    network: v.network,
    provisioned: v.provisioned,
    start: v.start,
    instanceConcurrency: v.instanceConcurrency,
    dependencies: v.dependencies,
    layout: v.layout,
    layoutReason: v.layoutReason,
  };
}

// ------------------------------------------------------------------ deploy settings

export interface DeploySettings {
  /** The function's name; defaults to package.json "thaw.name", then "name". */
  name?: string;
  memoryMb?: number;
  timeoutMs?: number;
  maxConcurrency?: number;
  env?: Record<string, string>;
  network?: boolean;
  provisioned?: number;
  start?: StartPreference;
  instanceConcurrency?: number;
  /** true: run from one bundle (refused when that would fail); false: from the installed node_modules; absent: decided at deploy. */
  bundle?: boolean;
}

export const DEFAULT_SETTINGS: Readonly<VersionSettings> = Object.freeze({
  memoryMb: 256,
  timeoutMs: 30_000,
  maxConcurrency: 10,
  env: Object.freeze({}) as Record<string, string>,
  network: false,
  provisioned: 0,
  start: 'cold',
  instanceConcurrency: 1,
});

export const LIMITS = {
  memoryMb: { min: 64, max: 10_240 },
  timeoutMs: { min: 1, max: 900_000 },
  maxConcurrency: { min: 1, max: 1000 },
  provisioned: { min: 0, max: 1000 },
  instanceConcurrency: { min: 1, max: 1000 },
} as const;

const KEYS: readonly (keyof DeploySettings)[] = ['name', 'memoryMb', 'timeoutMs', 'maxConcurrency', 'env', 'network', 'provisioned', 'start', 'instanceConcurrency', 'bundle'];
const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/**
 * Checks settings from one source. `origin` says where they came from, for the error: 'option'
 * (caller, ERR_INVALID_OPTION) or 'package.json' (ERR_INVALID_PACKAGE, as `thaw.<key>`).
 */
export function validateSettings(raw: unknown, origin: 'option' | 'package.json'): DeploySettings {
  const fail = (key: string, what: string): ThawError =>
    origin === 'option' ? invalidOption(key, what) : new InvalidPackageError('package.json', `"thaw.${key}": ${what}`);
  if (raw === undefined || raw === null) return {};
  if (typeof raw !== 'object' || Array.isArray(raw)) {
    throw origin === 'option' ? invalidOption('settings', 'must be an object') : new InvalidPackageError('package.json', '"thaw" must be an object');
  }
  const obj = raw as Record<string, unknown>;
  const out: DeploySettings = {};
  for (const [key, value] of Object.entries(obj)) {
    if (value === undefined) continue;
    if (!KEYS.includes(key as keyof DeploySettings)) throw fail(key, `unknown setting; known: ${KEYS.join(', ')}`);
    switch (key) {
      case 'name':
        if (typeof value !== 'string') throw fail(key, 'must be a string');
        out.name = value;
        break;
      case 'memoryMb':
      case 'timeoutMs':
      case 'maxConcurrency':
      case 'provisioned':
      case 'instanceConcurrency': {
        const { min, max } = LIMITS[key];
        if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
          throw fail(key, `must be an integer from ${min} to ${max}, got ${JSON.stringify(value)}`);
        }
        out[key] = value;
        break;
      }
      case 'network':
      case 'bundle':
        if (typeof value !== 'boolean') throw fail(key, `must be true or false, got ${JSON.stringify(value)}`);
        out[key] = value;
        break;
      case 'start':
        if (!START_PREFERENCES.includes(value as StartPreference)) throw fail(key, `must be one of ${START_PREFERENCES.join(', ')}, got ${JSON.stringify(value)}`);
        out.start = value as StartPreference;
        break;
      case 'env': {
        if (typeof value !== 'object' || value === null || Array.isArray(value)) throw fail(key, 'must be an object of NAME: "value" strings');
        const env: Record<string, string> = {};
        for (const [k, v] of Object.entries(value)) {
          if (!ENV_NAME.test(k)) throw fail(`env.${k}`, 'is not a valid environment variable name (letters, digits, _; not starting with a digit)');
          if (typeof v !== 'string') throw fail(`env.${k}`, `must be a string, got ${JSON.stringify(v)}`);
          env[k] = v;
        }
        out.env = env;
        break;
      }
    }
  }
  return out;
}

/** Defaults ← package.json "thaw" ← caller; checks what only the combination can break. */
export function resolveSettings(fromPackage: DeploySettings, fromCaller: DeploySettings): VersionSettings {
  // name and bundle decide the deploy, not how the version runs.
  const { name: _a, bundle: _c, env: envP, ...p } = fromPackage;
  const { name: _b, bundle: _d, env: envC, ...c } = fromCaller;
  const merged: VersionSettings = { ...DEFAULT_SETTINGS, ...p, ...c, env: { ...envP, ...envC } };
  if (merged.provisioned > merged.maxConcurrency) {
    throw invalidOption('provisioned', `${merged.provisioned} provisioned instances exceed maxConcurrency ${merged.maxConcurrency}`);
  }
  return merged;
}
