// Snapshot sandboxes (added): the process and lean-container sandboxes, started from a V8 startup
// snapshot instead of the cold agent (their launcher's RuntimeEntry is { kind: 'snapshot' }). Same
// spawn, cgroups, user, namespaces and mounts as a cold instance of that backend; only node's
// command line changes:
//
//   node --snapshot-blob <blob> --max-old-space-size=N -- --log-marker=hex [--uid=N --gid=N]
//
// In a container the blob is bind-mounted read-only at /snapshot/function.blob (node reads it as
// root before the snapshot agent drops to the function's user). The function's code folder stays
// mounted at /code, as for a cold instance (run-time requires, files beside the bundle).
//
// It also says how a snapshot is BUILT in that backend's isolation: the builder runs the function's
// init() and beforeSnapshot(), the function's code, so it gets the same container (namespaces,
// read-only system, /code, private /tmp, no network unless allowed, the function's user); its one
// writable mount is the build folder, at /snapshot-build.

import { join } from 'node:path';

import { BubblewrapLauncher, SNAPSHOT_BLOB_INSIDE, seccompOnFd4 } from '../../sandbox/bubblewrap.ts';
import { LeanContainerBackend } from '../../sandbox/lean-container.ts';
import { SandboxError } from '../../sandbox/errors.ts';
import { nodeV8Flags, RESTORE_V8_FLAGS, type RunAs, type SpawnCommand } from '../../sandbox/launcher.ts';
import { ProcessBackend } from '../../sandbox/process.ts';
import type { Sandbox, SandboxBackend, SandboxSpec } from '../../sandbox/types.ts';

export { RESTORE_V8_FLAGS, SNAPSHOT_BLOB_INSIDE };
export const SNAPSHOT_BUILD_DIR_INSIDE = '/snapshot-build';

/** What a restored instance is started with. */
export interface SnapshotLaunch {
  /** The blob on the host (verified by the caller just before). */
  blobPath: string;
}

/** V8 flags of both the build and every restore (a blob refuses to load under other V8 flags). */
export const snapshotV8Flags = nodeV8Flags;

/** One command of a snapshot build (the build itself, or the check restore), in the backend's isolation. */
export interface SnapshotBuildCommand extends SpawnCommand {
  /** The build folder as the command sees it. */
  dirInside: string;
}

/** What the snapshot work needs from a sandbox backend. */
export interface SnapshotSupport {
  readonly backend: 'process' | 'container';
  readonly nodePath: string;
  /** The user the function runs as (null: as thaw). */
  readonly runAs: RunAs | null;
  /** The bundle's path as the function sees it (its __filename). */
  bundlePathFor(codeDir: string): string;
  /** A command running `node <nodeArgs(dirInside)>` with the build folder writable, as the function would run. */
  buildCommand(spec: SandboxSpec, buildDir: string, nodeArgs: (dirInside: string) => string[]): SnapshotBuildCommand;
  /** A sandbox whose start() restores `launch.blobPath`. */
  create(spec: SandboxSpec, launch: SnapshotLaunch): Sandbox;
}

function withoutChdir(args: string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < args.length; i++) {
    if (args[i] === '--chdir') i++;
    else out.push(args[i]!);
  }
  return out;
}

/** The snapshot support of a process or lean-container backend; undefined for any other (e.g. a test fake). */
export function snapshotSupport(backend: SandboxBackend): SnapshotSupport | undefined {
  if (backend instanceof LeanContainerBackend) {
    const options = backend.resolvedOptions;
    return {
      backend: 'container',
      nodePath: options.nodePath,
      runAs: options.runAs,
      bundlePathFor: () => '/code/bundle.cjs',
      buildCommand(spec, buildDir, nodeArgs) {
        // The build has no network, even for a function that may use it: its namespace (netns.ts) is
        // made as an instance starts, and a snapshot cannot hold a connection anyway. (A build sharing
        // the host's network would let init() reach the host's loopback.)
        const probe = new BubblewrapLauncher({ ...spec, network: false }, options, { kind: 'agent' });
        const base = withoutChdir(probe.bwrapArgs());
        // The build folder replaces /code as the working directory (bwrap applies the last --chdir).
        const args = [...base, '--bind', buildDir, SNAPSHOT_BUILD_DIR_INSIDE, '--chdir', SNAPSHOT_BUILD_DIR_INSIDE];
        // The build runs the function's init(): under the same seccomp filter as its instances.
        const seccomp = seccompOnFd4(options.tmpRoot);
        return {
          file: options.bwrapPath,
          args: [...args, ...seccomp.args, '--', options.nodePath, ...nodeArgs(SNAPSHOT_BUILD_DIR_INSIDE)],
          extraFds: seccomp.extraFds,
          env: { PATH: '/usr/bin:/bin', HOME: '/tmp', TMPDIR: '/tmp', NODE_ENV: 'production', ...spec.env },
          cwd: buildDir,
          dirInside: SNAPSHOT_BUILD_DIR_INSIDE,
        };
      },
      create: (spec, launch) => backend.createWith(spec, { kind: 'snapshot', blobPath: launch.blobPath }),
    };
  }
  if (backend instanceof ProcessBackend) {
    const options = backend.resolvedOptions;
    return {
      backend: 'process',
      nodePath: options.nodePath,
      runAs: options.runAs,
      bundlePathFor: (codeDir) => join(codeDir, 'bundle.cjs'),
      buildCommand(spec, buildDir, nodeArgs) {
        return {
          file: options.nodePath,
          args: nodeArgs(buildDir),
          env: { PATH: '/usr/local/bin:/usr/bin:/bin', HOME: buildDir, TMPDIR: buildDir, NODE_ENV: 'production', ...spec.env },
          cwd: buildDir,
          dirInside: buildDir,
        };
      },
      create: (spec, launch) => backend.createWith(spec, { kind: 'snapshot', blobPath: launch.blobPath }),
    };
  }
  return undefined;
}

/** Like snapshotSupport(), but throws ERR_SANDBOX_UNSUPPORTED naming the backend. */
export function requireSnapshotSupport(backend: SandboxBackend): SnapshotSupport {
  const support = snapshotSupport(backend);
  if (!support) throw new SandboxError('ERR_SANDBOX_UNSUPPORTED', `the ${backend.name} sandbox backend cannot start instances from snapshots`);
  return support;
}
