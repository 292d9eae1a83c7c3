// Code views: a version's code as an unprivileged user can reach it by its host path.
//
// Without namespaces (the process backend) the agent reads the function's code by host path after
// it dropped to the user functions run as (nobody, when thaw runs as root). A bundle is read before
// the drop, so a data directory only root may traverse (0700) is fine for it. The installed layout
// is not: its bundle.cjs is a loader that require()s src/ and its node_modules after the drop, and
// the path through the data directory is closed to that user. For such a version the backend makes
// a view: bundle.cjs and src/ hard-linked (copied across file systems, or when a file is not
// world-readable) into <root>/<key>, a folder outside the data directory, made once per version
// and shared by its instances. Containers need none: they bind the code folder at /code.

import { createHash } from 'node:crypto';
import { chmod, copyFile, link, lstat, mkdir, open, readdir, readlink, rename, rm, stat, symlink } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';

import { isInstalledLoader } from '../deploy/layout.ts';
import type { RunAs } from './launcher.ts';

export class CodeViews {
  readonly #made = new Map<string, Promise<string>>();

  /** `root`: where views go (made 0711: traversable, not listable). */
  constructor(
    private readonly root: string,
    private readonly runAs: RunAs | null,
  ) {}

  /** The folder the agent should load `codeDir` from: itself when `runAs` reaches it, else a view. */
  async forCodeDir(codeDir: string): Promise<string> {
    if (this.runAs === null) return codeDir;
    const key = await viewKey(codeDir);
    let made = this.#made.get(key);
    if (!made) {
      made = this.#resolve(codeDir, key);
      this.#made.set(key, made);
      made.catch(() => this.#made.delete(key)); // a failure is tried again by the next start
    }
    return made;
  }

  async #resolve(codeDir: string, key: string): Promise<string> {
    const runAs = this.runAs!;
    if (await reachable(codeDir, runAs)) return codeDir;
    if (!(await readsPastBundle(codeDir))) return codeDir; // the agent reads bundle.cjs before it drops privileges
    const view = join(this.root, key);
    if (await exists(join(view, 'bundle.cjs'))) return view; // made by an earlier instance of this backend
    await mkdir(this.root, { recursive: true, mode: 0o711 });
    await chmod(this.root, 0o711);
    // Built under a temporary name and renamed: a view that exists is complete.
    const building = `${view}.${process.pid}.${Math.random().toString(16).slice(2, 8)}`;
    await mkdir(building, { mode: 0o755 });
    try {
      await linkEntry(join(codeDir, 'bundle.cjs'), join(building, 'bundle.cjs'));
      if (await exists(join(codeDir, 'src'))) await linkTree(join(codeDir, 'src'), join(building, 'src'));
      await rename(building, view).catch(async (err: NodeJS.ErrnoException) => {
        if (err.code !== 'ENOTEMPTY' && err.code !== 'EEXIST') throw err; // another thaw made it meanwhile
        await rm(building, { recursive: true, force: true });
      });
    } catch (err) {
      await rm(building, { recursive: true, force: true });
      throw err;
    }
    return view;
  }

  /** Removes the views this backend made (instances still running keep their open files). */
  async close(): Promise<void> {
    const made = [...this.#made.values()];
    this.#made.clear();
    for (const view of await Promise.allSettled(made)) {
      if (view.status === 'fulfilled' && dirname(view.value) === this.root) await rm(view.value, { recursive: true, force: true }).catch(() => undefined);
    }
  }
}

/** One view per code folder and content: a redeploy into the same folder gets a new one. */
async function viewKey(codeDir: string): Promise<string> {
  const dir = resolve(codeDir);
  const bundle = await stat(join(dir, 'bundle.cjs')).catch(() => undefined);
  return createHash('sha256')
    .update(`${dir}\0${bundle?.ino ?? ''}\0${bundle?.mtimeMs ?? ''}`)
    .digest('hex')
    .slice(0, 24);
}

/** Whether `user` may traverse every folder down to `dir` and list `dir` (no supplementary groups: the agent drops them). */
export async function reachable(dir: string, user: RunAs): Promise<boolean> {
  let path = resolve(dir);
  for (;;) {
    const s = await stat(path).catch(() => undefined);
    if (!s) return false;
    const bits = s.uid === user.uid ? (s.mode >> 6) & 7 : s.gid === user.gid ? (s.mode >> 3) & 7 : s.mode & 7;
    const needed = path === resolve(dir) ? 5 : 1; // r-x on the folder itself, --x on its parents
    if ((bits & needed) !== needed) return false;
    const parent = dirname(path);
    if (parent === path) return true;
    path = parent;
  }
}

/** Whether the agent reads more than bundle.cjs: the installed layout's loader requires src/. */
async function readsPastBundle(codeDir: string): Promise<boolean> {
  const file = await open(join(codeDir, 'bundle.cjs'), 'r').catch(() => undefined);
  if (!file) return false; // no bundle: the agent's own error says so
  try {
    const head = Buffer.alloc(64);
    const { bytesRead } = await file.read(head, 0, head.length, 0);
    return isInstalledLoader(head.subarray(0, bytesRead).toString('utf8'));
  } finally {
    await file.close();
  }
}

async function exists(path: string): Promise<boolean> {
  return (await lstat(path).catch(() => undefined)) !== undefined;
}

/** A copy of `from`'s tree at `to`: hard links for files, the same symlinks, folders 0755. */
export async function linkTree(from: string, to: string): Promise<void> {
  await mkdir(to, { mode: 0o755 });
  await chmod(to, 0o755);
  for (const entry of await readdir(from, { withFileTypes: true })) {
    const a = join(from, entry.name);
    const b = join(to, entry.name);
    if (entry.isSymbolicLink()) await symlink(await readlink(a), b);
    else if (entry.isDirectory()) await linkTree(a, b);
    else if (entry.isFile()) await linkEntry(a, b);
  }
}

/** A hard link of a world-readable file (same bytes, no copy); otherwise, or across file systems, a 0644 copy. */
export async function linkEntry(from: string, to: string): Promise<void> {
  const s = await stat(from);
  if ((s.mode & 0o004) !== 0) {
    const linked = await link(from, to).then(
      () => true,
      (err: NodeJS.ErrnoException) => {
        if (err.code !== 'EXDEV' && err.code !== 'EPERM') throw err;
        return false;
      },
    );
    if (linked) return;
  }
  await copyFile(from, to);
  await chmod(to, (s.mode & 0o111) !== 0 ? 0o755 : 0o644);
}
