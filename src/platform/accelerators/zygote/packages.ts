// A zygote's package folder: <root>/sets/<hash>/ with a package.json naming the set's packages at
// their exact versions and node_modules/ installed by npm, the way a deploy installs a function's
// dependencies: `npm install --omit=dev --ignore-scripts`, then the install scripts (node-gyp
// builds such as better-sqlite3's) in the deploy's install sandbox. Without them a native package
// imports fine in the zygote and fails in the function at first use (its addon was never built), so
// where they cannot run the install fails and the set is disabled with the reason. Zygotes import
// from here, never from a function's folder: no tenant's files ever enter a zygote. Shared read-only
// by every zygote of the set; installed once (a marker file records a finished install).

import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

import { ThawError } from '../../../core/errors.ts';
import { installDependencies } from '../../deploy/install.ts';
import { runInstallScripts } from '../../deploy/install-scripts.ts';
import { lockedPackages } from '../../deploy/variant.ts';
import { describeSet, packagesHash, type PackageSet } from './tree.ts';

/** Installs `packages` (exact versions) into `dir`, which holds the package.json naming them. */
export type PackageInstaller = (dir: string, packages: PackageSet) => Promise<void>;

export interface NpmInstallerOptions {
  npmCommand?: string;
  timeoutMs?: number;
}

/** The deploy pipeline's npm install (shared npm cache), then its sandboxed install scripts. */
export function npmInstaller(options: NpmInstallerOptions = {}): PackageInstaller {
  return async (dir) => {
    const timeoutMs = options.timeoutMs ?? 5 * 60_000;
    await installDependencies(dir, { npmCommand: options.npmCommand ?? 'npm', timeoutMs });
    const scripts = await runInstallScripts(dir, { timeoutMs });
    if (!scripts.ran && scripts.packages.length > 0) {
      throw new ThawError('ERR_DEPLOY_FAILED', `${scripts.packages.join(', ')} need their install scripts, which did not run: ${scripts.reason}`);
    }
  };
}

export interface PackageFolder {
  dir: string;
  packages: PackageSet;
  /** The lockfile integrity of each package (undefined when the installer wrote no lockfile). */
  integrity: Record<string, string | undefined>;
}

const MARKER = '.thaw-zygote.json';

/** The package folder of `packages` under `root`, installing it first if needed. */
export async function ensurePackageFolder(root: string, packages: PackageSet, installer: PackageInstaller): Promise<PackageFolder> {
  const dir = join(root, 'sets', packagesHash(packages));
  const marker = join(dir, MARKER);
  if (existsSync(marker)) {
    try {
      const recorded = JSON.parse(readFileSync(marker, 'utf8')) as { packages?: Record<string, string> };
      if (describeSet(recorded.packages ?? {}) === describeSet(packages)) return folderOf(dir, packages);
    } catch {
      // reinstall below
    }
  }
  // Install into a fresh staging folder, check, then rename into place.
  mkdirSync(join(root, 'sets'), { recursive: true, mode: 0o755 });
  const staging = `${dir}.staging-${process.pid}-${Date.now()}`;
  rmSync(staging, { recursive: true, force: true });
  mkdirSync(staging, { mode: 0o755 });
  chmodSync(staging, 0o755);
  try {
    const manifest = { name: `thaw-zygote-${packagesHash(packages)}`, version: '0.0.0', private: true, description: `thaw zygote: ${describeSet(packages)}`, dependencies: { ...packages } };
    writeFileSync(join(staging, 'package.json'), `${JSON.stringify(manifest, null, 2)}\n`, { mode: 0o644 });
    if (Object.keys(packages).length > 0) await installer(staging, packages);
    for (const [name, version] of Object.entries(packages)) {
      let installed: { name?: unknown; version?: unknown };
      try {
        installed = JSON.parse(readFileSync(join(staging, 'node_modules', name, 'package.json'), 'utf8'));
      } catch {
        throw new Error(`the zygote's install of ${describeSet(packages)} did not install ${name}`);
      }
      if (installed.name !== name || installed.version !== version) {
        throw new Error(`the zygote's install has ${String(installed.name)}@${String(installed.version)} where ${name}@${version} was asked for`);
      }
    }
    writeFileSync(join(staging, MARKER), `${JSON.stringify({ packages, installedAt: new Date().toISOString() }, null, 2)}\n`, { mode: 0o644 });
    rmSync(dir, { recursive: true, force: true });
    renameSync(staging, dir);
  } catch (err) {
    rmSync(staging, { recursive: true, force: true });
    throw err;
  }
  return folderOf(dir, packages);
}

function folderOf(dir: string, packages: PackageSet): PackageFolder {
  const locked = lockedPackages(dir);
  const integrity: Record<string, string | undefined> = {};
  for (const name of Object.keys(packages)) integrity[name] = locked.get(name)?.integrity;
  return { dir, packages, integrity };
}
