// The runtime agent as the platform runs it: the esbuild bundle under plain node, spoken to over fd 3.

import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Duplex } from 'node:stream';
import { after, before, describe, it } from 'node:test';

import { ensureAgentBundle } from '../../src/platform/sandbox/agent-bundle.ts';
import { onLines } from '../../src/runtime/framing.ts';
import { logMarker, type AgentMessage, type HostMessage } from '../../src/runtime/protocol.ts';
import { fixture, tempDir, testDataDir } from '../platform/sandbox/support.ts';

let agentPath: string;

before(async () => {
  agentPath = (await ensureAgentBundle(testDataDir())).path;
});

interface Agent {
  child: ChildProcess;
  next(): Promise<AgentMessage>;
  send(msg: HostMessage): void;
  stdout(): string;
  stderr(): string;
  exit: Promise<{ code: number | null; signal: string | null }>;
}

/** Every agent started, killed after the tests: a failed assertion must not leave one running. */
const started: ChildProcess[] = [];
after(() => {
  for (const child of started) child.kill('SIGKILL');
});

function startAgent(args: string[], env: Record<string, string> = {}, fd3 = true): Agent {
  const child = spawn(process.execPath, [agentPath, ...args], {
    stdio: fd3 ? ['ignore', 'pipe', 'pipe', 'pipe'] : ['ignore', 'pipe', 'pipe'],
    env,
  });
  started.push(child);
  let out = '';
  let err = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  const queue: AgentMessage[] = [];
  const waiters: ((m: AgentMessage) => void)[] = [];
  const channel = child.stdio[3] as Duplex | undefined;
  if (channel) {
    onLines(channel, (line) => {
      const msg = JSON.parse(line) as AgentMessage;
      const w = waiters.shift();
      if (w) w(msg);
      else queue.push(msg);
    });
  }
  channel?.on('error', () => undefined);
  const exit = new Promise<{ code: number | null; signal: string | null }>((resolve) => child.on('close', (code, signal) => resolve({ code, signal })));
  return {
    child,
    next: () => (queue.length > 0 ? Promise.resolve(queue.shift()!) : new Promise((resolve) => waiters.push(resolve))),
    send: (msg) => channel!.write(`${JSON.stringify(msg)}\n`),
    stdout: () => out,
    stderr: () => err,
    exit,
  };
}

const context = (id: string) => ({ invocationId: id, functionName: 'hello', version: 1, memoryMb: 128, deadlineMs: Date.now() + 10_000 });

describe('runtime agent', () => {
  it('loads the bundle, runs init, says ready with its timings, then serves invocations in order', async () => {
    const before = Date.now();
    const agent = startAgent([`--bundle=${fixture('hello')}/bundle.cjs`, '--log-marker=0123456789abcdef']);
    const ready = await agent.next();
    assert.equal(ready.type, 'ready');
    if (ready.type !== 'ready') return;
    const t = ready.timings;
    assert.ok(t.processStartEpochMs >= before - 1000 && t.processStartEpochMs <= Date.now());
    assert.ok(t.runtimeBootMs > 0);
    assert.ok(t.importMs >= 0 && t.initMs >= 0);

    agent.send({ type: 'invoke', id: 'a', payload: { name: 'one' }, context: context('a') });
    agent.send({ type: 'invoke', id: 'b', payload: { name: 'two' }, context: context('b') });
    const a = await agent.next();
    const b = await agent.next();
    assert.deepEqual([a.type, a.type === 'result' && a.id, b.type === 'result' && b.id], ['result', 'a', 'b']);
    assert.equal(a.type === 'result' && a.ok && (a.value as { message: string }).message, 'hello one');
    assert.equal(b.type === 'result' && b.ok && (b.value as { invocations: number }).invocations, 2);

    agent.send({ type: 'shutdown' });
    assert.deepEqual(await agent.exit, { code: 0, signal: null });
    const m = (seq: number) => logMarker('0123456789abcdef', seq);
    assert.equal(agent.stdout(), `hello: init\n${m(0)}hello: invocation 1\n${m(1)}hello: invocation 2\n${m(2)}`);
    assert.equal(agent.stderr(), `${m(0)}hello: to stderr 1\n${m(1)}hello: to stderr 2\n${m(2)}`);
  });

  it('without invocation markers, says with each result how many bytes its stdout and stderr have taken', async () => {
    const dir = tempDir('thaw-agent-');
    writeFileSync(join(dir, 'bundle.cjs'), 'console.log("init"); exports.handler = (event) => { console.log("out", event.i, "é"); console.error("err", event.i); return event.i; };');
    const agent = startAgent([`--bundle=${dir}/bundle.cjs`, '--invocation-markers=off', '--log-marker=0123456789abcdef']);
    assert.equal((await agent.next()).type, 'ready');
    const written: Array<[number, number] | undefined> = [];
    for (const i of [1, 2]) {
      agent.send({ type: 'invoke', id: `w-${i}`, payload: { i }, context: context(`w-${i}`) });
      const r = await agent.next();
      assert.ok(r.type === 'result' && r.ok && r.value === i);
      written.push(r.type === 'result' ? r.written : undefined);
    }
    agent.send({ type: 'shutdown' });
    await agent.exit;
    const bytes = (text: string) => Buffer.byteLength(text);
    const m0 = logMarker('0123456789abcdef', 0);
    // Cumulative, in bytes (é is two), the start segment's marker included.
    assert.deepEqual(written, [
      [bytes(`init\n${m0}out 1 é\n`), bytes(`${m0}err 1\n`)],
      [bytes(`init\n${m0}out 1 é\nout 2 é\n`), bytes(`${m0}err 1\nerr 2\n`)],
    ]);
    assert.equal(bytes(agent.stdout()), written[1]![0]);
    assert.equal(bytes(agent.stderr()), written[1]![1]);
  });

  it('carries payloads and results of megabytes whole and in order (many reads, writes past a full channel)', async () => {
    const dir = tempDir('thaw-agent-');
    writeFileSync(join(dir, 'bundle.cjs'), 'let n = 0; exports.handler = (event) => ({ n: ++n, text: event.text + event.text });');
    const agent = startAgent([`--bundle=${dir}/bundle.cjs`, '--invocation-markers=off', '--log-marker=0123456789abcdef']);
    assert.equal((await agent.next()).type, 'ready');
    // Multi-byte characters land across read boundaries; 4 MB of result fills the channel's buffer.
    const text = (i: number) => `${i} héllo wörld € 😀 `.repeat(60_000);
    for (const i of [1, 2, 3]) agent.send({ type: 'invoke', id: `big-${i}`, payload: { text: text(i) }, context: context(`big-${i}`) });
    for (const i of [1, 2, 3]) {
      const r = await agent.next();
      assert.ok(r.type === 'result' && r.ok, JSON.stringify(r).slice(0, 200));
      assert.equal(r.id, `big-${i}`);
      const value = r.value as { n: number; text: string };
      assert.equal(value.n, i);
      assert.ok(value.text === text(i) + text(i), `result ${i} is whole`);
    }
    agent.send({ type: 'shutdown' });
    assert.equal((await agent.exit).code, 0);
  });

  it('answers after the microtasks a handler queued, as an async function would: their output is the invocation\'s', async () => {
    const dir = tempDir('thaw-agent-');
    writeFileSync(
      join(dir, 'bundle.cjs'),
      [
        'exports.handler = (event) => {',
        '  Promise.resolve().then(() => console.log("then", event.i));',
        '  queueMicrotask(() => console.log("microtask", event.i));',
        '  if (event.i === 2) throw new Error("sync throw");',
        '  return event.i === 3 ? Promise.resolve(3) : event.i;',
        '};',
      ].join('\n'),
    );
    const agent = startAgent([`--bundle=${dir}/bundle.cjs`, '--log-marker=0123456789abcdef']);
    assert.equal((await agent.next()).type, 'ready');
    const results = [];
    for (const i of [1, 2, 3]) {
      agent.send({ type: 'invoke', id: `m-${i}`, payload: { i }, context: context(`m-${i}`) });
      results.push(await agent.next());
    }
    assert.deepEqual(
      results.map((r) => r.type === 'result' && (r.ok ? r.value : r.error.message)),
      [1, 'sync throw', 3],
    );
    agent.send({ type: 'shutdown' });
    await agent.exit;
    const m = (seq: number) => logMarker('0123456789abcdef', seq);
    const out = [1, 2, 3].map((i) => `then ${i}\nmicrotask ${i}\n${m(i)}`).join('');
    assert.equal(agent.stdout(), `${m(0)}${out}`);
  });

  it('exits when the host closes the channel', async () => {
    const agent = startAgent([`--bundle=${fixture('hello')}/bundle.cjs`]);
    assert.equal((await agent.next()).type, 'ready');
    (agent.child.stdio[3] as Duplex).end();
    assert.deepEqual(await agent.exit, { code: 0, signal: null });
    assert.equal(agent.stdout(), 'hello: init\n', 'no markers without --log-marker');
  });

  it('takes the bundle from THAW_BUNDLE and hides it from the function', async () => {
    const agent = startAgent([], { THAW_BUNDLE: `${fixture('hello')}/bundle.cjs` });
    assert.equal((await agent.next()).type, 'ready');
    agent.send({ type: 'invoke', id: 'e', payload: { env: true }, context: context('e') });
    const r = await agent.next();
    assert.ok(r.type === 'result' && r.ok);
    const value = r.value as { env: Record<string, string>; argv: string[] };
    assert.equal(value.env.THAW_BUNDLE, undefined);
    assert.deepEqual(value.argv, [process.execPath, `${fixture('hello')}/bundle.cjs`]);
    agent.send({ type: 'shutdown' });
    await agent.exit;
  });

  it('reports a failing init() as init-failed and exits 1', async () => {
    const agent = startAgent([`--bundle=${fixture('init-fails')}/bundle.cjs`]);
    const msg = await agent.next();
    assert.equal(msg.type, 'init-failed');
    if (msg.type !== 'init-failed') return;
    assert.deepEqual([msg.error.kind, msg.error.name, msg.error.message], ['init', 'Error', 'database unreachable']);
    assert.ok(msg.timings.importMs !== undefined && msg.timings.initMs === undefined);
    assert.equal((await agent.exit).code, 1);
  });

  it('reports a bundle without a handler, naming what it exports', async () => {
    const dir = tempDir('thaw-agent-');
    writeFileSync(join(dir, 'bundle.cjs'), 'exports.hander = () => 1; exports.other = 2;');
    const agent = startAgent([`--bundle=${dir}/bundle.cjs`]);
    const msg = await agent.next();
    assert.ok(msg.type === 'init-failed');
    assert.match(msg.error.message, /exports no handler.*it exports hander, other/);
    assert.equal((await agent.exit).code, 1);
  });

  it('reports a bundle that throws while loading', async () => {
    const dir = tempDir('thaw-agent-');
    writeFileSync(join(dir, 'bundle.cjs'), 'require("left-pad-that-is-not-there");');
    const agent = startAgent([`--bundle=${dir}/bundle.cjs`]);
    const msg = await agent.next();
    assert.ok(msg.type === 'init-failed');
    assert.match(msg.error.message, /Cannot find module 'left-pad-that-is-not-there'/);
    assert.equal(msg.error.kind, 'init');
  });

  it('refuses to run without fd 3 and says why on stderr', async () => {
    const agent = startAgent([`--bundle=${fixture('hello')}/bundle.cjs`], {}, false);
    const exit = await agent.exit;
    assert.equal(exit.code, 64);
    assert.match(agent.stderr(), /thaw agent: file descriptor 3/);
  });

  it('refuses bad arguments', async () => {
    const agent = startAgent(['--bundel=/x']);
    assert.equal((await agent.exit).code, 64);
    assert.match(agent.stderr(), /unknown option --bundel/);
  });
});

describe('runtime agent serving several invocations at once (--concurrency)', () => {
  const nonce = '0123456789abcdef';
  const bundle = `--bundle=${fixture('concurrent')}/bundle.cjs`;
  const invoke = (id: string, payload: unknown): HostMessage => ({ type: 'invoke', id, payload, context: { ...context(id), functionName: 'concurrent' } });
  type Result = Extract<AgentMessage, { type: 'result' }>;
  /** The next `n` results, by invocation id. */
  async function results(agent: Agent, n: number): Promise<Map<string, Result>> {
    const byId = new Map<string, Result>();
    while (byId.size < n) {
      const msg = await agent.next();
      assert.equal(msg.type, 'result');
      byId.set((msg as Result).id, msg as Result);
    }
    return byId;
  }

  it('serves up to N at once, queues the rest, and returns what each wrote in its own result, with no invocation markers', async () => {
    const agent = startAgent([bundle, `--log-marker=${nonce}`, '--concurrency=2']);
    assert.equal((await agent.next()).type, 'ready');
    // A waits for C; B answers after a tick; C can begin only once B has ended (two at once). One
    // write, read at once: an agent without the limit would begin all three together.
    const lines = [invoke('A', { name: 'A', wait: 'c-arrived' }), invoke('B', { name: 'B' }), invoke('C', { name: 'C', release: 'c-arrived' })];
    (agent.child.stdio[3] as Duplex).write(lines.map((m) => `${JSON.stringify(m)}\n`).join(''));
    const byId = await results(agent, 3);
    const [a, b, c] = ['A', 'B', 'C'].map((id) => byId.get(id)!);
    assert.deepEqual([a.ok && a.value, b.ok && b.value, c.ok && c.value], [
      { name: 'A', activeAtStart: 1 },
      { name: 'B', activeAtStart: 2 },
      { name: 'C', activeAtStart: 2 },
    ], 'B overlapped A; C was queued until B ended');
    for (const [name, r] of [['A', a], ['B', b], ['C', c]] as const) {
      assert.equal(r.stdout, `${name}: start\n${name}: end\n`);
      assert.equal(r.stderr, `${name}: to stderr\n`);
    }
    assert.equal(agent.stdout(), `concurrent: init\n${logMarker(nonce, 0)}`, 'the pipes carry the start segment only');
    agent.child.kill('SIGKILL');
  });

  it('writes output outside any invocation (after one answered) to the pipes', async () => {
    const agent = startAgent([bundle, `--log-marker=${nonce}`, '--concurrency=2']);
    assert.equal((await agent.next()).type, 'ready');
    const onPipe = new Promise<void>((resolve) => agent.child.stdout!.on('data', () => agent.stdout().includes('D: after\n') && resolve()));
    agent.send(invoke('D', { name: 'D', after: true }));
    const d = (await results(agent, 1)).get('D')!;
    assert.equal(d.stdout, 'D: start\nD: end\n');
    await onPipe;
    agent.child.kill('SIGKILL');
  });

  it('abandons an invocation the host gives up on: answers with its output so far, frees its slot, never sends its result', async () => {
    const agent = startAgent([bundle, `--log-marker=${nonce}`, '--concurrency=2']);
    assert.equal((await agent.next()).type, 'ready');
    // A and B fill both slots; C is queued behind them. Abandoning C (queued) answers at once;
    // abandoning A frees its slot for D; releasing A's gate later sends nothing for A.
    agent.send(invoke('A', { name: 'A', wait: 'a-gate' }));
    agent.send(invoke('B', { name: 'B', wait: 'b-gate' }));
    agent.send(invoke('C', { name: 'C' }));
    agent.send({ type: 'abandon', id: 'C' });
    assert.deepEqual(await agent.next(), { type: 'abandoned', id: 'C', durationMs: 0 });
    agent.send({ type: 'abandon', id: 'A' });
    const a = await agent.next();
    assert.equal(a.type, 'abandoned');
    if (a.type !== 'abandoned') return;
    assert.equal(a.id, 'A');
    assert.equal(a.stdout, 'A: start\n');
    assert.ok(a.durationMs >= 0);
    const onPipe = new Promise<void>((resolve) => agent.child.stdout!.on('data', () => agent.stdout().includes('A: end\n') && resolve()));
    agent.send({ type: 'abandon', id: 'nobody' }); // not in flight: no answer
    agent.send(invoke('D', { name: 'D', release: 'a-gate' }));
    const d = await agent.next();
    assert.ok(d.type === 'result' && d.id === 'D' && d.ok, 'D took the abandoned slot');
    agent.send(invoke('E', { name: 'E', release: 'b-gate' }));
    const next = [await agent.next(), await agent.next()].map((m) => m.type === 'result' && m.id).sort();
    assert.deepEqual(next, ['B', 'E'], 'nothing for A, nothing for "nobody"');
    await onPipe; // what A wrote after it was abandoned went to the pipes
    agent.child.kill('SIGKILL');
  });

  it('answers every invocation in flight with a fatal error after an uncaught one, then exits 1', async () => {
    const agent = startAgent([bundle, `--log-marker=${nonce}`, '--concurrency=3']);
    assert.equal((await agent.next()).type, 'ready');
    agent.send(invoke('A', { name: 'A', wait: 'never' }));
    agent.send(invoke('B', { name: 'B', uncaught: 'boom', hang: true }));
    const byId = await results(agent, 2);
    const a = byId.get('A')!;
    const b = byId.get('B')!;
    assert.ok(!a.ok && !b.ok);
    if (a.ok || b.ok) return;
    assert.equal(b.fatal, true);
    assert.equal(b.error.message, 'boom', 'the invocation that threw gets the error itself');
    assert.equal(a.fatal, true);
    assert.equal(a.error.message, 'the instance failed while serving it: Error: boom');
    assert.equal(a.stdout, 'A: start\n', 'with what it wrote so far');
    assert.equal((await agent.exit).code, 1);
  });
});
