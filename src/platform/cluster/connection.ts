// The connection of one thaw node to the cluster's NATS server (JetStream enabled), authenticated
// from a credentials file, reconnecting for ever: a restarted nats-server is rejoined, and
// JetStream keeps what it had. Every bucket, stream and subject thaw uses is named from one prefix,
// so several thaw clusters can share a NATS server.
//
// Credentials file (`--cluster-credentials FILE`), one `key=value` a line, `#` comments:
//   user=thaw                      password=...          user and password, or
//   nkey=SUAM...                                         an nkey seed (its public key in the server's config)

import { readFileSync } from 'node:fs';
import { connect, nkeyAuthenticator, usernamePasswordAuthenticator, type Authenticator, type NatsConnection } from '@nats-io/transport-node';
import { jetstream, jetstreamManager, type JetStreamClient, type JetStreamManager } from '@nats-io/jetstream';
import { ThawError } from '../../core/errors.ts';

export interface ClusterCredentials {
  user?: string;
  password?: string;
  nkeySeed?: string;
}

export interface ClusterConnectOptions {
  /** nats://HOST:PORT (several, comma-separated, for a NATS cluster). */
  url: string;
  /** This node's name on the connection (shown by the server). */
  name: string;
  credentials?: ClusterCredentials;
  /** Buckets, streams and subjects are named `<prefix>_...` / `<prefix>.…` (default thaw). */
  prefix?: string;
  /** How long to wait for the first connection before giving up, ms (default 5000). */
  timeoutMs?: number;
  /** Copies JetStream keeps of each stream and bucket thaw creates (default 1; more needs a NATS cluster of as many servers). */
  replicas?: number;
  /** Told when the connection drops and comes back. */
  onStatus?: (status: 'disconnected' | 'reconnected', detail: string) => void;
}

/** Parses a credentials file, naming the line that is wrong. */
export function readCredentials(path: string): ClusterCredentials {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw new ThawError('ERR_INVALID_OPTION', `cluster credentials ${path}: ${(error as Error).message}`);
  }
  const credentials: ClusterCredentials = {};
  text.split('\n').forEach((raw, i) => {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) return;
    const eq = line.indexOf('=');
    const key = eq < 0 ? '' : line.slice(0, eq).trim();
    const value = eq < 0 ? '' : line.slice(eq + 1).trim();
    const where = `cluster credentials ${path}, line ${i + 1}`;
    if (key === 'user') credentials.user = value;
    else if (key === 'password') credentials.password = value;
    else if (key === 'nkey') {
      if (!/^SU[A-Z2-7]{56}$/.test(value)) throw new ThawError('ERR_INVALID_OPTION', `${where}: nkey must be a user seed (SU followed by 56 base32 characters)`);
      credentials.nkeySeed = value;
    } else throw new ThawError('ERR_INVALID_OPTION', `${where}: expected user=, password= or nkey=, got '${line.slice(0, 40)}'`);
  });
  if (credentials.nkeySeed && (credentials.user || credentials.password)) throw new ThawError('ERR_INVALID_OPTION', `cluster credentials ${path}: give an nkey or a user and password, not both`);
  if ((credentials.user === undefined) !== (credentials.password === undefined) && !credentials.nkeySeed) {
    throw new ThawError('ERR_INVALID_OPTION', `cluster credentials ${path}: a user needs a password and a password a user`);
  }
  if (!credentials.nkeySeed && credentials.user === undefined) throw new ThawError('ERR_INVALID_OPTION', `cluster credentials ${path}: no credentials in it (user= and password=, or nkey=)`);
  return credentials;
}

export function parseClusterUrl(url: string): string[] {
  const servers = url.split(',').map((s) => s.trim()).filter(Boolean);
  if (servers.length === 0) throw new ThawError('ERR_INVALID_OPTION', `--cluster: expected nats://HOST:PORT, got '${url}'`);
  for (const s of servers) {
    if (!/^(nats|tls):\/\/[^/\s]+:\d+$/.test(s)) throw new ThawError('ERR_INVALID_OPTION', `--cluster: expected nats://HOST:PORT, got '${s}'`);
  }
  return servers;
}

export class ClusterConnection {
  readonly nc: NatsConnection;
  readonly js: JetStreamClient;
  readonly jsm: JetStreamManager;
  readonly prefix: string;
  /** Replicas of every stream and bucket thaw creates. */
  readonly replicas: number;

  private constructor(nc: NatsConnection, js: JetStreamClient, jsm: JetStreamManager, prefix: string, replicas: number) {
    this.replicas = replicas;
    this.nc = nc;
    this.js = js;
    this.jsm = jsm;
    this.prefix = prefix;
  }

  static async open(options: ClusterConnectOptions): Promise<ClusterConnection> {
    const prefix = options.prefix ?? 'thaw';
    const replicas = options.replicas ?? 1;
    if (!Number.isInteger(replicas) || replicas < 1 || replicas > 5) throw new ThawError('ERR_INVALID_OPTION', `--cluster-replicas: an integer from 1 to 5 (JetStream's limit), got ${options.replicas}`);
    if (!/^[A-Za-z][A-Za-z0-9-]{0,30}$/.test(prefix)) throw new ThawError('ERR_INVALID_OPTION', `cluster prefix must be a letter then letters, digits or '-', got '${prefix}'`);
    const authenticator: Authenticator[] = [];
    const c = options.credentials;
    if (c?.nkeySeed) authenticator.push(nkeyAuthenticator(new TextEncoder().encode(c.nkeySeed)));
    else if (c?.user !== undefined) authenticator.push(usernamePasswordAuthenticator(c.user, c.password));
    let nc: NatsConnection;
    try {
      nc = await connect({
        servers: parseClusterUrl(options.url),
        name: options.name,
        authenticator: authenticator.length ? authenticator : undefined,
        timeout: options.timeoutMs ?? 5000,
        // A cluster node outlives restarts of its NATS server: it reconnects for ever.
        maxReconnectAttempts: -1,
        reconnectTimeWait: 250,
        reconnectJitter: 100,
        pingInterval: 5000,
      });
    } catch (error) {
      const message = (error as Error).message;
      const hint = /authorization|authentication/i.test(message) ? ' (check --cluster-credentials)' : '';
      throw new ThawError('ERR_CLUSTER', `cannot connect to the cluster at ${options.url}: ${message}${hint}`);
    }
    const jsm = await jetstreamManager(nc).catch((error: Error) => {
      void nc.close();
      throw new ThawError('ERR_CLUSTER', `the NATS server at ${options.url} has no JetStream (start it with -js): ${error.message}`);
    });
    const connection = new ClusterConnection(nc, jetstream(nc), jsm, prefix, replicas);
    if (options.onStatus) void connection.#watchStatus(options.onStatus);
    return connection;
  }

  /** A bucket or stream name: `<prefix>_<what>`. */
  name(what: string): string {
    return `${this.prefix}_${what}`;
  }

  /** A subject: `<prefix>.<parts...>`. */
  subject(...parts: string[]): string {
    return [this.prefix, ...parts].join('.');
  }

  /** Bytes the server accepts in one message. */
  get maxPayload(): number {
    return this.nc.info?.max_payload ?? 1024 * 1024;
  }

  async close(): Promise<void> {
    if (this.nc.isClosed()) return;
    await this.nc.drain().catch(() => this.nc.close());
  }

  async #watchStatus(onStatus: NonNullable<ClusterConnectOptions['onStatus']>): Promise<void> {
    for await (const s of this.nc.status()) {
      if (s.type === 'disconnect') onStatus('disconnected', String(s.server ?? ''));
      else if (s.type === 'reconnect') onStatus('reconnected', String(s.server ?? ''));
    }
  }
}
