// The dashboard: static files (dashboard/ beside this module, and uPlot from node_modules) served at
// `/`, the state a page starts from (GET /dashboard/state), and the live stream it then follows
// (GET /events, server-sent events: every invocation, decision and deploy, and the instances'
// state at most every STATE_EVERY_MS while anything changes, and once a second regardless).

import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Platform } from '../platform.ts';
import { summarizeInvocation } from '../events.ts';
import { idleCpus } from '../sandbox/idle-cpus.ts';

const ASSET_DIR = new URL('./dashboard/', import.meta.url);
const require = createRequire(import.meta.url);

/** URL path → file and content type. Read on first request, then kept. */
const ASSETS: Record<string, { file: () => string; type: string }> = {
  '/': { file: () => fileURLToPath(new URL('index.html', ASSET_DIR)), type: 'text/html; charset=utf-8' },
  '/dashboard/app.js': { file: () => fileURLToPath(new URL('app.js', ASSET_DIR)), type: 'text/javascript; charset=utf-8' },
  '/dashboard/style.css': { file: () => fileURLToPath(new URL('style.css', ASSET_DIR)), type: 'text/css; charset=utf-8' },
  '/dashboard/uPlot.iife.min.js': { file: () => require.resolve('uplot/dist/uPlot.iife.min.js'), type: 'text/javascript; charset=utf-8' },
  '/dashboard/uPlot.min.css': { file: () => require.resolve('uplot/dist/uPlot.min.css'), type: 'text/css; charset=utf-8' },
};
const cache = new Map<string, Buffer>();

/** Serves a dashboard file; false when `path` is not one. */
export function serveDashboardAsset(path: string, res: ServerResponse): boolean {
  const asset = ASSETS[path];
  if (!asset) return false;
  let body = cache.get(path);
  if (!body) cache.set(path, (body = readFileSync(asset.file())));
  res.writeHead(200, { 'content-type': asset.type, 'content-length': body.length, 'cache-control': 'no-cache' });
  res.end(body);
  return true;
}

/** Cold/warm history: this long, in buckets this wide. */
const HISTORY_MS = 30 * 60_000;
const BUCKET_MS = 10_000;

/** Everything the page shows, as it is now. */
export async function dashboardState(platform: Platform) {
  const now = Date.now();
  return {
    now,
    isolation: platform.backend.isolation.backend,
    // Read each time: an operator may change it while thaw runs.
    idleCpus: idleCpus(),
    bucketMs: BUCKET_MS,
    functions: platform.store.functions.list().map((info) => ({
      name: info.name,
      latestVersion: info.latestVersion,
      aliases: platform.store.aliases.list(info.name).map((a) => ({ name: a.name, routes: a.routes })),
      versions: platform.store.functions.versions(info.name).map((v) => ({ version: v.version, memoryMb: v.memoryMb, start: v.start, snapshotStatus: v.snapshotStatus, createdAt: v.createdAt })),
    })),
    ...(await liveState(platform)),
    invocations: platform.store.invocations.recent(50).map(summarizeInvocation),
    startKinds: platform.store.invocations.startKindSeries({ since: now - HISTORY_MS, bucketMs: BUCKET_MS }),
    decisions: platform.events.recentDecisions(),
  };
}

/** What changes without an event of its own: instances by state, memory, zygotes, waiting requests, the queue. */
async function liveState(platform: Platform) {
  const snapshot = platform.invoker.snapshot();
  const instances = platform.invoker.instancesByFunction();
  const instanceMb = instances.reduce((sum, r) => sum + r.memoryMb, 0);
  const zygotes = (await platform.zygotes?.stats())?.sets ?? [];
  return {
    memory: { usedMb: snapshot.usedMb, idleMb: snapshot.idleMb, budgetMb: snapshot.budgetMb, zygoteMb: Math.max(0, snapshot.usedMb - instanceMb) },
    instances,
    zygotes: {
      ready: zygotes.reduce((n, s) => n + s.ready, 0),
      starting: zygotes.reduce((n, s) => n + s.starting, 0),
      sets: zygotes.map((s) => ({ packages: s.packages, ready: s.ready, starting: s.starting, memoryMb: s.memoryMb })),
    },
    waiting: snapshot.waiting,
    queue: await platform.asyncQueue.counts(),
  };
}

const STATE_EVERY_MS = 250;

/** GET /events: a server-sent event stream of the platform's events, and its live state. */
export function streamEvents(platform: Platform, req: IncomingMessage, res: ServerResponse): void {
  res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache', connection: 'keep-alive', 'x-accel-buffering': 'no' });
  res.write('retry: 2000\n\n');
  let stateDue: NodeJS.Timeout | undefined;
  let closed = false;
  const send = (type: string, data: unknown) => {
    if (!closed) res.write(`event: ${type}\ndata: ${JSON.stringify(data)}\n\n`);
  };
  const sendState = () => {
    stateDue = undefined;
    liveState(platform).then((state) => send('state', state), () => undefined);
  };
  const unsubscribe = platform.events.subscribe((event) => {
    if (event.type !== 'instances') send(event.type, event);
    stateDue ??= setTimeout(sendState, STATE_EVERY_MS);
  });
  const tick = setInterval(sendState, 1000);
  sendState();
  const close = () => {
    closed = true;
    unsubscribe();
    clearInterval(tick);
    clearTimeout(stateDue);
  };
  req.once('close', close);
  res.once('close', close);
}
