import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { chmodSync, writeFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { ThawError } from '../../../src/core/errors.ts';
import { TokenSet } from '../../../src/platform/auth/tokens.ts';
import { tempDir } from '../store/helpers.ts';

const code = (expected: string, message?: RegExp) => (e: unknown) => e instanceof ThawError && e.code === expected && (!message || message.test(e.message));
const ADMIN = 'admin-token-0123456789abcdef';
const INVOKE = 'invoke-token-0123456789abcdef';

describe('API tokens', () => {
  const tokens = TokenSet.parse(`# thaw API tokens
admin ${ADMIN}

invoke sha256:${createHash('sha256').update(INVOKE).digest('hex')}
`);

  it('authorizes a known bearer token for its scope; admin includes invoke', () => {
    assert.deepEqual(tokens.authorize(`Bearer ${ADMIN}`, 'admin'), { scope: 'admin', line: 2 });
    assert.deepEqual(tokens.authorize(`Bearer ${ADMIN}`, 'invoke'), { scope: 'admin', line: 2 });
    assert.deepEqual(tokens.authorize(`bearer  ${INVOKE}`, 'invoke'), { scope: 'invoke', line: 4 }, 'a token stored as its SHA-256');
  });

  it('refuses no token and unknown tokens (401), and a token whose scope is too small (403)', () => {
    assert.throws(() => tokens.authorize(undefined, 'invoke'), code('ERR_UNAUTHORIZED', /needs an API token/));
    assert.throws(() => tokens.authorize(ADMIN, 'invoke'), code('ERR_UNAUTHORIZED'), 'not a Bearer header');
    assert.throws(() => tokens.authorize('Bearer wrong-token-0123456789', 'invoke'), code('ERR_UNAUTHORIZED', /unknown API token/));
    assert.throws(() => tokens.authorize(`Bearer ${INVOKE}`, 'admin'), code('ERR_FORBIDDEN', /scope is invoke/));
  });

  it('rejects a bad token file, naming the line and what is wrong', () => {
    for (const [text, why] of [
      ['root 0123456789abcdef0123', /line 1: unknown scope 'root'/],
      ['admin short', /line 1: a token must be at least 16 characters/],
      [`admin ${ADMIN} extra`, /line 1: expected 'SCOPE TOKEN'/],
      [`admin ${ADMIN}\ninvoke ${ADMIN}`, /line 2: the same token appears twice/],
      ['invoke sha256:abc', /line 1: sha256: must be followed by 64 hexadecimal digits/],
      ['# nothing\n\n', /no tokens/],
    ] as const) {
      assert.throws(() => TokenSet.parse(text, 'tokens.txt'), code('ERR_INVALID_OPTION', why), text);
    }
  });

  it('loads a file, and warns when other users can read it', () => {
    const file = `${tempDir()}/tokens`;
    writeFileSync(file, `admin ${ADMIN}\n`);
    chmodSync(file, 0o644);
    assert.match(TokenSet.load(file).warning ?? '', /can be read by other users \(mode 644\): chmod 600/);
    chmodSync(file, 0o600);
    assert.equal(TokenSet.load(file).warning, undefined);
    assert.throws(() => TokenSet.load(`${file}.missing`), code('ERR_INVALID_OPTION', /--token-file: cannot read/));
  });
});
