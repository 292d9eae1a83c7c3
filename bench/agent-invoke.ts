// The agent's side of a warm invocation, alone: a real runtime agent (bundled as thaw bundles it,
// started with the process sandbox's arguments) serving examples/hello over a socketpair on fd 3,
// driven with invoke lines as the host writes them (invokeLine), one at a time. Beside it, on the
// same kind of channel, the floor: a minimal node child that parses each line and answers with
// one JSON line (bench/relay.ts's child). Subjects run in alternating rounds so a change of load
// on the shared machine hits them all alike; compare them as ratios.
//
//   node --import tsx bench/agent-invoke.ts [--invocations 20000] [--rounds 3]
//        [--base <git revision> ...] [--agent label=path/to/agent.cjs ...] [--strace] [--pin cross|same|none] [--node-flags '--cpu-prof ...']
//        [--out out/bench/agent-invoke.json]
//
// The agent is built from src/runtime as thaw builds it (ensureAgentBundle); --base adds one built
// from src/runtime at a git revision (before/after in one run), --agent any other build.
// CPU is the child's, all threads (/proc/PID/task/*/schedstat, ns); RTT is write → result parsed.
// --strace counts the syscalls each subject makes per invocation (one extra round under strace -c).

import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import type { Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';

import * as esbuild from 'esbuild';

import { AGENT_BUILD_OPTIONS, ensureAgentBundle } from '../src/platform/sandbox/agent-bundle.ts';
import { BUNDLE_OPTIONS } from '../src/platform/deploy/bundle.ts';
import { invokeLine } from '../src/platform/sandbox/runtime-process.ts';
import { LineSplitter } from '../src/runtime/framing.ts';
import { machine, median, printTable, writeJson } from './lib.ts';

const { values: args } = parseArgs({
  options: {
    invocations: { type: 'string', default: '20000' },
    rounds: { type: 'string', default: '3' },
    warmup: { type: 'string', default: '2000' },
    agent: { type: 'string', multiple: true, default: [] },
    base: { type: 'string', multiple: true, default: [] },
    strace: { type: 'boolean', default: false },
    pin: { type: 'string', default: 'cross' },
    'node-flags': { type: 'string', default: '' },
    out: { type: 'string', default: 'out/bench/agent-invoke.json' },
  },
});
const INVOCATIONS = Number(args.invocations);
const ROUNDS = Number(args.rounds);
const WARMUP = Number(args.warmup);
/**
 * Where the processes run. Unpinned, the scheduler's placement of driver and child (one core or
 * two) changes a ping-pong's cost by half from one run to the next; pinned, rounds agree.
 * cross: driver on CPU 0, child on CPU 1 (as a server and an instance on two cores); same: both
 * on CPU 0; none: wherever the scheduler puts them.
 */
const PIN = args.pin as 'cross' | 'same' | 'none';
const CHILD_CPU = PIN === 'cross' ? '1' : '0';
if (PIN !== 'none') spawnSync('taskset', ['-pc', '0', String(process.pid)], { stdio: 'ignore' });

// The floor: relay.ts's child, answering with the same value hello returns.
const ECHO_CHILD = `
const net = require('node:net');
const channel = new net.Socket({ fd: 3, readable: true, writable: true });
let rest = '', n = 0;
channel.setEncoding('utf8');
channel.on('data', (chunk) => {
  const text = rest + chunk;
  let start = 0, nl;
  while ((nl = text.indexOf('\\n', start)) >= 0) {
    const msg = JSON.parse(text.slice(start, nl));
    start = nl + 1;
    const t = performance.now();
    const value = { message: 'Hello, ' + msg.payload.name + '!', invocationsInThisInstance: ++n, instanceId: 'abcdef01', version: msg.context.version };
    channel.write(JSON.stringify({ type: 'result', id: msg.id, ok: true, durationMs: performance.now() - t, value }) + '\\n');
  }
  rest = text.slice(start);
});
channel.write('{"type":"ready"}\\n');
channel.on('end', () => process.exit(0));
`;

// The floor under that: the same child with no stream machinery, reading into one buffer of its own
// (net.Socket's onread) and writing with one write(2) (fs.writeSync): what node itself costs.
const RAW_ECHO_CHILD = `
const net = require('node:net');
const fs = require('node:fs');
let n = 0;
const buffer = Buffer.allocUnsafe(65536);
const channel = new net.Socket({ fd: 3, readable: true, writable: true, onread: { buffer, callback: (nread) => {
  let start = 0, nl;
  while ((nl = buffer.indexOf(10, start)) >= 0 && nl < nread) {
    const msg = JSON.parse(buffer.toString('utf8', start, nl));
    start = nl + 1;
    const t = performance.now();
    const value = { message: 'Hello, ' + msg.payload.name + '!', invocationsInThisInstance: ++n, instanceId: 'abcdef01', version: msg.context.version };
    fs.writeSync(3, JSON.stringify({ type: 'result', id: msg.id, ok: true, durationMs: performance.now() - t, value }) + '\\n');
  }
} } });
fs.writeSync(3, '{"type":"ready"}\\n');
channel.on('end', () => process.exit(0));
`;

interface Subject {
  label: string;
  /** node's arguments (after the executable). */
  argv: string[];
}

interface Running {
  child: ChildProcess;
  channel: Socket;
  /** The next line from the child. */
  next(): Promise<string>;
}

function start(subject: Subject): Promise<Running> {
  const [file, argv] = PIN === 'none' ? [process.execPath, subject.argv] : ['taskset', ['-c', CHILD_CPU, process.execPath, ...subject.argv]];
  const child = spawn(file, argv, { stdio: ['ignore', 'pipe', 'pipe', 'pipe'], env: { PATH: process.env.PATH, NODE_ENV: 'production' } });
  // The host drains the function's output pipes as thaw does (it reads them, always).
  child.stdout!.resume();
  child.stderr!.resume();
  const channel = child.stdio[3] as Socket;
  const splitter = new LineSplitter();
  const lines: string[] = [];
  let waiter: ((line: string) => void) | undefined;
  channel.setEncoding('utf8');
  channel.on('data', (chunk: string) =>
    splitter.push(chunk, (line) => {
      const w = waiter;
      waiter = undefined;
      if (w) w(line);
      else lines.push(line);
    }),
  );
  const next = (): Promise<string> => {
    const line = lines.shift();
    if (line !== undefined) return Promise.resolve(line);
    return new Promise((r) => (waiter = r));
  };
  return next().then((line) => {
    if (!line.includes('"ready"')) throw new Error(`${subject.label}: expected ready, got ${line}`);
    return { child, channel, next };
  });
}

/** CPU ns of every thread of `pid` so far. */
function cpuNs(pid: number): number {
  let ns = 0;
  for (const task of readdirSync(`/proc/${pid}/task`)) {
    try {
      ns += Number(readFileSync(`/proc/${pid}/task/${task}/schedstat`, 'utf8').split(' ')[0]);
    } catch {
      // the thread exited
    }
  }
  return ns;
}

let seq = 0;
/** n invocations one at a time: the round-trip times, ms. */
async function drive(r: Running, n: number): Promise<number[]> {
  const rtts: number[] = new Array(n);
  for (let i = 0; i < n; i++) {
    const id = `inv-${++seq}`;
    const context = { invocationId: id, functionName: 'hello', version: 1, memoryMb: 128, deadlineMs: Date.now() + 30_000 };
    const t = performance.now();
    r.channel.write(invokeLine(id, { name: 'bench' }, context, '{"name":"bench"}'));
    const line = await r.next();
    const msg = JSON.parse(line) as { id: string; ok: boolean };
    rtts[i] = performance.now() - t;
    if (msg.id !== id || !msg.ok) throw new Error(`unexpected result ${line}`);
  }
  return rtts;
}

interface Measured {
  /** The first FIRST invocations of a new instance, its code not yet optimised by V8 (an instance at concurrency 32 in bench/warm-cpu.ts serves about 300 in all). */
  firstCpuUsPerInvocation: number;
  cpuUsPerInvocation: number;
  hostCpuUsPerInvocation: number;
  rttP50Us: number;
  rttP99Us: number;
}
const FIRST = 300;

async function measure(subject: Subject): Promise<Measured> {
  const r = await start(subject);
  try {
    const fresh = cpuNs(r.child.pid!);
    await drive(r, FIRST);
    const firstCpuUsPerInvocation = (cpuNs(r.child.pid!) - fresh) / 1000 / FIRST;
    await drive(r, WARMUP);
    const before = cpuNs(r.child.pid!);
    const host = process.cpuUsage();
    const rtts = await drive(r, INVOCATIONS);
    const hostUsed = process.cpuUsage(host);
    const used = cpuNs(r.child.pid!) - before;
    rtts.sort((a, b) => a - b);
    return {
      firstCpuUsPerInvocation,
      cpuUsPerInvocation: used / 1000 / INVOCATIONS,
      hostCpuUsPerInvocation: (hostUsed.user + hostUsed.system) / INVOCATIONS,
      rttP50Us: median(rtts) * 1000,
      rttP99Us: rtts[Math.floor(rtts.length * 0.99)]! * 1000,
    };
  } finally {
    await stop(r);
  }
}

/** Ends the channel, as the host does to stop an instance (the agent exits, writing a --cpu-prof), then kills what is left. */
async function stop(r: Running): Promise<void> {
  const exited = new Promise((res) => r.child.on('exit', res));
  r.channel.end();
  const timer = setTimeout(() => r.child.kill('SIGKILL'), 5000);
  await exited;
  clearTimeout(timer);
}

/** Syscalls per invocation, by name, of a subject under strace -c -f (the warm-up excluded). */
async function syscalls(subject: Subject, n: number): Promise<Record<string, number>> {
  const r = await start(subject);
  const outFile = join(tmpdir(), `agent-invoke-strace-${process.pid}.txt`);
  try {
    await drive(r, WARMUP);
    const tracer = spawn('strace', ['-c', '-f', '-o', outFile, '-p', String(r.child.pid)], { stdio: 'ignore' });
    // strace says nothing when it is attached; its first counted calls arrive within milliseconds.
    await new Promise((res) => setTimeout(res, 300));
    await drive(r, n);
    tracer.kill('SIGINT');
    await new Promise((res) => tracer.on('exit', res));
    const counts: Record<string, number> = {};
    for (const row of readFileSync(outFile, 'utf8').split('\n')) {
      const m = /^\s*[\d.]+\s+[\d.]+\s+\d+\s+(\d+)\s+(?:\d+\s+)?(\w+)$/.exec(row);
      if (m && m[2] !== 'total') counts[m[2]!] = Number((Number(m[1]) / n).toFixed(2));
    }
    return counts;
  } finally {
    rmSync(outFile, { force: true });
    await stop(r);
  }
}

/** The agent as src/runtime was at git revision `rev`, bundled with the options thaw bundles it with. */
async function agentAt(rev: string, dir: string): Promise<string> {
  const tree = join(dir, `src-${rev}`);
  mkdirSync(tree, { recursive: true });
  const archive = spawnSync('git', ['archive', rev, 'src/runtime'], { maxBuffer: 1 << 26 });
  if (archive.status !== 0) throw new Error(`git archive ${rev}: ${archive.stderr.toString()}`);
  const untar = spawnSync('tar', ['-x', '-C', tree], { input: archive.stdout });
  if (untar.status !== 0) throw new Error(`tar: ${untar.stderr.toString()}`);
  const outfile = join(dir, `agent-${rev}.cjs`);
  await esbuild.build({ ...AGENT_BUILD_OPTIONS, entryPoints: [join(tree, 'src/runtime/agent.ts')], outfile, logLevel: 'silent' });
  return outfile;
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'agent-invoke-'));
  try {
    const bundle = join(dir, 'bundle.cjs');
    await esbuild.build({
      ...BUNDLE_OPTIONS,
      entryPoints: [resolve('examples/hello/index.js')],
      outfile: bundle,
      banner: { js: 'var __thaw_import_meta_url = require("url").pathToFileURL(__filename).href;' },
      define: { 'import.meta.url': '__thaw_import_meta_url' },
      logLevel: 'silent',
    });
    const echo = join(dir, 'echo.cjs');
    writeFileSync(echo, ECHO_CHILD);
    // The process sandbox's arguments (nodeArguments for a cold agent under a V8 heap flag).
    const flags = args['node-flags'] ? args['node-flags'].split(' ') : [];
    const agentArgv = (agentPath: string): string[] => [...flags, '--max-old-space-size=128', agentPath, `--bundle=${bundle}`, '--log-marker=0123456789abcdef', '--invocation-markers=off'];
    const agents: Subject[] = (args.agent as string[]).map((spec) => {
      const [label, path] = spec.includes('=') ? [spec.slice(0, spec.indexOf('=')), spec.slice(spec.indexOf('=') + 1)] : [spec, spec];
      return { label: label!, argv: agentArgv(resolve(path!)) };
    });
    for (const rev of args.base as string[]) agents.unshift({ label: `agent @${rev}`, argv: agentArgv(await agentAt(rev, dir)) });
    agents.push({ label: 'agent', argv: agentArgv((await ensureAgentBundle(dir)).path) });
    const rawEcho = join(dir, 'raw-echo.cjs');
    writeFileSync(rawEcho, RAW_ECHO_CHILD);
    const subjects: Subject[] = [...agents, { label: 'echo child', argv: [echo] }, { label: 'raw echo child', argv: [rawEcho] }];

    const results = new Map<string, Measured[]>(subjects.map((s) => [s.label, []]));
    for (let round = 0; round < ROUNDS; round++) {
      for (const subject of subjects) results.get(subject.label)!.push(await measure(subject));
    }
    const strace: Record<string, Record<string, number>> = {};
    if (args.strace && spawnSync('strace', ['-V']).status === 0) {
      for (const subject of subjects) strace[subject.label] = await syscalls(subject, 2000);
    }

    const mid = (label: string, key: keyof Measured): number => median(results.get(label)!.map((m) => m[key]));
    const floor = mid('echo child', 'cpuUsPerInvocation');
    const firstFloor = mid('echo child', 'firstCpuUsPerInvocation');
    const rows = subjects.map((s) => [
      s.label,
      mid(s.label, 'firstCpuUsPerInvocation').toFixed(1),
      (mid(s.label, 'firstCpuUsPerInvocation') / firstFloor).toFixed(2),
      mid(s.label, 'cpuUsPerInvocation').toFixed(1),
      (mid(s.label, 'cpuUsPerInvocation') / floor).toFixed(2),
      mid(s.label, 'rttP50Us').toFixed(1),
      mid(s.label, 'rttP99Us').toFixed(1),
      mid(s.label, 'hostCpuUsPerInvocation').toFixed(1),
      ...(args.strace ? [Object.entries(strace[s.label] ?? {}).map(([k, v]) => `${k} ${v}`).join(', ')] : []),
    ]);
    printTable(
      `warm hello, one invocation at a time over fd 3 (${INVOCATIONS} invocations × ${ROUNDS} rounds, medians of rounds; µs)`,
      ['subject', `first ${FIRST}: CPU/inv`, '× floor', 'warm: CPU/inv', '× floor', 'RTT p50', 'RTT p99', 'host CPU/inv', ...(args.strace ? ['syscalls/inv'] : [])],
      rows,
    );
    writeJson(args.out!, { machine: machine(), invocations: INVOCATIONS, rounds: ROUNDS, subjects: Object.fromEntries(results), strace });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
