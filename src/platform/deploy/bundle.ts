// Bundling a function into one CommonJS file with esbuild — the form thaw runs, and the form V8
// startup snapshots need (a single script). TypeScript is compiled by esbuild (types are stripped,
// not checked). Errors name file:line:column, relative to the package.
//
// Imports of packages are checked against package.json: user code may only import what
// "dependencies" (or optional/peer dependencies) declare, and nothing may resolve to a package
// outside the function's folder — Node's resolution walks up parent folders, and without this check
// a package that happens to be installed above the data dir would be bundled silently.

import { isBuiltin } from 'node:module';
import { relative, sep } from 'node:path';
import * as esbuild from 'esbuild';
import { InvalidPackageError, ThawError } from '../../core/errors.ts';
import type { FunctionPackage } from './package-json.ts';

export interface BundleResult {
  warnings: string[];
  /** Packages the bundle contains (top-level names found in node_modules paths of the inputs). */
  packages: string[];
  /** Every input file esbuild read, relative to the package root ('/' separators). */
  inputs: string[];
  ms: number;
}

/** The esbuild options thaw bundles with (exported so other tools, e.g. snapshot builds, match them). */
export const BUNDLE_OPTIONS = {
  bundle: true,
  platform: 'node',
  format: 'cjs',
  target: 'node20',
  sourcemap: 'inline',
  keepNames: true,
} as const satisfies esbuild.BuildOptions;

// ESM code that reads import.meta.url (e.g. createRequire(import.meta.url)) gets the bundle's URL.
const IMPORT_META_URL = '__thaw_import_meta_url';
const BANNER = `var ${IMPORT_META_URL} = require("url").pathToFileURL(__filename).href;`;

/**
 * Where the source map goes. 'inline' (the default) keeps the bundle one self-contained file, but
 * the map is most of its bytes (deps-heavy: 2 MiB of code, 5 MiB of map) and node reads them all on
 * require; 'linked' writes bundle.cjs.map beside it with a comment pointing to it; 'external' writes
 * the file without the comment.
 */
export type SourceMapMode = 'inline' | 'linked' | 'external';

export interface BundleExtras {
  /** esbuild plugins that run before the dependency guard (e.g. a zygote variant's externals). (Added.) */
  plugins?: esbuild.Plugin[];
  /**
   * Leave every npm package out, as a run-time require (esbuild's `packages: 'external'`): the
   * function's own code in one file, its packages loaded from node_modules as npm installed them
   * (the installed layout; see layout.ts). The dependency guard still checks what user code imports.
   */
  packagesExternal?: boolean;
  /** Output format (default cjs). ESM output keeps import.meta.url as it is: the file stays where it was written. */
  format?: 'cjs' | 'esm';
}

export async function bundleFunction(
  srcDir: string,
  entry: string,
  outfile: string,
  pkg: FunctionPackage,
  sourcemap: SourceMapMode = 'inline',
  extras: BundleExtras = {},
): Promise<BundleResult> {
  const started = performance.now();
  let result: esbuild.BuildResult<{ metafile: true }>;
  try {
    result = await esbuild.build({
      ...BUNDLE_OPTIONS,
      sourcemap,
      entryPoints: [entry],
      outfile,
      absWorkingDir: srcDir,
      write: true,
      metafile: true,
      logLevel: 'silent',
      ...(extras.format === 'esm' ? { format: 'esm' as const } : { banner: { js: BANNER }, define: { 'import.meta.url': IMPORT_META_URL } }),
      plugins: [...(extras.plugins ?? []), dependencyGuard(srcDir, pkg)],
      ...(extras.packagesExternal ? { packages: 'external' as const } : {}),
    });
  } catch (err) {
    const failure = err as esbuild.BuildFailure;
    if (!Array.isArray(failure.errors) || failure.errors.length === 0) {
      throw new ThawError('ERR_DEPLOY_FAILED', `esbuild failed: ${(err as Error).message}`);
    }
    throw toPackageError(failure.errors);
  }
  const packages = new Set<string>();
  for (const input of Object.keys(result.metafile.inputs)) {
    const m = /(?:^|\/)node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(input);
    if (m) packages.add(m[1]!);
  }
  return { warnings: result.warnings.map(formatMessage), packages: [...packages].sort(), inputs: Object.keys(result.metafile.inputs), ms: performance.now() - started };
}

function toPackageError(errors: esbuild.Message[]): InvalidPackageError {
  const [first, ...rest] = errors;
  const loc = first!.location;
  let text = explain(first!.text);
  if (loc?.lineText) text += `\n    ${loc.lineText.trimEnd()}\n    ${' '.repeat(Math.max(0, loc.column))}^`;
  if (rest.length) text += `\n${rest.slice(0, 4).map(formatMessage).join('\n')}${rest.length > 4 ? `\n(and ${rest.length - 4} more errors)` : ''}`;
  return loc ? new InvalidPackageError(loc.file, text, loc.line, loc.column + 1) : new InvalidPackageError(undefined, text);
}

function formatMessage(m: esbuild.Message): string {
  const loc = m.location;
  return loc ? `${loc.file}:${loc.line}:${loc.column + 1}: ${explain(m.text)}` : explain(m.text);
}

function explain(text: string): string {
  if (/No loader is configured for "\.node" files/.test(text)) {
    return `${text} — native addons cannot be bundled; thaw runs a single JavaScript file, so use a pure-JavaScript package`;
  }
  return text;
}

/** The package name of a bare import specifier ('lodash/fp' → 'lodash', '@scope/x/y' → '@scope/x'); undefined for paths. */
export function packageName(specifier: string): string | undefined {
  if (specifier.startsWith('.') || specifier.startsWith('/') || specifier.startsWith('#') || /^[a-zA-Z]:[\\/]/.test(specifier)) return undefined;
  const parts = specifier.split('/');
  if (specifier.startsWith('@')) return parts.length >= 2 && parts[0]!.length > 1 && parts[1] ? `${parts[0]}/${parts[1]}` : undefined;
  return parts[0] || undefined;
}

function dependencyGuard(srcDir: string, pkg: FunctionPackage): esbuild.Plugin {
  const declared = new Set([...Object.keys(pkg.dependencies), ...Object.keys(pkg.optionalDependencies), ...Object.keys(pkg.peerDependencies)]);
  if (pkg.name) declared.add(pkg.name); // a package may import itself by name
  const inside = (p: string) => p === srcDir || p.startsWith(srcDir + sep);
  const inNodeModules = (p: string) => relative(srcDir, p).split(sep).includes('node_modules');
  return {
    name: 'thaw-dependency-guard',
    setup(build) {
      build.onResolve({ filter: /^[^./]/ }, async (args) => {
        if (args.pluginData?.thawGuard || args.kind === 'entry-point' || isBuiltin(args.path)) return undefined;
        const name = packageName(args.path);
        if (name === undefined) return undefined;
        const resolved = await build.resolve(args.path, { kind: args.kind, resolveDir: args.resolveDir, importer: args.importer, pluginData: { thawGuard: true } });
        const fromUserCode = !inNodeModules(args.importer);
        if (resolved.errors.length === 0 && !resolved.external && inside(resolved.path) && !inNodeModules(resolved.path)) {
          return undefined; // a path alias (tsconfig "paths") to the package's own code
        }
        if (fromUserCode && !declared.has(name)) {
          const hint = pkg.devDependencies[name] !== undefined
            ? `"${name}" is in package.json "devDependencies", which are not installed for a deploy; move it to "dependencies"`
            : `"${name}" is imported but is not in package.json "dependencies"`;
          return { errors: [{ text: hint }] };
        }
        if (resolved.errors.length > 0 || resolved.external) return undefined; // esbuild reports (or keeps) it as usual
        if (!inside(resolved.path)) {
          if (fromUserCode) return { errors: [{ text: `"${name}" is in package.json but is not installed in the function (it resolved to ${resolved.path})` }] };
          // A dependency's own (e.g. optional) import that only resolves outside the function: leave
          // it to run time, where it fails as not installed; the verify step catches it if it matters at load.
          return { path: args.path, external: true, warnings: [{ text: `"${args.path}" is not installed in the function; left as a run-time require` }] };
        }
        return undefined;
      });
    },
  };
}
