// The compiled thaw (npm run build → dist/), as the installed command runs it: no TypeScript
// loader. Skips, saying why, when dist/ is not built (npm ci builds it; .ci/run checks it is there).

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { EXAMPLES, ThawServer } from '../e2e/harness.ts';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const BIN = join(ROOT, 'bin', 'thaw.js');
const built = existsSync(join(ROOT, 'dist', 'cli', 'main.js'));
const env = { ...process.env };
delete env.THAW_FROM_SOURCE;
const thaw = (...args: string[]) => spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', env });

describe('the compiled thaw (dist/)', { skip: built ? false : 'dist/ is not built (npm run build)' }, () => {
  it('runs --version and --help', () => {
    const version = thaw('--version');
    assert.equal(version.status, 0, version.stderr);
    assert.equal(version.stdout.trim(), JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')).version);
    const help = thaw('--help');
    assert.equal(help.status, 0);
    assert.match(help.stdout, /thaw COMMAND --help/);
  });

  it('runs a sweep in worker threads and a serve command from dist/', () => {
    const out = mkdtempSync(join(tmpdir(), 'thaw-dist-'));
    const sweep = thaw('sim', 'sweep', '--trace', 'synthetic:poisson:fns=10,rate=2,minutes=10,seed=1', '--policies', 'ttl', '--memory', '1GB', '--workers', '2', '--out', out);
    assert.equal(sweep.status, 0, sweep.stderr);
    assert.ok(existsSync(join(out, 'sweep.json')));
    const help = thaw('serve', '--help');
    assert.equal(help.status, 0);
    assert.match(help.stdout, /^thaw serve/);
  });

  it('serves and runs a function from dist/ (the runtime agent bundled from dist/runtime/)', async () => {
    const server = await ThawServer.start(['--isolation', 'process'], undefined, env);
    try {
      assert.equal((await server.deploy(join(EXAMPLES, 'hello'), { name: 'hello' })).status, 201);
      const r = await server.invoke('hello', { name: 'dist' });
      assert.equal(r.status, 200, JSON.stringify(r.body));
      assert.match(JSON.stringify(r.body), /dist/);
    } finally {
      await server.stop();
    }
  });
});
