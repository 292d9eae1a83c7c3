// Every error code with its HTTP status and CLI exit code, written out: a code added, removed or
// remapped shows up here and in docs/errors.md (the model is fastify's test/internals/errors.test.js).

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { ERRORS, EXIT, invocationErrorCode, isErrorCode, ThawError, toThawError, type ErrorCode } from '../../src/core/errors.ts';
import { SandboxError, SandboxStartError } from '../../src/platform/sandbox/errors.ts';
import { MicroVmError } from '../../src/platform/sandbox/microvm/errors.ts';
import { QmpError } from '../../src/platform/sandbox/microvm/qmp.ts';
import { BlobError } from '../../src/platform/accelerators/v8-snapshot/blob-store.ts';
import { SnapshotUnavailableError } from '../../src/platform/accelerators/v8-snapshot/start-path.ts';

const EXPECTED: Record<ErrorCode, [status: number, exit: number]> = {
  ERR_INVALID_OPTION: [400, 2],
  ERR_INVALID_JSON: [400, 2],
  ERR_TRACE_FORMAT: [400, 2],
  ERR_TRACE_EMPTY: [400, 2],
  ERR_UNKNOWN_POLICY: [400, 2],
  ERR_INVALID_PACKAGE: [400, 2],
  ERR_VM_CODE: [400, 2],
  ERR_PAYLOAD_TOO_LARGE: [413, 2],
  ERR_INVALID_REQUEST: [400, 2],
  ERR_METHOD_NOT_ALLOWED: [405, 2],
  ERR_NOT_FOUND: [404, 3],
  ERR_UNKNOWN_FUNCTION: [404, 3],
  ERR_CONFLICT: [409, 4],
  ERR_INVALID_STATE: [409, 4],
  ERR_CANCELLED: [410, 4],
  ERR_EXPIRED: [410, 1],
  ERR_UNAUTHORIZED: [401, 5],
  ERR_FORBIDDEN: [403, 5],
  ERR_PERMISSION: [500, 5],
  ERR_FUNCTION: [502, 1],
  ERR_TIMEOUT: [504, 1],
  ERR_SANDBOX_INIT: [502, 1],
  ERR_SANDBOX_START_TIMEOUT: [504, 1],
  ERR_CAPACITY: [503, 6],
  ERR_CLUSTER: [503, 6],
  ERR_ISOLATION_UNAVAILABLE: [501, 6],
  ERR_SANDBOX_UNSUPPORTED: [501, 6],
  ERR_VM_UNAVAILABLE: [501, 6],
  ERR_SNAPSHOT_UNAVAILABLE: [503, 6],
  ERR_UNREACHABLE: [502, 6],
  ERR_NOT_THAW: [502, 6],
  ERR_ADDRESS_IN_USE: [500, 6],
  ERR_DEPLOY_FAILED: [500, 1],
  ERR_SANDBOX_START: [500, 1],
  ERR_CGROUP: [500, 1],
  ERR_VM_IMAGE: [500, 1],
  ERR_VM_START: [500, 1],
  ERR_VM_SNAPSHOT_CORRUPT: [500, 1],
  ERR_VM_SNAPSHOT_MISSING: [500, 1],
  ERR_BLOB_MISSING: [500, 1],
  ERR_BLOB_CORRUPT: [500, 1],
  ERR_BLOB_TOO_LARGE: [500, 1],
  ERR_BLOB_ADDRESS: [500, 1],
  ERR_SANDBOX_STATE: [500, 70],
  ERR_INTERNAL: [500, 70],
};

describe('error codes', () => {
  it('every code has its HTTP status and exit code', () => {
    assert.deepEqual(Object.keys(ERRORS).sort(), Object.keys(EXPECTED).sort());
    for (const [code, [status, exit]] of Object.entries(EXPECTED)) {
      const error = new ThawError(code as ErrorCode, 'm');
      assert.deepEqual([code, error.status, error.exitCode], [code, status, exit]);
    }
  });

  it('every code says what its message names, and exits with a documented class', () => {
    const classes = new Set<number>(Object.values(EXIT));
    for (const [code, spec] of Object.entries(ERRORS)) {
      assert.ok(spec.form.length > 0, code);
      assert.ok(classes.has(spec.exit), code);
      assert.ok(spec.status >= 400 && spec.status < 600, code);
    }
  });

  it('docs/errors.md lists every code with its status and exit code', () => {
    const doc = readFileSync(new URL('../../docs/errors.md', import.meta.url), 'utf8');
    for (const [code, [status, exit]] of Object.entries(EXPECTED)) {
      assert.match(doc, new RegExp(`\\| \`${code}\` \\| ${status} \\| ${exit} \\|`), `${code} in docs/errors.md`);
    }
  });

  it('the layers raise ThawErrors, their codes in the table', () => {
    const errors = [
      new SandboxError('ERR_SANDBOX_STATE', 'busy'),
      new SandboxStartError('ERR_SANDBOX_INIT', 'init threw', { stdout: '', stderr: '' }),
      new MicroVmError('ERR_VM_UNAVAILABLE', 'no qemu'),
      new QmpError('migrate failed', 'migrate'),
      new BlobError('ERR_BLOB_CORRUPT', 'ab', 'hash mismatch'),
      new SnapshotUnavailableError('none built'),
    ];
    for (const error of errors) {
      assert.ok(error instanceof ThawError, error.name);
      assert.ok(isErrorCode(error.code), error.name);
    }
    assert.deepEqual(errors.map((e) => e.code), ['ERR_SANDBOX_STATE', 'ERR_SANDBOX_INIT', 'ERR_VM_UNAVAILABLE', 'ERR_VM_START', 'ERR_BLOB_CORRUPT', 'ERR_SNAPSHOT_UNAVAILABLE']);
  });

  it("the operating system's refusals get their codes; anything else is internal, keeping the cause", () => {
    const busy = Object.assign(new Error('listen EADDRINUSE: address already in use 127.0.0.1:8080'), { code: 'EADDRINUSE', syscall: 'listen', address: '127.0.0.1', port: 8080 });
    assert.deepEqual([toThawError(busy).code, toThawError(busy).message], ['ERR_ADDRESS_IN_USE', '127.0.0.1:8080 is already in use']);
    const denied = Object.assign(new Error('listen EACCES: permission denied 0.0.0.0:80'), { code: 'EACCES', syscall: 'listen', address: '0.0.0.0', port: 80 });
    assert.equal(toThawError(denied).code, 'ERR_PERMISSION');
    assert.match(toThawError(denied).message, /0\.0\.0\.0:80/);
    const bug = new TypeError('x is undefined');
    assert.deepEqual([toThawError(bug).code, toThawError(bug).cause], ['ERR_INTERNAL', bug]);
    const mine = new ThawError('ERR_NOT_FOUND', 'no function nope');
    assert.equal(toThawError(mine), mine);
  });

  it("an invocation record's error kind maps to one code", () => {
    assert.deepEqual(
      ['error', 'init', 'exit', 'oom', 'timeout', 'throttled', 'cancelled', 'expired', 'platform'].map(invocationErrorCode),
      ['ERR_FUNCTION', 'ERR_FUNCTION', 'ERR_FUNCTION', 'ERR_FUNCTION', 'ERR_TIMEOUT', 'ERR_CAPACITY', 'ERR_CANCELLED', 'ERR_EXPIRED', 'ERR_INTERNAL'],
    );
  });
});
