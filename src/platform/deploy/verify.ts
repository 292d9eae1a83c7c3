// Verifying a bundle before it is recorded: a short-lived node process requires it and reports what
// it exports, so a bundle with no handler, or one that fails while loading (a module missing at run
// time, an exception in top-level code), is refused at deploy instead of at its first invocation.
// init() is not called: it may be slow or need the network, and it runs on every cold start anyway.
//
// The check runs the function's top-level code in a plain child process on the host, with the
// function's env, THAW_VERIFY=1 and little else. When a sandbox backend is available, pass a
// `verifier` that runs the same script inside it (see deploy.ts) — the code is not yet trusted.

import { dirname, relative, sep } from 'node:path';
import { InvalidPackageError, ThawError } from '../../core/errors.ts';
import { linesOf, parseMessage } from '../../runtime/framing.ts';
import { run } from './process.ts';

export const HOOKS = ['init', 'beforeSnapshot', 'afterRestore'] as const;

export interface VerifyReport {
  ok: boolean;
  /** Names the module exports. */
  exports?: string[];
  /** typeof of handler and each hook. */
  types?: Record<string, string>;
  error?: { name?: string; message: string; code?: string; stack?: string };
  loadMs?: number;
}

export interface VerifyOptions {
  timeoutMs: number;
  env: Record<string, string>;
  memoryMb: number;
}

/** Loads the bundle at `bundlePath` somewhere and reports on it (see nodeVerifier). */
export type Verifier = (bundlePath: string, options: VerifyOptions) => Promise<{ report: VerifyReport | undefined; timedOut: boolean; stderr: string; ms: number }>;

// Runs in the child: require the bundle, report on fd 3, exit (even if the module left timers or sockets open).
export const VERIFY_SCRIPT = `
const fs = require('fs');
const report = (r) => { try { fs.writeSync(3, JSON.stringify(r) + '\\n'); } finally { process.exit(0); } };
const ser = (e) => ({ name: e && e.name, message: String(e && e.message !== undefined ? e.message : e), code: e && e.code, stack: e && e.stack });
process.on('uncaughtException', (e) => report({ ok: false, error: ser(e) }));
process.on('unhandledRejection', (e) => report({ ok: false, error: ser(e) }));
const t0 = performance.now();
let m;
try { m = require(process.argv[1]); } catch (e) { report({ ok: false, error: ser(e) }); }
const types = {};
for (const k of ['handler', 'init', 'beforeSnapshot', 'afterRestore']) types[k] = typeof (m == null ? undefined : m[k]);
report({ ok: true, exports: m == null ? [] : Object.keys(m), types, loadMs: performance.now() - t0 });
`;

export const nodeVerifier: Verifier = async (bundlePath, options) => {
  const env: Record<string, string> = { ...options.env, THAW_VERIFY: '1' };
  if (process.env.PATH) env.PATH = process.env.PATH;
  const r = await run(
    process.execPath,
    [`--max-old-space-size=${options.memoryMb}`, '--enable-source-maps', '-e', VERIFY_SCRIPT, bundlePath],
    { cwd: dirname(bundlePath), env, timeoutMs: options.timeoutMs, resultFd: true },
  );
  if (r.spawnError) throw new ThawError('ERR_DEPLOY_FAILED', `cannot start node to verify the bundle: ${r.spawnError.message}`);
  // The report is the script's last line on fd 3.
  const line = linesOf(r.fd3).at(-1);
  const report = line === undefined ? undefined : parseMessage<VerifyReport>(line);
  return { report, timedOut: r.timedOut, stderr: r.stderr, ms: r.ms };
};

/** Turns a verify outcome into nothing (fine) or the InvalidPackageError that explains it. */
export function checkVerifyOutcome(
  outcome: { report: VerifyReport | undefined; timedOut: boolean; stderr: string },
  context: { entry: string; srcDir: string; timeoutMs: number },
): void {
  const { report } = outcome;
  if (outcome.timedOut) {
    throw new InvalidPackageError(context.entry, `loading the function took longer than ${context.timeoutMs} ms (top-level code must not block; put slow work in init())`);
  }
  if (!report) {
    const tail = outcome.stderr.trim().split('\n').slice(-5).join('\n');
    throw new InvalidPackageError(context.entry, `loading the function crashed node${tail ? `:\n${tail}` : ''}`);
  }
  if (!report.ok) {
    const e = report.error ?? { message: 'unknown error' };
    const where = userFrame(e.stack, context.srcDir);
    if (e.code === 'MODULE_NOT_FOUND' || e.code === 'ERR_MODULE_NOT_FOUND') {
      const mod = /Cannot find (?:module|package) '([^']+)'/.exec(e.message)?.[1];
      throw new InvalidPackageError(
        where?.file ?? context.entry,
        `loading the function failed: it requires ${mod ? `'${mod}'` : 'a module'} at run time, which is not in the bundle and not installed; add it to package.json "dependencies" and import it with a literal path so it is bundled`,
        where?.line,
        where?.column,
      );
    }
    throw new InvalidPackageError(where?.file ?? context.entry, `loading the function failed: ${e.name ? `${e.name}: ` : ''}${e.message}`, where?.line, where?.column);
  }
  const types = report.types ?? {};
  const exportsList = report.exports?.length ? report.exports.join(', ') : 'nothing';
  if (types.handler !== 'function') {
    const hint = report.exports?.includes('default')
      ? ' (it has a default export: export the handler by name, e.g. `export async function handler(event, context)`)'
      : '';
    throw new InvalidPackageError(
      context.entry,
      `exports no handler function (handler is ${types.handler ?? 'undefined'}; exports: ${exportsList})${hint}`,
    );
  }
  for (const hook of HOOKS) {
    const t = types[hook];
    if (t !== undefined && t !== 'undefined' && t !== 'function') throw new InvalidPackageError(context.entry, `exports ${hook} as a ${t}; when present it must be a function`);
  }
}

/** The first stack frame in the user's own code (after source maps), relative to the package. */
function userFrame(stack: string | undefined, srcDir: string): { file: string; line: number; column: number } | undefined {
  if (!stack) return undefined;
  for (const m of stack.matchAll(/\(?((?:file:\/\/)?\/[^():\n]+):(\d+):(\d+)\)?/g)) {
    const file = m[1]!.replace(/^file:\/\//, '');
    if (!file.startsWith(srcDir + sep)) continue;
    const rel = relative(srcDir, file).split(sep).join('/');
    if (rel.split('/').includes('node_modules')) continue;
    return { file: rel, line: Number(m[2]), column: Number(m[3]) };
  }
  return undefined;
}
