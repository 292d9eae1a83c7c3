// The package on disk: finding its entry, measuring it, copying it into the store.

import { copyFileSync, existsSync, lstatSync, mkdirSync, readdirSync, realpathSync, statSync } from 'node:fs';
import { extname, join, relative, resolve, sep } from 'node:path';
import { InvalidPackageError, ThawError } from '../../core/errors.ts';
import type { Language } from '../function.ts';
import type { FunctionPackage } from './package-json.ts';

/** Entries tried, in order, when package.json has no "main". */
export const DEFAULT_ENTRIES = ['index.ts', 'index.js', 'index.mjs', 'index.cjs', 'index.mts', 'index.cts'];
const CODE_EXTENSIONS = ['.ts', '.mts', '.cts', '.tsx', '.js', '.mjs', '.cjs', '.jsx'];
const TS_EXTENSIONS = ['.ts', '.mts', '.cts', '.tsx'];

/** Folders never copied or counted: installed dependencies are reinstalled from package.json. */
const SKIPPED_DIRS = new Set(['node_modules', '.git']);

export interface Entry {
  /** Relative to the package root, with '/' separators. */
  path: string;
  language: Language;
}

export function findEntry(root: string, pkg: FunctionPackage): Entry {
  const make = (abs: string): Entry => {
    const rel = relative(root, abs).split(sep).join('/');
    const ext = extname(abs);
    if (!CODE_EXTENSIONS.includes(ext)) {
      throw new InvalidPackageError('package.json', `"main" is ${JSON.stringify(pkg.main)}: thaw runs ${CODE_EXTENSIONS.join(' ')} files, not ${ext || 'files without an extension'}`);
    }
    return { path: rel, language: TS_EXTENSIONS.includes(ext) ? 'ts' : 'js' };
  };
  if (pkg.main !== undefined) {
    const abs = resolve(root, pkg.main);
    if (abs !== root && !abs.startsWith(root + sep)) throw new InvalidPackageError('package.json', `"main" is ${JSON.stringify(pkg.main)}, which is outside the package`);
    const candidates = [abs, ...CODE_EXTENSIONS.map((e) => abs + e), ...CODE_EXTENSIONS.map((e) => join(abs, 'index' + e))];
    const found = candidates.find(isFile);
    if (!found) throw new InvalidPackageError('package.json', `"main" is ${JSON.stringify(pkg.main)}, which does not exist`);
    return make(found);
  }
  const found = DEFAULT_ENTRIES.map((e) => join(root, e)).find(isFile);
  if (!found) {
    throw new InvalidPackageError(undefined, `no entry module: package.json has no "main" and there is no ${DEFAULT_ENTRIES.slice(0, 4).join(', ')}`);
  }
  return make(found);
}

function isFile(p: string): boolean {
  try {
    return statSync(p).isFile();
  } catch {
    return false;
  }
}

export interface SourceFile {
  /** Relative to the root, '/' separators. */
  path: string;
  /** The file to read (a symlink's target). */
  abs: string;
  bytes: number;
}

/**
 * Every file of the package except node_modules, .git and `exclude` (e.g. the data dir when it is
 * inside the package), with the total size; stops with ERR_INVALID_PACKAGE as soon as the total
 * passes `maxBytes`. Symlinks are followed when they point inside the package, refused otherwise.
 */
export function listSource(root: string, maxBytes: number, exclude: readonly string[] = []): { files: SourceFile[]; bytes: number } {
  const realRoot = realpathSync(root);
  const files: SourceFile[] = [];
  let total = 0;
  const walk = (dir: string, relDir: string): void => {
    for (const name of readdirSync(dir).sort()) {
      const abs = join(dir, name);
      const rel = relDir ? `${relDir}/${name}` : name;
      if (exclude.some((x) => abs === x || abs.startsWith(x + sep))) continue;
      let st = lstatSync(abs);
      let target = abs;
      if (st.isSymbolicLink()) {
        try {
          target = realpathSync(abs);
        } catch {
          throw new InvalidPackageError(rel, 'is a broken symbolic link');
        }
        if (target !== realRoot && !target.startsWith(realRoot + sep)) throw new InvalidPackageError(rel, `is a symbolic link to ${target}, outside the package`);
        st = statSync(target);
      }
      if (st.isDirectory()) {
        if (SKIPPED_DIRS.has(name)) continue;
        if (target !== abs && (dir + sep).startsWith(target + sep)) throw new InvalidPackageError(rel, 'is a symbolic link to a folder that contains it');
        walk(target, rel);
      } else if (st.isFile()) {
        total += st.size;
        files.push({ path: rel, abs: target, bytes: st.size });
        if (total > maxBytes) {
          const biggest = [...files].sort((a, b) => b.bytes - a.bytes).slice(0, 3).map((f) => `${f.path} (${formatBytes(f.bytes)})`);
          throw new InvalidPackageError(
            undefined,
            `the package is over the ${formatBytes(maxBytes)} source limit (node_modules excluded); biggest files: ${biggest.join(', ')}`,
          );
        }
      } // sockets, fifos, devices: not source, skipped
    }
  };
  walk(realRoot, '');
  return { files, bytes: total };
}

export function copySource(files: readonly SourceFile[], dest: string): void {
  mkdirSync(dest, { recursive: true });
  const made = new Set<string>([dest]);
  for (const f of files) {
    const to = join(dest, ...f.path.split('/'));
    const dir = resolve(to, '..');
    if (!made.has(dir)) {
      mkdirSync(dir, { recursive: true });
      made.add(dir);
    }
    copyFileSync(f.abs, to);
  }
}

export function requireDirectory(dir: string): string {
  const abs = resolve(dir);
  if (!existsSync(abs)) throw new ThawError('ERR_NOT_FOUND', `${abs}: no such folder`);
  if (!statSync(abs).isDirectory()) throw new InvalidPackageError(undefined, `${abs}: not a folder (a function is a folder with a package.json)`);
  return abs;
}

export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`;
  return `${(n / 1024 / 1024).toFixed(1)} MiB`;
}
