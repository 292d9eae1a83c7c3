// A function version's folder as one archive, so it can travel through the cluster's object store:
// an installed-layout version (deploy/layout.ts) runs from its src/ and node_modules, not from
// bundle.cjs alone. GNU tar (Debian's essential `tar`) writes it, with names sorted and times,
// owners and the folder's own path left out, so the same tree is the same bytes (and the same
// SHA-256 address) whichever node packs it; symbolic links (npm's `file:` dependencies, .bin) stay
// links. What is fetched is verified by its SHA-256 before it is unpacked (ObjectStoreBlobStore).

import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync } from 'node:fs';
import { join } from 'node:path';

/** Packs `dir` into a new file under `workDir`; returns its path (the caller removes it). */
export async function packTree(dir: string, workDir: string): Promise<string> {
  mkdirSync(workDir, { recursive: true });
  const archive = join(mkdtempSync(join(workDir, 'tree-')), 'tree.tar');
  await tar(['--create', '--file', archive, '--sort=name', '--mtime=@0', '--owner=0', '--group=0', '--numeric-owner', '--directory', dir, '.'], `packing ${dir}`);
  return archive;
}

/** Unpacks an archive packTree made into `dir` (which exists), as files of this process's user. */
export async function unpackTree(archive: string, dir: string): Promise<void> {
  await tar(['--extract', '--file', archive, '--no-same-owner', '--directory', dir], `unpacking into ${dir}`);
}

function tar(args: string[], what: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn('tar', args, { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-2000)));
    child.once('error', (error) => reject(new Error(`${what}: cannot run tar (${error.message})`)));
    child.once('exit', (code) => (code === 0 ? resolve() : reject(new Error(`${what}: tar exited ${code}: ${stderr.trim()}`))));
  });
}
