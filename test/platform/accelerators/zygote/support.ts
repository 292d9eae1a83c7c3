// Helpers for the zygote tests: fixture packages installed without a registry, fixture functions
// "deployed" the way deploy leaves them (src/ with node_modules, bundle.cjs), and backends.

import { chmodSync, cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { bundleFunction } from '../../../../src/platform/deploy/bundle.ts';
import { readPackageJson } from '../../../../src/platform/deploy/package-json.ts';
import { findEntry } from '../../../../src/platform/deploy/source.ts';
import type { InvocationContext } from '../../../../src/runtime/protocol.ts';
import type { PackageInstaller, PackageSet, ZygoteFunction } from '../../../../src/platform/accelerators/zygote/index.ts';

export const ZYGOTE_FIXTURES = fileURLToPath(new URL('../../../fixtures/zygote/', import.meta.url));

/** A temporary directory (0755: the unprivileged user may need to cross it), removed at exit. */
export function tempDir(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  chmodSync(dir, 0o755);
  process.on('exit', () => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** Installs fixture packages (test/fixtures/zygote/packages/<name>@<version>) and writes a lockfile, as npm would. */
export function fixtureInstaller(calls?: string[]): PackageInstaller {
  return async (dir: string, packages: PackageSet) => {
    calls?.push(Object.entries(packages).map(([n, v]) => `${n}@${v}`).sort().join(' '));
    installFixtures(dir, packages);
  };
}

export function installFixtures(dir: string, packages: PackageSet, integrity: (name: string, version: string) => string = (n, v) => `sha512-fixture-${n}@${v}`): void {
  const lock: { name: string; lockfileVersion: number; packages: Record<string, unknown> } = { name: 'x', lockfileVersion: 3, packages: { '': {} } };
  for (const [name, version] of Object.entries(packages)) {
    const target = join(dir, 'node_modules', name);
    rmSync(target, { recursive: true, force: true });
    mkdirSync(join(dir, 'node_modules'), { recursive: true, mode: 0o755 });
    cpSync(join(ZYGOTE_FIXTURES, 'packages', `${name}@${version}`), target, { recursive: true });
    lock.packages[`node_modules/${name}`] = { version, resolved: `https://registry.example/${name}/-/${name}-${version}.tgz`, integrity: integrity(name, version) };
  }
  writeFileSync(join(dir, 'package-lock.json'), `${JSON.stringify(lock, null, 2)}\n`);
}

let versions = 0;

/**
 * A fixture function deployed as deploy leaves a version: <codeDir>/src with its node_modules (the
 * fixture packages), <codeDir>/bundle.cjs bundled with esbuild. Returns it as the invoker sees it.
 */
export async function deployFixture(
  name: string,
  options: { env?: Record<string, string>; memoryMb?: number; network?: boolean; integrity?: (name: string, version: string) => string } = {},
): Promise<ZygoteFunction> {
  const codeDir = tempDir(`thaw-zyg-fn-${name}-`);
  const srcDir = join(codeDir, 'src');
  cpSync(join(ZYGOTE_FIXTURES, 'functions', name), srcDir, { recursive: true });
  const pkgJson = JSON.parse(readFileSync(join(srcDir, 'package.json'), 'utf8')) as { dependencies: Record<string, string> };
  installFixtures(srcDir, pkgJson.dependencies, options.integrity);
  const pkg = readPackageJson(srcDir);
  const entry = findEntry(srcDir, pkg);
  await bundleFunction(srcDir, entry.path, join(codeDir, 'bundle.cjs'), pkg);
  versions += 1;
  return {
    name,
    version: versions,
    codeDir,
    memoryMb: options.memoryMb ?? 128,
    timeoutMs: 10_000,
    maxConcurrency: 1,
    env: options.env ?? {},
    network: options.network ?? false,
    provisioned: 0,
    dependencies: { ...pkgJson.dependencies },
  };
}

let counter = 0;
export function instanceSpec(fn: ZygoteFunction) {
  counter += 1;
  return {
    instanceId: `t-${fn.name}-${process.pid}-${counter}`,
    functionName: fn.name,
    version: fn.version,
    codeDir: fn.codeDir,
    memoryMb: fn.memoryMb,
    env: fn.env,
    network: fn.network,
  };
}

let invocation = 0;
export function ctx(fn: ZygoteFunction): InvocationContext {
  invocation += 1;
  return { invocationId: `zinv-${invocation}`, functionName: fn.name, version: fn.version, memoryMb: fn.memoryMb, deadlineMs: Date.now() + 10_000 };
}
