// Reading a V8 CPU profile (node --cpu-prof): the functions that spent the most self time, within a
// window of the monotonic clock (process.hrtime; V8's profile timestamps are the same clock, in µs),
// so a benchmark can profile its load phase alone rather than the server's start and deploys.

import { readFileSync } from 'node:fs';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
}
interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  samples: number[];
  timeDeltas: number[];
}

export interface SelfTimeEntry {
  /** function (file:line), or V8's (program) / (garbage collector) / (idle). */
  name: string;
  /** Share of the window's non-idle samples. */
  percent: number;
  ms: number;
}

/** The `top` entries by self time in [fromUs, toUs] (monotonic µs); idle time is left out of the shares. */
export function topSelfTime(path: string, top: number, fromUs = -Infinity, toUs = Infinity): { entries: SelfTimeEntry[]; busyMs: number; idleMs: number } {
  const profile = JSON.parse(readFileSync(path, 'utf8')) as CpuProfile;
  const names = new Map<number, string>();
  for (const node of profile.nodes) names.set(node.id, frameName(node.callFrame));
  const selfUs = new Map<string, number>();
  let t = profile.startTime;
  let busy = 0;
  let idle = 0;
  for (let i = 0; i < profile.samples.length; i++) {
    const delta = profile.timeDeltas[i] ?? 0;
    t += delta;
    if (t < fromUs || t > toUs) continue;
    const name = names.get(profile.samples[i]!) ?? '?';
    if (name === '(idle)') {
      idle += delta;
      continue;
    }
    busy += delta;
    selfUs.set(name, (selfUs.get(name) ?? 0) + delta);
  }
  const entries = [...selfUs]
    .sort((a, b) => b[1] - a[1])
    .slice(0, top)
    .map(([name, us]) => ({ name, percent: busy > 0 ? (100 * us) / busy : 0, ms: us / 1000 }));
  return { entries, busyMs: busy / 1000, idleMs: idle / 1000 };
}

function frameName(frame: ProfileNode['callFrame']): string {
  if (!frame.url) return frame.functionName || '(anonymous)';
  const file = frame.url.replace(/^file:\/\//, '').replace(/^.*\/(src|dist|node_modules)\//, '$1/');
  return `${frame.functionName || '(anonymous)'} (${file}:${frame.lineNumber + 1})`;
}
