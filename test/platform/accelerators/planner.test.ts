// The start planner: a named preference when that path can serve, cold otherwise; `auto` tries each
// available path once, then keeps to the fastest measured one.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { DeployedFunction } from '../../../src/platform/function.ts';
import type { Sandbox, SandboxSpec } from '../../../src/platform/sandbox/types.ts';
import { StartPlanner, startKindOf } from '../../../src/platform/accelerators/planner.ts';
import type { StartPath, StartPathKind } from '../../../src/platform/accelerators/start-path.ts';
import { FakeBackend } from '../invoker/fake-sandbox.ts';

const fn = (start: DeployedFunction['start']): DeployedFunction => ({ name: 'f', version: 1, codeDir: '/c', memoryMb: 128, timeoutMs: 1000, maxConcurrency: 1, env: {}, network: false, provisioned: 0, start });
const spec: SandboxSpec = { instanceId: 'i', functionName: 'f', version: 1, codeDir: '/c', memoryMb: 128, env: {}, network: false };

function path(kind: StartPathKind, backend: FakeBackend, state: { available: boolean; throws?: boolean }): StartPath & { deployed: number } {
  return {
    kind,
    deployed: 0,
    available: () => state.available,
    create: (_f, s) => {
      if (state.throws) throw new Error(`${kind} went bad`);
      const sandbox = backend.create({ ...s, instanceId: `${kind}-${s.instanceId}` });
      (sandbox as unknown as { startKind: string }).startKind = kind;
      return sandbox as Sandbox;
    },
    onDeploy() {
      this.deployed++;
    },
  };
}

describe('StartPlanner', () => {
  it('uses the preferred path when it can serve, and cold otherwise', () => {
    const backend = new FakeBackend();
    const snapshot = { available: false };
    const planner = new StartPlanner(backend, [path('snapshot', backend, snapshot)]);
    assert.deepEqual([planner.plan(fn('snapshot'), spec).path, planner.plan(fn('snapshot'), spec).reason], ['cold', 'fallback: snapshot not available']);
    snapshot.available = true;
    const planned = planner.plan(fn('snapshot'), spec);
    assert.equal(planned.path, 'snapshot');
    assert.equal(startKindOf(planned.sandbox, planned.path), 'snapshot');
    assert.equal(planner.plan(fn('cold'), spec).path, 'cold');
  });

  it('falls back to cold when a path fails between available() and create()', () => {
    const backend = new FakeBackend();
    const planner = new StartPlanner(backend, [path('snapshot', backend, { available: true, throws: true })]);
    const planned = planner.plan(fn('snapshot'), spec);
    assert.equal(planned.path, 'cold');
    assert.match(planned.reason, /snapshot went bad/);
  });

  it('auto: tries each available path once, then takes the fastest measured', () => {
    const backend = new FakeBackend();
    const planner = new StartPlanner(backend, [path('snapshot', backend, { available: true }), path('zygote', backend, { available: true })]);
    const auto = fn('auto');
    assert.equal(planner.plan(auto, spec).reason, 'auto: not measured yet');
    planner.observe(auto, 'snapshot', 80);
    assert.equal(planner.plan(auto, spec).path, 'zygote');
    planner.observe(auto, 'zygote', 30);
    planner.observe(auto, 'cold', 200);
    assert.deepEqual([planner.plan(auto, spec).path, planner.plan(auto, spec).reason], ['zygote', 'auto: fastest measured']);
    for (let i = 0; i < 10; i++) planner.observe(auto, 'zygote', 500); // it got slow
    assert.equal(planner.plan(auto, spec).path, 'snapshot');
    assert.deepEqual(Object.keys(planner.costs(auto)).sort(), ['cold', 'snapshot', 'zygote']);
  });

  it('tells every path about deploys', () => {
    const backend = new FakeBackend();
    const p = path('snapshot', backend, { available: false });
    new StartPlanner(backend, [p]).onDeploy(fn('auto'));
    assert.equal(p.deployed, 1);
  });
});
