// Building one function version's V8 startup snapshot.
//
//   1. entry:  esbuild bundles src/runtime/snapshot-agent.ts with the version's bundle.cjs (verbatim,
//              as a CommonJS module wrapper the agent calls with its own require) and a baked-in
//              config into ONE CommonJS script that requires only built-ins;
//   2. build:  `node --max-old-space-size=N --snapshot-blob snapshot.blob --build-snapshot entry.cjs`
//              in a child process, in the backend's isolation (a lean container for the container
//              backend), with a timeout. The entry runs the function's top-level code, init() and
//              beforeSnapshot() and reports on fd 3 (built / failed with a kind and a reason);
//   3. check:  the blob is restored once with --check (deserialise, report, exit: none of the
//              function's code runs but deserialize callbacks it registered), so a blob that does
//              not come back is never handed to an instance.
//
// A function that cannot be snapshotted fails with a kind and a one-line reason, from the entry's
// report when it saw the problem itself (a native addon, an unsupported built-in, an open handle,
// an error in init) and otherwise from node's stderr, summarised (a V8 abort while serialising).

import { type ChildProcess, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { closeSync } from 'node:fs';
import { chmod, chown, mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import type { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';

import * as esbuild from 'esbuild';

import { moduleFile } from '../../../core/module-file.ts';
import { RESTORE_V8_FLAGS, snapshotV8Flags, type SnapshotSupport } from './launch.ts';
import type { SpawnCommand } from '../../sandbox/launcher.ts';
import type { SandboxSpec } from '../../sandbox/types.ts';
import { lastMessage, linesOf } from '../../../runtime/framing.ts';
import { BUILD_REPORT_PREFIX, CHECK_ARGUMENT, type SnapshotBuildMessage, type SnapshotEntryConfig, type SnapshotFailureKind } from '../../../runtime/snapshot-protocol.ts';

export const SNAPSHOT_AGENT_SOURCE = fileURLToPath(moduleFile('../../../runtime/snapshot-agent', import.meta.url));
const SOURCE_ROOT = resolve(dirname(SNAPSHOT_AGENT_SOURCE), '..', '..');

export const ENTRY_FILE = 'entry.cjs';
export const BLOB_FILE = 'snapshot.blob';

/** What is snapshotted: one deployed version. */
export interface SnapshotBuildInput {
  functionName: string;
  version: number;
  /** Folder holding bundle.cjs (mounted at /code in a container build). */
  codeDir: string;
  memoryMb: number;
  env: Record<string, string>;
  network: boolean;
}

export interface SnapshotBuildOptions {
  /** How and where node runs (the sandbox backend's isolation). */
  support: SnapshotSupport;
  /** Parent of the build's temporary folder. */
  workDir: string;
  /** The whole build (node --build-snapshot) must finish within this, ms. Default 120 s. */
  timeoutMs?: number;
  /** How long open handles may take to close after beforeSnapshot(), ms. Default 1000. */
  settleMs?: number;
  /** Restore the blob once before trusting it (default true). */
  check?: boolean;
  /** The check restore's time limit, ms. Default 30 s. */
  checkTimeoutMs?: number;
}

export interface SnapshotBuildSuccess {
  ok: true;
  /** The blob, in the build folder (the caller moves it into a blob store, then calls cleanup()). */
  blobPath: string;
  bytes: number;
  /** sha256 of bundle.cjs the snapshot was made from. */
  bundleSha256: string;
  /** esbuild of the entry, node --build-snapshot, the check restore; ms. */
  entryMs: number;
  buildMs: number;
  checkMs: number;
  /** What the entry measured at build time (import, init, beforeSnapshot) and which hooks exist. */
  report: Extract<SnapshotBuildMessage, { type: 'built' }>;
  cleanup(): Promise<void>;
}

export interface SnapshotBuildFailure {
  ok: false;
  kind: SnapshotFailureKind | 'timeout' | 'check-failed';
  /** One line, for `fallback: <reason>`. */
  reason: string;
  /** node's stderr, summarised (at most a few lines). */
  stderr: string;
  buildMs: number;
}

export type SnapshotBuildResult = SnapshotBuildSuccess | SnapshotBuildFailure;

/** The snapshot entry's source: the snapshot agent + the function bundle + its config, one CJS file. */
export async function createSnapshotEntry(bundleSource: string, config: SnapshotEntryConfig): Promise<string> {
  const result = await esbuild.build({
    entryPoints: [SNAPSHOT_AGENT_SOURCE],
    absWorkingDir: SOURCE_ROOT,
    bundle: true,
    platform: 'node',
    format: 'cjs',
    target: 'node20',
    write: false,
    logLevel: 'silent',
    legalComments: 'none',
    keepNames: true,
    banner: { js: `// thaw snapshot entry of ${config.functionName} v${config.version}: src/runtime/snapshot-agent.ts + the function's bundle.cjs; generated.` },
    plugins: [
      {
        name: 'thaw-snapshot-virtual',
        setup(build) {
          build.onResolve({ filter: /^thaw:(function|snapshot-config)$/ }, (args) => ({ path: args.path, namespace: 'thaw-snapshot' }));
          build.onLoad({ filter: /.*/, namespace: 'thaw-snapshot' }, (args) => {
            if (args.path === 'thaw:snapshot-config') return { contents: JSON.stringify(config), loader: 'json' };
            // The bundle verbatim inside a module wrapper; its require/module/exports are the parameters,
            // so esbuild leaves its requires alone (they are the agent's to resolve).
            return {
              contents: `exports.define = function (exports, require, module, __filename, __dirname) {\n${bundleSource}\n};\n`,
              loader: 'js',
            };
          });
        },
      },
    ],
  });
  const file = result.outputFiles[0];
  if (!file) throw new Error('esbuild produced no snapshot entry');
  return file.text;
}

interface RunOutcome {
  code: number | null;
  signal: NodeJS.Signals | null;
  timedOut: boolean;
  spawnError?: Error;
  fd3: string;
  stderr: string;
  stdout: string;
  ms: number;
}

function runCommand(cmd: SpawnCommand, timeoutMs: number): Promise<RunOutcome> {
  const started = performance.now();
  return new Promise((resolvePromise) => {
    let child: ChildProcess;
    try {
      child = spawn(cmd.file, cmd.args, { cwd: cmd.cwd, env: cmd.env, stdio: ['ignore', 'pipe', 'pipe', 'pipe', ...(cmd.extraFds ?? [])], detached: true });
    } catch (err) {
      resolvePromise({ code: null, signal: null, timedOut: false, spawnError: err as Error, fd3: '', stderr: '', stdout: '', ms: 0 });
      return;
    } finally {
      for (const fd of cmd.extraFds ?? []) closeSync(fd);
    }
    let fd3 = '';
    let stderr = '';
    let stdout = '';
    const cap = (s: string, d: Buffer) => (s.length < 256 * 1024 ? s + d.toString() : s);
    child.stdout!.on('data', (d: Buffer) => (stdout = cap(stdout, d)));
    child.stderr!.on('data', (d: Buffer) => (stderr = cap(stderr, d)));
    const channel = child.stdio[3] as Readable;
    channel.on('data', (d: Buffer) => (fd3 = cap(fd3, d)));
    channel.on('error', () => undefined);
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      try {
        process.kill(-child.pid!, 'SIGKILL');
      } catch {
        child.kill('SIGKILL');
      }
    }, timeoutMs);
    let spawnError: Error | undefined;
    child.on('error', (err) => (spawnError = err));
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolvePromise({ code, signal, timedOut, spawnError, fd3, stderr, stdout, ms: performance.now() - started });
    });
  });
}

function lastReport(fd3: string, stderr: string): SnapshotBuildMessage | undefined {
  const lines = linesOf(fd3);
  for (const line of stderr.split('\n')) {
    const i = line.indexOf(BUILD_REPORT_PREFIX);
    if (i >= 0) lines.push(line.slice(i + BUILD_REPORT_PREFIX.length));
  }
  return lastMessage<SnapshotBuildMessage>(lines);
}

const NOISE = [
  /^It may still work in some cases/,
  /^To request support for the module/,
  /^\(Use `node --trace-warnings/,
  /^\s*\d+: 0x[0-9a-f]+/,
  /^----- Native stack trace -----/,
  /^#\s*$/,
  /^#FailureMessage Object/,
  /^\s*$/,
  /^\s+at /,
];

/** node's stderr cut to what explains a failed build: the messages, not the stacks and boilerplate. */
export function summarizeStderr(stderr: string, maxLines = 4): string {
  const lines = stderr
    .split('\n')
    .map((l) => l.replace(/^\(node:\d+\) /, '').trimEnd())
    .filter((l) => !NOISE.some((re) => re.test(l)) && !l.startsWith('thaw-snapshot-report:'));
  // Prefer the lines that say what failed.
  const key = lines.filter((l) => /Error|error|Check failed|not serialized|Unknown external reference|Fatal|Cannot|not supported|Warning/.test(l));
  const chosen = (key.length > 0 ? key : lines).slice(0, maxLines).map((l) => (l.length > 240 ? `${l.slice(0, 237)}...` : l));
  return chosen.join(' | ');
}

/** A failure reason from a crash of node itself, with what V8 said. */
function crashReason(outcome: RunOutcome): string {
  const said = summarizeStderr(outcome.stderr, 3);
  const how = outcome.signal ? `killed by ${outcome.signal}` : `exit code ${outcome.code}`;
  if (/global handle not serialized|Unknown external reference/.test(outcome.stderr)) {
    return `V8 could not serialise the heap (${how}): an object of a built-in that user snapshots do not support is reachable${said ? `: ${said}` : ''}`;
  }
  return `node --build-snapshot failed (${how})${said ? `: ${said}` : ''}`;
}

/** Builds the snapshot of one version; never throws for the function's own problems (they are a failure result). */
export async function buildSnapshot(input: SnapshotBuildInput, options: SnapshotBuildOptions): Promise<SnapshotBuildResult> {
  const started = performance.now();
  const support = options.support;
  const timeoutMs = options.timeoutMs ?? 120_000;
  const fail = (kind: SnapshotBuildFailure['kind'], reason: string, stderr = ''): SnapshotBuildFailure => ({ ok: false, kind, reason, stderr, buildMs: performance.now() - started });

  const bundlePath = join(input.codeDir, 'bundle.cjs');
  let bundleSource: string;
  try {
    bundleSource = await readFile(bundlePath, 'utf8');
  } catch (err) {
    return fail('other', `cannot read ${bundlePath}: ${(err as Error).message}`);
  }
  const bundleSha256 = createHash('sha256').update(bundleSource).digest('hex');

  // Traversable (not listable) by the function's user: a process build writes its blob as that user.
  await mkdir(options.workDir, { recursive: true, mode: 0o711 });
  const dir = await mkdtemp(join(options.workDir, `build-${safeName(input.functionName)}-${input.version}-`));
  const cleanup = () => rm(dir, { recursive: true, force: true });
  let keep = false;
  try {
    const config: SnapshotEntryConfig = {
      functionName: input.functionName,
      version: input.version,
      filename: support.bundlePathFor(input.codeDir),
      runAs: support.runAs,
      settleMs: options.settleMs ?? 1000,
    };
    const e0 = performance.now();
    let entry: string;
    try {
      entry = await createSnapshotEntry(bundleSource, config);
    } catch (err) {
      const failure = err as esbuild.BuildFailure;
      const text = Array.isArray(failure.errors) && failure.errors[0] ? failure.errors[0].text : (err as Error).message;
      return fail('other', `the snapshot entry could not be bundled: ${text}`);
    }
    const entryMs = performance.now() - e0;
    await writeFile(join(dir, ENTRY_FILE), entry, { mode: 0o644 });
    // The entry drops to the function's user before running its code; node then writes the blob as that user.
    if (support.runAs) await chown(dir, support.runAs.uid, support.runAs.gid);
    // Traversable by root without CAP_DAC_OVERRIDE (a container drops it), writable only by its owner.
    await chmod(dir, 0o711);

    const spec: SandboxSpec = {
      instanceId: `snapshot-build-${process.pid}-${Math.random().toString(16).slice(2, 10)}`,
      functionName: input.functionName,
      version: input.version,
      codeDir: input.codeDir,
      memoryMb: input.memoryMb,
      env: input.env,
      network: input.network,
    };
    const build = support.buildCommand(spec, dir, (inside) => [...snapshotV8Flags(input.memoryMb), '--snapshot-blob', join(inside, BLOB_FILE), '--build-snapshot', join(inside, ENTRY_FILE)]);
    const outcome = await runCommand(build, timeoutMs);
    const buildMs = outcome.ms;
    if (outcome.spawnError) return fail('other', `cannot start ${build.file}: ${outcome.spawnError.message}`);
    const message = lastReport(outcome.fd3, outcome.stderr);
    const stderr = summarizeStderr(outcome.stderr, 6);
    if (outcome.timedOut) {
      return fail('timeout', `the build did not finish within ${Math.round(timeoutMs / 1000)} s (init() or beforeSnapshot() still running, or something kept node's event loop alive)`, stderr);
    }
    if (message?.type === 'failed') return fail(message.kind, message.reason, stderr);
    const blobPath = join(dir, BLOB_FILE);
    const blobStat = await stat(blobPath).catch(() => undefined);
    if (outcome.code !== 0 || outcome.signal !== null || !blobStat || message?.type !== 'built') {
      return fail(message?.type === 'built' ? 'other' : 'other', crashReason(outcome), stderr);
    }

    let checkMs = 0;
    if (options.check !== false) {
      const check = support.buildCommand(spec, dir, (inside) => [
        '--snapshot-blob',
        join(inside, BLOB_FILE),
        ...snapshotV8Flags(input.memoryMb),
        ...RESTORE_V8_FLAGS,
        '--',
        CHECK_ARGUMENT,
        ...(support.runAs ? [`--uid=${support.runAs.uid}`, `--gid=${support.runAs.gid}`] : []),
      ]);
      const checked = await runCommand(check, options.checkTimeoutMs ?? 30_000);
      checkMs = checked.ms;
      const said = lastReport(checked.fd3, '');
      if (checked.timedOut || checked.code !== 0 || said?.type !== 'check-ok') {
        const why = checked.timedOut ? 'timed out' : checked.signal ? `killed by ${checked.signal}` : `exit code ${checked.code}`;
        const detail = summarizeStderr(checked.stderr, 3);
        return fail('check-failed', `the snapshot was built but does not restore (${why})${detail ? `: ${detail}` : ''}`, summarizeStderr(checked.stderr, 6));
      }
    }
    keep = true;
    return { ok: true, blobPath, bytes: blobStat.size, bundleSha256, entryMs, buildMs, checkMs, report: message, cleanup };
  } finally {
    if (!keep) await cleanup().catch(() => undefined);
  }
}

function safeName(name: string): string {
  return name.replace(/[^A-Za-z0-9_.-]/g, '_').slice(0, 40);
}
