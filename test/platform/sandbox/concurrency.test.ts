// A sandbox serving several invocations at once (SandboxSpec.concurrency > 1): they really overlap,
// each gets its own output, one more than it serves is refused, and a failure of the instance (a
// timeout that blocks it, an uncaught error) fails every invocation in flight, while one that times out
// awaiting is abandoned alone. Real processes, on every backend
// that runs the agent itself. The invocations overlap by design, not by timing: the fixture's
// `{ wait: key }` answers only once an invocation `{ release: key }` has arrived.

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, describe, it } from 'node:test';

import { createSandboxBackend, detectIsolation } from '../../../src/platform/sandbox/index.ts';
import type { RuntimeProcess } from '../../../src/platform/sandbox/runtime-process.ts';
import { SandboxError } from '../../../src/platform/sandbox/errors.ts';
import type { SandboxBackend, SandboxSpec } from '../../../src/platform/sandbox/types.ts';
import { closedAfter, ctx, spec, testDataDir } from './support.ts';

const detected = await detectIsolation();
const cgroupsMissing = detected.cgroups.driver ? undefined : `no usable cgroups here: ${detected.cgroups.problems.join('; ')}`;
const containerMissing = !detected.container.ok ? `lean containers unavailable: ${detected.container.reason}` : cgroupsMissing;

const variants: { title: string; skip: string | undefined; make: (extra?: { logLimitBytes?: number }) => Promise<SandboxBackend> }[] = [
  { title: 'process sandbox without cgroups', skip: undefined, make: (extra) => createSandboxBackend({ isolation: 'process', dataDir: testDataDir(), cgroups: false, ...extra }) },
  { title: 'process sandbox with cgroups', skip: cgroupsMissing, make: (extra) => createSandboxBackend({ isolation: 'process', dataDir: testDataDir(), ...extra }) },
  { title: 'lean container', skip: containerMissing, make: (extra) => createSandboxBackend({ isolation: 'container', dataDir: testDataDir(), ...extra }) },
  // A stem runs the launcher's command too: the agent gets --concurrency the same way.
  { title: 'lean container with a stem pool', skip: containerMissing, make: async (extra) => closedAfter(await createSandboxBackend({ isolation: 'container', dataDir: testDataDir(), stemPoolSize: 2, ...extra })) },
];


const fn = 'concurrent';

for (const variant of variants) {
  describe(`${variant.title}: several invocations at once`, { skip: variant.skip }, () => {
    let backend: SandboxBackend | undefined;
    const live: RuntimeProcess[] = [];
    after(async () => {
      await Promise.all(live.map((sb) => sb.destroy()));
    });

    async function started(overrides: Partial<SandboxSpec> = {}, extra?: { logLimitBytes?: number }): Promise<RuntimeProcess> {
      const b = extra ? await variant.make(extra) : (backend ??= await variant.make());
      const sb = b.create(spec(fn, { concurrency: 2, ...overrides })) as RuntimeProcess;
      live.push(sb);
      await sb.start();
      return sb;
    }

    it('serves two at once, each with exactly its own output, and goes back to idle', async () => {
      const sb = await started();
      assert.equal(sb.concurrency, 2);
      const argv = readFileSync(`/proc/${sb.pid}/cmdline`, 'utf8').split('\0');
      assert.ok(argv.includes('--concurrency=2'), `the agent is told: ${argv.join(' ')}`);
      assert.equal(sb.startLogs.stdout, 'concurrent: init\n', 'the start segment still ends with its marker');
      const a = sb.invoke({ name: 'A', wait: 'go' }, ctx(fn), 10_000);
      assert.equal(sb.inFlight, 1);
      assert.equal(sb.status, 'busy');
      const b = sb.invoke({ name: 'B', release: 'go' }, ctx(fn), 10_000);
      assert.equal(sb.inFlight, 2);
      const [outA, outB] = await Promise.all([a, b]);
      assert.deepEqual(outA.value, { name: 'A', activeAtStart: 1 });
      assert.deepEqual(outB.value, { name: 'B', activeAtStart: 2 }, 'B began while A was in flight');
      // A began, B ran whole while A waited, then A ended: interleaved on the pipes, apart here.
      assert.equal(outA.stdout, 'A: start\nA: end\n');
      assert.equal(outA.stderr, 'A: to stderr\n');
      assert.equal(outB.stdout, 'B: start\nB: end\n');
      assert.equal(outB.stderr, 'B: to stderr\n');
      assert.equal(sb.inFlight, 0);
      assert.equal(sb.status, 'idle');
      const again = await sb.invoke({ name: 'C', after: true }, ctx(fn), 10_000);
      assert.equal(again.stdout, 'C: start\nC: end\n', 'output written after the answer is no invocation\'s');
      const next = await sb.invoke({ name: 'D' }, ctx(fn), 10_000);
      assert.equal(next.stdout, 'D: start\nD: end\n');
    });

    it('refuses one more than it serves at once, saying so', async () => {
      const sb = await started();
      const a = sb.invoke({ name: 'A', wait: 'never' }, ctx(fn), 10_000);
      const b = sb.invoke({ name: 'B', wait: 'never' }, ctx(fn), 10_000);
      await assert.rejects(sb.invoke({ name: 'C' }, ctx(fn), 10_000), (err: SandboxError) => err.code === 'ERR_SANDBOX_STATE' && /serves 2 invocations at once/.test(err.message));
      await assert.rejects(sb.pause(), (err: SandboxError) => err.code === 'ERR_SANDBOX_STATE', 'only an idle sandbox pauses');
      await sb.destroy();
      for (const out of await Promise.all([a, b])) {
        assert.equal(out.error?.kind, 'exit');
        assert.equal(out.fatal, true);
      }
    });

    it('a throw in one is that invocation\'s error; its sibling is served as ever', async () => {
      const sb = await started();
      const a = sb.invoke({ name: 'A', wait: 'go' }, ctx(fn), 10_000);
      const b = await sb.invoke({ name: 'B', release: 'go', throw: 'bad input' }, ctx(fn), 10_000);
      assert.equal(b.ok, false);
      assert.equal(b.error?.kind, 'error');
      assert.equal(b.error?.message, 'bad input');
      assert.equal(b.fatal, undefined);
      assert.equal(b.stdout, 'B: start\n');
      const outA = await a;
      assert.equal(outA.ok, true);
      assert.equal(outA.stdout, 'A: start\nA: end\n');
      assert.equal(sb.status, 'idle');
    });

    it('a timeout of one that awaits is abandoned: it fails alone, with its output, and the instance serves on', async () => {
      const sb = await started();
      const a = sb.invoke({ name: 'A', wait: 'later' }, ctx(fn), 10_000);
      const b = await sb.invoke({ name: 'B', hang: true }, ctx(fn, 300), 300);
      assert.equal(b.ok, false);
      assert.equal(b.error?.kind, 'timeout');
      assert.match(b.error?.message ?? '', /time limit of 300 ms; the instance gave up on it and serves its other invocations on/);
      assert.equal(b.fatal, false);
      assert.equal(b.stdout, 'B: start\n', 'what it wrote before its deadline is its own');
      assert.equal(sb.inFlight, 1, 'its slot is free again; A is still in flight');
      const c = await sb.invoke({ name: 'C', release: 'later' }, ctx(fn), 10_000);
      assert.equal(c.ok, true);
      const outA = await a;
      assert.equal(outA.ok, true, 'the sibling was served to the end');
      assert.equal(outA.stdout, 'A: start\nA: end\n');
      assert.equal(sb.status, 'idle');
    });

    it('a timeout of one that blocks the event loop kills the instance and fails its sibling as "exit", fatal', async () => {
      const sb = await started();
      const a = sb.invoke({ name: 'A', wait: 'never' }, ctx(fn), 10_000);
      const b = await sb.invoke({ name: 'B', spin: true }, ctx(fn, 300), 300);
      assert.equal(b.error?.kind, 'timeout');
      assert.match(b.error?.message ?? '', /300 ms; the sandbox was killed/);
      assert.equal(b.fatal, true);
      const outA = await a;
      assert.equal(outA.error?.kind, 'exit');
      assert.match(outA.error?.message ?? '', /another invocation on the same instance did not finish within its time limit of 300 ms; the instance was killed/);
      assert.equal(outA.fatal, true);
      assert.equal(sb.status, 'exited');
      assert.equal(sb.inFlight, 0);
    });

    it('an uncaught error fails every invocation in flight, naming the one that threw', async () => {
      const sb = await started();
      const a = sb.invoke({ name: 'A', wait: 'never' }, ctx(fn), 10_000);
      const b = await sb.invoke({ name: 'B', uncaught: 'escaped from a timer', hang: true }, ctx(fn), 10_000);
      assert.equal(b.ok, false);
      assert.equal(b.error?.kind, 'error');
      assert.equal(b.error?.message, 'escaped from a timer');
      assert.equal(b.fatal, true);
      assert.equal(b.stdout, 'B: start\n');
      const outA = await a;
      assert.equal(outA.error?.kind, 'error');
      assert.equal(outA.error?.message, 'the instance failed while serving it: Error: escaped from a timer');
      assert.equal(outA.fatal, true);
      assert.equal(outA.stdout, 'A: start\n');
      assert.equal((await sb.exited).code, 1);
      assert.equal(sb.status, 'exited');
    });

    it('bounds each invocation\'s output by the log limit, head and tail', async () => {
      const sb = await started({}, { logLimitBytes: 1000 });
      const out = await sb.invoke({ name: 'A', logBytes: 5000 }, ctx(fn), 10_000);
      assert.equal(out.ok, true);
      // "A: start\n" (9 bytes), 5000 × o, "A: end\n" (7): 5016 bytes, 500 of the head and 500 of the tail kept.
      assert.equal(out.stdout, `A: start\n${'o'.repeat(491)}\n[… 4016 bytes omitted …]\n${'o'.repeat(493)}A: end\n`);
    });

    it('serves one at a time without --concurrency when the spec asks for 1', async () => {
      const sb = await started({ concurrency: 1 });
      assert.equal(sb.concurrency, 1);
      const argv = readFileSync(`/proc/${sb.pid}/cmdline`, 'utf8').split('\0');
      assert.ok(!argv.some((a) => a.startsWith('--concurrency')), 'the one-at-a-time agent is started as before');
      const a = sb.invoke({ name: 'A' }, ctx(fn), 10_000);
      await assert.rejects(sb.invoke({ name: 'B' }, ctx(fn), 10_000), (err: SandboxError) => err.code === 'ERR_SANDBOX_STATE' && /one invocation at a time/.test(err.message));
      assert.equal((await a).stdout, 'A: start\nA: end\n');
    });
  });
}

describe('SandboxSpec.concurrency', () => {
  it('must be an integer from 1 to 1000', async () => {
    const backend = await createSandboxBackend({ isolation: 'process', dataDir: testDataDir(), cgroups: false });
    for (const bad of [0, 1.5, 1001, -1]) {
      assert.throws(() => backend.create(spec(fn, { concurrency: bad })), new RegExp(`spec.concurrency must be an integer from 1 to 1000 \\(invocations served at once\\), got ${bad}`));
    }
  });
});
