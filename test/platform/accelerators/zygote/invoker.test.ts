// The zygote path behind the real Invoker and StartPlanner (as the platform wires start paths), with
// zygote memory accounted in the invoker's own Pool: what the lead's integration looks like.

import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { describe, it } from 'node:test';

import { LruKeepAlive } from '../../../../src/policies/keepalive/index.ts';
import { Invoker } from '../../../../src/platform/invoker/invoker.ts';
import { ManualScheduler } from '../../../../src/platform/invoker/scheduler.ts';
import { createSandboxBackend, detectIsolation } from '../../../../src/platform/sandbox/index.ts';
import { StartPlanner } from '../../../../src/platform/accelerators/planner.ts';
import { DeferredZygoteMemory, PoolZygoteMemory, ZygoteStartPath } from '../../../../src/platform/accelerators/zygote/index.ts';
import { deployFixture, fixtureInstaller, tempDir } from './support.ts';

const detected = await detectIsolation();
const skip = detected.cgroups.driver ? undefined : 'no usable cgroups';

describe('zygotes behind the Invoker', { skip }, () => {
  it('a cold start of a `zygote` function is a zygote start; its memory is the Pool’s', async () => {
    const dataDir = tempDir('thaw-zyg-invoker-');
    const backend = await createSandboxBackend({ isolation: detected.container.ok ? 'container' : 'process', dataDir });
    const memory = new DeferredZygoteMemory();
    const zygotes = new ZygoteStartPath({ backend, dataDir, memory, installer: fixtureInstaller() });
    const invoker = new Invoker({
      backend,
      planner: new StartPlanner(backend, [zygotes]),
      keepAlive: new LruKeepAlive(),
      memoryBudgetMb: 1024,
      scheduler: new ManualScheduler(),
      pauseAfterMs: Infinity,
    });
    // What the invoker's constructor would do (its Pool listener would also forward removed()).
    let index = 100_000;
    memory.bind(new PoolZygoteMemory(invoker.pool, { allocateIndex: () => index++ }));
    try {
      const one = { ...(await deployFixture('zyg-one')), start: 'zygote' as const };
      const two = { ...(await deployFixture('zyg-two')), start: 'auto' as const };
      invoker.planner.onDeploy(one);
      invoker.planner.onDeploy(two);
      await zygotes.settled();
      assert.equal(invoker.snapshot().usedMb, 128, 'the waiting zygote holds budget');
      assert.equal(invoker.snapshot().idleMb, 128, 'as idle, evictable memory');

      const first = await invoker.invoke(one, { x: 21 }, 'z1');
      assert.equal(first.ok, true, JSON.stringify(first.error));
      assert.equal(first.startKind, 'zygote');
      assert.equal(first.phases.runtimeBootMs, 0);
      assert.deepEqual((first.value as { values: unknown[] }).values.slice(0, 1), [42]);
      await zygotes.settled();
      assert.equal(invoker.snapshot().usedMb, 128 + 128, "the function's instance, and the refilled zygote");

      const again = await invoker.invoke(one, { x: 1 }, 'z2');
      assert.equal(again.startKind, 'warm');
      assert.equal(again.instanceId, first.instanceId);

      const auto = await invoker.invoke(two, {}, 'z3');
      assert.equal(auto.startKind, 'zygote', 'auto tries the zygote path');
      assert.deepEqual(invoker.planner.costs(two).zygote !== undefined, true);
    } finally {
      await invoker.close();
      if (!zygotes.rootDir.startsWith(dataDir)) rmSync(zygotes.rootDir, { recursive: true, force: true });
    }
  });
});
