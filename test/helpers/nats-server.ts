// A real nats-server with JetStream for cluster tests: started on a free loopback port with its own
// store directory, stoppable and restartable on the same port (its JetStream state kept). Where
// nats-server is not installed, `natsServerMissing` says why and the tests skip.

import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { once } from 'node:events';

function findNatsServer(): string | undefined {
  for (const candidate of [process.env.THAW_NATS_SERVER, 'nats-server', '/usr/sbin/nats-server', '/usr/bin/nats-server']) {
    if (!candidate) continue;
    try {
      execFileSync(candidate, ['--version'], { stdio: 'ignore' });
      return candidate;
    } catch {
      // not this one
    }
  }
  return undefined;
}

export const NATS_SERVER = findNatsServer();
/** Why cluster tests skip here, or false when they run. */
export const natsServerMissing: string | false = NATS_SERVER ? false : 'nats-server is not installed (Debian: apt-get install nats-server; .ci/run installs it)';

export interface NatsServerOptions {
  /** Users with passwords, and nkey users (public keys). */
  users?: Array<{ user: string; password: string }>;
  nkeys?: string[];
}

export class NatsServer {
  readonly dir: string;
  port = 0;
  #child: ChildProcess | undefined;
  readonly #config: string;

  private constructor(options: NatsServerOptions) {
    this.dir = mkdtempSync(join(tmpdir(), 'thaw-nats-'));
    const auth: string[] = [];
    for (const u of options.users ?? []) auth.push(`{ user: ${JSON.stringify(u.user)}, password: ${JSON.stringify(u.password)} }`);
    for (const k of options.nkeys ?? []) auth.push(`{ nkey: ${JSON.stringify(k)} }`);
    this.#config = join(this.dir, 'nats.conf');
    writeFileSync(
      this.#config,
      [
        'host: 127.0.0.1',
        `jetstream { store_dir: ${JSON.stringify(join(this.dir, 'js'))} }`,
        'max_payload: 8MB',
        ...(auth.length ? [`authorization { users: [ ${auth.join(', ')} ] }`] : []),
      ].join('\n'),
    );
  }

  static async start(options: NatsServerOptions = {}): Promise<NatsServer> {
    if (!NATS_SERVER) throw new Error(String(natsServerMissing));
    const server = new NatsServer(options);
    await server.#spawn(-1);
    return server;
  }

  get url(): string {
    return `nats://127.0.0.1:${this.port}`;
  }

  /** Kills the server (SIGKILL: no goodbye to clients). */
  async kill(): Promise<void> {
    const child = this.#child;
    if (!child || child.exitCode !== null) return;
    child.kill('SIGKILL');
    await once(child, 'exit');
    this.#child = undefined;
  }

  /** Starts it again on the same port with the same store. */
  async restart(): Promise<void> {
    await this.kill();
    await this.#spawn(this.port);
  }

  async stop(): Promise<void> {
    await this.kill();
    rmSync(this.dir, { recursive: true, force: true });
  }

  async #spawn(port: number): Promise<void> {
    const child = spawn(NATS_SERVER!, ['-c', this.#config, '-p', String(port)], { stdio: ['ignore', 'ignore', 'pipe'] });
    this.#child = child;
    let log = '';
    await new Promise<void>((resolve, reject) => {
      const onData = (chunk: Buffer) => {
        log += chunk.toString();
        const listening = /Listening for client connections on [\d.]+:(\d+)/.exec(log);
        if (listening && /Server is ready/.test(log)) {
          this.port = Number(listening[1]);
          child.stderr!.off('data', onData);
          child.stderr!.resume();
          resolve();
        }
      };
      child.stderr!.on('data', onData);
      child.once('exit', (code) => reject(new Error(`nats-server exited (${code}) before it was ready:\n${log}`)));
    });
  }
}
