// The guest image of a thaw microVM, built once per machine and cached:
//
//   vmlinuz     Debian's cloud kernel (linux-image-cloud-amd64), unpacked from its .deb with
//               `apt-get download` + `dpkg-deb -x`, never installed on the host
//   base.cpio   an uncompressed initramfs: busybox (busybox-static), the host's own node binary with
//               the libraries `ldd` lists, the virtio modules it needs (dependencies read from each
//               module's .modinfo), thaw's runtime agent, and /init (below)
//
// A function's code goes into a second, small archive (code/bundle.cjs and its environment),
// concatenated after the base one into the initrd its VMs boot with: the kernel unpacks both.
//
// Uncompressed, because decompressing ~100 MB under QEMU's software emulation (TCG) costs seconds.

import { execFile as execFileCb } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream, existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { mkdir, readdir, readFile, readlink, realpath, rename, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { promisify } from 'node:util';

import { ensureAgentBundle } from '../agent-bundle.ts';
import { type CpioEntry, hostFile, writeCpio } from './cpio.ts';
import { MicroVmError } from './errors.ts';
import { isInstalledLoader } from '../../deploy/layout.ts';

const execFile = promisify(execFileCb);

/** Kernel modules the guest loads, in an order that satisfies their dependencies (checked at build). */
export const GUEST_MODULES = ['virtio_ring', 'virtio', 'virtio_mmio', 'virtio_console', 'virtio-rng'] as const;
const MODULE_PATHS: Record<(typeof GUEST_MODULES)[number], string> = {
  virtio_ring: 'drivers/virtio/virtio_ring.ko',
  virtio: 'drivers/virtio/virtio.ko',
  virtio_mmio: 'drivers/virtio/virtio_mmio.ko',
  virtio_console: 'drivers/char/virtio_console.ko',
  'virtio-rng': 'drivers/char/hw_random/virtio-rng.ko',
};

/** The guest's virtio-serial ports, by name: the agent protocol, the function's stdout and stderr. */
export const GUEST_PORTS = { agent: 'thaw.agent', stdout: 'thaw.stdout', stderr: 'thaw.stderr' } as const;

/**
 * /init of the guest. Per instance, the kernel command line carries thaw.heap (MB for V8's old
 * space) and thaw.marker (the log-marker nonce). The node process's exit status is printed on the
 * console (`thaw-exit: N`), which the host reads, and the VM then resets (QEMU runs -no-reboot).
 */
export const GUEST_INIT = `#!/bin/busybox sh
# thaw microVM init: mount the basics, load the virtio drivers, run the runtime agent on the ports.
/bin/busybox --install -s /bin
mount -t devtmpfs dev /dev
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t tmpfs -o size=64m,mode=1777 tmp /tmp
for m in ${GUEST_MODULES.join(' ')}; do
  insmod /lib/modules/thaw/$m.ko || echo "thaw-init: could not load $m" > /dev/console
done
# The ports by name (their vportNpM numbers depend on the order of the virtio devices). Wait for
# each one's device node, then until the driver opens it (the node comes first); test with -c
# first: a redirection to a node not there yet would create a plain file in its place.
port() {
  for d in /sys/class/virtio-ports/*; do
    [ "$(cat "$d/name" 2>/dev/null)" = "$1" ] && echo "/dev/\${d##*/}" && return
  done
}
for name in ${GUEST_PORTS.agent} ${GUEST_PORTS.stdout} ${GUEST_PORTS.stderr}; do
  until dev=$(port $name) && [ -c "$dev" ] && ( : <> "$dev" ) 2>/dev/null; do sleep 0.01; done
done
agent=$(port ${GUEST_PORTS.agent}); out=$(port ${GUEST_PORTS.stdout}); err=$(port ${GUEST_PORTS.stderr})
echo "thaw-init: ports $agent $out $err; starting the agent" > /dev/console
heap=128
marker=
for arg in $(cat /proc/cmdline); do
  case "$arg" in
    thaw.heap=*) heap="\${arg#thaw.heap=}" ;;
    thaw.marker=*) marker="\${arg#thaw.marker=}" ;;
  esac
done
[ -f /thaw/env.sh ] && . /thaw/env.sh
cd /code
HOME=/tmp TMPDIR=/tmp PATH=/usr/local/bin:/usr/bin:/bin /usr/bin/node --max-old-space-size=$heap /thaw/agent.cjs \\
  --bundle=/code/bundle.cjs --log-marker=$marker --uid=65534 --gid=65534 \\
  3<>"$agent" 1>"$out" 2>"$err"
echo "thaw-exit: $?" > /dev/console
reboot -f
`;

export interface GuestImage {
  dir: string;
  kernel: string;
  /** The shared initramfs (a function's code archive is appended to it). */
  baseInitrd: string;
  kernelVersion: string;
  /** sha256 of everything the image was built from (names its folder). */
  key: string;
}

export interface GuestImageOptions {
  /** Where images, downloaded packages and initrds are cached. */
  cacheDir: string;
  /** thaw's data directory (the runtime agent bundle is built there). */
  dataDir: string;
  /** The static guest helper (clock, kernel RNG reseed), built by ensureNativeTools. */
  guestHelper: string;
  /** Debian package of the guest kernel; default linux-image-cloud-amd64 (a metapackage, resolved). */
  kernelPackage?: string;
  /** Called with a line of progress (downloads, unpacking). */
  log?: (line: string) => void;
}

const inFlight = new Map<string, Promise<GuestImage>>();

/** The guest image, built if missing (once per process per cache folder; concurrent callers share it). */
export function ensureGuestImage(options: GuestImageOptions): Promise<GuestImage> {
  let pending = inFlight.get(options.cacheDir);
  if (!pending) {
    pending = buildGuestImage(options).catch((err: unknown) => {
      inFlight.delete(options.cacheDir);
      throw err;
    });
    inFlight.set(options.cacheDir, pending);
  }
  return pending;
}

async function run(file: string, args: string[], cwd?: string): Promise<string> {
  try {
    const { stdout } = await execFile(file, args, { cwd, maxBuffer: 16 * 1024 * 1024 });
    return stdout;
  } catch (err) {
    const e = err as NodeJS.ErrnoException & { stderr?: string };
    if (e.code === 'ENOENT') throw new MicroVmError('ERR_VM_UNAVAILABLE', `${file} is not installed; the microVM guest image is built from Debian packages (apt-get, dpkg-deb)`);
    throw new MicroVmError('ERR_VM_IMAGE', `${file} ${args.join(' ')} failed: ${(e.stderr ?? e.message).trim().split('\n').slice(-3).join(' | ')}`);
  }
}

/** The concrete package a metapackage (linux-image-cloud-amd64) stands for, and its version. */
async function resolvePackage(name: string): Promise<{ name: string; version: string }> {
  let concrete = name;
  const depends = await run('apt-cache', ['depends', name]).catch(() => '');
  const dep = depends.split('\n').map((l) => /^\s*Depends:\s*(linux-image-\S+)/.exec(l)?.[1]).find(Boolean);
  if (dep) concrete = dep;
  const policy = await run('apt-cache', ['policy', concrete]);
  const version = /Candidate:\s*(\S+)/.exec(policy)?.[1];
  if (!version || version === '(none)') {
    throw new MicroVmError('ERR_VM_IMAGE', `Debian package ${concrete} is not known to apt here (run apt-get update); the guest kernel comes from it`);
  }
  return { name: concrete, version };
}

/**
 * Downloads a package's .deb (once) and unpacks it into <cacheDir>/pkg/<name>_<version>/. Several
 * processes may build the image at once (test files run in parallel): each downloads and unpacks
 * into folders of its own, and the first to finish renames its result into place.
 */
async function unpackPackage(cacheDir: string, pkg: { name: string; version: string }, log: (l: string) => void): Promise<string> {
  const root = join(cacheDir, 'pkg', `${pkg.name}_${pkg.version}`.replace(/[^A-Za-z0-9._+-]/g, '_'));
  if (existsSync(join(root, '.complete'))) return root;
  const mine = `${pkg.name}-${process.pid}-${Date.now()}`;
  const debDir = join(cacheDir, 'deb', mine);
  const tmp = `${root}.${mine}.tmp`;
  await mkdir(debDir, { recursive: true });
  try {
    log(`microvm image: downloading ${pkg.name} ${pkg.version}`);
    await run('apt-get', ['download', '-q', `${pkg.name}=${pkg.version}`], debDir);
    const deb = readdirSync(debDir).find((f) => f.startsWith(`${pkg.name}_`) && f.endsWith('.deb'));
    if (!deb) throw new MicroVmError('ERR_VM_IMAGE', `apt-get download ${pkg.name} left no .deb in ${debDir}`);
    await mkdir(tmp, { recursive: true });
    await run('dpkg-deb', ['-x', join(debDir, deb), tmp]);
    await writeFile(join(tmp, '.complete'), '');
    if (!existsSync(join(root, '.complete'))) {
      await rm(root, { recursive: true, force: true });
      // Losing a race to another process's rename leaves its (identical) folder in place.
      await rename(tmp, root).catch((err: unknown) => {
        if (!existsSync(join(root, '.complete'))) throw err;
      });
    }
    return root;
  } finally {
    await rm(debDir, { recursive: true, force: true });
    await rm(tmp, { recursive: true, force: true });
  }
}

/** Dependencies a kernel module declares in its .modinfo section (`depends=a,b`). */
export function moduleDepends(ko: Uint8Array): string[] {
  const text = Buffer.from(ko).toString('latin1');
  const m = /\0depends=([^\0]*)\0/.exec(text) ?? /^depends=([^\0]*)\0/.exec(text);
  return m && m[1] ? m[1].split(',').filter(Boolean) : [];
}

/** The libraries the dynamic loader maps for `binary` (absolute paths), as ldd lists them. */
async function sharedLibraries(binary: string): Promise<string[]> {
  const out = await run('ldd', [binary]);
  return [...new Set(out.split('\n').map((l) => /(\/\S+)\s+\(0x/.exec(l)?.[1]).filter((p): p is string => p !== undefined))];
}

function sha256File(path: string): string {
  return createHash('sha256').update(readFileSync(path)).digest('hex');
}

async function buildGuestImage(options: GuestImageOptions): Promise<GuestImage> {
  const log = options.log ?? (() => undefined);
  const cacheDir = options.cacheDir;
  await mkdir(cacheDir, { recursive: true });
  const [kernelPkg, busyboxPkg, agent] = await Promise.all([
    resolvePackage(options.kernelPackage ?? 'linux-image-cloud-amd64'),
    resolvePackage('busybox-static'),
    ensureAgentBundle(options.dataDir),
  ]);
  const nodePath = process.execPath;
  const nodeStat = statSync(nodePath);
  const key = createHash('sha256')
    .update(JSON.stringify([kernelPkg, busyboxPkg, agent.hash, nodePath, nodeStat.size, nodeStat.mtimeMs, GUEST_INIT, GUEST_MODULES, sha256File(options.guestHelper)]))
    .digest('hex')
    .slice(0, 16);
  const dir = join(cacheDir, 'image', key);
  const kernelVersion = kernelPkg.name.replace(/^linux-image-/, '');
  const image: GuestImage = { dir, kernel: join(dir, 'vmlinuz'), baseInitrd: join(dir, 'base.cpio'), kernelVersion, key };
  if (existsSync(join(dir, 'image.json'))) return image;

  const [kernelRoot, busyboxRoot] = await Promise.all([unpackPackage(cacheDir, kernelPkg, log), unpackPackage(cacheDir, busyboxPkg, log)]);
  log(`microvm image: building ${dir}`);
  const tmp = `${dir}.${process.pid}.tmp`;
  await rm(tmp, { recursive: true, force: true });
  await mkdir(tmp, { recursive: true });

  const vmlinuz = join(kernelRoot, 'boot', `vmlinuz-${kernelVersion}`);
  if (!existsSync(vmlinuz)) throw new MicroVmError('ERR_VM_IMAGE', `${kernelPkg.name} holds no ${vmlinuz}`);
  await pipeline(createReadStream(vmlinuz), createWriteStream(join(tmp, 'vmlinuz')));

  const entries: CpioEntry[] = [];
  const dirs = new Set<string>();
  /** Adds `path` and its parents as directories (once each). */
  const addDir = (path: string): void => {
    const parts = path.split('/');
    for (let i = 1; i <= parts.length; i++) {
      const d = parts.slice(0, i).join('/');
      if (!dirs.has(d)) {
        dirs.add(d);
        entries.push({ name: d, kind: 'dir', mode: 0o755 });
      }
    }
  };
  const add = (entry: CpioEntry): void => {
    const parent = entry.name.split('/').slice(0, -1).join('/');
    if (parent !== '') addDir(parent);
    entries.push(entry);
  };
  for (const d of ['dev', 'proc', 'sys', 'tmp', 'code', 'thaw', 'bin', 'usr/bin', 'usr/local/bin']) addDir(d);
  add({ name: 'init', kind: 'file', mode: 0o755, data: GUEST_INIT });
  add(hostFile('bin/busybox', join(busyboxRoot, 'bin', 'busybox')));
  add({ name: 'usr/bin/node', kind: 'file', mode: 0o755, fromHost: nodePath });
  for (const lib of await sharedLibraries(nodePath)) add({ name: lib.slice(1), kind: 'file', mode: 0o755, fromHost: lib });
  add({ name: 'thaw/agent.cjs', kind: 'file', mode: 0o644, fromHost: agent.path });
  add({ name: 'thaw/guest-helper', kind: 'file', mode: 0o755, fromHost: options.guestHelper });

  const moduleRoot = join(kernelRoot, 'lib', 'modules', kernelVersion, 'kernel');
  const loaded = new Set<string>();
  for (const name of GUEST_MODULES) {
    const path = join(moduleRoot, MODULE_PATHS[name]);
    if (!existsSync(path)) throw new MicroVmError('ERR_VM_IMAGE', `the guest kernel has no module ${MODULE_PATHS[name]}`);
    const ko = readFileSync(path);
    const missing = moduleDepends(ko).filter((d) => !loaded.has(d));
    if (missing.length > 0) throw new MicroVmError('ERR_VM_IMAGE', `module ${name} needs ${missing.join(', ')} loaded before it`);
    loaded.add(name.replace(/-/g, '_'));
    add({ name: `lib/modules/thaw/${name}.ko`, kind: 'file', mode: 0o644, data: ko });
  }
  writeCpio(join(tmp, 'base.cpio'), entries);
  await writeFile(
    join(tmp, 'image.json'),
    `${JSON.stringify({ kernel: kernelPkg, busybox: busyboxPkg, agent: agent.hash, node: nodePath, initrdSha256: sha256File(join(tmp, 'base.cpio')) }, null, 2)}\n`,
  );
  // Another process may have finished the same image meanwhile: keep the one in place.
  if (!existsSync(join(dir, 'image.json'))) {
    await rm(dir, { recursive: true, force: true });
    await rename(tmp, dir).catch((err: unknown) => {
      if (!existsSync(join(dir, 'image.json'))) throw err;
    });
  }
  await rm(tmp, { recursive: true, force: true });
  return image;
}

/** Single-quotes a value for the guest's sh. */
function shellQuote(value: string): string {
  return `'${value.replace(/'/g, `'\\''`)}'`;
}

/**
 * The initrd a function's VMs boot with: the base image followed by an archive holding the
 * function's bundle (code/bundle.cjs, and its source map if any) and its environment
 * (thaw/env.sh). Cached by content; returns its path.
 */
export async function functionInitrd(image: GuestImage, cacheDir: string, codeDir: string, env: Record<string, string>): Promise<string> {
  const files = ['bundle.cjs', 'bundle.cjs.map'].filter((f) => existsSync(join(codeDir, f)));
  if (!files.includes('bundle.cjs')) throw new MicroVmError('ERR_VM_CODE', `${codeDir} holds no bundle.cjs`);
  // The installed layout: bundle.cjs loads src/, so the whole tree (its node_modules too) goes in.
  const installed = isInstalledLoader(await readFile(join(codeDir, 'bundle.cjs'), 'utf8')) ? await treeEntries(codeDir, 'src') : [];
  const tree = [...installed, ...(await addonLibraries(codeDir, installed))];
  for (const name of Object.keys(env)) {
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) throw new MicroVmError('ERR_VM_CODE', `environment variable name ${JSON.stringify(name)} cannot be passed to a microVM`);
  }
  const envScript = Object.entries(env)
    .map(([k, v]) => `export ${k}=${shellQuote(v)}\n`)
    .join('');
  const hash = createHash('sha256').update(image.key).update(envScript);
  for (const f of files) hash.update(f).update(await readFile(join(codeDir, f)));
  // A deployed version never changes: names, sizes and times identify its tree without reading it all.
  for (const e of tree) {
    const st = e.fromHost ? await stat(e.fromHost) : undefined;
    hash.update(`${e.kind} ${e.name} ${e.mode} ${e.target ?? ''} ${st ? `${st.size} ${st.mtimeMs}` : ''}\n`);
  }
  const key = hash.digest('hex').slice(0, 24);
  const out = join(cacheDir, 'initrd', `${key}.cpio`);
  if (existsSync(out)) return out;
  await mkdir(join(cacheDir, 'initrd'), { recursive: true });
  const codeCpio = `${out}.${process.pid}.code`;
  writeCpio(codeCpio, [
    ...files.map((f): CpioEntry => ({ name: `code/${f}`, kind: 'file', mode: 0o644, fromHost: join(codeDir, f) })),
    ...tree,
    { name: 'thaw/env.sh', kind: 'file', mode: 0o644, data: envScript },
  ]);
  const tmp = `${out}.${process.pid}.tmp`;
  const w = createWriteStream(tmp);
  await pipeline(createReadStream(image.baseInitrd), w, { end: false });
  await pipeline(createReadStream(codeCpio), w);
  await rm(codeCpio, { force: true });
  await rename(tmp, out);
  return out;
}

/**
 * The host libraries the tree's native addons load that the base image does not hold (sharp's
 * libvips needs libresolv, which node does not), at their host paths, with their folders: `ldd` of
 * each `.node` file lists what the loader maps, the tree's own libraries (found through the addon's
 * `$ORIGIN` run path) excluded, since they travel with the tree.
 */
async function addonLibraries(codeDir: string, tree: CpioEntry[]): Promise<CpioEntry[]> {
  const addons = tree.filter((e) => e.kind === 'file' && e.fromHost !== undefined && e.name.endsWith('.node'));
  if (addons.length === 0) return [];
  const inBase = new Set(await sharedLibraries(process.execPath));
  const root = `${await realpath(codeDir)}/`;
  const libs = new Set<string>();
  for (const addon of addons) {
    let found: string[];
    try {
      found = await sharedLibraries(addon.fromHost!);
    } catch {
      continue; // not a loadable object here (another platform's build): it would fail on the host too
    }
    for (const lib of found) if (!inBase.has(lib) && !(await realpath(lib)).startsWith(root)) libs.add(lib);
  }
  const out: CpioEntry[] = [];
  const dirs = new Set<string>();
  for (const lib of [...libs].sort()) {
    const parts = lib.slice(1).split('/');
    for (let i = 1; i < parts.length; i++) {
      const d = parts.slice(0, i).join('/');
      if (!dirs.has(d)) out.push({ name: d, kind: 'dir', mode: 0o755 });
      dirs.add(d);
    }
    out.push({ name: lib.slice(1), kind: 'file', mode: 0o755, fromHost: lib });
  }
  return out;
}

/** code/<rel>/… of a host folder as archive entries: folders, files (their permission bits) and symlinks as they are. */
async function treeEntries(codeDir: string, rel: string): Promise<CpioEntry[]> {
  const out: CpioEntry[] = [{ name: `code/${rel}`, kind: 'dir', mode: 0o755 }];
  for (const entry of (await readdir(join(codeDir, rel), { withFileTypes: true })).sort((a, b) => a.name.localeCompare(b.name))) {
    const r = `${rel}/${entry.name}`;
    const host = join(codeDir, r);
    if (entry.isSymbolicLink()) out.push({ name: `code/${r}`, kind: 'symlink', mode: 0o777, target: await readlink(host) });
    else if (entry.isDirectory()) out.push(...(await treeEntries(codeDir, r)));
    else if (entry.isFile()) out.push({ name: `code/${r}`, kind: 'file', mode: ((await stat(host)).mode & 0o777) | 0o444, fromHost: host });
  }
  return out;
}
