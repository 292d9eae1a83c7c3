// Install scripts, run in a sandbox. `npm install --ignore-scripts` (install.ts) fetches every
// package from the registry, optional platform packages included (sharp's @img/sharp-linux-x64);
// then, when the lockfile says some package has an install script (or a binding.gyp to build),
// `npm rebuild` runs those scripts — node-gyp builds, prebuilt-binary fetchers — inside a
// bubblewrap container of the same kind as a function's:
//
//   read-only   /usr (node, npm, the compilers, make, python3, Node's headers in /usr/include/node)
//               and the /bin /lib /lib64 /sbin links into it; node's own folder when elsewhere;
//               /etc/alternatives (Debian's cc → gcc) and the public files of /etc a resolver needs
//   read-write  the function's own src/ folder (at /build), a private /tmp (HOME and npm's cache)
//   nothing of  /root, /home, thaw's data dir, other functions, the host's environment (the
//               scripts get PATH, HOME, LANG and npm settings only: no tokens, no secrets)
//   no network  a new, empty network namespace.
//
// Why no network, not "the registry only": every package is already fetched by the time scripts run
// (they run after the install, offline), so the registry is not needed; and bubblewrap cannot
// filter by destination. A script that downloads (prebuild-install from GitHub) fails quietly and
// falls back to building from source, as these scripts are written to. No pid, ipc or uts sharing,
// every capability dropped, killed with the deploy on timeout.
//
// Without bubblewrap, scripts do not run at all (as before): the deploy says so in its warnings.

import { existsSync, lstatSync, readFileSync, readlinkSync, realpathSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { InvalidPackageError, ThawError } from '../../core/errors.ts';
import { detectLeanContainers } from '../sandbox/bubblewrap.ts';
import { run } from './process.ts';

/** Public /etc files (and Debian's alternatives) the toolchain may read. */
const ETC_READ_ONLY = ['/etc/alternatives', '/etc/ld.so.cache', '/etc/ld.so.conf', '/etc/ld.so.conf.d', '/etc/ssl/certs', '/etc/ca-certificates', '/etc/resolv.conf', '/etc/hosts', '/etc/nsswitch.conf', '/etc/passwd', '/etc/group', '/etc/localtime'];
const ROOT_LINKS = ['/bin', '/sbin', '/lib', '/lib64', '/lib32', '/libx32'];
const BUILD_DIR = '/build';

export interface InstallScriptsOptions {
  timeoutMs: number;
  /** The npm CLI script run with node inside the sandbox (default: the npm next to this node). */
  npmCli?: string;
  /** Extra environment for the scripts (tests: e.g. CC pointing at no compiler). */
  env?: Record<string, string>;
  bwrapPath?: string;
}

export interface InstallScriptsResult {
  /** Packages whose scripts ran (or would have). */
  packages: string[];
  /** false when they did not run (no sandbox here), with the reason. */
  ran: boolean;
  reason?: string;
  ms: number;
}

/** Packages of a package-lock.json marked hasInstallScript (name or path). */
export function packagesWithInstallScripts(dir: string): string[] {
  let lock: { packages?: Record<string, { hasInstallScript?: boolean; name?: string }> };
  try {
    lock = JSON.parse(readFileSync(join(dir, 'package-lock.json'), 'utf8'));
  } catch {
    return [];
  }
  const out: string[] = [];
  for (const [key, entry] of Object.entries(lock.packages ?? {})) {
    if (key === '' || !entry?.hasInstallScript) continue;
    out.push(/node_modules\/((?:@[^/]+\/)?[^/]+)$/.exec(key)?.[1] ?? entry.name ?? key);
  }
  return [...new Set(out)].sort();
}

/** The npm CLI of the npm on PATH (its npm-cli.js), or undefined. */
export function findNpmCli(): string | undefined {
  const candidates = [join(dirname(process.execPath), '../lib/node_modules/npm/bin/npm-cli.js')];
  for (const dir of (process.env.PATH ?? '').split(':')) {
    if (!dir) continue;
    try {
      const real = realpathSync(join(dir, 'npm'));
      if (real.endsWith('npm-cli.js')) candidates.push(real);
    } catch {
      // not here
    }
  }
  return candidates.find((c) => existsSync(c));
}

/** bwrap arguments of the install sandbox for `srcDir` (exported for tests). */
export function installSandboxArgs(srcDir: string, npmCli: string): string[] {
  const args = ['--unshare-pid', '--unshare-ipc', '--unshare-uts', '--unshare-cgroup-try', '--unshare-net', '--die-with-parent', '--new-session', '--cap-drop', 'ALL'];
  args.push('--ro-bind', '/usr', '/usr');
  for (const link of ROOT_LINKS) {
    let st;
    try {
      st = lstatSync(link);
    } catch {
      continue;
    }
    if (st.isSymbolicLink()) args.push('--symlink', readlinkSync(link), link);
    else if (st.isDirectory()) args.push('--ro-bind', link, link);
  }
  // node and npm when they live outside /usr (e.g. /opt/node): node's prefix (bin/node) and npm's package folder (bin/npm-cli.js).
  for (const file of [realpathSync(process.execPath), realpathSync(npmCli)]) {
    const prefix = dirname(dirname(file));
    if (!file.startsWith('/usr/')) args.push('--ro-bind', prefix, prefix);
  }
  for (const p of ETC_READ_ONLY) args.push('--ro-bind-try', p, p);
  args.push('--proc', '/proc', '--dev', '/dev', '--tmpfs', '/tmp', '--dir', '/tmp/home', '--bind', srcDir, BUILD_DIR, '--chdir', BUILD_DIR);
  return args;
}

function scriptEnv(extra: Record<string, string> = {}): Record<string, string> {
  const env: Record<string, string> = {
    PATH: '/usr/local/bin:/usr/bin:/bin',
    HOME: '/tmp/home',
    TMPDIR: '/tmp',
    LANG: 'C.UTF-8',
    npm_config_cache: '/tmp/npm-cache',
    npm_config_offline: 'true',
    npm_config_update_notifier: 'false',
    npm_config_fund: 'false',
    npm_config_audit: 'false',
    npm_config_loglevel: 'error',
    npm_config_foreground_scripts: 'true',
    // node-gyp: make -j with every core (a native build is the slowest part of a deploy).
    JOBS: 'max',
  };
  // node-gyp builds against the headers of the node that runs the function (never downloads them).
  const nodedir = dirname(dirname(realpathSync(process.execPath)));
  if (existsSync(join(nodedir, 'include/node/node_api.h'))) env.npm_config_nodedir = nodedir;
  return { ...env, ...extra };
}

/**
 * Runs the install scripts of the packages installed in `srcDir`, in the install sandbox. Returns
 * without running anything when no package has one. Throws ERR_INVALID_PACKAGE naming the package
 * and, when a tool is missing (a compiler, make, python3), which one.
 */
export async function runInstallScripts(srcDir: string, options: InstallScriptsOptions): Promise<InstallScriptsResult> {
  const started = performance.now();
  const packages = packagesWithInstallScripts(srcDir);
  if (packages.length === 0) return { packages, ran: false, reason: 'no package has an install script', ms: 0 };
  const detection = await detectLeanContainers({ bwrapPath: options.bwrapPath });
  if (!detection.ok || !detection.bwrapPath) {
    return { packages, ran: false, reason: `install scripts run only in a bubblewrap sandbox, and there is none here (${detection.reason ?? 'not detected'})`, ms: performance.now() - started };
  }
  const npmCli = options.npmCli ?? findNpmCli();
  if (!npmCli) throw new ThawError('ERR_DEPLOY_FAILED', 'cannot find npm-cli.js to run install scripts with (is npm installed next to node?)');
  const args = [...installSandboxArgs(srcDir, npmCli), '--', realpathSync(process.execPath), realpathSync(npmCli), 'rebuild', '--foreground-scripts'];
  const r = await run(detection.bwrapPath, args, { cwd: srcDir, env: scriptEnv(options.env), timeoutMs: options.timeoutMs });
  if (r.spawnError) throw new ThawError('ERR_DEPLOY_FAILED', `cannot start bwrap for install scripts: ${r.spawnError.message}`);
  if (r.timedOut) throw new InvalidPackageError('package.json', `install scripts (${packages.join(', ')}) took longer than ${options.timeoutMs} ms and were stopped`);
  if (r.code !== 0) throw new InvalidPackageError('package.json', explainScriptFailure(r.stdout + '\n' + r.stderr, packages));
  return { packages, ran: true, ms: performance.now() - started };
}

/** Tools whose absence explains a failed native build, with the Debian package that provides them. */
const TOOLS: Array<{ re: RegExp; tool: string; apt: string }> = [
  { re: /\b(c\+\+|g\+\+|clang\+\+)\b/, tool: 'a C++ compiler', apt: 'g++' },
  { re: /\b(cc|gcc|clang)\b/, tool: 'a C compiler', apt: 'gcc' },
  { re: /\bmake\b/, tool: 'make', apt: 'make' },
  { re: /\bpython3?\b|find Python/i, tool: 'python3', apt: 'python3' },
];

/**
 * One message for a failed `npm rebuild`: which package's script failed and, when the output shows
 * a command that was not found (a compiler, make, python), what to install.
 */
export function explainScriptFailure(output: string, packages: readonly string[]): string {
  const lines = output.split(/\r?\n/);
  const failedPath = lines.map((l) => /^npm (?:error|ERR!) path (\S+)/.exec(l)?.[1]).find(Boolean);
  const failed = failedPath ? (/node_modules\/((?:@[^/]+\/)?[^/]+)$/.exec(failedPath)?.[1] ?? failedPath.replace(/^\/build\/?/, '') ?? failedPath) : undefined;
  const who = failed ? `the install script of ${failed}` : `an install script (of ${packages.join(', ')})`;
  const missing = new Set<string>();
  for (const line of lines) {
    // sh: "sh: 1: cc: not found"; bash: "bash: cc: command not found"; node-gyp: "Error: not found: make".
    const m = /([\w.+/-]+): (?:command )?not found\s*$/.exec(line) ?? /not found: ([\w.+/-]+)/.exec(line) ?? /Could not find any Python|find Python/i.exec(line);
    if (!m) continue;
    const cmd = m[1] ?? 'python3';
    const tool = TOOLS.find((t) => t.re.test(cmd.split('/').pop()!));
    missing.add(tool ? `${tool.tool} (${cmd}; Debian: apt-get install ${tool.apt})` : cmd);
  }
  if (missing.size > 0) return `${who} failed: it needs ${[...missing].join(', ')}, which is not installed on this machine; install it and deploy again`;
  const tail = lines.filter((l) => l.trim() && !/^npm (?:error|ERR!) (?:A complete log|Log files)/.test(l)).slice(-6).join('\n');
  return `${who} failed:\n${tail}`;
}
