// Test helper: builds a Trace from Azure-2019-format CSVs following the FaaSCache reference's trace
// generation rules (docs/techniques.md Appendix A), for the fixtures in test/fixtures/faascache. It handles
// exactly what those fixtures contain (and the invitro 500-function sample): comma-separated fields
// without quoting. The project's real reader is src/sim/traces/azure2019.ts; this one exists so the
// compat engine's tests do not depend on it.
//
// Rules: durations rows deduplicated on HashFunction (first kept), the app's function count taken from
// them; invocation rows with an empty field dropped, rows invoked fewer than 2 times dropped, duplicates
// dropped; inner joins keep the invocations' row order. Memory: per-app files give
// ceil(AverageAllocatedMb / functions of the app in durations); per-function files (the sample) give
// ceil(AverageAllocatedMb). cold = trunc(Maximum), warm = trunc(Average); in minute m (0-based from the
// first minute column) one invocation arrives at m·60000, k > 1 at m·60000 + i·(60000/k); all arrivals
// merged by a stable sort on time (ties in function order).

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ArrivalBatch, FunctionSpec, Trace } from '../../../src/core/trace.ts';

function readCsv(path: string): { header: string[]; rows: string[][] } {
  const lines = readFileSync(path, 'utf8').split(/\r?\n/).filter((l) => l.length > 0);
  const header = lines[0]!.split(',');
  return { header, rows: lines.slice(1).map((l) => l.split(',')) };
}

export interface ReferenceFunction {
  id: string;
  memoryMb: number;
  coldMs: number;
  warmMs: number;
}

export function loadReferenceTrace(dir: string, memoryFormat: 'app' | 'function' = 'app'): Trace & { reference: ReferenceFunction[] } {
  const dur = readCsv(join(dir, 'durations.csv'));
  const dcol = (n: string): number => dur.header.indexOf(n);
  const durByFn = new Map<string, string[]>();
  const appFunctions = new Map<string, number>();
  for (const r of dur.rows) {
    const fn = r[dcol('HashFunction')]!;
    if (durByFn.has(fn)) continue;
    durByFn.set(fn, r);
    const app = r[dcol('HashApp')]!;
    appFunctions.set(app, (appFunctions.get(app) ?? 0) + 1);
  }

  const mem = readCsv(join(dir, 'memory.csv'));
  const mcol = (n: string): number => mem.header.indexOf(n);
  const memByKey = new Map<string, number>();
  for (const r of mem.rows) {
    const avg = Number(r[mcol('AverageAllocatedMb')]);
    if (memoryFormat === 'app') {
      const app = r[mcol('HashApp')]!;
      if (memByKey.has(app)) continue;
      memByKey.set(app, Math.ceil(avg / appFunctions.get(app)!));
    } else {
      const fn = r[mcol('HashFunction')]!;
      if (memByKey.has(fn)) continue;
      memByKey.set(fn, Math.ceil(avg));
    }
  }

  const inv = readCsv(join(dir, 'invocations.csv'));
  const icol = (n: string): number => inv.header.indexOf(n);
  const named = new Set(['HashOwner', 'HashApp', 'HashFunction', 'Trigger']);
  const minuteCols = inv.header.map((h, i) => (named.has(h) ? -1 : i)).filter((i) => i >= 0);
  const functions: FunctionSpec[] = [];
  const reference: ReferenceFunction[] = [];
  const counts: number[][] = [];
  const seen = new Set<string>();
  for (const r of inv.rows) {
    if (r.some((v) => v === '')) continue;
    const id = r[icol('HashFunction')]!;
    const c = minuteCols.map((i) => Number(r[i]));
    if (c.reduce((a, b) => a + b, 0) <= 1) continue;
    if (seen.has(id)) continue;
    seen.add(id);
    const d = durByFn.get(id);
    if (!d) continue;
    const app = r[icol('HashApp')]!;
    const memoryMb = memByKey.get(memoryFormat === 'app' ? app : id);
    if (memoryMb === undefined) continue;
    const warmMs = Math.trunc(Number(d[dcol('Average')]));
    const coldMs = Math.trunc(Number(d[dcol('Maximum')]));
    functions.push({ index: functions.length, id, app, memoryMb, warmMs, coldStartMs: coldMs - warmMs });
    reference.push({ id, memoryMb, coldMs, warmMs });
    counts.push(c);
  }

  // Merge minute by minute: within a minute, a stable sort on time in function order.
  const minutes = minuteCols.length;
  let total = 0;
  for (const c of counts) for (const k of c) total += k;
  const fnArr = new Int32Array(total);
  const timeArr = new Float64Array(total);
  let out = 0;
  const bf: number[] = [];
  const bt: number[] = [];
  for (let m = 0; m < minutes; m++) {
    bf.length = 0;
    bt.length = 0;
    const start = m * 60 * 1000;
    for (let f = 0; f < counts.length; f++) {
      const k = counts[f]![m]!;
      if (k === 0) continue;
      if (k === 1) {
        bf.push(f);
        bt.push(start);
      } else {
        const every = (60 * 1000) / k;
        for (let i = 0; i < k; i++) {
          bf.push(f);
          bt.push(start + i * every);
        }
      }
    }
    const order = bf.map((_, i) => i).sort((a, b) => bt[a]! - bt[b]! || a - b);
    for (const i of order) {
      fnArr[out] = bf[i]!;
      timeArr[out] = bt[i]!;
      out++;
    }
  }
  const batch: ArrivalBatch = { length: total, fn: fnArr, time: timeArr };
  return {
    name: dir,
    functions,
    invocationCount: total,
    spanMs: minutes * 60 * 1000,
    batches: () => [batch],
    reference,
  };
}
