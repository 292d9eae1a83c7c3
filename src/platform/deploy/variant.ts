// Variant bundles (added for zygotes): the function bundled again with chosen packages left out, as
// run-time `require`s. A zygote has already imported those packages (at the same exact versions)
// from its own package folder; when the variant loads inside it, each such require resolves there
// and returns the module object already in the cache, so only "the rest" is loaded.
//
// A package is left external only where that is exactly what the function would have run:
//   - the import resolves to the function's top-level install, <src>/node_modules/<name> (a nested,
//     different copy that some other package depends on stays bundled);
//   - that install is the package itself at the expected version (package.json name and version:
//     an npm alias such as "lodash": "npm:other@1.0.0" stays bundled);
//   - when the caller gives the zygote's lockfile integrity, the function's lockfile records the
//     same integrity for it (the same bytes from the registry).
// Anything else is bundled as usual and listed in `bundledInstead` with the reason.

import { readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join, sep } from 'node:path';
import type * as esbuild from 'esbuild';
import { bundleFunction, packageName, type SourceMapMode } from './bundle.ts';
import { readPackageJson } from './package-json.ts';
import { BUNDLE_FILE, SOURCE_DIR } from './deploy.ts';
import { isInstalledLoader, writeInstalledZygoteLoader } from './layout.ts';
import { findEntry } from './source.ts';

export interface LockedPackage {
  version: string;
  integrity?: string;
  resolved?: string;
}

/** Top-level packages of a package-lock.json (lockfile v2/v3 `packages`, or v1 `dependencies`). */
export function lockedPackages(dir: string): Map<string, LockedPackage> {
  const out = new Map<string, LockedPackage>();
  let lock: {
    packages?: Record<string, { version?: string; integrity?: string; resolved?: string; link?: boolean }>;
    dependencies?: Record<string, { version?: string; integrity?: string; resolved?: string }>;
  };
  try {
    lock = JSON.parse(readFileSync(join(dir, 'package-lock.json'), 'utf8'));
  } catch {
    return out;
  }
  if (lock.packages) {
    for (const [key, entry] of Object.entries(lock.packages)) {
      const m = /^node_modules\/((?:@[^/]+\/)?[^/]+)$/.exec(key);
      if (!m || !entry || entry.link || typeof entry.version !== 'string') continue;
      out.set(m[1]!, { version: entry.version, integrity: entry.integrity, resolved: entry.resolved });
    }
  } else if (lock.dependencies) {
    for (const [name, entry] of Object.entries(lock.dependencies)) {
      if (entry && typeof entry.version === 'string') out.set(name, { version: entry.version, integrity: entry.integrity, resolved: entry.resolved });
    }
  }
  return out;
}

export interface VariantOptions {
  /** The zygote's lockfile integrity per package: a package is left external only if the function's matches. */
  integrity?: Record<string, string | undefined>;
  sourcemap?: SourceMapMode;
}

export interface VariantResult {
  path: string;
  /** Packages left as run-time requires (served by the zygote). */
  external: string[];
  /** Packages asked for but bundled after all, and why. */
  bundledInstead: Array<{ name: string; reason: string }>;
  /** Packages bundled into the variant (the rest). */
  bundledPackages: string[];
  ms: number;
}

/**
 * Bundles the deployed version in `codeDir` (its src/ with node_modules, as deploy left it) into
 * `outfile`, leaving `packages` (name → exact version) external where that is safe (see above).
 * Written to a temporary file and renamed: a reader sees the old file or the whole new one.
 */
export async function buildVariantBundle(codeDir: string, packages: Record<string, string>, outfile: string, options: VariantOptions = {}): Promise<VariantResult> {
  const started = performance.now();
  const srcDir = join(codeDir, SOURCE_DIR);
  let loader = '';
  try {
    loader = readFileSync(join(codeDir, BUNDLE_FILE), 'utf8');
  } catch {
    // a code folder without its bundle yet (tests build variants from src/ alone)
  }
  if (isInstalledLoader(loader)) return writeInstalledVariant(srcDir, loader, packages, outfile, options, started);
  const pkg = readPackageJson(srcDir);
  const entry = findEntry(srcDir, pkg);
  const locked = lockedPackages(srcDir);
  const external = new Map<string, string>();
  const bundledInstead: Array<{ name: string; reason: string }> = [];
  for (const [name, version] of Object.entries(packages).sort(([a], [b]) => a.localeCompare(b))) {
    const why = whyNotExternal(srcDir, name, version, locked.get(name), options.integrity?.[name]);
    if (why) bundledInstead.push({ name, reason: why });
    else external.set(name, version);
  }
  const tmp = `${outfile}.${process.pid}.${Date.now()}.tmp`;
  try {
    const result = await bundleFunction(srcDir, entry.path, tmp, pkg, options.sourcemap ?? 'inline', { plugins: [zygoteExternals(srcDir, external)] });
    renameSync(tmp, outfile);
    return {
      path: outfile,
      external: [...external.keys()],
      bundledInstead,
      bundledPackages: result.packages.filter((p) => !external.has(p)),
      ms: performance.now() - started,
    };
  } catch (err) {
    rmSync(tmp, { force: true });
    rmSync(`${tmp}.map`, { force: true });
    throw err;
  }
}

/**
 * The installed layout's variant: no bundle, but a loader that serves the zygote's packages to the
 * function's own code (same checks as for a bundle: the top-level install, exact version, same
 * integrity) and loads everything else from the function's tree, which the zygote instance links
 * into its /code (see zygote/instance-sandbox.ts).
 */
function writeInstalledVariant(srcDir: string, loader: string, packages: Record<string, string>, outfile: string, options: VariantOptions, started: number): VariantResult {
  const locked = lockedPackages(srcDir);
  const served: string[] = [];
  const bundledInstead: Array<{ name: string; reason: string }> = [];
  for (const [name, version] of Object.entries(packages).sort(([a], [b]) => a.localeCompare(b))) {
    const why = whyNotExternal(srcDir, name, version, locked.get(name), options.integrity?.[name]);
    if (why) bundledInstead.push({ name, reason: `${why}: loaded from the function's own node_modules` });
    else served.push(name);
  }
  const tmp = `${outfile}.${process.pid}.${Date.now()}.tmp`;
  writeFileSync(tmp, writeInstalledZygoteLoader(loader, served));
  renameSync(tmp, outfile);
  return { path: outfile, external: served, bundledInstead, bundledPackages: [], ms: performance.now() - started };
}

function whyNotExternal(srcDir: string, name: string, version: string, locked: LockedPackage | undefined, zygoteIntegrity: string | undefined): string | undefined {
  let installed: { name?: unknown; version?: unknown };
  try {
    installed = JSON.parse(readFileSync(join(srcDir, 'node_modules', name, 'package.json'), 'utf8'));
  } catch {
    return `not installed at the top of the function's node_modules`;
  }
  if (installed.name !== name) return `the installed package is ${JSON.stringify(installed.name)} (an alias), not ${name}`;
  if (installed.version !== version) return `the function has ${name}@${String(installed.version)}, the zygote ${name}@${version}`;
  if (zygoteIntegrity !== undefined && locked?.integrity !== undefined && locked.integrity !== zygoteIntegrity) {
    return `the function's lockfile integrity for ${name}@${version} differs from the zygote's`;
  }
  return undefined;
}

/** Marks imports of `external` packages that resolve to the function's top-level install as external. */
function zygoteExternals(srcDir: string, external: ReadonlyMap<string, string>): esbuild.Plugin {
  const topLevel = (name: string) => join(srcDir, 'node_modules', ...name.split('/')) + sep;
  return {
    name: 'thaw-zygote-externals',
    setup(build) {
      if (external.size === 0) return;
      build.onResolve({ filter: /^[^./]/ }, async (args) => {
        if (args.pluginData?.thawGuard || args.kind === 'entry-point') return undefined;
        const name = packageName(args.path);
        if (name === undefined || !external.has(name)) return undefined;
        const resolved = await build.resolve(args.path, { kind: args.kind, resolveDir: args.resolveDir, importer: args.importer, pluginData: { thawGuard: true } });
        if (resolved.errors.length > 0 || resolved.external) return undefined;
        if (!resolved.path.startsWith(topLevel(name))) return undefined; // a nested copy: bundle it
        return { path: args.path, external: true };
      });
    },
  };
}
