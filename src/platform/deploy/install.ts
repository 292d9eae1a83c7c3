// Installing a function's dependencies with npm, in its own folder in the store:
//   npm install --omit=dev --no-audit --no-fund --ignore-scripts
// Install scripts never run (no code of the package's dependencies runs at deploy, and no native
// builds: thaw runs single-file bundles). npm's cache is shared, so repeated deploys are fast.

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { InvalidPackageError, ThawError } from '../../core/errors.ts';
import type { FunctionPackage } from './package-json.ts';
import { run } from './process.ts';

export const NPM_INSTALL_ARGS = ['install', '--omit=dev', '--no-audit', '--no-fund', '--ignore-scripts', '--no-update-notifier'];

/** npm error codes that mean the registry or the network failed, not the package. */
const INFRASTRUCTURE_CODES = new Set(['ENOTFOUND', 'ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EAI_AGAIN', 'ENETUNREACH', 'EHOSTUNREACH', 'ENOSPC', 'EACCES', 'EPERM']);

/** Lines of npm's error output that explain nothing about this failure. */
const NOISE = [
  /complete log of this run/, /Log files were not written/, /^errno /, /^syscall /, /^Note that you can also install from a/,
  /^tarball, folder, http url, or git url/, /^In most cases you or one of your dependencies are requesting/,
];

export interface InstallOptions {
  npmCommand: string;
  timeoutMs: number;
}

/** Whether the package has anything to install. */
export function hasDependencies(pkg: FunctionPackage): boolean {
  return Object.keys(pkg.dependencies).length + Object.keys(pkg.optionalDependencies).length + Object.keys(pkg.peerDependencies).length > 0;
}

/** Runs npm install in `dir`; returns how long it took. Failures are summarised from npm's own errors. */
export async function installDependencies(dir: string, options: InstallOptions): Promise<number> {
  const r = await run(options.npmCommand, NPM_INSTALL_ARGS, { cwd: dir, env: npmEnv(), timeoutMs: options.timeoutMs });
  if (r.spawnError) throw new ThawError('ERR_DEPLOY_FAILED', `cannot run ${options.npmCommand}: ${r.spawnError.message}`);
  if (r.timedOut) throw new ThawError('ERR_DEPLOY_FAILED', `npm install took longer than ${options.timeoutMs} ms and was stopped`);
  if (r.code !== 0) {
    const { code, summary } = summarizeNpmError(r.stderr || r.stdout);
    const message = `npm install failed${code ? ` (${code})` : ''}: ${summary}`;
    if (code && INFRASTRUCTURE_CODES.has(code)) throw new ThawError('ERR_DEPLOY_FAILED', message);
    throw new InvalidPackageError('package.json', message);
  }
  return r.ms;
}

/**
 * The reason in npm's error output: its `npm error` lines without the log-file boilerplate, joined.
 * E.g. for an unknown package: "404 Not Found - GET https://registry.npmjs.org/x - Not found; 'x@^1.0.0' is not in this registry."
 */
export function summarizeNpmError(output: string): { code: string | undefined; summary: string } {
  const lines = output.split(/\r?\n/);
  let code: string | undefined;
  const reasons: string[] = [];
  for (const line of lines) {
    const m = /^npm (?:error|ERR!)\s?(.*)$/.exec(line);
    if (!m) continue;
    const text = m[1]!.trim();
    const c = /^code (\S+)$/.exec(text);
    if (c) {
      code ??= c[1];
      continue;
    }
    const reason = text.replace(/^(?:404|notarget)(?:\s+|$)/, '').trim();
    if (!reason || NOISE.some((re) => re.test(reason))) continue;
    reasons.push(/^Not Found/.test(reason) ? `404 ${reason}` : reason);
  }
  const summary = reasons.length ? dedupe(reasons).slice(0, 4).join('; ') : lastLines(output, 3) || 'npm exited with an error and printed nothing';
  return { code, summary };
}

function dedupe(xs: string[]): string[] {
  return [...new Set(xs)];
}

function lastLines(text: string, n: number): string {
  return text.trim().split(/\r?\n/).slice(-n).join('; ');
}

/**
 * The environment npm runs in: thaw's own, minus what an enclosing npm run (e.g. `npm test`) set
 * for its project, which would otherwise leak into the function's install.
 */
function npmEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) {
    const key = k.toLowerCase();
    if (key.startsWith('npm_package_') || key.startsWith('npm_lifecycle_') || key === 'npm_config_local_prefix' || key === 'init_cwd') continue;
    env[k] = v;
  }
  env.npm_config_update_notifier = 'false';
  env.npm_config_loglevel = 'error';
  return env;
}

/** Exact installed versions of the declared dependencies, from package-lock.json. */
export function installedVersions(dir: string, pkg: FunctionPackage): Record<string, string> {
  let lock: { packages?: Record<string, { version?: string }>; dependencies?: Record<string, { version?: string }> };
  try {
    lock = JSON.parse(readFileSync(join(dir, 'package-lock.json'), 'utf8'));
  } catch {
    return {};
  }
  const out: Record<string, string> = {};
  const declared = [...Object.keys(pkg.dependencies), ...Object.keys(pkg.optionalDependencies), ...Object.keys(pkg.peerDependencies)];
  for (const name of declared.sort()) {
    const version = lock.packages?.[`node_modules/${name}`]?.version ?? lock.dependencies?.[name]?.version;
    if (version) out[name] = version;
  }
  return out;
}
