// Request/reply between cluster nodes over NATS: each node answers `<prefix>.node.<id>.<method>`;
// a call is one request with a JSON body and a JSON reply ({ok} or {error: {code, message}}), so a
// ThawError raised on the node that ran the call reaches the caller with its code. A call to a node
// that is gone fails at once (NATS answers "no responders"); one whose node dies mid-call fails when
// the caller's membership drops that node (`abort`) or its timeout passes, whichever comes first.

import type { Subscription } from '@nats-io/transport-node';
import { ThawError, type ErrorCode } from '../../core/errors.ts';
import type { ClusterConnection } from './connection.ts';

export type RpcHandler = (body: unknown) => Promise<unknown>;

const encoder = new TextEncoder();
const decoder = new TextDecoder();

export class RpcServer {
  readonly #subscriptions: Subscription[] = [];

  constructor(
    readonly connection: ClusterConnection,
    readonly node: string,
  ) {}

  handle(method: string, handler: RpcHandler): void {
    const subscription = this.connection.nc.subscribe(this.connection.subject('node', this.node, method), {
      callback: (error, msg) => {
        if (error) return;
        void (async () => {
          let reply: unknown;
          try {
            reply = { ok: await handler(msg.data.length ? JSON.parse(decoder.decode(msg.data)) : null) };
          } catch (e) {
            const code = e instanceof ThawError ? e.code : 'ERR_CLUSTER';
            reply = { error: { code, message: (e as Error).message } };
          }
          msg.respond(encoder.encode(JSON.stringify(reply)));
        })();
      },
    });
    this.#subscriptions.push(subscription);
  }

  close(): void {
    for (const s of this.#subscriptions) s.unsubscribe();
  }
}

export interface CallOptions {
  timeoutMs: number;
  /** Fails the call early (the node left the membership). */
  abort?: AbortSignal;
}

export async function rpcCall<T>(connection: ClusterConnection, node: string, method: string, body: unknown, options: CallOptions): Promise<T> {
  const request = connection.nc.request(connection.subject('node', node, method), encoder.encode(JSON.stringify(body ?? null)), { timeout: options.timeoutMs });
  let onAbort: (() => void) | undefined;
  const aborted = new Promise<never>((_, reject) => {
    onAbort = () => reject(new ThawError('ERR_CLUSTER', `node ${node} left the cluster during ${method}`));
    if (options.abort?.aborted) onAbort();
    else options.abort?.addEventListener('abort', onAbort, { once: true });
  });
  try {
    const msg = await Promise.race([request, aborted]);
    const reply = JSON.parse(decoder.decode(msg.data)) as { ok?: T; error?: { code: ErrorCode; message: string } };
    if (reply.error) throw new ThawError(reply.error.code, reply.error.message);
    return reply.ok as T;
  } catch (error) {
    if (error instanceof ThawError) throw error;
    const message = (error as Error).message;
    if (/no responders/i.test(message)) throw new ThawError('ERR_CLUSTER', `node ${node} does not answer (${method}): it is not running`);
    if (/timeout/i.test(message)) throw new ThawError('ERR_CLUSTER', `node ${node} did not answer ${method} within ${options.timeoutMs} ms`);
    throw new ThawError('ERR_CLUSTER', `${method} on node ${node}: ${message}`);
  } finally {
    if (onAbort) options.abort?.removeEventListener('abort', onAbort);
    aborted.catch(() => undefined);
  }
}
