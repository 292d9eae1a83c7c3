// Cgroup detection and the per-instance cgroup, on the real cgroup filesystem where there is one.

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { rmdir } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';

import { detectCgroups, parseCgroupMounts, sharesToWeight } from '../../../src/platform/sandbox/cgroups.ts';
import { alive, tempDir } from './support.ts';

const MOUNTINFO_V1 = `31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu,cpuacct rw,relatime - cgroup cgroup rw,cpu,cpuacct
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
37 31 0:34 /docker/abc /sys/fs/cgroup/freezer rw,relatime - cgroup cgroup rw,freezer
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,xattr,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw,nsdelegate
50 23 0:40 / /mnt/with\\040space rw - cgroup cgroup rw,pids
`;

describe('parseCgroupMounts', () => {
  it('lists v1 hierarchies with their controllers, and v2 mounts', () => {
    assert.deepEqual(parseCgroupMounts(MOUNTINFO_V1), [
      { mountPoint: '/sys/fs/cgroup/cpu,cpuacct', root: '/', fsType: 'cgroup', controllers: ['cpu', 'cpuacct'] },
      { mountPoint: '/sys/fs/cgroup/memory', root: '/', fsType: 'cgroup', controllers: ['memory'] },
      { mountPoint: '/sys/fs/cgroup/freezer', root: '/docker/abc', fsType: 'cgroup', controllers: ['freezer'] },
      { mountPoint: '/sys/fs/cgroup/systemd', root: '/', fsType: 'cgroup', controllers: ['xattr'] },
      { mountPoint: '/sys/fs/cgroup/unified', root: '/', fsType: 'cgroup2', controllers: [] },
      { mountPoint: '/mnt/with space', root: '/', fsType: 'cgroup', controllers: ['pids'] },
    ]);
  });
});

describe('sharesToWeight', () => {
  it('maps cpu.shares onto cpu.weight as runc does', () => {
    assert.equal(sharesToWeight(2), 1);
    assert.equal(sharesToWeight(1024), 39);
    assert.equal(sharesToWeight(512), 20);
    assert.equal(sharesToWeight(262144), 10000);
    assert.equal(sharesToWeight(1), 1);
    assert.equal(sharesToWeight(1e9), 10000);
  });
});

describe('detectCgroups', () => {
  it('does not use a v2 hierarchy without memory and cpu, nor assume anything else', async () => {
    const fake = tempDir('thaw-fake-cgroup2-');
    writeFileSync(join(fake, 'cgroup.controllers'), 'io pids\n');
    const found = await detectCgroups({ mountInfo: `41 31 0:38 / ${fake} rw - cgroup2 cgroup2 rw\n` });
    assert.equal(found.driver, null);
    assert.equal(found.version, 'none');
    assert.match(found.problems.join('\n'), /offers io, pids \(needs memory and cpu\): not used/);
    assert.match(found.problems.join('\n'), /no usable cgroup memory controller/);
  });

  it('finds nothing where nothing is mounted', async () => {
    const found = await detectCgroups({ mountInfo: '22 1 0:21 / /proc rw - proc proc rw\n' });
    assert.equal(found.version, 'none');
  });

  it('rejects a parent path that climbs out', () => {
    assert.throws(() => detectCgroups({ parent: '../etc' }), /plain names/);
    assert.throws(() => detectCgroups({ parent: '/abs' }), /plain names/);
  });
});

const real = await detectCgroups();

describe('instance cgroups on this machine', { skip: real.driver ? undefined : `no usable cgroups: ${real.problems.join('; ')}` }, () => {
  const driver = real.driver!;

  it('creates, limits, holds a process, freezes, thaws, kills and removes', async () => {
    const id = `t-cg-${process.pid}-${Math.random().toString(16).slice(2, 8)}`;
    const cg = await driver.create(id, { memoryMb: 64, cpuShares: 256, cpuQuota: 1.5, pidsMax: 64 });
    const read = (c: 'memory' | 'cpu' | 'pids', f: string) => readFileSync(join(cg.dirs[c]!, f), 'utf8').trim();
    assert.equal(await cg.memoryLimitBytes(), 64 * 1024 * 1024);
    if (cg.version === 'v1') {
      if (cg.features.cpu) assert.equal(read('cpu', 'cpu.shares'), '256');
      if (cg.features.cpuQuota) assert.equal(read('cpu', 'cpu.cfs_quota_us'), '150000');
    } else {
      assert.equal(read('cpu', 'cpu.weight'), String(sharesToWeight(256)));
      assert.equal(read('cpu', 'cpu.max'), '150000 100000');
    }
    if (cg.features.pids) assert.equal(read('pids', 'pids.max'), '64');
    await assert.rejects(driver.create(id, { memoryMb: 64 }), { code: 'ERR_CGROUP' }, 'names are unique');

    // A process placed the way sandboxes are: the shell enters the cgroup, then execs.
    const procs = cg.procsFiles().map((f) => `echo $$ > ${f}`).join(' && ');
    const child = spawn('/bin/sh', ['-c', `${procs} && echo placed && exec "$0" -e "setInterval(() => {}, 1e9)"`, process.execPath], {
      stdio: ['ignore', 'pipe', 'ignore'],
    });
    const exited = new Promise<{ code: number | null; signal: string | null }>((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
    const pid = child.pid!;
    const [said] = (await once(child.stdout!, 'data')) as [Buffer];
    assert.equal(said.toString(), 'placed\n');
    assert.deepEqual(await cg.pids(), [pid]);

    if (cg.features.freezer) {
      await cg.freeze();
      assert.equal(await cg.freezerState(), 'FROZEN');
      await cg.thaw();
      assert.equal(await cg.freezerState(), 'THAWED');
    }
    assert.ok((await cg.memoryUsageBytes()) > 0);
    assert.equal(await cg.oomKills(), 0);

    await cg.setMemoryLimit(128);
    assert.equal(await cg.memoryLimitBytes(), 128 * 1024 * 1024);

    // Kill while frozen: the kill must still land.
    if (cg.features.freezer) await cg.freeze();
    await cg.destroy();
    assert.deepEqual(await exited, { code: null, signal: 'SIGKILL' });
    assert.equal(alive(pid), false);
    for (const dir of Object.values(cg.dirs)) assert.equal(existsSync(dir), false);
    await cg.destroy(); // idempotent
  });

  it('reaps the sandboxes a killed thaw left behind (orphaned, even frozen), and only those', async () => {
    // A parent of its own, so thaw servers of other tests running now are out of reach.
    const own = (await detectCgroups({ parent: `thaw-test-reap-${process.pid}` })).driver!;
    const orphan = await own.create('orphan', { memoryMb: 64 });
    const owned = await own.create('owned', { memoryMb: 64 });
    const place = (cg: typeof orphan) => cg.procsFiles().map((f) => `echo $$ > ${f}`).join(' && ');
    // The orphan: a process whose parent (the outer shell, standing in for a killed thaw) has exited.
    const outer = spawn('/bin/sh', ['-c', `/bin/sh -c '${place(orphan)} && exec sleep 1000' & echo $!`], { stdio: ['ignore', 'pipe', 'ignore'] });
    const [line] = (await once(outer.stdout!, 'data')) as [Buffer];
    await once(outer, 'exit');
    const orphanPid = Number(line.toString().trim());
    // Placed once it shows in the cgroup (the inner shell writes, then execs sleep).
    while (!(await orphan.pids()).includes(orphanPid)) await new Promise((r) => setImmediate(r));
    if (orphan.features.freezer) await orphan.freeze();
    const child = spawn('/bin/sh', ['-c', `${place(owned)} && echo placed && exec sleep 1000`], { stdio: ['ignore', 'pipe', 'ignore'] });
    await once(child.stdout!, 'data');
    try {
      const ppid = Number(readFileSync(`/proc/${orphanPid}/stat`, 'utf8').split(') ')[1]!.split(' ')[1]);
      const reaped = await own.reapOrphans();
      if (ppid === 1) {
        assert.deepEqual(reaped, ['orphan']);
        // Dead: gone, or a zombie until PID 1 reaps it.
        const state = existsSync(`/proc/${orphanPid}/stat`) ? readFileSync(`/proc/${orphanPid}/stat`, 'utf8').split(') ')[1]![0] : 'gone';
        assert.ok(state === 'gone' || state === 'Z', `the orphan is ${state}`);
        for (const dir of Object.values(orphan.dirs)) assert.equal(existsSync(dir), false);
      } else {
        assert.deepEqual(reaped, [], 'orphans go to a subreaper here, not PID 1: nothing is reaped');
      }
      assert.deepEqual(await owned.pids(), [child.pid]);
    } finally {
      await owned.destroy();
      if (existsSync(orphan.dirs.memory)) await orphan.destroy();
      for (const dir of new Set(Object.values(own.parents))) await rmdir(dir).catch(() => undefined);
    }
  });

  it('rejects names that are not plain', async () => {
    await assert.rejects(driver.create('../x', { memoryMb: 64 }), /cgroup name/);
  });

  it('reports the parent it uses', () => {
    assert.ok(driver.parents.memory.endsWith('/thaw'));
    assert.ok(existsSync(driver.parents.memory));
  });
});
