// The native helpers of the microVM backend (native/*.c), compiled with the host's C compiler on
// first use and cached by source hash:
//   vmtool                 page-cache work: REAP install, FaaSnap prefetch, mincore, eviction, holes
//   guest-ram-advice.so    preloaded into QEMU to replace its MADV_HUGEPAGE on guest RAM
//   guest-helper           static; runs inside the guest: sets its clock, reseeds its kernel RNG

import { execFile as execFileCb } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, rename } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

import { MicroVmError } from './errors.ts';

const execFile = promisify(execFileCb);
const NATIVE_DIR = fileURLToPath(new URL('./native/', import.meta.url));
const VMTOOL_SOURCE = join(NATIVE_DIR, 'vmtool.c');
const ADVICE_SOURCE = join(NATIVE_DIR, 'guest-ram-advice.c');
const GUEST_HELPER_SOURCE = join(NATIVE_DIR, 'guest-helper.c');

export interface NativeTools {
  vmtool: string;
  guestRamAdvice: string;
  guestHelper: string;
}

const inFlight = new Map<string, Promise<NativeTools>>();

async function compile(args: string[], what: string): Promise<void> {
  const cc = process.env.CC ?? 'cc';
  try {
    await execFile(cc, args);
  } catch (err) {
    const e = err as NodeJS.ErrnoException & { stderr?: string };
    if (e.code === 'ENOENT') throw new MicroVmError('ERR_VM_UNAVAILABLE', `no C compiler (${cc}) to build ${what}; install gcc (apt-get install gcc)`);
    throw new MicroVmError('ERR_VM_UNAVAILABLE', `building ${what} failed: ${(e.stderr ?? e.message).trim()}`);
  }
}

/** The compiled helpers under <cacheDir>/native/<hash>/, built if missing. */
export function ensureNativeTools(cacheDir: string): Promise<NativeTools> {
  let pending = inFlight.get(cacheDir);
  if (!pending) {
    pending = build(cacheDir).catch((err: unknown) => {
      inFlight.delete(cacheDir);
      throw err;
    });
    inFlight.set(cacheDir, pending);
  }
  return pending;
}

async function build(cacheDir: string): Promise<NativeTools> {
  const hash = createHash('sha256');
  for (const source of [VMTOOL_SOURCE, ADVICE_SOURCE, GUEST_HELPER_SOURCE]) hash.update(readFileSync(source));
  const dir = join(cacheDir, 'native', hash.digest('hex').slice(0, 16));
  const tools = { vmtool: join(dir, 'vmtool'), guestRamAdvice: join(dir, 'guest-ram-advice.so'), guestHelper: join(dir, 'guest-helper') };
  if (Object.values(tools).every((t) => existsSync(t))) return tools;
  await mkdir(dir, { recursive: true });
  const tag = `${process.pid}.tmp`;
  await compile(['-O2', '-Wall', '-o', `${tools.vmtool}.${tag}`, VMTOOL_SOURCE, '-lpthread'], 'vmtool');
  await compile(['-O2', '-Wall', '-shared', '-fPIC', '-o', `${tools.guestRamAdvice}.${tag}`, ADVICE_SOURCE, '-ldl'], 'guest-ram-advice.so');
  // Static, so it runs in the guest without the host's shared libraries (needs libc.a: libc6-dev).
  await compile(['-O2', '-Wall', '-static', '-o', `${tools.guestHelper}.${tag}`, GUEST_HELPER_SOURCE], 'guest-helper (static; needs libc6-dev)');
  for (const path of Object.values(tools)) await rename(`${path}.${tag}`, path);
  return tools;
}

/** Runs one vmtool command and parses the JSON object it prints. */
export async function vmtool<T = Record<string, number>>(tools: NativeTools, args: string[]): Promise<T> {
  try {
    const { stdout } = await execFile(tools.vmtool, args, { maxBuffer: 1024 * 1024 });
    return JSON.parse(stdout) as T;
  } catch (err) {
    const e = err as { stderr?: string; message: string };
    throw new MicroVmError('ERR_VM_START', `vmtool ${args[0]} failed: ${(e.stderr ?? e.message).trim()}`);
  }
}

/** Evicts the files from the page cache (so the next read of them comes from the disk). */
export async function dropFromPageCache(tools: NativeTools, files: string[]): Promise<void> {
  if (files.length > 0) await vmtool(tools, ['drop', ...files]);
}

/** Bytes of `file` now in the page cache. */
export async function residentBytes(tools: NativeTools, file: string): Promise<number> {
  return (await vmtool<{ residentBytes: number }>(tools, ['resident', file])).residentBytes;
}
