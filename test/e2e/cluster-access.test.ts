// Who may use a cluster: its nodes authenticate to NATS (--cluster-credentials) and its HTTP API
// takes bearer tokens (--token-file) on every node; a node refuses to listen beyond loopback
// without tokens.

import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { until } from '../helpers/cluster.ts';
import { createUserNkey, NatsServer, natsServerMissing } from '../helpers/nats-server.ts';
import { EXAMPLES, ThawServer } from './harness.ts';
import { packFolder } from '../../src/cli/commands/client.ts';

const ADMIN = 'admin-cluster-token-0123456789abcdef';
const INVOKE = 'invoke-cluster-token-0123456789abcdef';
const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

describe('cluster access', { skip: natsServerMissing, timeout: 180_000 }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'thaw-cluster-access-'));
  const nkey = createUserNkey();
  const password = join(dir, 'password');
  const nkeyFile = join(dir, 'nkey');
  const tokens = join(dir, 'tokens');
  let nats: NatsServer;
  const nodes: ThawServer[] = [];
  const node = (id: string, args: string[]) =>
    ThawServer.start(['--cluster', nats.url, '--node-id', id, '--cluster-ttl', '1s', '--cluster-prefix', 'access', '--isolation', 'process', ...args]);

  before(async () => {
    writeFileSync(password, 'user=thaw\npassword=cluster-password\n');
    writeFileSync(nkeyFile, `nkey=${nkey.seed}\n`);
    writeFileSync(tokens, `admin ${ADMIN}\ninvoke ${INVOKE}\n`);
    for (const f of [password, nkeyFile, tokens]) chmodSync(f, 0o600);
    nats = await NatsServer.start({ users: [{ user: 'thaw', password: 'cluster-password' }], nkeys: [nkey.publicKey] });
  });
  after(async () => {
    await Promise.all(nodes.map((n) => n.stop()));
    await nats?.stop();
  });

  it('a node without credentials, or with wrong ones, does not join and says to check them', async () => {
    await assert.rejects(node('anon', []), /cannot connect to the cluster .*check --cluster-credentials/);
    const wrong = join(dir, 'wrong');
    writeFileSync(wrong, 'user=thaw\npassword=guess\n');
    await assert.rejects(node('wrong', ['--cluster-credentials', wrong]), /check --cluster-credentials/);
  });

  it('a node refuses to listen beyond loopback without --token-file', async () => {
    await assert.rejects(node('open', ['--cluster-credentials', password, '--host', '0.0.0.0']), /beyond loopback \(0\.0\.0\.0\) only with API tokens: pass --token-file/);
  });

  it('nodes with credentials (a password, an nkey) and tokens beyond loopback serve only bearers of a token, on every node', async () => {
    nodes.push(await node('a', ['--cluster-credentials', password, '--host', '0.0.0.0', '--token-file', tokens]));
    nodes.push(await node('b', ['--cluster-credentials', nkeyFile, '--token-file', tokens]));
    const [a, b] = nodes as [ThawServer, ThawServer];
    for (const n of nodes) {
      assert.equal((await n.request('GET', '/cluster')).status, 401);
      await until(async () => (await n.request('GET', '/cluster', undefined, bearer(ADMIN))).body.members.filter((m: any) => m.advert).length === 2);
    }
    const deploy = (token: string) => a.request('POST', '/functions', { files: packFolder(join(EXAMPLES, 'hello')), settings: { name: 'hello' } }, bearer(token));
    assert.equal((await deploy(INVOKE)).status, 403);
    assert.equal((await deploy(ADMIN)).status, 201);
    await until(async () => (await b.request('GET', '/functions/hello', undefined, bearer(INVOKE))).status === 200);
    assert.equal((await b.invoke('hello', { name: 'x' })).status, 401);
    const invoked = await b.request('POST', '/functions/hello/invoke', { name: 'token' }, bearer(INVOKE));
    assert.equal(invoked.status, 200, JSON.stringify(invoked.body));
    assert.equal((await a.request('GET', `/invocations/${invoked.headers.get('x-thaw-invocation-id')}`, undefined, bearer(INVOKE))).status, 200);
  });
});
