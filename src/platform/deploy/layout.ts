// Bundle or installed layout: how a deployed version's code is laid out, decided per function.
//
//   bundle     one CommonJS file (bundle.cjs) made by esbuild: fast to load, and the form V8
//              startup snapshots need. Faithful only when the function's code needs nothing but
//              its JavaScript modules at run time.
//   installed  the function's own code (TypeScript compiled) loaded from src/, its packages from
//              src/node_modules as npm laid them out, with Node's ordinary resolution: how Lambda,
//              OpenFaaS or Knative run a package. bundle.cjs is then a one-line loader of the entry.
//
// Either way the sandbox mounts the version's folder read-only at /code and the agent loads
// /code/bundle.cjs, so every start path finds the code where it always did.
//
// The bundle is not faithful (a hazard) when the function's code, as esbuild read it:
//   native-addon     a package holds a compiled addon (a .node file, or binding.gyp to build one),
//                    which a bundle cannot contain and `bindings`-style loaders find next to their
//                    own module files;
//   relative-file    a module reads files relative to itself (__dirname, __filename,
//                    import.meta.url) and its package holds files the bundle does not contain
//                    (pdfkit's fonts): in a bundle those paths point at /code;
//   runtime-require  a require.resolve(), a worker started from a file, or a require() of a
//                    computed name: a module the bundle may not contain, loaded at run time.
// Detection is a scan of the source text: it can see a hazard where there is none (a __dirname
// only printed), never the other way for these three kinds; a false alarm costs load time, not
// correctness. The deploy's load check then runs the chosen form, and when a bundle that passed
// the scan fails to load, the installed layout is tried (the check "both ways").

import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { extname, join } from 'node:path';
import { InvalidPackageError } from '../../core/errors.ts';
import type * as esbuild from 'esbuild';

export type CodeLayout = 'bundle' | 'installed';
export const CODE_LAYOUTS: readonly CodeLayout[] = ['bundle', 'installed'];

export type HazardKind = 'native-addon' | 'relative-file' | 'runtime-require';

export interface BundleHazard {
  kind: HazardKind;
  /** The npm package it is in; undefined for the function's own code. */
  package: string | undefined;
  /** The file (relative to the package root of the function) and what was seen. */
  detail: string;
}

export interface LayoutDecision {
  layout: CodeLayout;
  /** One line: why (the setting, the hazards found, or that the bundle is faithful). */
  reason: string;
  hazards: BundleHazard[];
}

/** Where the installed layout's compiled entry goes when the function is TypeScript (inside src/, so its __dirname is the package root). */
export const INSTALLED_ENTRY_FILE = '.thaw-entry.cjs';

const CODE_FILE = /\.(?:[cm]?js|[cm]?ts|jsx|tsx|json)$/;
/** Files a package ships that its code does not read: documentation, types, maps, licences. */
const NOT_DATA = /(?:\.(?:md|markdown|txt|map|d\.[cm]?ts|flow|ts)$)|(?:^|\/)(?:LICEN[CS]E|LICENCE|COPYING|NOTICE|AUTHORS|CHANGELOG|HISTORY|README|Makefile|\.[^/]*)(?:[.-][^/]*)?$/i;
const RELATIVE_FILE = /\b(__dirname|__filename|import\.meta\.url)\b/;
const RUNTIME_REQUIRE: Array<{ re: RegExp; what: string }> = [
  { re: /\brequire\.resolve\s*\(/, what: 'require.resolve()' },
  { re: /\bnew\s+Worker\s*\(/, what: 'a worker started from a file' },
  // require(x) of a name computed at run time (not a string literal); typeof require / require.cache excluded.
  { re: /(?<![.\w$])require\s*\(\s*(?!['"`)\s])/, what: 'require() of a computed name' },
];

/** The npm package an input path is in ('node_modules/@a/b/x.js' → '@a/b'; the last node_modules wins). */
export function packageOfInput(input: string): { name: string; root: string } | undefined {
  const m = /^(.*node_modules\/((?:@[^/]+\/)?[^/]+))\//.exec(input);
  return m ? { name: m[2]!, root: m[1]! } : undefined;
}

/**
 * The package an input is in, also for a local dependency that npm linked (a `file:` folder: esbuild
 * reports its real path, outside node_modules): the nearest folder with a package.json below srcDir.
 */
function packageOf(srcDir: string, input: string, cache: Map<string, { name: string; root: string } | undefined>): { name: string; root: string } | undefined {
  const byPath = packageOfInput(input);
  if (byPath) return byPath;
  const parts = input.split('/').slice(0, -1);
  for (let n = parts.length; n > 0; n--) {
    const root = parts.slice(0, n).join('/');
    if (!cache.has(root)) {
      let found: { name: string; root: string } | undefined;
      try {
        const name = (JSON.parse(readFileSync(join(srcDir, root, 'package.json'), 'utf8')) as { name?: unknown }).name;
        found = { name: typeof name === 'string' ? name : root, root };
      } catch {
        found = undefined;
      }
      cache.set(root, found);
    }
    const hit = cache.get(root);
    if (hit) return hit;
  }
  return undefined;
}

/**
 * The hazards of bundling the function in `srcDir` (installed, with node_modules), given the input
 * files esbuild read for its bundle (relative to srcDir) and the .node files it was asked to load.
 */
export function findHazards(srcDir: string, inputs: readonly string[], addonImports: readonly string[] = []): BundleHazard[] {
  const hazards: BundleHazard[] = [];
  const seen = new Set<string>();
  const add = (h: BundleHazard) => {
    const key = `${h.kind}\n${h.package ?? ''}`;
    if (seen.has(key)) return;
    seen.add(key);
    hazards.push(h);
  };
  for (const { name, file } of nativeAddons(join(srcDir, 'node_modules'))) add({ kind: 'native-addon', package: name, detail: `node_modules/${name} holds ${file}` });
  for (const imp of addonImports) add({ kind: 'native-addon', package: packageOfInput(imp)?.name, detail: `${imp} is a native addon` });

  const inputSet = new Set(inputs);
  const packages = new Map<string, { name: string; root: string } | undefined>();
  const dataFilesOf = new Map<string, string | undefined>();
  const firstDataFile = (root: string): string | undefined => {
    if (!dataFilesOf.has(root)) dataFilesOf.set(root, findDataFile(srcDir, root, inputSet));
    return dataFilesOf.get(root);
  };
  for (const input of inputs) {
    if (!CODE_FILE.test(input) || input.endsWith('.json')) continue;
    let text: string;
    try {
      text = readFileSync(join(srcDir, input), 'utf8');
    } catch {
      continue; // esbuild's virtual inputs
    }
    const pkg = packageOf(srcDir, input, packages);
    const code = stripComments(text);
    const rel = RELATIVE_FILE.exec(code);
    if (rel) {
      const data = firstDataFile(pkg?.root ?? '');
      if (data) add({ kind: 'relative-file', package: pkg?.name, detail: `${input} uses ${rel[1]} and ${data} is not in the bundle` });
    }
    for (const { re, what } of RUNTIME_REQUIRE) {
      if (re.test(code)) {
        add({ kind: 'runtime-require', package: pkg?.name, detail: `${input} uses ${what}` });
        break;
      }
    }
  }
  return hazards;
}

/** The first file under `root` (a package folder, '' for the function itself) that is data, not code, and not a bundle input. */
function findDataFile(srcDir: string, root: string, inputs: ReadonlySet<string>): string | undefined {
  const ignoredTop = new Set(['package.json', 'package-lock.json', 'tsconfig.json', INSTALLED_ENTRY_FILE]);
  const walk = (dir: string, rel: string, depth: number): string | undefined => {
    if (depth > 6) return undefined;
    let names: string[];
    try {
      names = readdirSync(dir).sort();
    } catch {
      return undefined;
    }
    for (const name of names) {
      if (name === 'node_modules' || name === '.git') continue;
      const r = rel ? `${rel}/${name}` : name;
      const abs = join(dir, name);
      let st;
      try {
        st = statSync(abs);
      } catch {
        continue;
      }
      if (st.isDirectory()) {
        const found = walk(abs, r, depth + 1);
        if (found) return found;
        continue;
      }
      if (!rel && ignoredTop.has(name)) continue;
      const full = root ? `${root}/${r}` : r;
      if (inputs.has(full) || NOT_DATA.test(r) || CODE_FILE.test(name) || extname(name) === '.node') continue;
      return full;
    }
    return undefined;
  };
  return walk(root ? join(srcDir, root) : srcDir, '', 0);
}

function stripComments(text: string): string {
  return text.replace(/\/\*[\s\S]*?\*\//g, '').replace(/(^|[^:\\'"`])\/\/.*$/gm, '$1');
}

/** Packages under a node_modules folder (nested ones too) that hold a compiled addon or a binding.gyp. */
export function nativeAddons(nodeModules: string): Array<{ name: string; file: string }> {
  const out: Array<{ name: string; file: string }> = [];
  const visitPackage = (dir: string, name: string) => {
    const file = findAddonFile(dir, '', 0);
    if (file) out.push({ name, file });
    visitModules(join(dir, 'node_modules'));
  };
  const visitModules = (dir: string) => {
    let names: string[];
    try {
      names = readdirSync(dir).sort();
    } catch {
      return;
    }
    for (const name of names) {
      if (name.startsWith('.')) continue;
      if (name.startsWith('@')) {
        let scoped: string[] = [];
        try {
          scoped = readdirSync(join(dir, name)).sort();
        } catch {
          // not a folder
        }
        for (const s of scoped) visitPackage(join(dir, name, s), `${name}/${s}`);
      } else visitPackage(join(dir, name), name);
    }
  };
  visitModules(nodeModules);
  return out;
}

function findAddonFile(dir: string, rel: string, depth: number): string | undefined {
  if (depth > 8) return undefined;
  let names: string[];
  try {
    names = readdirSync(dir).sort();
  } catch {
    return undefined;
  }
  for (const name of names) {
    const r = rel ? `${rel}/${name}` : name;
    if (name.endsWith('.node') || (depth === 0 && name === 'binding.gyp')) return r;
  }
  for (const name of names) {
    if (name === 'node_modules' || name.startsWith('.')) continue;
    let isDir = false;
    try {
      isDir = statSync(join(dir, name)).isDirectory();
    } catch {
      // broken link
    }
    if (isDir) {
      const found = findAddonFile(join(dir, name), rel ? `${rel}/${name}` : name, depth + 1);
      if (found) return found;
    }
  }
  return undefined;
}

/** An esbuild plugin that leaves imports of .node files out of the bundle and records them (they are hazards, not errors). */
export function addonRecorder(found: string[]): esbuild.Plugin {
  return {
    name: 'thaw-addon-recorder',
    setup(build) {
      build.onResolve({ filter: /\.node$/ }, (args) => {
        const from = args.importer ? `${args.importer.replace(/\/[^/]*$/, '')}/${args.path}` : args.path;
        found.push(from.replace(/^.*?(node_modules\/)/, '$1'));
        return { path: args.path, external: true };
      });
    },
  };
}

/** Describes hazards in one line ("native addon in better-sqlite3 (…); …"). */
export function describeHazards(hazards: readonly BundleHazard[]): string {
  const label: Record<HazardKind, string> = { 'native-addon': 'native addon', 'relative-file': 'reads files relative to its module', 'runtime-require': 'run-time require outside the bundle' };
  const shown = hazards.slice(0, 3).map((h) => `${label[h.kind]} in ${h.package ?? 'the function'} (${h.detail})`);
  return shown.join('; ') + (hazards.length > 3 ? `; and ${hazards.length - 3} more` : '');
}

/**
 * The layout: the `bundle` setting when given (true refuses a bundle with hazards: it would deploy
 * and then fail), else installed when there are hazards, bundle otherwise.
 */
export function chooseLayout(setting: boolean | undefined, hazards: readonly BundleHazard[], settingOrigin = '"thaw.bundle"'): LayoutDecision {
  if (setting === false) return { layout: 'installed', reason: `${settingOrigin} is false`, hazards: [...hazards] };
  if (hazards.length > 0) {
    if (setting === true) {
      throw new InvalidPackageError('package.json', `${settingOrigin} is true, but a bundle of this function would fail at run time: ${describeHazards(hazards)}; remove the setting to run it from its installed node_modules`);
    }
    return { layout: 'installed', reason: `the bundle would not be faithful: ${describeHazards(hazards)}`, hazards: [...hazards] };
  }
  return { layout: 'bundle', reason: setting === true ? `${settingOrigin} is true` : 'no native addon, no file read relative to a module, no run-time require: the bundle is faithful', hazards: [] };
}

/**
 * Writes the installed layout's bundle.cjs: a loader of the entry in src/ (the compiled entry for
 * TypeScript), so every start path still loads <codeDir>/bundle.cjs. `require` of an ES module
 * works in Node ≥ 20.19 (without top-level await), which loads ESM entries and ESM-only packages.
 */
export function writeInstalledLoader(bundlePath: string, entryFromSrc: string): void {
  const target = `./src/${entryFromSrc}`;
  writeFileSync(bundlePath, `${INSTALLED_LOADER_MARK} The function runs from src/ and its node_modules as npm laid them out (see docs/platform.md).\nmodule.exports = require(${JSON.stringify(target)});\n`);
}

const INSTALLED_LOADER_MARK = '// thaw: installed layout.';

/** Whether a bundle.cjs is the installed layout's loader (a microVM image then needs src/ too). */
export function isInstalledLoader(bundleText: string): boolean {
  return bundleText.startsWith(INSTALLED_LOADER_MARK);
}

/**
 * The installed layout's loader for a zygote (see variant.ts): the same entry, but the function's
 * own modules (under src/, outside node_modules) get `served` packages from the zygote, whose
 * modules are already loaded: the loader's own require() searches only the zygote's node_modules
 * (the agent compiles it so). Everything else resolves as Node would in the function's tree.
 * Imports of ES modules do not pass through require's resolution: they load the function's copy.
 */
export function writeInstalledZygoteLoader(installedLoader: string, served: readonly string[]): string {
  const target = /module\.exports = require\(("[^"]+")\);/.exec(installedLoader)?.[1];
  if (!target) throw new Error('bundle.cjs is not an installed-layout loader thaw wrote');
  return `${INSTALLED_LOADER_MARK} Zygote variant: ${served.length ? served.join(', ') : 'no package'} served by the zygote.
const Module = require('module');
const path = require('path');
const served = new Set(${JSON.stringify(served)});
const own = path.join(__dirname, 'src') + path.sep;
const fromZygote = require;
const resolve = Module._resolveFilename;
Module._resolveFilename = function (request, parent, isMain, options) {
  const file = parent && parent.filename;
  if (file && file.startsWith(own) && !file.slice(own.length).split(path.sep).includes('node_modules')) {
    const parts = request.split('/');
    const name = request.startsWith('@') ? parts.slice(0, 2).join('/') : parts[0];
    if (served.has(name)) return fromZygote.resolve(request);
  }
  return resolve.call(this, request, parent, isMain, options);
};
module.exports = require(${target});
`;
}
