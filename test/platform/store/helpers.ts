// Shared by the store tests: a temporary data dir, a settable clock, a version spec.

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after } from 'node:test';
import { Store, type StoreOptions } from '../../../src/platform/store/index.ts';
import type { NewFunctionVersion } from '../../../src/platform/store/types.ts';

export function tempDir(prefix = 'thaw-store-'): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

export class TestClock {
  t: number;
  constructor(start = Date.UTC(2025, 0, 1)) {
    this.t = start;
  }
  now = (): number => this.t;
  advance(ms: number): void {
    this.t += ms;
  }
}

export function openStore(dir: string, clock: TestClock, options: StoreOptions = {}): Store {
  const store = Store.open(dir, { now: clock.now, synchronous: 'normal', ...options });
  after(() => store.close());
  return store;
}

export function versionSpec(overrides: Partial<NewFunctionVersion> = {}): NewFunctionVersion {
  return {
    memoryMb: 256,
    timeoutMs: 30_000,
    maxConcurrency: 10,
    env: {},
    network: false,
    provisioned: 0,
    instanceConcurrency: 1,
    start: 'cold',
    language: 'js',
    entry: 'index.js',
    dependencies: {},
    codeDir: 'functions/f/1',
    bundlePath: 'functions/f/1/bundle.cjs',
    bundleSha256: 'a'.repeat(64),
    bundleBytes: 100,
    ...overrides,
  };
}
