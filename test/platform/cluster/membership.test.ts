// Cluster membership: the view's expiry on an injected clock (a node not heard from within the TTL
// leaves, and its adverts go with it), then nodes heart-beating through a real nats-server.

import assert from 'node:assert/strict';
import { once } from 'node:events';
import { after, before, describe, it } from 'node:test';
import { VirtualClock, WallClock } from '../../../src/core/clock.ts';
import { ClusterConnection } from '../../../src/platform/cluster/connection.ts';
import { Membership, MembershipView, type MemberInfo, type NodeAdvert } from '../../../src/platform/cluster/membership.ts';
import { NatsServer, natsServerMissing } from '../../helpers/nats-server.ts';

const member = (id: string, role: MemberInfo['role'] = 'both'): MemberInfo => ({ id, role, url: `http://127.0.0.1/${id}`, startedAt: 0 });
const advert = (id: string, idle: Record<string, number> = {}): NodeAdvert => ({ id, load: 0, capacityMb: 4096, freeMb: 4096, reclaimableMb: 4096, idle, snapshots: [], zygotes: [] });

describe('MembershipView', () => {
  it('drops a node, and its adverts, once its TTL passes without a heartbeat', () => {
    const clock = new VirtualClock(1000);
    const view = new MembershipView(3000, clock);
    const left: string[] = [];
    view.on('left', (m) => left.push(m.id));
    view.heardMember(member('a'));
    view.heardAdvert(advert('a', { 'f@1': 2 }));
    view.heardMember(member('b'));
    view.heardAdvert(advert('b'));
    clock.advance(2000);
    view.heardMember(member('b')); // b heart-beats, a does not
    view.heardAdvert(advert('b'));
    clock.advance(999);
    assert.deepEqual(view.expire(), []);
    assert.deepEqual(view.invokers().map((i) => i.member.id), ['a', 'b']);
    clock.advance(1);
    assert.deepEqual(view.expire().map((m) => m.id), ['a'], 'a was last heard 3000 ms ago');
    assert.deepEqual(left, ['a']);
    assert.equal(view.advert('a'), undefined, 'its adverts are dropped');
    assert.deepEqual(view.members().map((m) => m.id), ['b']);
  });

  it('lists as invokers only members that route work and have a live advert', () => {
    const view = new MembershipView(3000, new VirtualClock(0));
    view.heardMember(member('gw', 'gateway'));
    view.heardAdvert(advert('gw'));
    view.heardMember(member('inv', 'invoker'));
    view.heardMember(member('both'));
    view.heardAdvert(advert('both'));
    assert.deepEqual(view.invokers().map((i) => i.member.id), ['both']);
    view.forget('both');
    assert.deepEqual(view.invokers(), []);
  });
});

describe('Membership over NATS', { skip: natsServerMissing }, () => {
  let server: NatsServer;
  before(async () => (server = await NatsServer.start()));
  after(async () => server?.stop());

  it('nodes see each other join, advertise, leave on purpose and go silent', async () => {
    const clock = new WallClock();
    const open = (name: string) => ClusterConnection.open({ url: server.url, name, prefix: 'm1' });
    const [ca, cb] = await Promise.all([open('a'), open('b')]);
    let idle = 0;
    const a = await Membership.join(ca, { self: member('a'), ttlMs: 600, clock, advert: () => advert('a', { 'f@1': idle }) });
    const b = await Membership.join(cb, { self: member('b'), ttlMs: 600, clock, advert: () => advert('b') });
    try {
      while (!a.view.member('b')) await once(a.view, 'joined');
      // b hears its own heartbeat through the bucket's watch as well, maybe after a's (a loaded CI saw ['a']).
      while (!b.view.member('a') || !b.view.member('b')) await once(b.view, 'joined');
      assert.deepEqual(b.view.members().map((m) => m.id), ['a', 'b']);
      idle = 3;
      a.advertise();
      while (b.view.advert('a')?.idle['f@1'] !== 3) await once(b.view, 'advert');

      await b.leave();
      while (a.view.member('b')) await once(a.view, 'left');
      assert.equal(a.view.advert('b'), undefined);

      const c = await Membership.join(cb, { self: member('c'), ttlMs: 600, clock, advert: () => advert('c') });
      while (!a.view.member('c')) await once(a.view, 'joined');
      c.stop(); // stops heart-beating without a word: the others drop it after its TTL (exact timing: the view's test above)
      const [gone] = await once(a.view, 'left');
      assert.equal(gone.id, 'c');
      assert.equal(a.view.advert('c'), undefined);
    } finally {
      await a.leave();
      await Promise.all([ca.close(), cb.close()]);
    }
  });
});
