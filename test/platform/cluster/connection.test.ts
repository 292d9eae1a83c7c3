// The cluster's NATS connection authenticates: user and password or an nkey, from a credentials
// file (thaw serve --cluster-credentials), against a real nats-server that requires them. A bad
// file is refused naming its line; refused credentials say what to check.

import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ThawError } from '../../../src/core/errors.ts';
import { ClusterConnection, readCredentials } from '../../../src/platform/cluster/connection.ts';
import { createUserNkey, NatsServer, natsServerMissing } from '../../helpers/nats-server.ts';

const dir = mkdtempSync(join(tmpdir(), 'thaw-credentials-'));
let files = 0;
function file(text: string): string {
  const path = join(dir, `c${++files}`);
  writeFileSync(path, text);
  return path;
}

describe('cluster credentials file', () => {
  it('reads user and password, or an nkey seed, with comments and blank lines', () => {
    assert.deepEqual(readCredentials(file('# thaw on the cluster\n\nuser=thaw\npassword = s3cret=x\n')), { user: 'thaw', password: 's3cret=x' });
    const { seed } = createUserNkey();
    assert.deepEqual(readCredentials(file(`nkey=${seed}\n`)), { nkeySeed: seed });
  });

  it('refuses a bad file, naming the file and the line', () => {
    const refused = (text: string, message: RegExp) =>
      assert.throws(() => readCredentials(file(text)), (e: unknown) => e instanceof ThawError && e.code === 'ERR_INVALID_OPTION' && message.test(e.message));
    refused('user=a\ntoken=x\n', /line 2: expected user=, password= or nkey=/);
    refused('nkey=UABC\n', /line 1: nkey must be a user seed/);
    refused('user=a\n', /a user needs a password/);
    refused(`user=a\npassword=b\nnkey=${createUserNkey().seed}\n`, /not both/);
    refused('# nothing\n', /no credentials in it/);
    assert.throws(() => readCredentials(join(dir, 'missing')), /cluster credentials .*missing: ENOENT/);
  });
});

describe('an authenticated NATS connection', { skip: natsServerMissing }, () => {
  let server: NatsServer;
  const nkey = createUserNkey();
  before(async () => (server = await NatsServer.start({ users: [{ user: 'thaw', password: 'right-password' }], nkeys: [nkey.publicKey] })));
  after(async () => server?.stop());

  const open = (credentialsFile?: string) =>
    ClusterConnection.open({ url: server.url, name: 'auth test', credentials: credentialsFile ? readCredentials(credentialsFile) : undefined, timeoutMs: 3000 });

  it('connects with the right user and password, and with an nkey, and reaches JetStream', async () => {
    for (const credentials of [file('user=thaw\npassword=right-password\n'), file(`nkey=${nkey.seed}\n`)]) {
      const connection = await open(credentials);
      try {
        assert.ok((await connection.jsm.getAccountInfo()).limits, 'JetStream answers');
      } finally {
        await connection.close();
      }
    }
  });

  it('is refused without credentials, with a wrong password or an unknown nkey, saying to check them', async () => {
    for (const credentials of [undefined, file('user=thaw\npassword=wrong\n'), file(`nkey=${createUserNkey().seed}\n`)]) {
      await assert.rejects(open(credentials), (e: unknown) => e instanceof ThawError && e.code === 'ERR_CLUSTER' && /cannot connect .*check --cluster-credentials/.test(e.message));
    }
  });
});
