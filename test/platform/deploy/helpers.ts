// Shared by the deploy tests.

import { execFileSync } from 'node:child_process';
import { cpSync, mkdtempSync, readdirSync, renameSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after } from 'node:test';
import { Store } from '../../../src/platform/store/index.ts';

const here = dirname(fileURLToPath(import.meta.url));
export const REPO = resolve(here, '../../..');
export const EXAMPLES = join(REPO, 'examples');
export const FIXTURES = join(REPO, 'test/fixtures/packages');

export function tempDir(prefix = 'thaw-deploy-'): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/**
 * A fixture package, copied to a temporary folder with every `*.in` file renamed without `.in` (for
 * files the project's own tsc must not see, e.g. TypeScript with a deliberate syntax error).
 */
export function fixture(name: string): string {
  const dir = join(tempDir('thaw-fixture-'), name);
  cpSync(join(FIXTURES, name), dir, { recursive: true });
  for (const entry of readdirSync(dir, { recursive: true, encoding: 'utf8' })) {
    if (entry.endsWith('.in')) renameSync(join(dir, entry), join(dir, entry.slice(0, -3)));
  }
  return dir;
}

export function tempStore(): Store {
  const store = Store.open(tempDir(), { synchronous: 'normal' });
  after(() => store.close());
  return store;
}

/** Loads a deployed bundle in a fresh node, runs init() if any, then the handler once; returns what it returned. */
export function invokeBundle(bundlePath: string, event: unknown, env: Record<string, string> = {}): unknown {
  const script = `
    const m = require(process.argv[1]);
    (async () => {
      if (typeof m.init === 'function') await m.init();
      const ctx = { invocationId: 'test', functionName: 'f', version: 1, memoryMb: 256, deadlineMs: Date.now() + 10000 };
      const value = await m.handler(JSON.parse(process.argv[2]), ctx);
      process.stdout.write(JSON.stringify(value));
    })().catch((e) => { console.error(e); process.exit(1); });`;
  const out = execFileSync(process.execPath, ['-e', script, bundlePath, JSON.stringify(event)], { env: { PATH: process.env.PATH ?? '', ...env }, encoding: 'utf8' });
  return JSON.parse(out);
}

export function ms(n: number): string {
  return `${Math.round(n)} ms`;
}
