// Per-function network namespaces (src/platform/sandbox/netns.ts), with real `ip netns` and a real
// pasta: inside, 127.0.0.1 is the namespace's own; the host's loopback and other addresses, another
// namespace's listener and a link-local address (bound in a namespace this test makes, behind a
// veth pair) are unreachable; egress is judged by the namespace's routing (`ip route get`, which
// sends nothing), never by sending traffic off this machine. Cleanup on release and after a crash.

import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdtempSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { type AddressInfo, createServer, type Server } from 'node:net';
import { networkInterfaces, tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';

import {
  blockedDestinations,
  detectNetworkNamespaces,
  type FunctionNetwork,
  NETNS_DIR,
  NetworkNamespaces,
  ownerIsGone,
  prohibitRules,
  routeVerdict,
} from '../../../src/platform/sandbox/netns.ts';
import { linkLocalListener, listenInNamespace } from '../../helpers/link-local.ts';

describe('what a namespace blocks (pure)', () => {
  it('blocks link-local, metadata and every host address but loopback', () => {
    const blocked = blockedDestinations({
      lo: [
        { address: '127.0.0.1', netmask: '255.0.0.0', family: 'IPv4', mac: '00:00:00:00:00:00', internal: true, cidr: '127.0.0.1/8' },
        { address: '::1', netmask: 'ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff', family: 'IPv6', mac: '00:00:00:00:00:00', internal: true, cidr: '::1/128', scopeid: 0 },
      ],
      eth0: [
        { address: '192.0.2.2', netmask: '255.255.255.0', family: 'IPv4', mac: '02:00:00:00:00:01', internal: false, cidr: '192.0.2.2/24' },
        { address: 'fd00::2', netmask: 'ffff:ffff:ffff:ffff::', family: 'IPv6', mac: '02:00:00:00:00:01', internal: false, cidr: 'fd00::2/64', scopeid: 0 },
        { address: 'fe80::1', netmask: 'ffff:ffff:ffff:ffff::', family: 'IPv6', mac: '02:00:00:00:00:01', internal: false, cidr: 'fe80::1/64', scopeid: 2 },
      ],
      docker0: [{ address: '172.17.0.1', netmask: '255.255.0.0', family: 'IPv4', mac: '02:00:00:00:00:02', internal: false, cidr: '172.17.0.1/16' }],
    });
    assert.deepEqual(blocked.v4, ['169.254.0.0/16', '192.0.2.2/32', '172.17.0.1/32']);
    assert.deepEqual(blocked.v6, ['fe80::/10', 'fd00:ec2::254/128', 'fd00::2/128']);
    assert.equal(prohibitRules(['169.254.0.0/16']), 'rule add to 169.254.0.0/16 prohibit pref 100\n');
  });

  it('knows its own namespaces from those of a thaw that is gone', () => {
    const stat = readFileSync('/proc/self/stat', 'utf8');
    const ticks = stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
    assert.equal(ownerIsGone(`thaw-${process.pid}-${ticks}-7`), false);
    assert.equal(ownerIsGone(`thaw-${process.pid}-1-7`), true, 'same pid, another start time: a later process');
    assert.equal(ownerIsGone('thaw-999999999-5-1'), true);
    assert.equal(ownerIsGone('someone-elses'), false, 'never touches namespaces that are not thaw-<pid>-<start>-<n>');
  });
});

const detection = await detectNetworkNamespaces();
const skip = detection.ok ? false : `no network namespaces here: ${detection.reason}${detection.install ? ` (${detection.install})` : ''}`;

/** Connects to each target from inside `ns` (a real node process joined to it); what happened to each. */
function probeFrom(ns: Pick<FunctionNetwork, 'path'>, targets: { host: string; port: number }[]): Record<string, string> {
  const script = `
    const net = require('node:net');
    const targets = ${JSON.stringify(targets)};
    Promise.all(targets.map((t) => new Promise((resolve) => {
      const s = net.connect({ host: t.host, port: t.port });
      s.setTimeout(3000, () => { s.destroy(); resolve('timeout'); });
      s.on('connect', () => { s.destroy(); resolve('connected'); });
      s.on('error', (e) => resolve(e.code));
    }))).then((r) => process.stdout.write(JSON.stringify(r)));`;
  const out = execFileSync('nsenter', [`--net=${ns.path}`, process.execPath, '-e', script], { encoding: 'utf8' });
  const results = JSON.parse(out) as string[];
  return Object.fromEntries(targets.map((t, i) => [`${t.host}:${t.port}`, results[i]!]));
}

function hostAddresses(): string[] {
  return Object.values(networkInterfaces())
    .flat()
    .filter((a) => a && a.family === 'IPv4' && !a.internal)
    .map((a) => a!.address);
}

/** Waits until `pid` is no longer a running process (gone or a zombie). */
async function untilDead(pid: number): Promise<boolean> {
  for (let i = 0; i < 400; i++) {
    let state: string | undefined;
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      state = stat.slice(stat.lastIndexOf(')') + 2)[0];
    } catch {
      return true;
    }
    if (state === 'Z' || state === 'X') return true;
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  return false;
}

describe('network namespaces, for real', { skip, timeout: 120_000 }, () => {
  const tools = detection.ok ? detection.tools : { ip: 'ip', pasta: 'pasta', nsenter: 'nsenter' };
  const runDir = mkdtempSync(join(tmpdir(), 'thaw-netns-test-'));
  const namespaces = new NetworkNamespaces(tools, { poolSize: 0, runDir });
  let hostServer: Server;
  let hostPort: number;
  let hostConnections = 0;

  before(async () => {
    hostServer = createServer((socket) => {
      hostConnections += 1;
      socket.end();
    });
    hostServer.listen(0, '0.0.0.0');
    await once(hostServer, 'listening');
    hostPort = (hostServer.address() as AddressInfo).port;
  });
  after(async () => {
    hostServer?.close();
    await namespaces.close();
    rmSync(runDir, { recursive: true, force: true });
  });

  it('has a loopback of its own and egress routes, but cannot reach the host', async () => {
    const ns = await namespaces.acquire();
    const own = await listenInNamespace(ns.path);
    try {
      const results = probeFrom(ns, [
        { host: '127.0.0.1', port: own.port },
        { host: '127.0.0.1', port: hostPort },
        ...hostAddresses().map((host) => ({ host, port: hostPort })),
      ]);
      assert.equal(results[`127.0.0.1:${own.port}`], 'connected', '127.0.0.1 inside is the namespace’s own');
      for (const [target, result] of Object.entries(results)) if (!target.endsWith(`:${own.port}`)) assert.match(result, /^(ECONNREFUSED|EACCES)$/, target);
      assert.equal(hostConnections, 0, 'nothing reached the host’s listener');
      // Egress: the namespace routes a public address out through pasta (nothing is sent).
      assert.equal((await routeVerdict(tools, ns, '198.51.100.7')).verdict, 'egress');
      assert.equal((await routeVerdict(tools, ns, '169.254.169.254')).verdict, 'prohibited');
      for (const host of hostAddresses()) assert.notEqual((await routeVerdict(tools, ns, host)).verdict, 'egress', host);
    } finally {
      own.child.kill('SIGKILL');
      await namespaces.release(ns);
    }
  });

  it('cannot reach a listener in another function’s namespace', async () => {
    const [a, b] = [await namespaces.acquire(), await namespaces.acquire()];
    const other = await listenInNamespace(b.path);
    try {
      assert.equal(probeFrom(b, [{ host: '127.0.0.1', port: other.port }])[`127.0.0.1:${other.port}`], 'connected', 'the listener is up');
      const results = probeFrom(a, [{ host: '127.0.0.1', port: other.port }, ...hostAddresses().map((host) => ({ host, port: other.port }))]);
      for (const [target, result] of Object.entries(results)) assert.match(result, /^(ECONNREFUSED|EACCES)$/, target);
    } finally {
      other.child.kill('SIGKILL');
      await Promise.all([namespaces.release(a), namespaces.release(b)]);
    }
  });

  it('cannot reach a link-local address this machine can', async () => {
    const linkLocal = await linkLocalListener(tools.ip);
    try {
      assert.ok(linkLocal.reachableFromHost(), 'the host reaches the link-local listener');
      const ns = await namespaces.acquire();
      try {
        const target = { host: linkLocal.host, port: linkLocal.port };
        assert.deepEqual(probeFrom(ns, [target]), { [`${target.host}:${target.port}`]: 'EACCES' });
        assert.equal((await routeVerdict(tools, ns, target.host)).verdict, 'prohibited');
      } finally {
        await namespaces.release(ns);
      }
    } finally {
      linkLocal.close();
    }
  });

  it('leaves nothing behind on release: no namespace file, no pasta', async () => {
    const ns = await namespaces.acquire();
    assert.ok(existsSync(ns.path));
    assert.deepEqual(namespaces.leased, [ns.name]);
    await namespaces.release(ns);
    assert.equal(existsSync(ns.path), false);
    assert.ok(await untilDead(ns.pastaPid), 'pasta was stopped');
    assert.deepEqual(namespaces.leased, []);
  });

  it('keeps a pool filled ahead of need and removes it on close', async () => {
    const pool = new NetworkNamespaces(tools, { poolSize: 1, runDir });
    const first = await pool.acquire();
    assert.equal(pool.pooled, 0, 'acquiring does not refill (that would compete with the start)');
    pool.replenish();
    await pool.filled();
    assert.equal(pool.pooled, 1);
    const second = await pool.acquire();
    assert.notEqual(second.name, first.name);
    assert.equal(pool.pooled, 0, 'taken from the pool');
    pool.replenish();
    await pool.filled();
    await Promise.all([pool.release(first), pool.release(second)]);
    const waiting = readdirNetns().filter((n) => n.startsWith('thaw-') && !ownerIsGone(n));
    assert.ok(waiting.length >= 1, 'the pool holds one');
    await pool.close();
    assert.equal(pool.pooled, 0);
    for (const n of [first.name, second.name]) assert.equal(existsSync(join(NETNS_DIR, n)), false);
  });

  it('removes on close the namespaces still handed out, and refuses new ones', async () => {
    const owner = new NetworkNamespaces(tools, { poolSize: 0, runDir });
    const held = await owner.acquire();
    await owner.close();
    assert.equal(existsSync(held.path), false, 'a sandbox that never released it does not keep it past close');
    assert.ok(await untilDead(held.pastaPid));
    await assert.rejects(owner.acquire(), /closed/);
  });

  it('removes the namespaces and pasta of a thaw that was killed', async () => {
    const module = fileURLToPath(new URL('../../../src/platform/sandbox/netns.ts', import.meta.url));
    const script = `import(${JSON.stringify(module)}).then(async (m) => {
      const ns = await new m.NetworkNamespaces(${JSON.stringify(tools)}, { poolSize: 0, runDir: ${JSON.stringify(runDir)} }).create();
      process.stdout.write(JSON.stringify(ns) + '\\n');
      setInterval(() => {}, 1000);
    });`;
    const child = spawn(process.execPath, ['--import', 'tsx', '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
    const [line] = (await once(child.stdout!, 'data')) as [Buffer];
    const crashed = JSON.parse(line.toString()) as FunctionNetwork;
    child.kill('SIGKILL');
    await once(child, 'exit');
    assert.ok(existsSync(crashed.path), 'left behind by the crash');
    // (Any thaw starting meanwhile, in another test file, may reap it first: what counts is that it goes.)
    const reaped = await namespaces.reapStale();
    assert.ok(reaped.every((name) => ownerIsGone(name)), `reaped only namespaces of thaws that are gone: ${reaped.join(', ')}`);
    assert.equal(existsSync(crashed.path), false);
    assert.ok(await untilDead(crashed.pastaPid), 'its pasta was stopped');
  });

  it('says what is missing and how to install it when pasta is not there', async () => {
    const bin = mkdtempSync(join(tmpdir(), 'thaw-no-pasta-'));
    symlinkSync(tools.ip, join(bin, 'ip'));
    symlinkSync(tools.nsenter, join(bin, 'nsenter'));
    const saved = process.env.PATH;
    process.env.PATH = bin;
    try {
      const found = await detectNetworkNamespaces();
      assert.ok(!found.ok, 'detected as missing');
      assert.match(found.reason, /pasta \(passt\) not found/);
      assert.equal(found.install, 'apt-get install passt');
    } finally {
      process.env.PATH = saved;
      rmSync(bin, { recursive: true, force: true });
    }
  });
});

function readdirNetns(): string[] {
  try {
    return execFileSync('ls', [NETNS_DIR], { encoding: 'utf8' }).split('\n').filter(Boolean);
  } catch {
    return [];
  }
}
