// Shared helpers for the sandbox tests: fixture paths, specs with unique instance ids, contexts.

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after } from 'node:test';
import { fileURLToPath } from 'node:url';

import type { InvocationContext } from '../../../src/runtime/protocol.ts';
import type { SandboxBackend, SandboxSpec } from '../../../src/platform/sandbox/types.ts';

export const FIXTURES = fileURLToPath(new URL('../../fixtures/functions/', import.meta.url));

export function fixture(name: string): string {
  return join(FIXTURES, name);
}

let dataDir: string | undefined;
/** One data directory per test process (holds the agent bundle). */
export function testDataDir(): string {
  if (dataDir === undefined) {
    const dir = mkdtempSync(join(tmpdir(), 'thaw-sandbox-test-'));
    process.on('exit', () => rmSync(dir, { recursive: true, force: true }));
    dataDir = dir;
  }
  return dataDir;
}

/** A temporary directory removed when the test process exits. */
export function tempDir(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  process.on('exit', () => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

let counter = 0;
export function spec(functionName: string, overrides: Partial<SandboxSpec> = {}): SandboxSpec {
  counter += 1;
  return {
    instanceId: `t-${functionName}-${process.pid}-${counter}-${Math.random().toString(16).slice(2, 8)}`,
    functionName,
    version: 1,
    codeDir: fixture(functionName),
    memoryMb: 128,
    env: {},
    network: false,
    ...overrides,
  };
}

let invocation = 0;
export function ctx(functionName: string, timeoutMs = 10_000): InvocationContext {
  invocation += 1;
  return { invocationId: `inv-${invocation}`, functionName, version: 1, memoryMb: 128, deadlineMs: Date.now() + timeoutMs };
}

/** Whether a process with this pid exists. */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code !== 'ESRCH';
  }
}

/** Backends with stems of their own, closed once the test file is done. */
const pools: SandboxBackend[] = [];
after(async () => {
  await Promise.all(pools.map((b) => b.close?.()));
});
export function closedAfter(backend: SandboxBackend): SandboxBackend {
  pools.push(backend);
  return backend;
}
