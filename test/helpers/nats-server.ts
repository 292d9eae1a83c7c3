// A real nats-server with JetStream for cluster tests: started on a free loopback port with its own
// store directory, stoppable and restartable on the same port (its JetStream state kept). Where
// nats-server is not installed, `natsServerMissing` says why and the tests skip.

import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
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

/**
 * A new NATS user nkey (an Ed25519 key pair in NATS's encoding: base32 of prefix bytes, the key and
 * a CRC-16/XMODEM), made with node:crypto so the tests need no key tool: `seed` (SU…) is what a
 * thaw credentials file holds, `publicKey` (U…) what the server's config lists.
 */
export function createUserNkey(): { seed: string; publicKey: string } {
  const { publicKey, privateKey } = generateKeyPairSync('ed25519');
  const jwk = privateKey.export({ format: 'jwk' });
  const raw = (b64url: string) => Buffer.from(b64url, 'base64url');
  const user = 20 << 3;
  const seedPrefix = 18 << 3;
  return {
    seed: nkeyEncode([seedPrefix | (user >> 5), (user & 31) << 3], raw(jwk.d!)),
    publicKey: nkeyEncode([user], raw(publicKey.export({ format: 'jwk' }).x!)),
  };
}

function nkeyEncode(prefix: number[], key: Buffer): string {
  const body = Buffer.concat([Buffer.from(prefix), key]);
  let crc = 0;
  for (const byte of body) {
    crc ^= byte << 8;
    for (let i = 0; i < 8; i++) crc = crc & 0x8000 ? ((crc << 1) ^ 0x1021) & 0xffff : (crc << 1) & 0xffff;
  }
  const bytes = Buffer.concat([body, Buffer.from([crc & 0xff, crc >> 8])]);
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  let bits = 0;
  let value = 0;
  let out = '';
  for (const byte of bytes) {
    value = (value << 8) | byte;
    bits += 8;
    while (bits >= 5) {
      out += alphabet[(value >>> (bits - 5)) & 31];
      bits -= 5;
    }
  }
  if (bits > 0) out += alphabet[(value << (5 - bits)) & 31];
  return out;
}
