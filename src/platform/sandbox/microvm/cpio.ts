// A writer for the "newc" cpio format, the one the Linux kernel unpacks as an initramfs. Several
// archives may be concatenated into one initrd: the kernel unpacks them in order, later files
// replacing earlier ones, which is how a function's code is layered over the shared guest image.

import { closeSync, openSync, readFileSync, statSync, writeSync } from 'node:fs';

export interface CpioEntry {
  /** Path inside the archive, without a leading slash (e.g. `bin/busybox`). */
  name: string;
  kind: 'file' | 'dir' | 'symlink';
  /** Permission bits (e.g. 0o755). */
  mode: number;
  /** File contents, or a host file to copy them from. */
  data?: Uint8Array | string;
  fromHost?: string;
  /** Symlink target. */
  target?: string;
}

const TYPE_BITS = { file: 0o100000, dir: 0o040000, symlink: 0o120000 } as const;

function hex8(n: number): string {
  return n.toString(16).padStart(8, '0');
}

function pad4(n: number): number {
  return (4 - (n % 4)) % 4;
}

/** Writes the entries, then the trailer, to `path`. Returns the archive's size in bytes. */
export function writeCpio(path: string, entries: readonly CpioEntry[]): number {
  const fd = openSync(path, 'w', 0o644);
  let offset = 0;
  const put = (buf: Uint8Array): void => {
    writeSync(fd, buf);
    offset += buf.length;
  };
  const zeros = new Uint8Array(4);
  const header = (ino: number, mode: number, size: number, name: string): void => {
    const nameBytes = Buffer.from(`${name}\0`);
    const fields = [ino, mode, 0, 0, 1, 0, size, 0, 0, 0, 0, nameBytes.length, 0];
    put(Buffer.from(`070701${fields.map(hex8).join('')}`, 'ascii'));
    put(nameBytes);
    put(zeros.subarray(0, pad4(offset)));
  };
  try {
    let ino = 1;
    for (const entry of entries) {
      if (entry.name.startsWith('/') || entry.name === '') throw new TypeError(`cpio entry names are relative, got ${JSON.stringify(entry.name)}`);
      let data: Uint8Array;
      if (entry.kind === 'symlink') data = Buffer.from(entry.target ?? '');
      else if (entry.kind === 'dir') data = new Uint8Array(0);
      else if (entry.fromHost !== undefined) data = readFileSync(entry.fromHost);
      else data = typeof entry.data === 'string' ? Buffer.from(entry.data) : (entry.data ?? new Uint8Array(0));
      header(ino++, TYPE_BITS[entry.kind] | (entry.mode & 0o7777), data.length, entry.name);
      put(data);
      put(zeros.subarray(0, pad4(offset)));
    }
    header(0, 0, 0, 'TRAILER!!!');
  } finally {
    closeSync(fd);
  }
  return offset;
}

/** A host file as an entry, keeping its permission bits. */
export function hostFile(name: string, hostPath: string): CpioEntry {
  return { name, kind: 'file', mode: statSync(hostPath).mode & 0o7777, fromHost: hostPath };
}
