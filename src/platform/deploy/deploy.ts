// Deploying a function: a folder with a package.json and a module exporting handler(event, context)
// (and optionally init(), beforeSnapshot(), afterRestore()), in JavaScript or TypeScript.
//
//   validate package.json, settings, entry, size
//   → copy the source to   <dataDir>/functions/<name>/.staging-XXXX/src      (node_modules excluded)
//   → npm install there    (only when it declares dependencies)
//   → bundle with esbuild  → .staging-XXXX/bundle.cjs                      (one CommonJS file)
//   → layout: keep the bundle, or run from the installed node_modules when bundling would break
//     the function (native addons, files read relative to a module, run-time requires; see
//     layout.ts), bundle.cjs then being a loader of src/
//   → verify: a child node requires bundle.cjs and checks its exports (a bundle that fails to load
//     is tried again in the installed layout)
//   → publish: in one transaction, allocate the version number, rename the staging folder to
//     <dataDir>/functions/<name>/<version>, record the version and move `latest`.
//
// Any failure removes the staging folder and records nothing: the previous version keeps serving.
// Package problems throw InvalidPackageError (ERR_INVALID_PACKAGE) naming the file and, when known,
// line and column; problems outside the package (npm unreachable, disk) throw ERR_DEPLOY_FAILED.

import { createHash } from 'node:crypto';
import { chmodSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { InvalidPackageError } from '../../core/errors.ts';
import type { Store } from '../store/store.ts';
import { validateFunctionName, isValidFunctionName } from '../store/names.ts';
import type { FunctionVersion } from '../function.ts';
import { bundleFunction, type SourceMapMode } from './bundle.ts';
import { hasDependencies, installDependencies, installedVersions } from './install.ts';
import { runInstallScripts, type InstallScriptsResult } from './install-scripts.ts';
import { readPackageJson, type FunctionPackage } from './package-json.ts';
import { resolveSettings, validateSettings, type DeploySettings } from '../function.ts';
import { copySource, findEntry, formatBytes, listSource, requireDirectory } from './source.ts';
import { checkVerifyOutcome, nodeVerifier, type Verifier, type VerifyReport } from './verify.ts';
import { addonRecorder, chooseLayout, findHazards, INSTALLED_ENTRY_FILE, writeInstalledLoader, type LayoutDecision } from './layout.ts';
import type { Entry } from './source.ts';

export const BUNDLE_FILE = 'bundle.cjs';
export const SOURCE_DIR = 'src';

export const DEFAULT_DEPLOY_OPTIONS = {
  maxSourceBytes: 50 * 1024 * 1024,
  maxBundleBytes: 50 * 1024 * 1024,
  installTimeoutMs: 5 * 60_000,
  /** Native builds (better-sqlite3 compiles SQLite) take minutes on a small machine. */
  installScriptsTimeoutMs: 15 * 60_000,
  verifyTimeoutMs: 10_000,
  npmCommand: 'npm',
} as const;

export type DeployStep = 'validate' | 'copy' | 'install' | 'bundle' | 'verify' | 'publish';

/** What --no-bundle / the HTTP setting is called in messages, by where it came from. */
const BUNDLE_SETTING = { option: 'the bundle option (--no-bundle)', package: '"thaw.bundle" in package.json' } as const;

export interface DeployOptions {
  /** Where functions are stored; defaults to the store's data dir. */
  dataDir?: string;
  /** Limit on the package without node_modules, bytes (default 50 MiB). */
  maxSourceBytes?: number;
  /** Limit on bundle.cjs, bytes (default 50 MiB). */
  maxBundleBytes?: number;
  installTimeoutMs?: number;
  /** Limit on the dependencies' install scripts, ms (default 15 min). */
  installScriptsTimeoutMs?: number;
  verifyTimeoutMs?: number;
  npmCommand?: string;
  /** Source map placement (default 'inline'; see SourceMapMode). */
  sourcemap?: SourceMapMode;
  /** How the bundle is test-loaded (default: a plain node child process). */
  verifier?: Verifier;
  /** Called as each step starts and ends (for the CLI's progress). */
  onProgress?: (event: { step: DeployStep; state: 'start' | 'done'; ms?: number }) => void;
  /** Keep the staging folder of a failed deploy, for debugging. */
  keepFailed?: boolean;
  /** Extra environment for dependencies' install scripts (in their sandbox; see install-scripts.ts). */
  installScriptEnv?: Record<string, string>;
}

export interface DeployTimings {
  validateMs: number;
  copyMs: number;
  /** 0 when the function has no dependencies. */
  installMs: number;
  bundleMs: number;
  verifyMs: number;
  publishMs: number;
  totalMs: number;
}

export interface DeployResult {
  name: string;
  version: FunctionVersion;
  /** What `latest` was before (null for a new function). */
  previousVersion: number | null;
  installed: boolean;
  /** How long require() of the bundle took in the verify step, ms: a first look at its import cost. */
  loadMs: number | null;
  sourceBytes: number;
  /** npm packages inside the bundle. */
  bundledPackages: string[];
  /** esbuild's warnings (e.g. a require it could not follow), file:line:column. */
  warnings: string[];
  /** Bundle or installed layout, and why (see layout.ts). */
  layout: LayoutDecision;
  /** Dependencies' install scripts: which packages have one, whether they ran (in the install sandbox) and if not why. */
  installScripts: InstallScriptsResult | undefined;
  timings: DeployTimings;
}

/** Where a function's versions live. */
export function functionDir(dataDir: string, name: string): string {
  return join(resolve(dataDir), 'functions', validateFunctionName(name));
}

export async function deployFunction(store: Store, sourceDir: string, settings: DeploySettings = {}, options: DeployOptions = {}): Promise<DeployResult> {
  const opts = { ...DEFAULT_DEPLOY_OPTIONS, ...options };
  const dataDir = resolve(options.dataDir ?? store.dataDir);
  const timings: DeployTimings = { validateMs: 0, copyMs: 0, installMs: 0, bundleMs: 0, verifyMs: 0, publishMs: 0, totalMs: 0 };
  const started = performance.now();
  const step = async <T>(name: DeployStep, fn: () => T | Promise<T>): Promise<T> => {
    opts.onProgress?.({ step: name, state: 'start' });
    const t = performance.now();
    try {
      return await fn();
    } finally {
      const ms = performance.now() - t;
      timings[`${name}Ms` as keyof DeployTimings] = ms;
      opts.onProgress?.({ step: name, state: 'done', ms });
    }
  };

  // 1. Everything that can be checked without writing anything.
  const plan = await step('validate', () => {
    const caller = validateSettings(settings, 'option');
    const root = requireDirectory(sourceDir);
    const pkg = readPackageJson(root);
    const fromPackage = validateSettings(pkg.thaw, 'package.json');
    const name = functionName(caller, fromPackage, pkg);
    const bundleSetting = caller.bundle ?? fromPackage.bundle;
    const bundleOrigin = caller.bundle !== undefined ? BUNDLE_SETTING.option : BUNDLE_SETTING.package;
    const versionSettings = resolveSettings(fromPackage, caller);
    const entry = findEntry(root, pkg);
    const source = listSource(root, opts.maxSourceBytes, [dataDir]);
    return { root, pkg, name, versionSettings, entry, source, bundleSetting, bundleOrigin };
  });
  const { pkg, name, versionSettings, entry, source, bundleSetting, bundleOrigin } = plan;

  const fnDir = functionDir(dataDir, name);
  mkdirSync(fnDir, { recursive: true });
  removeStaleStaging(fnDir);
  const staging = mkdtempSync(join(fnDir, '.staging-'));
  const srcDir = join(staging, SOURCE_DIR);
  const bundlePath = join(staging, BUNDLE_FILE);
  let published: string | undefined;
  try {
    await step('copy', () => copySource(source.files, srcDir));

    const installed = hasDependencies(pkg);
    let scripts: InstallScriptsResult | undefined;
    if (installed) {
      await step('install', async () => {
        await installDependencies(srcDir, { npmCommand: opts.npmCommand, timeoutMs: opts.installTimeoutMs });
        scripts = await runInstallScripts(srcDir, { timeoutMs: opts.installScriptsTimeoutMs, env: opts.installScriptEnv });
      });
    }
    const dependencies = installed ? installedVersions(srcDir, pkg) : {};

    // The bundle is built (unless forced off) both to run and to find what would break in it.
    const addonImports: string[] = [];
    const bundled = await step('bundle', async () => {
      if (bundleSetting === false) return { warnings: [], packages: [], inputs: [], ms: 0 };
      return bundleFunction(srcDir, entry.path, bundlePath, pkg, opts.sourcemap, { plugins: [addonRecorder(addonImports)] });
    });
    let layout = chooseLayout(bundleSetting, bundleSetting === false ? [] : findHazards(srcDir, bundled.inputs, addonImports), bundleOrigin);
    if (layout.layout === 'installed') await prepareInstalledLayout(srcDir, bundlePath, entry, pkg, opts.sourcemap);
    const bundleBytes = statSync(bundlePath).size;
    if (bundleBytes > opts.maxBundleBytes) {
      throw new InvalidPackageError(undefined, `the bundle is ${formatBytes(bundleBytes)}, over the ${formatBytes(opts.maxBundleBytes)} limit (biggest packages bundled: ${bundled.packages.slice(0, 10).join(', ') || 'none'})`);
    }

    const loadMs = await step('verify', async () => {
      const verify = () => (opts.verifier ?? nodeVerifier)(bundlePath, { timeoutMs: opts.verifyTimeoutMs, env: versionSettings.env, memoryMb: versionSettings.memoryMb });
      const context = { entry: entry.path, srcDir, timeoutMs: opts.verifyTimeoutMs };
      let outcome = await verify();
      if (layout.layout === 'bundle' && bundleSetting === undefined && loadFailed(outcome.report)) {
        // The check both ways: a bundle that passed the scan but does not load may load installed.
        const bundleError = outcome.report!.error!;
        await prepareInstalledLayout(srcDir, bundlePath, entry, pkg, opts.sourcemap);
        const installed = await verify();
        if (installed.report?.ok) {
          outcome = installed;
          layout = { layout: 'installed', reason: `the bundle fails to load (${bundleError.message.split('\n')[0]}) and the installed layout loads`, hazards: [] };
        } else {
          outcome = installed; // the installed layout is how Node itself would run it: its error is the one to show
          layout = { ...layout, layout: 'installed' };
        }
      }
      checkVerifyOutcome(outcome, context);
      return outcome.report?.loadMs ?? null;
    });

    chmodSync(staging, 0o755); // mkdtemp made it private; sandboxes may run as another user
    const bundleSha256 = createHash('sha256').update(readFileSync(bundlePath)).digest('hex');
    const previousVersion = store.functions.get(name)?.latestVersion ?? null;
    const version = await step('publish', () =>
      store.functions.publish(name, (v) => {
        const dir = join(fnDir, String(v));
        rmSync(dir, { recursive: true, force: true }); // left by a crash between rename and commit: no row has this number
        renameSync(staging, dir);
        published = dir;
        return {
          ...versionSettings,
          language: entry.language,
          entry: entry.path,
          dependencies,
          codeDir: dir,
          bundlePath: join(dir, BUNDLE_FILE),
          bundleSha256,
          bundleBytes: statSync(join(dir, BUNDLE_FILE)).size,
          layout: layout.layout,
          layoutReason: layout.reason,
        };
      }),
    );
    timings.totalMs = performance.now() - started;
    return {
      name,
      version,
      previousVersion,
      installed,
      loadMs,
      sourceBytes: source.bytes,
      bundledPackages: bundled.packages,
      warnings: scripts && !scripts.ran && scripts.packages.length > 0 ? [...bundled.warnings, `install scripts of ${scripts.packages.join(', ')} did not run: ${scripts.reason}`] : bundled.warnings,
      layout,
      installScripts: scripts,
      timings,
    };
  } catch (err) {
    if (!opts.keepFailed || published) rmSync(published ?? staging, { recursive: true, force: true });
    throw err;
  }
}

function loadFailed(report: VerifyReport | undefined): boolean {
  return report !== undefined && !report.ok;
}

/**
 * Turns the staging folder into the installed layout: bundle.cjs becomes a loader of the entry in
 * src/. TypeScript is compiled (packages left out, as run-time requires) to src/.thaw-entry.cjs;
 * JavaScript runs as written, but is still built once, unwritten, so the dependency guard checks
 * its imports as for a bundle.
 */
async function prepareInstalledLayout(srcDir: string, bundlePath: string, entry: Entry, pkg: FunctionPackage, sourcemap: SourceMapMode | undefined): Promise<void> {
  rmSync(`${bundlePath}.map`, { force: true });
  // TypeScript compiles to what Node would run: ES modules in a "type": "module" package (or .mts), CommonJS otherwise.
  const esm = pkg.type === 'module' ? !entry.path.endsWith('.cts') : entry.path.endsWith('.mts');
  const compiled = join(srcDir, esm ? INSTALLED_ENTRY_FILE.replace(/\.cjs$/, '.mjs') : INSTALLED_ENTRY_FILE);
  await bundleFunction(srcDir, entry.path, compiled, pkg, sourcemap ?? 'inline', { packagesExternal: true, format: esm ? 'esm' : 'cjs' });
  if (entry.language === 'ts') {
    writeInstalledLoader(bundlePath, compiled.slice(srcDir.length + 1));
  } else {
    rmSync(compiled, { force: true });
    rmSync(`${compiled}.map`, { force: true });
    writeInstalledLoader(bundlePath, entry.path);
  }
}

/** The same as deployFunction: deploys the package in a folder. */
export const deployFromDirectory = deployFunction;

/**
 * Removes a function: soft-deletes it in the store (see FunctionRepository.remove) and deletes its
 * folder. Returns false if there was no such function.
 */
export function removeFunction(store: Store, name: string, options: { dataDir?: string } = {}): boolean {
  const removed = store.functions.remove(name);
  if (removed) rmSync(functionDir(options.dataDir ?? store.dataDir, name), { recursive: true, force: true });
  return removed;
}

/** Staging folders this old were left by a deploy that died (a live one finishes within its timeouts). */
const STALE_STAGING_MS = 24 * 3600_000;

function removeStaleStaging(fnDir: string): void {
  for (const entry of readdirSync(fnDir)) {
    if (!entry.startsWith('.staging-')) continue;
    const dir = join(fnDir, entry);
    try {
      if (Date.now() - statSync(dir).mtimeMs > STALE_STAGING_MS) rmSync(dir, { recursive: true, force: true });
    } catch {
      // another deploy removed it first
    }
  }
}

function functionName(caller: DeploySettings, fromPackage: DeploySettings, pkg: FunctionPackage): string {
  if (caller.name !== undefined) return validateFunctionName(caller.name, 'option name');
  if (fromPackage.name !== undefined) {
    if (!isValidFunctionName(fromPackage.name)) throw new InvalidPackageError('package.json', `"thaw.name" ${JSON.stringify(fromPackage.name)} is not a valid function name (1–63 of a-z 0-9 - _, starting with a letter or digit)`);
    return fromPackage.name;
  }
  if (pkg.name === undefined) throw new InvalidPackageError('package.json', 'has no "name": give the function a name there, in "thaw.name", or when deploying');
  if (!isValidFunctionName(pkg.name)) {
    throw new InvalidPackageError('package.json', `"name" ${JSON.stringify(pkg.name)} is not a valid function name (1–63 of a-z 0-9 - _, starting with a letter or digit); set "thaw.name" or pass a name when deploying`);
  }
  return pkg.name;
}
