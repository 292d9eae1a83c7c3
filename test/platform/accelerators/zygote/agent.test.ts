// The runtime agent's zygote mode, spoken to directly over fd 3: it imports packages, waits, is
// specialised once (never twice), and never runs an invocation before it is specialised.

import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Duplex } from 'node:stream';
import { after, before, describe, it } from 'node:test';

import { ensureAgentBundle } from '../../../../src/platform/sandbox/agent-bundle.ts';
import { parseAgentArguments } from '../../../../src/runtime/agent-lib.ts';
import { logMarker, type AgentMessage, type HostMessage } from '../../../../src/runtime/protocol.ts';
import { installFixtures, tempDir } from './support.ts';

let agentPath: string;
let zygoteDir: string;
let codeDir: string;

before(async () => {
  agentPath = (await ensureAgentBundle(tempDir('thaw-zyg-agent-'))).path;
  zygoteDir = tempDir('thaw-zyg-agent-pkgs-');
  installFixtures(zygoteDir, { 'counter-a': '1.0.0', 'counter-esm': '1.0.0', 'counter-b': '2.0.0' });
  codeDir = tempDir('thaw-zyg-agent-code-');
  mkdirSync(codeDir, { recursive: true });
  // A "variant bundle": counter-a and counter-esm left as run-time requires.
  writeFileSync(
    join(codeDir, 'bundle.cjs'),
    `const a = require('counter-a');
const esm = require('counter-esm');
console.log('loading with', process.env.GREETING);
exports.init = () => { globalThis.initialised = true; };
exports.handler = (event) => ({
  loads: globalThis.__thawFixtureLoads,
  sameA: require('counter-a') === a,
  triple: esm.triple(event.x),
  initialised: globalThis.initialised === true,
  greeting: process.env.GREETING,
  argv1: process.argv[1],
});
`,
  );
  writeFileSync(join(codeDir, 'throws.cjs'), `require('counter-a'); throw new Error('broken top level');\n`);
});

interface Agent {
  child: ChildProcess;
  next(): Promise<AgentMessage>;
  send(msg: HostMessage | Record<string, unknown>): void;
  stdout(): string;
  stderr(): string;
  exit: Promise<{ code: number | null; signal: string | null }>;
}

/** Every agent started, killed after the tests: a failed assertion must not leave one running. */
const started: ChildProcess[] = [];
after(() => {
  for (const child of started) child.kill('SIGKILL');
});

function startAgent(args: string[]): Agent {
  const child = spawn(process.execPath, [agentPath, ...args], { stdio: ['ignore', 'pipe', 'pipe', 'pipe'], env: {} });
  started.push(child);
  let out = '';
  let err = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  const queue: AgentMessage[] = [];
  const waiters: ((m: AgentMessage) => void)[] = [];
  const channel = child.stdio[3] as Duplex;
  let buffered = '';
  channel.on('data', (d: Buffer) => {
    buffered += d.toString();
    let nl: number;
    while ((nl = buffered.indexOf('\n')) >= 0) {
      const msg = JSON.parse(buffered.slice(0, nl)) as AgentMessage;
      buffered = buffered.slice(nl + 1);
      const w = waiters.shift();
      if (w) w(msg);
      else queue.push(msg);
    }
  });
  channel.on('error', () => undefined);
  const exit = new Promise<{ code: number | null; signal: string | null }>((resolve) => child.on('close', (code, signal) => resolve({ code, signal })));
  return {
    child,
    next: () => (queue.length > 0 ? Promise.resolve(queue.shift()!) : new Promise((resolve) => waiters.push(resolve))),
    send: (msg) => channel.write(`${JSON.stringify(msg)}\n`),
    stdout: () => out,
    stderr: () => err,
    exit,
  };
}

const context = (id: string) => ({ invocationId: id, functionName: 'fn', version: 1, memoryMb: 128, deadlineMs: Date.now() + 10_000 });

describe('runtime agent, zygote mode', () => {
  it('imports its packages, waits, is specialised once, then serves like a cold instance', async () => {
    const agent = startAgent([`--zygote=${zygoteDir}`, '--preload=counter-a,counter-esm,counter-b', '--log-marker=00112233aabbccdd']);
    const ready = await agent.next();
    assert.equal(ready.type, 'zygote-ready');
    if (ready.type !== 'zygote-ready') return;
    assert.deepEqual(ready.packages, ['counter-a', 'counter-esm', 'counter-b']);
    assert.ok(ready.timings.runtimeBootMs > 0 && ready.timings.importMs > 0 && ready.timings.initMs === 0);

    agent.send({ type: 'specialise', bundle: join(codeDir, 'bundle.cjs'), env: { GREETING: 'hi' }, functionName: 'fn', version: 1 });
    const specialised = await agent.next();
    assert.equal(specialised.type, 'ready');
    if (specialised.type !== 'ready') return;
    assert.deepEqual(specialised.zygote, { preloaded: ['counter-a', 'counter-esm', 'counter-b'], modulesLoaded: 1, reused: ['counter-a', 'counter-esm'] });
    assert.equal(specialised.timings.runtimeBootMs, 0);
    assert.ok(specialised.timings.processStartEpochMs > ready.timings.processStartEpochMs, 'its start began at the specialisation');

    agent.send({ type: 'invoke', id: 'i1', payload: { x: 4 }, context: context('i1') });
    const result = await agent.next();
    assert.equal(result.type === 'result' && result.ok, true, JSON.stringify(result));
    assert.deepEqual(result.type === 'result' && result.ok && result.value, {
      loads: { 'counter-a@1.0.0': 1, 'counter-esm@1.0.0': 1, 'counter-b@2.0.0': 1 },
      sameA: true,
      triple: 12,
      initialised: true,
      greeting: 'hi',
      argv1: join(codeDir, 'bundle.cjs'),
    });
    // Once: a second specialisation is refused and the process exits.
    agent.send({ type: 'specialise', bundle: join(codeDir, 'bundle.cjs'), env: {}, functionName: 'other', version: 1 });
    assert.deepEqual(await agent.exit, { code: 64, signal: null });
    assert.match(agent.stderr(), /specialise refused: this runtime is not an unspecialised zygote/);
    // The packages' output (none) and the function's load output form the start's log segment.
    // (Read once the process has closed its pipes: stdout and the channel are separate pipes, so a
    // result can arrive before the marker written ahead of it.)
    assert.equal(agent.stdout(), `loading with hi\n${logMarker('00112233aabbccdd', 0)}${logMarker('00112233aabbccdd', 1)}`);
  });

  it('takes its function\'s concurrency when it is specialised: serves several at once, each with its own output', async () => {
    const agent = startAgent([`--zygote=${zygoteDir}`, '--preload=counter-a', '--log-marker=00112233aabbccdd']);
    assert.equal((await agent.next()).type, 'zygote-ready');
    const bundle = join(import.meta.dirname, '..', '..', '..', 'fixtures', 'functions', 'concurrent', 'bundle.cjs');
    agent.send({ type: 'specialise', bundle, env: {}, functionName: 'concurrent', version: 1, concurrency: 2, logLimitBytes: 4096 });
    assert.equal((await agent.next()).type, 'ready');
    // A waits until B arrives: A's answer proves both were in flight together.
    agent.send({ type: 'invoke', id: 'A', payload: { name: 'A', wait: 'k' }, context: context('A') });
    agent.send({ type: 'invoke', id: 'B', payload: { name: 'B', release: 'k' }, context: context('B') });
    const results = new Map<string, AgentMessage>();
    while (results.size < 2) {
      const msg = await agent.next();
      if (msg.type === 'result') results.set(msg.id, msg);
    }
    const [a, b] = [results.get('A')!, results.get('B')!];
    assert.ok(a.type === 'result' && a.ok && b.type === 'result' && b.ok);
    if (!(a.type === 'result' && a.ok && b.type === 'result' && b.ok)) return;
    assert.deepEqual(b.value, { name: 'B', activeAtStart: 2 });
    assert.equal(a.stdout, 'A: start\nA: end\n');
    assert.equal(b.stderr, 'B: to stderr\n');
  });

  it('refuses a specialisation with a concurrency out of range', async () => {
    const agent = startAgent([`--zygote=${zygoteDir}`, '--log-marker=00112233aabbccdd']);
    assert.equal((await agent.next()).type, 'zygote-ready');
    agent.send({ type: 'specialise', bundle: join(codeDir, 'bundle.cjs'), env: {}, functionName: 'fn', version: 1, concurrency: 0 });
    assert.deepEqual(await agent.exit, { code: 64, signal: null });
    assert.match(agent.stderr(), /specialise: concurrency must be an integer from 1 to 1000, got 0/);
  });

  it('refuses an invocation before it is specialised', async () => {
    const agent = startAgent([`--zygote=${zygoteDir}`, '--preload=counter-a']);
    assert.equal((await agent.next()).type, 'zygote-ready');
    agent.send({ type: 'invoke', id: 'early', payload: {}, context: context('early') });
    assert.deepEqual(await agent.exit, { code: 64, signal: null });
    assert.match(agent.stderr(), /before a function was loaded/);
  });

  it('reports a package that cannot be imported, and a bundle that fails to load, as init failures', async () => {
    const missing = startAgent([`--zygote=${zygoteDir}`, '--preload=counter-a,not-installed']);
    const failed = await missing.next();
    assert.equal(failed.type, 'init-failed');
    assert.match(failed.type === 'init-failed' ? failed.error.message : '', /not-installed/);
    assert.equal((await missing.exit).code, 1);

    const broken = startAgent([`--zygote=${zygoteDir}`, '--preload=counter-a']);
    assert.equal((await broken.next()).type, 'zygote-ready');
    broken.send({ type: 'specialise', bundle: join(codeDir, 'throws.cjs'), env: {}, functionName: 'fn', version: 1 });
    const initFailed = await broken.next();
    assert.equal(initFailed.type, 'init-failed');
    assert.match(initFailed.type === 'init-failed' ? initFailed.error.message : '', /broken top level/);
    assert.equal((await broken.exit).code, 1);
  });

  it('a zygote with no packages is a bare pre-booted runtime', async () => {
    const agent = startAgent([`--zygote=${zygoteDir}`, '--preload=']);
    const ready = await agent.next();
    assert.deepEqual(ready.type === 'zygote-ready' && ready.packages, []);
    agent.send({ type: 'shutdown' });
    assert.deepEqual(await agent.exit, { code: 0, signal: null });
  });
});

describe('parseAgentArguments, zygote mode', () => {
  it('reads --zygote and --preload, and needs no bundle', () => {
    assert.deepEqual(parseAgentArguments(['--zygote=/zygote', '--preload=lodash,@scope/pkg', '--uid=65534', '--gid=65534'], { THAW_BUNDLE: '/ignored' }), {
      zygote: '/zygote',
      preload: ['lodash', '@scope/pkg'],
      bundle: '',
      uid: 65534,
      gid: 65534,
    });
    assert.deepEqual(parseAgentArguments(['--zygote=/z'], {}), { zygote: '/z', preload: [], bundle: '' });
  });

  it('says what is wrong', () => {
    assert.throws(() => parseAgentArguments(['--zygote=/z', '--bundle=/b'], {}), /exclude each other/);
    assert.throws(() => parseAgentArguments(['--preload=lodash'], {}), /needs --zygote/);
    assert.throws(() => parseAgentArguments(['--zygote=/z', '--preload=../evil'], {}), /not an npm package name/);
    assert.throws(() => parseAgentArguments(['--zygote='], {}), /must name a package folder/);
    assert.throws(() => parseAgentArguments(['--zygote=/z', '--uid=1'], {}), /go together/);
  });
});
