// Packages uploaded over HTTP (the gateway's concern; these are its helpers): a gzipped tarball (as
// made by `npm pack` or `tar czf`), or a JSON body {files: {path: contents}} for small packages. Both
// are written into a fresh temporary folder that deployFunction() then reads like any other.
//
// The tar reader is minimal but strict: ustar/POSIX and GNU headers, pax and GNU long names, regular
// files and folders only (links are refused), checksums verified, every path kept inside the folder.
// If the archive's files all sit under one top folder (npm pack's `package/`), it is stripped.

import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { InvalidPackageError, ThawError } from '../../core/errors.ts';
import type { Store } from '../store/store.ts';
import { deployFunction, type DeployOptions, type DeployResult } from './deploy.ts';
import type { DeploySettings } from '../function.ts';
import { formatBytes } from './source.ts';

export interface UploadLimits {
  /** Total bytes of all files once unpacked (default 50 MiB). */
  maxBytes: number;
  /** Number of files and folders (default 10,000). */
  maxEntries: number;
}

export const DEFAULT_UPLOAD_LIMITS: UploadLimits = { maxBytes: 50 * 1024 * 1024, maxEntries: 10_000 };

/** `contents` is UTF-8 text, or `{ base64 }` for binary files. */
export interface FilesBody {
  files: Record<string, string | { base64: string }>;
}

export type Upload = { tarball: Uint8Array } | FilesBody;

export interface UnpackedFile {
  path: string;
  data: Buffer;
}

const WHERE = 'upload';

/** Reads a .tar.gz (or plain .tar) into a list of files with safe relative paths. */
export function readTarball(archive: Uint8Array, limits: Partial<UploadLimits> = {}): UnpackedFile[] {
  const { maxBytes, maxEntries } = { ...DEFAULT_UPLOAD_LIMITS, ...limits };
  let tar: Buffer;
  const input = Buffer.from(archive.buffer, archive.byteOffset, archive.byteLength);
  if (input[0] === 0x1f && input[1] === 0x8b) {
    try {
      // The headers (512 bytes a file) come on top of the contents; bound the gunzip by both.
      tar = gunzipSync(input, { maxOutputLength: maxBytes + (maxEntries + 2) * 1024 });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE') {
        throw new ThawError('ERR_PAYLOAD_TOO_LARGE', `${WHERE}: the archive unpacks to more than the ${formatBytes(maxBytes)} limit`);
      }
      throw new InvalidPackageError(WHERE, `not a valid gzip file (${(err as Error).message})`);
    }
  } else {
    tar = input;
  }

  const files: UnpackedFile[] = [];
  let total = 0;
  let entries = 0;
  let longName: string | undefined;
  let paxPath: string | undefined;
  let offset = 0;
  while (offset + 512 <= tar.length) {
    const header = tar.subarray(offset, offset + 512);
    if (header.every((b) => b === 0)) break; // end of archive
    if (!checksumOk(header)) throw new InvalidPackageError(WHERE, `not a tar archive (bad header checksum at byte ${offset})`);
    const type = String.fromCharCode(header[156]!);
    const size = readNumber(header.subarray(124, 136));
    const dataStart = offset + 512;
    if (dataStart + size > tar.length) throw new InvalidPackageError(WHERE, 'the tar archive is truncated');
    const data = tar.subarray(dataStart, dataStart + size);
    offset = dataStart + Math.ceil(size / 512) * 512;

    if (type === 'L') {
      longName = cString(data);
      continue;
    }
    if (type === 'x') {
      paxPath = parsePax(data).path ?? paxPath;
      continue;
    }
    if (type === 'g' || type === 'K') continue; // global pax header, GNU long link name
    let name = paxPath ?? longName ?? ustarName(header);
    longName = paxPath = undefined;
    if (++entries > maxEntries) throw new ThawError('ERR_PAYLOAD_TOO_LARGE', `${WHERE}: more than ${maxEntries} files`);
    if (type === '5') continue; // folders are made as files need them
    if (type === '1' || type === '2') throw new InvalidPackageError(WHERE, `${name}: links are not supported in uploaded packages`);
    if (type !== '0' && type !== '\0' && type !== '7') continue; // devices, fifos: not source
    name = safePath(name);
    total += size;
    if (total > maxBytes) throw new ThawError('ERR_PAYLOAD_TOO_LARGE', `${WHERE}: the archive unpacks to more than the ${formatBytes(maxBytes)} limit`);
    files.push({ path: name, data: Buffer.from(data) });
  }
  return stripTopFolder(files);
}

/** Checks a {files} body and turns it into a list of files. */
export function readFilesBody(body: unknown, limits: Partial<UploadLimits> = {}): UnpackedFile[] {
  const { maxBytes, maxEntries } = { ...DEFAULT_UPLOAD_LIMITS, ...limits };
  if (typeof body !== 'object' || body === null || typeof (body as FilesBody).files !== 'object' || (body as FilesBody).files === null || Array.isArray((body as FilesBody).files)) {
    throw new InvalidPackageError(WHERE, 'expected a JSON object {"files": {"path": "contents", ...}}');
  }
  const entries = Object.entries((body as FilesBody).files);
  if (entries.length > maxEntries) throw new ThawError('ERR_PAYLOAD_TOO_LARGE', `${WHERE}: more than ${maxEntries} files`);
  let total = 0;
  return entries.map(([path, contents]) => {
    let data: Buffer;
    if (typeof contents === 'string') data = Buffer.from(contents, 'utf8');
    else if (typeof contents === 'object' && contents !== null && typeof contents.base64 === 'string') data = Buffer.from(contents.base64, 'base64');
    else throw new InvalidPackageError(WHERE, `files[${JSON.stringify(path)}]: contents must be a string or {"base64": "..."}`);
    total += data.length;
    if (total > maxBytes) throw new ThawError('ERR_PAYLOAD_TOO_LARGE', `${WHERE}: the files add up to more than the ${formatBytes(maxBytes)} limit`);
    return { path: safePath(path), data };
  });
}

/** Writes files into `dest` (which must exist). A file where another needs a folder (`a` and `a/b`) is the package's fault. */
export function writeFiles(files: readonly UnpackedFile[], dest: string): void {
  for (const f of files) {
    const to = join(dest, ...f.path.split('/'));
    try {
      mkdirSync(dirname(to), { recursive: true });
      writeFileSync(to, f.data);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code === 'EEXIST' || code === 'ENOTDIR' || code === 'EISDIR') throw new InvalidPackageError(WHERE, `${JSON.stringify(f.path)}: a file and a folder of the same name`);
      throw error;
    }
  }
}

/** Unpacks an upload into a new temporary folder; call cleanup() when done with it. */
export function materializeUpload(upload: Upload, limits: Partial<UploadLimits> = {}): { dir: string; cleanup: () => void } {
  const files = 'tarball' in upload ? readTarball(upload.tarball, limits) : readFilesBody(upload, limits);
  if (files.length === 0) throw new InvalidPackageError(WHERE, 'contains no files');
  const dir = mkdtempSync(join(tmpdir(), 'thaw-upload-'));
  try {
    writeFiles(files, dir);
  } catch (err) {
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/** Deploys an uploaded package: unpack to a temporary folder, deploy it, remove the folder. */
export async function deployFromUpload(
  store: Store,
  upload: Upload,
  settings: DeploySettings = {},
  options: DeployOptions & { uploadLimits?: Partial<UploadLimits> } = {},
): Promise<DeployResult> {
  const { dir, cleanup } = materializeUpload(upload, options.uploadLimits);
  try {
    return await deployFunction(store, dir, settings, options);
  } finally {
    cleanup();
  }
}

/** A relative path with '/' separators that cannot leave the folder it is written into. */
function safePath(raw: string): string {
  const path = raw.replace(/\\/g, '/').replace(/^\.\//, '');
  const parts = path.split('/').filter((p) => p !== '' && p !== '.');
  if (path.startsWith('/') || /^[a-zA-Z]:/.test(path) || parts.includes('..') || parts.length === 0 || path.includes('\0')) {
    throw new InvalidPackageError(WHERE, `${JSON.stringify(raw)}: file paths must be relative and stay inside the package`);
  }
  // What Linux file systems take: 255 bytes a name, 4096 a path (less the upload folder's own).
  if (parts.some((p) => Buffer.byteLength(p) > 255) || Buffer.byteLength(path) > 3072) {
    throw new InvalidPackageError(WHERE, `${JSON.stringify(raw.slice(0, 80))}${raw.length > 80 ? '…' : ''}: a file name is at most 255 bytes, a path at most 3072`);
  }
  return parts.join('/');
}

function stripTopFolder(files: UnpackedFile[]): UnpackedFile[] {
  if (files.length === 0 || files.some((f) => f.path === 'package.json')) return files;
  const top = files[0]!.path.split('/')[0]!;
  if (!files.every((f) => f.path.startsWith(top + '/'))) return files;
  return files.map((f) => ({ path: f.path.slice(top.length + 1), data: f.data }));
}

function checksumOk(header: Buffer): boolean {
  const stored = readNumber(header.subarray(148, 156));
  let sum = 0;
  for (let i = 0; i < 512; i++) sum += i >= 148 && i < 156 ? 0x20 : header[i]!;
  return sum === stored;
}

/** A numeric header field: octal text, or GNU base-256 when the top bit is set. */
function readNumber(field: Buffer): number {
  if (field[0]! & 0x80) {
    let n = field[0]! & 0x7f;
    for (let i = 1; i < field.length; i++) n = n * 256 + field[i]!;
    return n;
  }
  const text = cString(field).trim();
  return text === '' ? 0 : parseInt(text, 8);
}

function cString(buf: Buffer): string {
  const end = buf.indexOf(0);
  return buf.subarray(0, end === -1 ? buf.length : end).toString('utf8');
}

function ustarName(header: Buffer): string {
  const name = cString(header.subarray(0, 100));
  const magic = header.subarray(257, 262).toString('latin1');
  const prefix = magic === 'ustar' ? cString(header.subarray(345, 500)) : '';
  return prefix ? `${prefix}/${name}` : name;
}

function parsePax(data: Buffer): Record<string, string> {
  const out: Record<string, string> = {};
  let i = 0;
  while (i < data.length) {
    const space = data.indexOf(0x20, i);
    if (space === -1) break;
    const len = parseInt(data.subarray(i, space).toString('latin1'), 10);
    if (!(len > 0)) break;
    const record = data.subarray(space + 1, i + len - 1).toString('utf8'); // drop the trailing \n
    const eq = record.indexOf('=');
    if (eq > 0) out[record.slice(0, eq)] = record.slice(eq + 1);
    i += len;
  }
  return out;
}
