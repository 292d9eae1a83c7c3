// `thaw COMMAND --help` for every command: its own usage on stdout, exit 0 — walked from the
// command table itself, so a new command cannot go without help. In this process: main() with its
// output captured.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { COMMANDS } from '../../src/cli/commands/index.ts';
import { main } from '../../src/cli/main.ts';

async function run(argv: string[]): Promise<{ status: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const status = await main(argv, { out: (text) => (stdout += text), err: (text) => (stderr += text) });
  return { status, stdout, stderr };
}

describe('thaw COMMAND --help', () => {
  for (const command of COMMANDS) {
    it(`thaw ${command.name} --help prints its usage and exits 0`, async () => {
      for (const flag of ['--help', '-h']) {
        const r = await run([...command.name.split(' '), flag]);
        assert.equal(r.status, 0, r.stderr);
        assert.match(r.stdout, new RegExp(`^thaw ${command.name}\\b`, 'm'), `${command.name} ${flag}`);
        assert.equal(r.stderr, '');
      }
      const viaHelp = await run(['help', ...command.name.split(' ')]);
      assert.equal(viaHelp.status, 0);
      assert.equal(viaHelp.stdout, (await run([...command.name.split(' '), '--help'])).stdout);
      if (command.client) assert.match(viaHelp.stdout, /--json/, `${command.name} takes --json`);
    });
  }

  it('thaw --help lists every command; thaw alone prints it and exits 2', async () => {
    const r = await run(['--help']);
    assert.equal(r.status, 0);
    for (const command of COMMANDS) assert.match(r.stdout, new RegExp(`^  ${command.name} `, 'm'));
    const bare = await run([]);
    assert.equal(bare.status, 2);
    assert.equal(bare.stderr, r.stdout);
  });

  it('help for an unknown command is bad input', async () => {
    assert.equal((await run(['help', 'nosuch'])).status, 2);
    assert.equal((await run(['nosuch', '--help'])).status, 2);
  });
});
