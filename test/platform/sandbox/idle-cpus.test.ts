import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';

import { idleCpus, SUGGESTED_HALT_POLL_NS } from '../../../src/platform/sandbox/idle-cpus.ts';

const roots: string[] = [];
after(() => {
  for (const root of roots) rmSync(root, { recursive: true, force: true });
});

/** A sysfs of our own: the cpuidle driver, and haltpoll's poll time when given. */
function sysfs(driver: string | undefined, pollNs?: string): string {
  const root = mkdtempSync(join(tmpdir(), 'thaw-sysfs-'));
  roots.push(root);
  if (driver !== undefined) {
    mkdirSync(join(root, 'devices/system/cpu/cpuidle'), { recursive: true });
    writeFileSync(join(root, 'devices/system/cpu/cpuidle/current_driver'), `${driver}\n`);
  }
  if (pollNs !== undefined) {
    mkdirSync(join(root, 'module/haltpoll/parameters'), { recursive: true });
    writeFileSync(join(root, 'module/haltpoll/parameters/guest_halt_poll_ns'), `${pollNs}\n`);
  }
  return root;
}

describe('idle CPUs, read from sysfs', () => {
  it('says so when a VM halts its idle CPUs without polling, with the setting that changes it', () => {
    const root = sysfs('haltpoll', '0');
    const idle = idleCpus(root);
    assert.equal(idle.driver, 'haltpoll');
    assert.equal(idle.haltPollNs, 0);
    assert.match(idle.note!, /halt without polling/);
    assert.ok(idle.note!.includes(`echo ${SUGGESTED_HALT_POLL_NS} > ${join(root, 'module/haltpoll/parameters/guest_halt_poll_ns')}`));
  });

  it('has nothing to say when the guest polls first', () => {
    assert.deepEqual(idleCpus(sysfs('haltpoll', '200000')), { driver: 'haltpoll', haltPollNs: 200000 });
  });

  it('has nothing to say of another driver, or of none', () => {
    assert.deepEqual(idleCpus(sysfs('intel_idle')), { driver: 'intel_idle' });
    assert.deepEqual(idleCpus(sysfs(undefined)), {});
  });

  it('assumes nothing from an unreadable or odd poll time', () => {
    assert.deepEqual(idleCpus(sysfs('haltpoll')), { driver: 'haltpoll' });
    assert.deepEqual(idleCpus(sysfs('haltpoll', 'lots')), { driver: 'haltpoll' });
  });

  it('reads this machine without throwing', () => {
    const idle = idleCpus();
    assert.equal(typeof idle, 'object');
  });
});
