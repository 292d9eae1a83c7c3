// What every benchmark shares: timing, a printed table, a JSON file under out/bench/, and the
// machine it ran on (figures are only comparable as ratios within one run on one machine).

import { spawn } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, totalmem } from 'node:os';
import { dirname } from 'node:path';
import { idleCpus } from '../src/platform/sandbox/idle-cpus.ts';
import { formatTable } from '../src/sim/report/table.ts';

export function median(xs: readonly number[]): number {
  const sorted = [...xs].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

/** Runs fn `repeat` times and returns the last result with the median wall time, ms. */
export function timed<T>(repeat: number, fn: () => T): { result: T; ms: number } {
  const times: number[] = [];
  let result: T | undefined;
  for (let i = 0; i < repeat; i++) {
    const start = performance.now();
    result = fn();
    times.push(performance.now() - start);
  }
  return { result: result as T, ms: median(times) };
}

export function machine(): Record<string, unknown> {
  const { driver, haltPollNs } = idleCpus();
  return { node: process.version, cpu: cpus()[0]?.model, cores: cpus().length, memoryGB: Math.round(totalmem() / 2 ** 30), loadavg: loadavg(), idleCpus: { driver, haltPollNs } };
}

/** How idle CPUs wait, in a few words for a table's title: a process hop's latency depends on it (src/platform/sandbox/idle-cpus.ts). */
export function idleCpusInWords(): string {
  const { driver, haltPollNs } = idleCpus();
  if (driver === undefined) return 'idle CPUs: unknown';
  if (haltPollNs === undefined) return `idle CPUs: ${driver}`;
  return haltPollNs === 0 ? `idle CPUs: ${driver}, no polling` : `idle CPUs: ${driver}, polling ${haltPollNs / 1000} µs`;
}

export function printTable(title: string, columns: string[], rows: Array<Array<string | number>>): void {
  process.stdout.write(`\n${title}\n${formatTable(columns, rows)}\n`);
}

export function writeJson(path: string, data: unknown): void {
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, JSON.stringify({ ...(data as object), machine: machine(), date: new Date().toISOString() }, null, 2) + '\n');
  process.stdout.write(`\nwrote ${path}\n`);
}

/**
 * The baseline of every cold start: spawns node that requires the bundle, runs init() and the
 * handler (with the context's getRemainingTimeMs, as the agent gives it) and prints the answer;
 * ms from the spawn to the answer.
 */
export function directNodeStart(bundle: string): Promise<number> {
  const script = `const m=require(${JSON.stringify(bundle)});Promise.resolve(m.init&&m.init()).then(()=>m.handler({name:'bench'},{getRemainingTimeMs:()=>30000})).then(r=>process.stdout.write(${JSON.stringify(ANSWER)}+JSON.stringify(r)))`;
  return new Promise((resolve, reject) => {
    const start = performance.now();
    // The environment a sandbox gives, not this process's (NODE_EXTRA_CA_CERTS alone, parsed at
    // every node start, costs tens of milliseconds and would flatter any comparison with it).
    const env = { PATH: '/usr/local/bin:/usr/bin:/bin', NODE_ENV: 'production' };
    const child = spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'pipe', 'ignore'], env });
    // The answer follows whatever the function logged first.
    let seen = '';
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (chunk: string) => {
      if (seen.includes(ANSWER)) return;
      seen += chunk;
      if (seen.includes(ANSWER)) resolve(performance.now() - start);
    });
    child.once('exit', (code) => code !== 0 && reject(new Error(`node exited ${code}`)));
  });
}

/** What directNodeStart's script writes before its answer. */
const ANSWER = '\u0000answer:';
