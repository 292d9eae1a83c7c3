// One conformance suite, run against every sandbox backend this machine offers: a process with
// cgroups, a process without, and a lean (bubblewrap) container. Real processes, real cgroups.

import assert from 'node:assert/strict';
import { existsSync, readFileSync, readlinkSync, realpathSync } from 'node:fs';
import { after, describe, it } from 'node:test';

import { createSandboxBackend, detectIsolation } from '../../../src/platform/sandbox/index.ts';
import { sandboxPhaseMs, type RuntimeProcess } from '../../../src/platform/sandbox/runtime-process.ts';
import type { SandboxBackend, SandboxSpec } from '../../../src/platform/sandbox/types.ts';
import { SandboxError, SandboxStartError } from '../../../src/platform/sandbox/errors.ts';
import { alive, closedAfter, ctx, fixture, spec, testDataDir } from './support.ts';

// A host variable the functions must never see.
process.env.THAW_TEST_HOST_SECRET = 'do-not-leak';

const detected = await detectIsolation();
const cgroupsMissing = detected.cgroups.driver ? undefined : `no usable cgroups here: ${detected.cgroups.problems.join('; ')}`;
const containerMissing = !detected.container.ok
  ? `lean containers unavailable: ${detected.container.reason}`
  : detected.cgroups.driver
    ? undefined
    : cgroupsMissing;


const SCHED_OTHER = 0;
const SCHED_BATCH = 3;
/** A process's scheduling policy (/proc/PID/stat field 41). */
function schedulingPolicy(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[38]);
}

describe('instance scheduling', () => {
  it('normal: instances run under the default policy', async () => {
    const backend = await createSandboxBackend({ isolation: 'process', dataDir: testDataDir(), cgroups: false, instanceScheduling: 'normal' });
    const sb = backend.create(spec('hello')) as RuntimeProcess;
    try {
      await sb.start();
      assert.equal(backend.isolation.scheduling, 'normal');
      assert.equal(schedulingPolicy(sb.pid!), SCHED_OTHER);
    } finally {
      await sb.destroy();
    }
  });

  it('refuses an unknown policy, naming it', async () => {
    await assert.rejects(createSandboxBackend({ isolation: 'process', dataDir: testDataDir(), cgroups: false, instanceScheduling: 'fifo' as never }), /instance scheduling must be one of batch, normal, got "fifo"/);
  });
});

interface Variant {
  title: string;
  skip: string | undefined;
  make: (extra?: { logLimitBytes?: number; startTimeoutMs?: number }) => Promise<SandboxBackend>;
}

const variants: Variant[] = [
  {
    title: 'process sandbox with cgroups',
    skip: cgroupsMissing,
    make: (extra) => createSandboxBackend({ isolation: 'process', dataDir: testDataDir(), ...extra }),
  },
  {
    title: 'process sandbox without cgroups',
    skip: undefined,
    make: (extra) => createSandboxBackend({ isolation: 'process', dataDir: testDataDir(), cgroups: false, ...extra }),
  },
  {
    title: 'lean container',
    skip: containerMissing,
    make: (extra) => createSandboxBackend({ isolation: 'container', dataDir: testDataDir(), ...extra }),
  },
  {
    // Cold instances in stems when one waits (stem-pool.ts), else as above: the same behaviours.
    title: 'lean container with a stem pool',
    skip: containerMissing,
    make: async (extra) => closedAfter(await createSandboxBackend({ isolation: 'container', dataDir: testDataDir(), stemPoolSize: 2, ...extra })),
  },
];

for (const variant of variants) {
  describe(variant.title, { skip: variant.skip }, () => {
    let backend: SandboxBackend;
    const live: RuntimeProcess[] = [];

    async function started(specOverrides: SandboxSpec): Promise<RuntimeProcess> {
      backend ??= await variant.make();
      const sb = backend.create(specOverrides) as RuntimeProcess;
      live.push(sb);
      await sb.start();
      return sb;
    }

    after(async () => {
      await Promise.all(live.map((sb) => sb.destroy()));
    });

    it('runs the instance under SCHED_BATCH where chrt works (a woken instance does not preempt the server)', async () => {
      const sb = await started(spec('hello'));
      const expected = backend.isolation.scheduling === 'batch' ? SCHED_BATCH : SCHED_OTHER;
      if (expected === SCHED_OTHER) assert.ok(backend.isolation.warnings.some((w) => w.includes('scheduling policy')), 'says why batch is not applied');
      assert.equal(schedulingPolicy(sb.pid!), expected);
    });

    it('starts hello, reports every phase, and invokes it', async () => {
      const sb = await started(spec('hello', { env: { GREETING: 'hi' } }));
      assert.equal(sb.status, 'idle');
      assert.ok(sb.pid && alive(sb.pid));
      assert.equal(readlinkSync(`/proc/${sb.pid}/exe`), realpathSync(process.execPath), 'pid is the node process');
      // start() resolved earlier; the timings it returned are checked in the next test.
      const out = await sb.invoke({ name: 'thaw' }, ctx('hello'), 10_000);
      assert.equal(out.ok, true, JSON.stringify(out.error));
      assert.deepEqual(out.value, { message: 'hello thaw', initialised: true, invocations: 1, functionName: 'hello', remainingPositive: true });
      assert.equal(out.stdout, 'hello: invocation 1\n');
      assert.equal(out.stderr, 'hello: to stderr 1\n');
      assert.ok(out.durationMs >= 0);
      assert.equal(out.fatal, undefined);
      assert.equal(sb.startLogs.stdout, 'hello: init\n');

      const second = await sb.invoke({}, ctx('hello'), 10_000);
      assert.equal((second.value as { invocations: number }).invocations, 2, 'the same instance serves again (warm)');
      assert.equal(second.stdout, 'hello: invocation 2\n', 'each invocation gets only its own output');
    });

    it('returns non-negative start phases', async () => {
      backend ??= await variant.make();
      const sb = backend.create(spec('hello')) as RuntimeProcess;
      live.push(sb);
      const before = performance.now();
      const t = await sb.start();
      const tookMs = performance.now() - before;
      for (const phase of ['sandboxMs', 'runtimeBootMs', 'importMs', 'initMs'] as const) {
        assert.ok(Number.isFinite(t[phase]) && t[phase] >= 0, `${phase} = ${t[phase]}`);
      }
      // Measured on the host's monotonic clock, the phases never add up to more than the start
      // took (a wall clock stepped since thaw started must not read as start time).
      const phasesMs = t.sandboxMs + t.runtimeBootMs + (t.agentSetupMs ?? 0) + t.importMs + t.initMs;
      assert.ok(phasesMs <= tookMs, `phases ${phasesMs} ms, start() took ${tookMs} ms`);
      assert.ok(t.runtimeBootMs > 0, 'node takes some time to boot');
      assert.ok((t.cgroupMs ?? 0) >= 0);
    });

    it('passes only the function environment and a few needed variables', async () => {
      const sb = await started(spec('hello', { env: { GREETING: 'hi' } }));
      const out = await sb.invoke({ env: true }, ctx('hello'), 10_000);
      const env = (out.value as { env: Record<string, string> }).env;
      assert.equal(env.GREETING, 'hi');
      assert.equal(env.NODE_ENV, 'production');
      assert.equal(env.THAW_TEST_HOST_SECRET, undefined);
      assert.deepEqual(
        Object.keys(env).filter((k) => !['GREETING', 'NODE_ENV', 'PATH', 'HOME', 'TMPDIR', 'PWD'].includes(k)),
        [],
      );
    });

    it('reports a handler throw as kind "error" and keeps serving', async () => {
      const sb = await started(spec('throws'));
      const out = await sb.invoke({ mode: 'sync' }, ctx('throws'), 10_000);
      assert.equal(out.ok, false);
      assert.equal(out.error?.kind, 'error');
      assert.equal(out.error?.name, 'PaymentError');
      assert.equal(out.error?.message, 'card declined');
      assert.match(out.error?.stack ?? '', /PaymentError: card declined/);
      assert.equal(out.fatal, undefined);

      const rejected = await sb.invoke({ mode: 'async' }, ctx('throws'), 10_000);
      assert.deepEqual([rejected.error?.kind, rejected.error?.name, rejected.error?.message], ['error', 'TypeError', 'async nope']);

      const str = await sb.invoke({ mode: 'string' }, ctx('throws'), 10_000);
      assert.equal(str.error?.kind, 'error');
      assert.match(str.error?.message ?? '', /just a string/);
      assert.equal(sb.status, 'idle');
    });

    it('rejects a result JSON cannot carry with a clear error', async () => {
      const sb = await started(spec('hello'));
      const big = await sb.invoke({ bigint: true }, ctx('hello'), 10_000);
      assert.equal(big.ok, false);
      assert.equal(big.error?.name, 'ResultNotSerializableError');
      assert.match(big.error?.message ?? '', /not JSON-serialisable.*BigInt/);
      const circular = await sb.invoke({ circular: true }, ctx('hello'), 10_000);
      assert.match(circular.error?.message ?? '', /circular/i);
      const fn = await sb.invoke({ fn: true }, ctx('hello'), 10_000);
      assert.match(fn.error?.message ?? '', /returned a function/);
      assert.equal(sb.status, 'idle');
    });

    for (const mode of ['uncaught', 'unhandled'] as const) {
      it(`turns an ${mode === 'uncaught' ? 'uncaught exception' : 'unhandled rejection'} into an error and retires the instance`, async () => {
        const sb = await started(spec('throws'));
        const out = await sb.invoke({ mode }, ctx('throws'), 10_000);
        assert.equal(out.ok, false);
        assert.equal(out.error?.kind, 'error');
        assert.equal(out.error?.message, mode === 'uncaught' ? 'escaped from a timer' : 'nobody awaited me');
        assert.equal(out.fatal, true);
        const exit = await sb.exited;
        assert.equal(exit.code, 1);
        assert.equal(sb.status, 'exited');
        const next = await sb.invoke({}, ctx('throws'), 10_000);
        assert.equal(next.error?.kind, 'exit');
        assert.equal(next.fatal, true);
      });
    }

    for (const mode of ['promise', 'spin'] as const) {
      it(`times out (${mode}), kills the runtime and says which limit`, async () => {
        const sb = await started(spec('hangs'));
        const pid = sb.pid!;
        const out = await sb.invoke({ mode }, ctx('hangs', 400), 400);
        assert.equal(out.ok, false);
        assert.equal(out.error?.kind, 'timeout');
        assert.match(out.error?.message ?? '', /400 ms/);
        assert.equal(out.fatal, true);
        assert.equal(out.stdout, 'hangs: started\n', 'output before the timeout is kept');
        assert.equal(alive(pid), false, 'the runtime process is gone');
        assert.equal(sb.status, 'exited');
      });
    }

    it('times out an invocation after warm ones: the deadline is re-armed for each (same and different limits)', async () => {
      for (const firstMs of [400, 10_000]) {
        const sb = await started(spec('hangs'));
        const quick = await sb.invoke({ mode: 'return' }, ctx('hangs', firstMs), firstMs);
        assert.equal(quick.value, 'returned');
        const again = await sb.invoke({ mode: 'return' }, ctx('hangs', firstMs), firstMs);
        assert.equal(again.value, 'returned');
        const out = await sb.invoke({ mode: 'promise' }, ctx('hangs', 400), 400);
        assert.equal(out.error?.kind, 'timeout', `after two invocations of ${firstMs} ms`);
        assert.match(out.error?.message ?? '', /400 ms/);
        assert.equal(sb.status, 'exited');
      }
    });

    it('gives each invocation the output written straight to fds 1 and 2 during it, markers or not', async () => {
      const sb = await started(spec('hello'));
      const argv = readFileSync(`/proc/${sb.pid}/cmdline`, 'utf8').split('\0');
      assert.ok(argv.includes('--invocation-markers=off'), 'the agent marks only its start: its pipes are read directly');
      for (let i = 1; i <= 3; i++) {
        const out = await sb.invoke({ rawFd: true }, ctx('hello'), 10_000);
        assert.equal(out.stdout, `hello: invocation ${i}\nhello: raw fd 1\n`);
        assert.equal(out.stderr, `hello: to stderr ${i}\nhello: raw fd 2\n`);
      }
    });

    it('hands the payload to the function as the JSON text it was given, when it has one', async () => {
      const sb = await started(spec('hello'));
      const sent = await sb.invoke({ name: 'value' }, ctx('hello'), 10_000, ' {"name": "text as sent"} ');
      assert.equal((sent.value as { message: string }).message, 'hello text as sent');
      // A newline would end the protocol line: such a text is not spliced in, the value is encoded.
      const pretty = await sb.invoke({ name: 'value' }, ctx('hello'), 10_000, '{\n  "name": "pretty"\n}');
      assert.equal((pretty.value as { message: string }).message, 'hello value');
    });

    it('reports process.exit(3) during an invocation as kind "exit"', async () => {
      const sb = await started(spec('exits'));
      const out = await sb.invoke({ code: 3 }, ctx('exits'), 10_000);
      assert.equal(out.error?.kind, 'exit');
      assert.match(out.error?.message ?? '', /exit code 3/);
      assert.equal(out.stdout, 'exits: about to exit\n');
      assert.deepEqual(await sb.exited, { code: 3, signal: null, oom: false });
    });

    it('bounds the heap with a V8 flag only where no memory cgroup does (a flag costs every cold start its built-ins\' code cache)', async () => {
      const sb = await started(spec('hello'));
      const argv = readFileSync(`/proc/${sb.pid}/cmdline`, 'utf8').split('\0');
      const flagged = argv.some((a) => a.startsWith('--max-old-space-size='));
      assert.equal(flagged, !variant.title.startsWith('lean container'), argv.join(' '));
    });

    it('reports heap exhaustion past the memory limit as kind "oom"', async () => {
      const sb = await started(spec('allocates-too-much', { memoryMb: 96 }));
      const out = await sb.invoke({ mode: 'heap' }, ctx('allocates-too-much', 60_000), 60_000);
      assert.equal(out.error?.kind, 'oom', JSON.stringify(out.error));
      assert.match(out.error?.message ?? '', /96 MB/);
      assert.equal((await sb.exited).oom, true);
    });

    it('reports off-heap memory past the cgroup limit as kind "oom"', { skip: variant.title.includes('without cgroups') ? 'only a cgroup bounds Buffers' : undefined }, async () => {
      const sb = await started(spec('allocates-too-much', { memoryMb: 96 }));
      const out = await sb.invoke({ mode: 'buffer', maxMb: 2048 }, ctx('allocates-too-much', 60_000), 60_000);
      assert.equal(out.error?.kind, 'oom', JSON.stringify(out.error));
      const exit = await sb.exited;
      assert.deepEqual(exit, { code: null, signal: 'SIGKILL', oom: true });
    });

    it('pauses (the runtime does not run) and serves again after resume', async () => {
      const sb = await started(spec('hello'));
      await sb.pause();
      assert.equal(sb.status, 'paused');
      const cg = sb.cgroupInfo;
      if (cg?.features.freezer) {
        assert.equal(await cg.freezerState(), 'FROZEN');
      } else {
        const stat = readFileSync(`/proc/${sb.pid}/stat`, 'utf8');
        assert.equal(stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3), 'T', 'stopped by SIGSTOP');
      }
      await assert.rejects(sb.invoke({}, ctx('hello'), 10_000), (err: SandboxError) => err.code === 'ERR_SANDBOX_STATE' && /paused/.test(err.message));
      await assert.rejects(sb.pause(), { code: 'ERR_SANDBOX_STATE' });
      await sb.resume();
      if (cg?.features.freezer) assert.equal(await cg.freezerState(), 'THAWED');
      const out = await sb.invoke({ name: 'again' }, ctx('hello'), 10_000);
      assert.equal((out.value as { message: string }).message, 'hello again');
    });

    it('changes its limits while it runs', async () => {
      const sb = await started(spec('hello', { memoryMb: 128, cpuShares: 1024 }));
      const cg = sb.cgroupInfo;
      if (!cg) {
        await assert.rejects(sb.setLimits({ memoryMb: 256 }), { code: 'ERR_SANDBOX_UNSUPPORTED' });
        return;
      }
      const read = (controller: 'memory' | 'cpu', file: string) => readFileSync(`${cg.dirs[controller]}/${file}`, 'utf8').trim();
      const memFile = cg.version === 'v2' ? 'memory.max' : 'memory.limit_in_bytes';
      assert.equal(read('memory', memFile), String(128 * 1024 * 1024));
      await sb.setLimits({ memoryMb: 256, cpuShares: 512 });
      assert.equal(read('memory', memFile), String(256 * 1024 * 1024));
      if (cg.version === 'v1' && cg.features.swapLimit) assert.equal(read('memory', 'memory.memsw.limit_in_bytes'), String(256 * 1024 * 1024));
      if (cg.features.cpu) assert.equal(read('cpu', cg.version === 'v2' ? 'cpu.weight' : 'cpu.shares'), cg.version === 'v2' ? '20' : '512');
      await sb.setLimits({ memoryMb: 160 });
      assert.equal(read('memory', memFile), String(160 * 1024 * 1024), 'lowering works too');
      if (cg.features.cpuQuota) {
        await sb.setLimits({ cpuQuota: 0.5 });
        assert.equal(read('cpu', cg.version === 'v2' ? 'cpu.max' : 'cpu.cfs_quota_us'), cg.version === 'v2' ? '50000 100000' : '50000');
        await sb.setLimits({ cpuQuota: null });
      }
      const out = await sb.invoke({}, ctx('hello'), 10_000);
      assert.equal(out.ok, true);
      assert.ok((await sb.memoryUsageMb()) > 0);
    });

    it('rejects a second invocation while one runs', async () => {
      const sb = await started(spec('hangs'));
      const first = sb.invoke({}, ctx('hangs', 300), 300);
      await assert.rejects(sb.invoke({}, ctx('hangs'), 10_000), (err: SandboxError) => err.code === 'ERR_SANDBOX_STATE' && /busy/.test(err.message));
      assert.equal((await first).error?.kind, 'timeout');
    });

    it('captures logs per invocation, keeping the head and tail of one over the limit', async () => {
      const small = await variant.make({ logLimitBytes: 1000 });
      const sb = small.create(spec('hello')) as RuntimeProcess;
      live.push(sb);
      await sb.start();
      const out = await sb.invoke({ logBytes: 5000 }, ctx('hello'), 10_000);
      assert.equal(out.ok, true);
      // stdout: "hello: invocation 1\n" (20 bytes) + 5000; stderr: "hello: to stderr 1\n" (19) + 5000.
      assert.equal(out.stdout, `hello: invocation 1\n${'o'.repeat(480)}\n[… 4020 bytes omitted …]\n${'o'.repeat(500)}`);
      assert.equal(out.stderr, `hello: to stderr 1\n${'e'.repeat(481)}\n[… 4019 bytes omitted …]\n${'e'.repeat(500)}`);
      const next = await sb.invoke({}, ctx('hello'), 10_000);
      assert.equal(next.stdout, 'hello: invocation 2\n', 'the limit is per invocation');
    });

    it('rejects start when init() fails, with the error and the logs, and leaves nothing behind', async () => {
      backend ??= await variant.make();
      const sb = backend.create(spec('init-fails')) as RuntimeProcess;
      live.push(sb);
      const err = await sb.start().then(
        () => assert.fail('start should fail'),
        (e: unknown) => e as SandboxStartError,
      );
      assert.ok(err instanceof SandboxStartError);
      assert.equal(err.code, 'ERR_SANDBOX_INIT');
      assert.equal(err.functionError?.kind, 'init');
      assert.equal(err.functionError?.message, 'database unreachable');
      assert.equal(err.stdout, 'init-fails: loading\n');
      await sb.exited;
      assert.equal(sb.status, 'exited');
      const cg = sb.cgroupInfo;
      if (cg) for (const dir of Object.values(cg.dirs)) assert.equal(existsSync(dir), false, `${dir} removed`);
    });

    it('rejects start when the bundle is missing', async () => {
      backend ??= await variant.make();
      const sb = backend.create(spec('no-such-bundle', { codeDir: fixture('') })) as RuntimeProcess;
      live.push(sb);
      await assert.rejects(sb.start(), (err: SandboxStartError) => err.code === 'ERR_SANDBOX_INIT' && /ENOENT/.test(err.message));
    });

    it('gives up on a start that takes longer than the start timeout', async () => {
      // Long enough for node to boot and print under a loaded machine (400 ms was not, at load 15+),
      // so the captured stdout is asserted, not raced.
      const impatient = await variant.make({ startTimeoutMs: 5_000 });
      const sb = impatient.create(spec('init-hangs')) as RuntimeProcess;
      live.push(sb);
      const err = await sb.start().then(
        () => assert.fail('start should time out'),
        (e: unknown) => e as SandboxStartError,
      );
      assert.equal(err.code, 'ERR_SANDBOX_START_TIMEOUT');
      assert.match(err.message, /5000 ms/);
      assert.equal(err.stdout, 'init-hangs: waiting forever\n');
      assert.equal(sb.status, 'exited');
      const cg = sb.cgroupInfo;
      if (cg) for (const dir of Object.values(cg.dirs)) assert.equal(existsSync(dir), false, `${dir} removed`);
    });

    it('rejects start when the code directory does not exist', async () => {
      backend ??= await variant.make();
      const sb = backend.create(spec('hello', { codeDir: '/nonexistent/thaw/code' })) as RuntimeProcess;
      live.push(sb);
      await assert.rejects(sb.start(), (err: SandboxError) => err.code === 'ERR_SANDBOX_START' && /\/nonexistent\/thaw\/code.*ENOENT/.test(err.message));
      assert.equal(sb.status, 'exited');
    });

    it('destroy() kills it, removes its cgroup, and is idempotent', async () => {
      const sb = await started(spec('hello'));
      const pid = sb.pid!;
      const dirs = sb.cgroupInfo ? Object.values(sb.cgroupInfo.dirs) : [];
      for (const dir of dirs) assert.equal(existsSync(dir), true);
      await sb.destroy();
      await sb.destroy();
      assert.equal(alive(pid), false);
      for (const dir of dirs) assert.equal(existsSync(dir), false, `${dir} removed`);
      assert.equal(sb.status, 'destroyed');
      await assert.rejects(sb.invoke({}, ctx('hello'), 1000), { code: 'ERR_SANDBOX_STATE' });
      const exit = await sb.exited;
      assert.equal(exit.signal, 'SIGKILL');
    });

    it('validates the spec', async () => {
      backend ??= await variant.make();
      assert.throws(() => backend.create(spec('hello', { instanceId: '../escape' })), /instanceId/);
      assert.throws(() => backend.create(spec('hello', { memoryMb: 4 })), /memoryMb/);
      assert.throws(() => backend.create(spec('hello', { codeDir: 'relative/dir' })), /codeDir/);
      assert.throws(() => backend.create(spec('hello', { env: { 'A=B': 'x' } })), /invalid variable name/);
    });
  });
}

describe('signal names', () => {
  it('are the canonical ones, not aliases (V8 aborts with SIGABRT, not "SIGIOT")', async () => {
    const { signalName } = await import('../../../src/platform/sandbox/runtime-process.ts');
    assert.equal(signalName(6), 'SIGABRT');
    assert.equal(signalName(9), 'SIGKILL');
    assert.equal(signalName(17), 'SIGCHLD');
  });
});

describe('the sandbox phase of a start', () => {
  it('is the host\'s time to the start message less what the runtime measured inside, whatever its wall clock said', () => {
    // A runtime whose process began (by its timeOrigin) 9 s after t0: a wall clock stepped forward
    // since the host started. The host saw its start message 400 ms after t0.
    const inside = { processStartEpochMs: 1_000 + 9_000, runtimeBootMs: 200, agentSetupMs: 20, importMs: 60, initMs: 20 };
    assert.equal(sandboxPhaseMs(1_000, inside, 1_400), 100);
    // Never below zero (the runtime's clock ran a little fast).
    assert.equal(sandboxPhaseMs(1_000, inside, 1_250), 0);
    // A specialised zygote: only its import and init happen inside.
    assert.equal(sandboxPhaseMs(1_000, { importMs: 30, initMs: 10 }, 1_045), 5);
  });
});
