// What a function can and cannot reach: the lean container against the host's files, other
// functions' code and the host network; the plain process for contrast; the fallback when
// containers are missing; the agent bundle build.

import assert from 'node:assert/strict';
import { once } from 'node:events';
import { existsSync, readFileSync, readlinkSync, realpathSync, statSync, writeFileSync } from 'node:fs';
import { type AddressInfo, createServer, type Server } from 'node:net';
import { after, before, describe, it } from 'node:test';

import { ensureAgentBundle } from '../../../src/platform/sandbox/agent-bundle.ts';
import { BubblewrapLauncher, containerHostname, parentDirArgs, parseLdd, resolveWithSymlinks } from '../../../src/platform/sandbox/bubblewrap.ts';
import { createSandboxBackend, detectIsolation } from '../../../src/platform/sandbox/index.ts';
import type { RuntimeProcess } from '../../../src/platform/sandbox/runtime-process.ts';
import type { SandboxBackend } from '../../../src/platform/sandbox/types.ts';
import { ctx, fixture, spec, testDataDir } from './support.ts';

interface Probe {
  otherCode: { ok: boolean; code?: string };
  root: { ok: boolean; code?: string };
  shadow: { ok: boolean; code?: string };
  tcp: { ok: boolean; code?: string; reply?: string };
  uid: number;
  seccomp: string | null;
  localhost: string;
  certs: boolean | null;
  rootEntries: string[];
  tmpWritable: boolean;
  codeWritable: boolean;
}

/** A TCP server on the host's loopback that answers "pong" and counts connections. */
let server: Server;
let port: number;
let connections = 0;

before(async () => {
  server = createServer((socket) => {
    connections += 1;
    socket.on('data', () => socket.end('pong\n'));
    socket.on('error', () => undefined);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  port = (server.address() as AddressInfo).port;
});

after(() => {
  server.close();
});

const detected = await detectIsolation();
const containerMissing = !detected.container.ok
  ? `lean containers unavailable: ${detected.container.reason}`
  : detected.cgroups.driver
    ? undefined
    : `no usable cgroups: ${detected.cgroups.problems.join('; ')}`;

/** The `net:[inode]` a namespace file stands for (as /proc/<pid>/ns/net reads). */
function statNetns(path: string): string {
  return `net:[${statSync(path).ino}]`;
}

async function probe(backend: SandboxBackend, network: boolean): Promise<Probe> {
  const sb = backend.create(spec('reads-files', { network })) as RuntimeProcess;
  try {
    await sb.start();
    const out = await sb.invoke({ otherCode: `${fixture('hello')}/bundle.cjs`, port }, ctx('reads-files'), 20_000);
    assert.equal(out.ok, true, JSON.stringify(out.error));
    return out.value as Probe;
  } finally {
    await sb.destroy();
  }
}

describe('lean container isolation', { skip: containerMissing }, () => {
  let backend: SandboxBackend;
  before(async () => {
    backend = await createSandboxBackend({ isolation: 'container', dataDir: testDataDir() });
  });
  after(async () => backend?.close?.());

  it('reports namespaces and cgroups', () => {
    assert.equal(backend.name, 'container');
    assert.equal(backend.isolation.namespaces, true);
    assert.notEqual(backend.isolation.cgroups, 'none');
  });

  it('cannot read other functions, the host /root or /etc/shadow, write its code, or reach the host network', async () => {
    const before = connections;
    const p = await probe(backend, false);
    assert.deepEqual(p.otherCode, { ok: false, code: 'ENOENT' }, "another function's code is not in the container");
    assert.deepEqual(p.root, { ok: false, code: 'ENOENT' });
    assert.deepEqual(p.shadow, { ok: false, code: 'ENOENT' });
    assert.equal(p.tcp.ok, false, `connected to the host: ${JSON.stringify(p.tcp)}`);
    assert.match(p.tcp.code ?? '', /^(ECONNREFUSED|ENETUNREACH|EHOSTUNREACH)$/);
    assert.equal(connections, before, 'the host server saw no connection');
    assert.equal(p.uid, 65534, 'runs as nobody');
    if (process.arch === 'x64') assert.equal(p.seccomp, '2', 'runs under the seccomp filter');
    assert.equal(p.localhost, '127.0.0.1', 'name resolution works for the unprivileged user');
    if (existsSync('/etc/ssl/certs')) assert.equal(p.certs, true, 'CA certificates are readable');
    assert.equal(p.codeWritable, false);
    assert.equal(p.tmpWritable, true);
    const allowed = ['code', 'dev', 'etc', 'lib', 'lib32', 'lib64', 'libx32', 'proc', 'runtime', 'tmp', 'usr', 'bin', 'sbin'];
    assert.deepEqual(p.rootEntries.filter((e) => !allowed.includes(e)), [], `unexpected entries in /: ${p.rootEntries.join(' ')}`);
    assert.ok(!p.rootEntries.includes('root') && !p.rootEntries.includes('home'));
  });

  it('with network access, runs in a namespace of its own: egress routes, but not the host loopback', { skip: detected.network.ok ? false : `no network namespaces: ${!detected.network.ok && detected.network.reason}` }, async () => {
    assert.equal(backend.isolation.network, 'namespace');
    const before = connections;
    const p = await probe(backend, true);
    assert.equal(p.tcp.ok, false, `connected to the host: ${JSON.stringify(p.tcp)}`);
    assert.equal(p.tcp.code, 'ECONNREFUSED', '127.0.0.1 inside is the namespace’s own');
    assert.equal(connections, before, 'the host server saw no connection');
  });

  it('joins its namespace with nsenter before bwrap, and leaves none behind', { skip: detected.network.ok ? false : 'no network namespaces' }, async () => {
    const sb = backend.create(spec('hello', { network: true })) as RuntimeProcess;
    try {
      await sb.start();
      const ns = (sb.launcher as BubblewrapLauncher).network!;
      assert.ok(ns && existsSync(ns.path), 'has a namespace');
      const netOf = (pid: number) => readlinkSync(`/proc/${pid}/ns/net`);
      assert.equal(netOf(sb.pid!), statNetns(ns.path), 'node runs in it');
      assert.notEqual(netOf(sb.pid!), netOf(process.pid));
      await sb.destroy();
      assert.equal(existsSync(ns.path), false, 'removed with the sandbox');
    } finally {
      await sb.destroy();
    }
  });

  it('gives each function its own hostname, /code as its directory, and node at its host path', async () => {
    const sb = backend.create(spec('hello'));
    try {
      await sb.start();
      const out = await sb.invoke({ env: true }, ctx('hello'), 10_000);
      const v = out.value as { hostname: string; cwd: string; argv: string[] };
      assert.equal(v.hostname, 'fn-hello');
      assert.equal(v.cwd, '/code');
      assert.deepEqual(v.argv, [process.execPath, '/code/bundle.cjs']);
    } finally {
      await sb.destroy();
    }
  });

  it('mounts nothing of the host but system files, the agent and its own code, all read-only', () => {
    const launcherOf = (network: boolean) => (backend.create(spec('hello', { network })) as RuntimeProcess).launcher as BubblewrapLauncher;
    const args = launcherOf(false).bwrapArgs();
    const text = args.join(' ');
    for (const flag of ['--unshare-pid', '--unshare-ipc', '--unshare-uts', '--unshare-net', '--die-with-parent', '--new-session', '--cap-drop ALL', '--clearenv']) {
      if (flag === '--clearenv') continue; // the environment is passed as the process environment instead
      assert.ok(text.includes(flag), `missing ${flag}`);
    }
    assert.ok(!args.includes('--bind') && !args.includes('--dev-bind'), 'no writable host mounts');
    const sources: string[] = [];
    for (let i = 0; i < args.length; i++) if (args[i] === '--ro-bind' || args[i] === '--ro-bind-try') sources.push(args[i + 1]!);
    const system = /^\/(usr|lib|lib64|etc\/(ssl\/certs|ssl\/openssl\.cnf|ca-certificates|ld\.so\.cache|localtime|hosts|resolv\.conf|nsswitch\.conf|host\.conf|gai\.conf))(\/|$)/;
    const others = sources.filter((s) => !system.test(s) && s !== fixture('hello') && !s.endsWith('/runtime/agent.cjs'));
    assert.deepEqual(others, []);
    assert.ok(!sources.includes('/etc/ssl'), 'not /etc/ssl/private');
    const withNet = launcherOf(true).bwrapArgs();
    assert.ok(!withNet.includes('--unshare-net'));
  });
});

describe('plain process sandbox, for contrast', () => {
  it('says loudly that it has no namespaces, and lets a function read other code and reach the network', async () => {
    const backend = await createSandboxBackend({ isolation: 'process', dataDir: testDataDir() });
    assert.equal(backend.isolation.namespaces, false);
    assert.match(backend.isolation.warnings.join('\n'), /NO NAMESPACES/);
    const p = await probe(backend, false);
    assert.equal(p.otherCode.ok, true, 'no filesystem isolation');
    assert.equal(p.tcp.ok, true, 'network=false is not enforced');
    if (process.getuid?.() === 0) {
      assert.equal(p.uid, 65534);
      assert.deepEqual(p.root, { ok: false, code: 'EACCES' }, 'the unprivileged user cannot read /root');
      assert.deepEqual(p.shadow, { ok: false, code: 'EACCES' });
    }
  });
});

describe('choosing a backend', () => {
  it('falls back to processes, loudly, when bubblewrap is missing', async () => {
    const backend = await createSandboxBackend({ isolation: 'auto', dataDir: testDataDir(), bwrapPath: '/nonexistent/bwrap' });
    assert.equal(backend.name, 'process');
    assert.match(backend.isolation.warnings[0] ?? '', /^FALLING BACK TO PLAIN PROCESSES: lean containers are unavailable: .*\/nonexistent\/bwrap/);
    assert.match(backend.isolation.warnings.join('\n'), /NO NAMESPACES/);
  });

  it('refuses when containers are demanded but missing', async () => {
    await assert.rejects(createSandboxBackend({ isolation: 'container', dataDir: testDataDir(), bwrapPath: '/nonexistent/bwrap' }), {
      code: 'ERR_ISOLATION_UNAVAILABLE',
    });
  });

  it('picks lean containers in auto mode where they work', { skip: containerMissing }, async () => {
    const backend = await createSandboxBackend({ isolation: 'auto', dataDir: testDataDir() });
    assert.equal(backend.name, 'container');
  });

  it('says when cgroups are off', async () => {
    const backend = await createSandboxBackend({ isolation: 'process', dataDir: testDataDir(), cgroups: false });
    assert.equal(backend.isolation.cgroups, 'none');
    assert.equal(backend.isolation.freezer, 'signal');
    assert.match(backend.isolation.warnings.join('\n'), /NO CGROUPS/);
  });

  it('validates its options', async () => {
    await assert.rejects(createSandboxBackend({ isolation: 'vm' as 'auto', dataDir: testDataDir() }), TypeError);
    await assert.rejects(createSandboxBackend({ isolation: 'process', dataDir: '' }), TypeError);
  });
});

describe('agent bundle', () => {
  it('is built once and rebuilt when it no longer matches its sources', async () => {
    const dir = testDataDir();
    const first = await ensureAgentBundle(dir);
    const again = await ensureAgentBundle(dir);
    assert.equal(again.built, false);
    assert.equal(again.hash, first.hash);
    writeFileSync(first.path, '// tampered\n');
    const rebuilt = await ensureAgentBundle(dir);
    assert.equal(rebuilt.built, true);
    assert.equal(rebuilt.hash, first.hash, 'same sources, same bundle');
    assert.match(readFileSync(rebuilt.path, 'utf8'), /thaw runtime agent/);
  });
});

describe('bubblewrap helpers', () => {
  it('parses ldd output', () => {
    const out = `\tlinux-vdso.so.1 (0x00007ffd)\n\tlibdl.so.2 => /lib/x86_64-linux-gnu/libdl.so.2 (0x00007f85)\n\t/lib64/ld-linux-x86-64.so.2 (0x00007f86)\n\tlibmissing.so => not found\n`;
    assert.deepEqual(parseLdd(out), ['/lib/x86_64-linux-gnu/libdl.so.2', '/lib64/ld-linux-x86-64.so.2']);
  });

  it('makes every parent directory explicitly (bwrap would make them 0700), outermost first', () => {
    assert.deepEqual(parentDirArgs(['/usr/lib/x/libc.so', '/etc/ssl/certs', '/lib'], new Set(['/usr/lib/x'])), [
      '--perms', '0755', '--dir', '/etc',
      '--perms', '0755', '--dir', '/usr',
      '--perms', '0755', '--dir', '/etc/ssl',
      '--perms', '0755', '--dir', '/usr/lib',
    ]);
  });

  it('makes hostnames from function names', () => {
    assert.equal(containerHostname('Resize Image!'), 'fn-resize-image');
    assert.equal(containerHostname('___'), 'fn-function');
    assert.ok(containerHostname('x'.repeat(200)).length <= 63);
  });

  it('resolves a path through its symlinks, recording each', async () => {
    const links = new Map<string, string>();
    const real = await resolveWithSymlinks(process.execPath, links);
    assert.equal(real, realpathSync(process.execPath));
  });
});
