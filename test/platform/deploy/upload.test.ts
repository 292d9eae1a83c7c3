import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { gzipSync } from 'node:zlib';
import { InvalidPackageError, ThawError } from '../../../src/core/errors.ts';
import { deployFromUpload, materializeUpload, readFilesBody, readTarball } from '../../../src/platform/deploy/index.ts';
import { EXAMPLES, invokeBundle, tempDir, tempStore } from './helpers.ts';

/** A minimal tar writer for the tests: ustar headers, optional pax or GNU long names, any type flag. */
interface TarEntry {
  name: string;
  data?: string | Buffer;
  type?: string;
  linkname?: string;
  longName?: 'pax' | 'gnu';
}

function header(name: string, size: number, type: string, linkname = '', prefix = ''): Buffer {
  const h = Buffer.alloc(512);
  h.write(name, 0, 100, 'utf8');
  h.write('0000644\0', 100);
  h.write('0000000\0', 108);
  h.write('0000000\0', 116);
  h.write(size.toString(8).padStart(11, '0') + '\0', 124);
  h.write('00000000000\0', 136);
  h.write('        ', 148);
  h.write(type, 156);
  h.write(linkname, 157, 100);
  h.write('ustar\0', 257);
  h.write('00', 263);
  h.write(prefix, 345, 155);
  let sum = 0;
  for (const b of h) sum += b;
  h.write(sum.toString(8).padStart(6, '0') + '\0 ', 148);
  return h;
}

function pad(data: Buffer): Buffer {
  return Buffer.concat([data, Buffer.alloc((512 - (data.length % 512)) % 512)]);
}

function tar(entries: TarEntry[]): Buffer {
  const parts: Buffer[] = [];
  for (const e of entries) {
    const data = Buffer.from(e.data ?? '');
    let name = e.name;
    if (e.longName === 'pax') {
      const rec = (k: string, v: string) => {
        const body = ` ${k}=${v}\n`;
        let len = body.length + 1;
        while (String(len).length + body.length !== len) len = String(len).length + body.length;
        return `${len}${body}`;
      };
      const pax = Buffer.from(rec('path', e.name));
      parts.push(header('PaxHeader/x', pax.length, 'x'), pad(pax));
      name = e.name.slice(0, 99);
    } else if (e.longName === 'gnu') {
      const long = Buffer.from(e.name + '\0');
      parts.push(header('././@LongLink', long.length, 'L'), pad(long));
      name = e.name.slice(0, 99);
    }
    parts.push(header(name, data.length, e.type ?? '0', e.linkname), pad(data));
  }
  parts.push(Buffer.alloc(1024));
  return Buffer.concat(parts);
}

const HELLO_PKG = readFileSync(join(EXAMPLES, 'hello/package.json'), 'utf8');
const HELLO_JS = readFileSync(join(EXAMPLES, 'hello/index.js'), 'utf8');
const isUpload = (re: RegExp, code = 'ERR_INVALID_PACKAGE') => (e: unknown) => e instanceof ThawError && e.code === code && re.test(e.message);

describe('readTarball', () => {
  it('reads gzipped and plain tarballs, strips a single top folder, handles pax and GNU long names', () => {
    const long = `lib/${'deep/'.repeat(30)}file.js`;
    const archive = tar([
      { name: 'package/', type: '5' },
      { name: 'package/package.json', data: HELLO_PKG },
      { name: 'package/index.js', data: HELLO_JS },
      { name: `package/${long}`, data: 'pax', longName: 'pax' },
      { name: `package/gnu/${'x'.repeat(120)}.txt`, data: 'gnu', longName: 'gnu' },
    ]);
    for (const input of [archive, gzipSync(archive)]) {
      const files = readTarball(input);
      assert.deepEqual(files.map((f) => f.path), ['package.json', 'index.js', long, `gnu/${'x'.repeat(120)}.txt`]);
      assert.equal(files[1]!.data.toString(), HELLO_JS);
      assert.equal(files[2]!.data.toString(), 'pax');
    }
  });

  it('reads what GNU tar makes', (t) => {
    const dir = tempDir();
    mkdirSync(join(dir, 'fn/src'), { recursive: true });
    writeFileSync(join(dir, 'fn/package.json'), HELLO_PKG);
    writeFileSync(join(dir, 'fn/src', 'a'.repeat(150) + '.js'), 'long');
    let archive: Buffer;
    try {
      archive = execFileSync('tar', ['-czf', '-', '-C', dir, 'fn']);
    } catch {
      t.skip('no tar command');
      return;
    }
    assert.deepEqual(readTarball(archive).map((f) => f.path).sort(), ['package.json', `src/${'a'.repeat(150)}.js`]);
  });

  it('refuses links, paths that escape, corrupt headers and oversized archives', () => {
    assert.throws(() => readTarball(tar([{ name: 'evil', type: '2', linkname: '/etc/passwd' }])), isUpload(/evil: links are not supported/));
    assert.throws(() => readTarball(tar([{ name: 'a/../../etc/x', data: 'x' }])), isUpload(/must be relative and stay inside the package/));
    assert.throws(() => readTarball(tar([{ name: '/etc/x', data: 'x' }])), isUpload(/must be relative/));
    const corrupt = tar([{ name: 'package.json', data: '{}' }]);
    corrupt[0] = 'X'.charCodeAt(0);
    assert.throws(() => readTarball(corrupt), isUpload(/bad header checksum at byte 0/));
    assert.throws(() => readTarball(tar([{ name: 'package.json', data: '{}' }]).subarray(0, 512)), isUpload(/truncated/));
    assert.throws(() => readTarball(Buffer.from([0x1f, 0x8b, 1, 2, 3])), isUpload(/not a valid gzip file/));
    const big = gzipSync(tar([{ name: 'big.txt', data: Buffer.alloc(100_000) }]));
    assert.throws(() => readTarball(big, { maxBytes: 10_000 }), isUpload(/more than the 9\.8 KiB limit/, 'ERR_PAYLOAD_TOO_LARGE'));
    assert.throws(() => readTarball(tar([{ name: 'big.txt', data: Buffer.alloc(20_000) }]), { maxBytes: 10_000 }), isUpload(/more than the 9\.8 KiB limit/, 'ERR_PAYLOAD_TOO_LARGE'));
    assert.throws(() => readTarball(tar([{ name: 'a' }, { name: 'b' }, { name: 'c' }]), { maxEntries: 2 }), isUpload(/more than 2 files/, 'ERR_PAYLOAD_TOO_LARGE'));
  });
});

describe('readFilesBody', () => {
  it('accepts text and base64 contents and checks paths and size', () => {
    const files = readFilesBody({ files: { 'package.json': '{}', './lib/a.bin': { base64: Buffer.from([1, 2]).toString('base64') } } });
    assert.deepEqual(files.map((f) => [f.path, [...f.data]]), [['package.json', [...Buffer.from('{}')]], ['lib/a.bin', [1, 2]]]);
    assert.throws(() => readFilesBody({ nope: 1 }), isUpload(/expected a JSON object \{"files"/));
    assert.throws(() => readFilesBody({ files: { '../x': 'y' } }), isUpload(/stay inside the package/));
    assert.throws(() => readFilesBody({ files: { 'a.js': 3 } }), isUpload(/contents must be a string or \{"base64"/));
    assert.throws(() => readFilesBody({ files: { 'a.js': 'x'.repeat(100) } }, { maxBytes: 10 }), isUpload(/more than the 10 B limit/, 'ERR_PAYLOAD_TOO_LARGE'));
  });

  it('materializes into a temporary folder that cleanup() removes', () => {
    const { dir, cleanup } = materializeUpload({ files: { 'package.json': HELLO_PKG, 'src/x.js': 'x' } });
    assert.equal(readFileSync(join(dir, 'src/x.js'), 'utf8'), 'x');
    cleanup();
    assert.throws(() => readFileSync(join(dir, 'package.json')));
    assert.throws(() => materializeUpload({ files: {} }), (e: unknown) => e instanceof InvalidPackageError && /contains no files/.test(e.message));
  });
});

describe('deployFromUpload', () => {
  it('deploys a {files} body and a tarball', async () => {
    const store = tempStore();
    const fromFiles = await deployFromUpload(store, { files: { 'package.json': HELLO_PKG, 'index.js': HELLO_JS } }, { name: 'uploaded' });
    assert.equal(fromFiles.version.version, 1);
    assert.equal((invokeBundle(fromFiles.version.bundlePath, { name: 'Files' }) as { message: string }).message, 'Hello, Files!');
    const tarball = gzipSync(tar([{ name: 'package/package.json', data: HELLO_PKG }, { name: 'package/index.js', data: HELLO_JS }]));
    const fromTar = await deployFromUpload(store, { tarball }, { name: 'uploaded' });
    assert.equal(fromTar.version.version, 2);
    assert.equal(fromTar.version.bundleSha256, fromFiles.version.bundleSha256);
    await assert.rejects(deployFromUpload(store, { files: { 'package.json': '{"name": "x",}', 'index.js': HELLO_JS } }, { name: 'uploaded' }), /package\.json:1:14: invalid JSON/);
    assert.equal(store.functions.latest('uploaded')?.version, 2);
  });
});
