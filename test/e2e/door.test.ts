// A closed door (issue 14 item 6), end to end: `thaw serve` for real, a probing function deployed
// with network access aims only at addresses on this machine — the gateway on 127.0.0.1, a host
// service, another function's listener, a link-local address bound in a namespace this test makes —
// and reaches none of them; its own loopback works. Nothing is sent off the machine. After thaw
// stops, none of its namespaces is left.

import assert from 'node:assert/strict';
import { once } from 'node:events';
import { existsSync, readdirSync } from 'node:fs';
import { type AddressInfo, createServer } from 'node:net';
import { networkInterfaces } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';

import { detectLeanContainers } from '../../src/platform/sandbox/bubblewrap.ts';
import { detectNetworkNamespaces, NETNS_DIR } from '../../src/platform/sandbox/netns.ts';
import { type LinkLocalListener, linkLocalListener } from '../helpers/link-local.ts';
import { E2E_FIXTURES, ThawServer } from './harness.ts';

const [container, network] = await Promise.all([detectLeanContainers(), detectNetworkNamespaces()]);
const skip = !container.ok ? `no lean containers: ${container.reason}` : !network.ok ? `no network namespaces: ${network.reason}` : false;

const REFUSED = /^(ECONNREFUSED|EACCES|ENETUNREACH|EHOSTUNREACH)$/;

function hostAddresses(): string[] {
  return Object.values(networkInterfaces())
    .flat()
    .filter((a) => a && !a.internal && (a.family === 'IPv4' || !a.address.startsWith('fe80')))
    .map((a) => a!.address);
}

function thawNamespaces(pid: number): string[] {
  return existsSync(NETNS_DIR) ? readdirSync(NETNS_DIR).filter((n) => n.startsWith(`thaw-${pid}-`)) : [];
}

describe('a function with network access, end to end', { skip, timeout: 180_000 }, () => {
  let thaw: ThawServer;
  let linkLocal: LinkLocalListener;
  const hostService = createServer((socket) => {
    hostConnections += 1;
    socket.end();
  });
  let hostConnections = 0;
  let hostPort: number;

  before(async () => {
    hostService.listen(0, '0.0.0.0');
    await once(hostService, 'listening');
    hostPort = (hostService.address() as AddressInfo).port;
    linkLocal = await linkLocalListener(network.ok ? network.tools.ip : 'ip');
    thaw = await ThawServer.start();
    for (const name of ['prober', 'listener']) {
      const r = await thaw.deploy(join(E2E_FIXTURES, name), { name, network: true });
      assert.equal(r.status, 201, JSON.stringify(r.body));
    }
  });

  after(async () => {
    await thaw?.stop();
    linkLocal?.close();
    hostService.close();
  });

  it('runs in a namespace of its own, says so, and reaches nothing of this machine', async () => {
    const health = await thaw.request('GET', '/healthz');
    assert.equal(health.body.isolation.backend, 'container');
    assert.equal(health.body.isolation.network, 'namespace');
    const gatewayPort = Number(new URL(thaw.url).port);

    const listener = await thaw.invoke('listener', { self: true });
    assert.equal(listener.status, 200, JSON.stringify(listener.body));
    assert.equal(listener.body.self, 'connected', 'the other function’s listener answers inside its own sandbox');
    const listenerPort: number = listener.body.port;

    // The controls: from this machine, each target is there.
    assert.equal((await fetch(`${thaw.url}/healthz`)).status, 200, 'the gateway answers on 127.0.0.1');
    assert.ok(linkLocal.reachableFromHost(), 'the link-local listener answers the host');

    const targets = [
      { host: '127.0.0.1', port: gatewayPort },
      { host: '::1', port: gatewayPort },
      { host: '127.0.0.1', port: hostPort },
      { host: '127.0.0.1', port: listenerPort },
      ...hostAddresses().flatMap((host) => [gatewayPort, hostPort, listenerPort].map((port) => ({ host, port }))),
      { host: linkLocal.host, port: linkLocal.port },
    ];
    const before = hostConnections;
    const probe = await thaw.invoke('prober', { targets });
    assert.equal(probe.status, 200, JSON.stringify(probe.body));
    assert.equal(probe.body.ownLoopback, 'connected', 'its own 127.0.0.1 works');
    for (const [target, result] of Object.entries(probe.body.results as Record<string, string>)) assert.match(result, REFUSED, `${target} was reachable: ${result}`);
    assert.equal(probe.body.results[`${linkLocal.host}:${linkLocal.port}`], 'EACCES', 'link-local is refused by the namespace’s rules');
    assert.equal(Object.keys(probe.body.results).length, targets.length);
    assert.equal(hostConnections, before, 'the host service saw no connection');
  });

  it('leaves no namespace behind when thaw stops', async () => {
    const pid = thaw.process.pid!;
    assert.ok(thawNamespaces(pid).length > 0, 'its instances hold namespaces while it runs');
    await thaw.stop();
    assert.deepEqual(thawNamespaces(pid), []);
  });
});
