// `thaw serve`: the gateway and an invoker in one process, state under a data directory.

import { readdirSync, existsSync } from 'node:fs';
import { hostname } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { invalidOption } from '../../core/errors.ts';
import { KEEP_ALIVE_POLICIES } from '../../policies/keepalive/index.ts';
import { PREWARM_POLICIES } from '../../policies/prewarm/index.ts';
import { startGateway } from '../../platform/gateway/server.ts';
import { NODE_ROLES, type NodeRole } from '../../platform/cluster/membership.ts';
import { ClusterNode } from '../../platform/cluster/node.ts';
import { CONCURRENCY_LIMITS, type ConcurrencyLimitMode } from '../../platform/invoker/concurrency-limit.ts';
import { ManualScheduler, WallScheduler } from '../../platform/invoker/scheduler.ts';
import { Platform } from '../../platform/platform.ts';
import { RESTORE_MODES, type RestoreMode } from '../../platform/sandbox/microvm/sandbox.ts';
import type { IsolationMode } from '../../platform/sandbox/index.ts';
import { idleCpus } from '../../platform/sandbox/idle-cpus.ts';
import { INSTANCE_SCHEDULING, type InstanceScheduling } from '../../platform/sandbox/scheduling.ts';
import { DEFAULT_ASYNC_POLICY, type AsyncPolicy } from '../../platform/store/async-queue.ts';
import { TokenSet } from '../../platform/auth/tokens.ts';
import { numberOption, parseOptions } from '../args.ts';
import { say } from '../output.ts';
import { parseDuration, parseMemory } from '../units.ts';

const SERVE_OPTIONS = {
  host: { type: 'string' },
  port: { type: 'string' },
  'data-dir': { type: 'string' },
  'keep-alive': { type: 'string' },
  ttl: { type: 'string' },
  memory: { type: 'string' },
  isolation: { type: 'string' },
  'pause-after': { type: 'string' },
  'concurrency-limit': { type: 'string' },
  'max-attempts': { type: 'string' },
  'retry-delay': { type: 'string' },
  'max-event-age': { type: 'string' },
  examples: { type: 'boolean' },
  clock: { type: 'string' },
  'time-scale': { type: 'string' },
  prewarm: { type: 'string' },
  'snapshot-when': { type: 'string' },
  'isolate-spares': { type: 'string' },
  'stem-pool': { type: 'string' },
  'instance-scheduling': { type: 'string' },
  restore: { type: 'string' },
  'traffic-seed': { type: 'string' },
  otlp: { type: 'string' },
  'token-file': { type: 'string' },
  cluster: { type: 'string' },
  'node-id': { type: 'string' },
  role: { type: 'string' },
  'cluster-credentials': { type: 'string' },
  'cluster-ttl': { type: 'string' },
  'cluster-prefix': { type: 'string' },
  'cluster-ack-wait': { type: 'string' },
  'cluster-routing': { type: 'string' },
  'cluster-replicas': { type: 'string' },
} as const;

export const EXAMPLES_DIR = fileURLToPath(new URL('../../../examples', import.meta.url));

export const SERVE_HELP = `thaw serve [options]          the platform: HTTP gateway + invoker
  --host ADDR           listen address (default 127.0.0.1, loopback only; without a sandbox,
                        --isolation auto refuses any other address: see --isolation process)
  --token-file FILE     API tokens, one 'SCOPE TOKEN' per line (scope invoke or admin): every
                        request but /healthz then needs Authorization: Bearer TOKEN
  --port N              port (default 8080; 0 picks a free one)
  --data-dir DIR        database, deployed functions, snapshots (default .thaw)
  --keep-alive NAME     keep-alive policy: ${KEEP_ALIVE_POLICIES.join(', ')} (default ttl;
                        hybrid also pre-warms)
  --prewarm NAME        pre-warm policy: ${PREWARM_POLICIES.join(', ')} (IceBreaker's predictor); default none
  --ttl DUR             keep-alive window of ttl (default 10m)
  --memory SIZE         memory budget of all instances together (default 4GB)
  --isolation MODE      auto (lean containers if the machine can), container, process,
                        microvm (a QEMU microVM per instance, restored from VM snapshots)
  --restore MODE        microvm: restore VM snapshots lazy, reap or faasnap (default faasnap)
  --stem-pool N         containers: empty containers kept made ahead, in cgroups of their own,
                        for cold starts (default 2; 0 disables)
  --instance-scheduling P  batch (default: a woken instance does not preempt thaw's server, which
                        serves about 1.2x more warm requests at concurrency 32) or normal
  --pause-after DUR     pause idle instances after this long (default 1s; 0 disables)
  --concurrency-limit L fixed (default: a function runs up to its maxConcurrency at once) or
                        adaptive (under it, a limit learnt from the invocations' delays: when the
                        CPUs are full, requests wait for a busy instance instead of waking more)
  --max-attempts N      attempts of an async invocation, the first included (default 3)
  --retry-delay DUR     back-off before an async retry, doubled per retry up to 5m (default 1s)
  --max-event-age DUR   async invocations not run within this long are dead letters (default 6h)
  --snapshot-when WHEN  build function snapshots at deploy (default) or first-cold-start
  --isolate-spares N    versions the isolate host keeps one isolate loaded ahead for, so
                        their next isolate start skips the imports (default 4; 0 none)
  --examples            deploy the functions in examples/ at start (unless already deployed)
  --otlp URL            export OpenTelemetry spans of invocations and their phases over
                        OTLP/HTTP (e.g. http://127.0.0.1:4318); default: no tracing
  --traffic-seed N      seed of the router that splits aliases between versions (replayable
                        splits); default random
  --clock manual        keep-alive and pause timers run on a clock advanced only through
                        POST /debug/clock {"advanceMs": N} (deterministic tests); default wall
  --time-scale S        the policy clock runs S times faster than the wall clock: keep-alive
                        windows, pre-warm lead times, pauses and waits shrink by S (thaw replay)
Cluster mode (NATS JetStream; see docs/cluster.md):
  --cluster URL         join the cluster whose NATS server (started with -js) is at nats://HOST:PORT
  --node-id ID          this node's name in the cluster (default the host name and port)
  --role ROLE           gateway (API only), invoker (runs functions) or both (default)
  --cluster-credentials FILE  user=/password= or nkey= lines to authenticate to NATS
  --cluster-ttl DUR     a node not heard from for this long leaves the membership (default 3s)
  --cluster-prefix NAME names of the cluster's streams, buckets and subjects (default thaw; several
                        clusters can share one NATS server)
  --cluster-ack-wait DUR  async jobs held by a node silent for this long go to another node
                        (default 30s; shorter: sooner after a crash, but a stalled node's runs may
                        be run again)
  --cluster-routing R   where this node sends sync invocations: chbl (bounded-load consistent
                        hashing, warm-aware; default), random or round-robin (baselines)
  --cluster-replicas N  copies JetStream keeps of each stream and bucket thaw creates (default 1;
                        more needs a NATS cluster of at least N servers)`;

export async function serveCommand(argv: string[], options: { debug?: boolean } = {}): Promise<number> {
  const { values } = parseOptions(argv, SERVE_OPTIONS, 'serve');
  const isolation = (values.isolation ?? 'auto') as IsolationMode;
  if (!['auto', 'container', 'process', 'microvm'].includes(isolation)) throw invalidOption('--isolation', `expected auto, container, process or microvm, got '${isolation}'`);
  const restore = values.restore as RestoreMode | undefined;
  if (restore !== undefined && !RESTORE_MODES.includes(restore)) throw invalidOption('--restore', `expected ${RESTORE_MODES.join(', ')}, got '${restore}'`);
  if (restore !== undefined && isolation !== 'microvm') throw invalidOption('--restore', 'restore modes apply to --isolation microvm only');
  const keepAlive = values['keep-alive'] ?? 'ttl';
  if (!KEEP_ALIVE_POLICIES.includes(keepAlive)) throw invalidOption('--keep-alive', `unknown policy '${keepAlive}' (known: ${KEEP_ALIVE_POLICIES.join(', ')})`);
  if (values.clock !== undefined && values.clock !== 'manual' && values.clock !== 'wall') throw invalidOption('--clock', `expected wall or manual, got '${values.clock}'`);
  const timeScale = numberOption(values['time-scale'], '--time-scale', 1, (n) => n > 0);
  const scheduler = values.clock === 'manual' ? new ManualScheduler() : new WallScheduler(timeScale);
  const pauseAfter = values['pause-after'] === undefined ? 1000 : parseDuration(values['pause-after'], '--pause-after');
  const tokens = values['token-file'] === undefined ? undefined : TokenSet.load(values['token-file']);
  const host = values.host ?? '127.0.0.1';
  const dataDir = resolve(values['data-dir'] ?? '.thaw');
  const port = numberOption(values.port, '--port', 8080, (n) => Number.isInteger(n) && n >= 0 && n < 65536);
  const cluster = await joinCluster(values, dataDir, port, asyncPolicy(values));
  if (cluster && !isLoopback(host) && !tokens) {
    await cluster.close();
    throw invalidOption('--host', `a cluster node listens beyond loopback (${host}) only with API tokens: pass --token-file FILE`);
  }
  const platform = await Platform.open({
    dataDir,
    ...(cluster ? { cluster, asyncQueue: cluster.queue, ...(cluster.options.role === 'gateway' ? { asyncConcurrency: 0 } : {}) } : {}),
    keepAlive,
    ttlMs: values.ttl === undefined ? undefined : parseDuration(values.ttl, '--ttl'),
    memoryBudgetMb: values.memory === undefined ? undefined : parseMemory(values.memory),
    isolation,
    restore,
    pauseAfterMs: pauseAfter === 0 ? Infinity : pauseAfter,
    concurrencyLimit: concurrencyLimit(values['concurrency-limit']),
    asyncPolicy: asyncPolicy(values),
    otlpUrl: values.otlp,
    trafficSeed: values['traffic-seed'] === undefined ? undefined : numberOption(values['traffic-seed'], '--traffic-seed', 0, Number.isSafeInteger),
    scheduler,
    snapshotWhen: snapshotWhen(values['snapshot-when']),
    stemPool: numberOption(values['stem-pool'], '--stem-pool', 2, (n) => Number.isInteger(n) && n >= 0 && n <= 64),
    instanceScheduling: instanceScheduling(values['instance-scheduling']),
    isolateSpares: values['isolate-spares'] === undefined ? undefined : numberOption(values['isolate-spares'], '--isolate-spares', 4, (n) => Number.isInteger(n) && n >= 0),
    prewarm: values.prewarm ? values.prewarm.split(',').map((p) => checkPrewarm(p.trim())) : undefined,
    onWarning: (message) => say(`thaw: warning: ${message}`),
  });
  const isolationReport = platform.backend.isolation;
  const boundary = isolationReport.backend.startsWith('microvm') ? 'a VM per instance' : `namespaces ${isolationReport.namespaces ? 'on' : 'OFF'}`;
  say(`thaw: sandboxes: ${isolationReport.backend} (${boundary}, cgroups ${isolationReport.cgroups}, pause by ${isolationReport.freezer}${isolationReport.scheduling ? `, scheduling ${isolationReport.scheduling}` : ''})`);
  for (const warning of isolationReport.warnings) say(`thaw: WARNING: ${warning}`);
  const idle = idleCpus();
  if (idle.note) say(`thaw: note: ${idle.note}`);
  if (isolation === 'auto' && isolationReport.backend === 'process') {
    // No sandbox: a function could read other functions' code and reach this host's loopback. Fine
    // for trying thaw out on one's own machine; not for serving anyone else.
    say('thaw: WARNING: functions run as PLAIN PROCESSES with no sandbox. Install bubblewrap (apt-get install bubblewrap) and restart thaw.');
    if (!isLoopback(host)) {
      await platform.close();
      throw invalidOption('--host', `without a sandbox thaw listens on loopback only, not on ${host}: install bubblewrap (apt-get install bubblewrap), or pass --isolation process to serve unsandboxed functions on ${host} anyway`);
    }
  }
  if (tokens?.warning) say(`thaw: WARNING: ${tokens.warning}`);
  // Listen before deploying the examples: a busy port fails now, not after the deploys.
  let gateway;
  try {
    gateway = await startGateway(platform, { manualClock: scheduler instanceof ManualScheduler ? scheduler : undefined, tokens, host, port, debug: options.debug });
  } catch (error) {
    await platform.close();
    await cluster?.close();
    throw error;
  }
  if (values.examples) await deployExamples(platform);
  if (cluster) {
    await cluster.attach(platform, gateway.url);
    say(`thaw: node ${cluster.options.nodeId} (${cluster.options.role}) joined the cluster at ${cluster.options.url}`);
  }
  say(`thaw: listening on ${gateway.url}${tokens ? ' (API tokens required)' : ''} (keep-alive ${keepAlive}, memory budget ${platform.options.memoryBudgetMb} MB, data in ${platform.store.dataDir})`);
  process.stdout.write(`${gateway.url}\n`);

  await new Promise<void>((resolveStop) => {
    const stop = () => resolveStop();
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
  say('thaw: shutting down');
  await gateway.close();
  await platform.close();
  await cluster?.close();
  return 0;
}

async function joinCluster(values: ReturnType<typeof parseOptions<typeof SERVE_OPTIONS>>['values'], dataDir: string, port: number, policy: Partial<AsyncPolicy>): Promise<ClusterNode | undefined> {
  for (const option of ['node-id', 'role', 'cluster-credentials', 'cluster-ttl', 'cluster-prefix', 'cluster-ack-wait', 'cluster-routing', 'cluster-replicas'] as const) {
    if (values[option] !== undefined && values.cluster === undefined) throw invalidOption(`--${option}`, 'applies to cluster mode only (--cluster nats://HOST:PORT)');
  }
  if (values.cluster === undefined) return undefined;
  const role = (values.role ?? 'both') as NodeRole;
  if (!NODE_ROLES.includes(role)) throw invalidOption('--role', `expected ${NODE_ROLES.join(', ')}, got '${values.role}'`);
  return ClusterNode.connect({
    url: values.cluster,
    nodeId: values['node-id'] ?? `${hostname().split('.')[0]}-${port}`,
    role,
    credentialsFile: values['cluster-credentials'],
    prefix: values['cluster-prefix'],
    ttlMs: values['cluster-ttl'] === undefined ? undefined : parseDuration(values['cluster-ttl'], '--cluster-ttl'),
    ackWaitMs: values['cluster-ack-wait'] === undefined ? undefined : parseDuration(values['cluster-ack-wait'], '--cluster-ack-wait'),
    routing: values['cluster-routing'],
    replicas: numberOption(values['cluster-replicas'], '--cluster-replicas', 1, (n) => Number.isInteger(n) && n >= 1 && n <= 5),
    dataDir,
    asyncPolicy: policy,
    onWarning: (message) => say(`thaw: warning: ${message}`),
  });
}

function asyncPolicy(values: { 'max-attempts'?: string; 'retry-delay'?: string; 'max-event-age'?: string }): Partial<AsyncPolicy> {
  const policy: Partial<AsyncPolicy> = {};
  if (values['max-attempts'] !== undefined) policy.maxAttempts = numberOption(values['max-attempts'], '--max-attempts', 3, (n) => Number.isInteger(n) && n >= 1);
  if (values['retry-delay'] !== undefined) {
    policy.retryBaseMs = parseDuration(values['retry-delay'], '--retry-delay');
    policy.retryMaxMs = Math.max(DEFAULT_ASYNC_POLICY.retryMaxMs, policy.retryBaseMs);
  }
  if (values['max-event-age'] !== undefined) policy.maxEventAgeMs = parseDuration(values['max-event-age'], '--max-event-age');
  return policy;
}

/** Whether `host` is a loopback address (or name): only this machine can reach it. */
export function isLoopback(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, '').toLowerCase();
  return h === 'localhost' || h === '::1' || /^127(\.\d{1,3}){3}$/.test(h) || /^::ffff:127(\.\d{1,3}){3}$/.test(h);
}

function snapshotWhen(value: string | undefined): 'deploy' | 'first-cold-start' | undefined {
  if (value === undefined || value === 'deploy' || value === 'first-cold-start') return value;
  throw invalidOption('--snapshot-when', `expected deploy or first-cold-start, got '${value}'`);
}

function checkPrewarm(name: string): string {
  if (!PREWARM_POLICIES.includes(name)) throw invalidOption('--prewarm', `unknown pre-warm policy '${name}' (known: ${PREWARM_POLICIES.join(', ')})`);
  return name;
}

async function deployExamples(platform: Platform): Promise<void> {
  if (!existsSync(EXAMPLES_DIR)) return;
  for (const entry of readdirSync(EXAMPLES_DIR, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
    const name = entry.name;
    if (!entry.isDirectory() || platform.store.functions.get(name)?.latest) continue;
    const started = performance.now();
    try {
      const result = await platform.deploy({ dir: join(EXAMPLES_DIR, name) }, { name });
      say(`thaw: deployed example ${name} v${result.version.version} in ${((performance.now() - started) / 1000).toFixed(1)} s`);
    } catch (error) {
      say(`thaw: could not deploy example ${name}: ${(error as Error).message}`);
    }
  }
}

function concurrencyLimit(value: string | undefined): ConcurrencyLimitMode | undefined {
  if (value === undefined) return undefined;
  if (!CONCURRENCY_LIMITS.includes(value as ConcurrencyLimitMode)) throw invalidOption('--concurrency-limit', `expected ${CONCURRENCY_LIMITS.join(' or ')}, got '${value}'`);
  return value as ConcurrencyLimitMode;
}

function instanceScheduling(value: string | undefined): InstanceScheduling | undefined {
  if (value === undefined) return undefined;
  if (!INSTANCE_SCHEDULING.includes(value as InstanceScheduling)) throw invalidOption('--instance-scheduling', `expected ${INSTANCE_SCHEDULING.join(' or ')}, got '${value}'`);
  return value as InstanceScheduling;
}
