// A real platform (plain-process sandboxes, a manual clock) behind a real gateway on a free
// loopback port, and a client that sends requests exactly as written (node:http does not normalise
// the path, as fetch and WHATWG URLs do), for the gateway's tests.

import { request as httpRequest } from 'node:http';
import { connect } from 'node:net';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { packFolder } from '../../../src/cli/commands/client.ts';
import { ManualScheduler } from '../../../src/platform/invoker/scheduler.ts';
import { Platform } from '../../../src/platform/platform.ts';
import { startGateway, type Gateway, type GatewayTimeouts } from '../../../src/platform/gateway/server.ts';

export const HELLO = fileURLToPath(new URL('../../../examples/hello', import.meta.url));

export interface RawResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
  body: any;
}

export class TestGateway {
  private constructor(
    readonly platform: Platform,
    readonly gateway: Gateway,
    readonly dataDir: string,
  ) {}

  static async start(timeouts?: Partial<GatewayTimeouts>): Promise<TestGateway> {
    const dataDir = mkdtempSync(join(tmpdir(), 'thaw-gateway-'));
    const clock = new ManualScheduler();
    const platform = await Platform.open({ dataDir, isolation: 'process', scheduler: clock, pauseAfterMs: Infinity, asyncConcurrency: 1 });
    const gateway = await startGateway(platform, { port: 0, manualClock: clock, timeouts });
    return new TestGateway(platform, gateway, dataDir);
  }

  get port(): number {
    return Number(new URL(this.gateway.url).port);
  }

  /** Sends `path` as is; a body that is not a string or Buffer is sent as JSON. */
  request(method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<RawResponse> {
    const data = body === undefined ? undefined : typeof body === 'string' || Buffer.isBuffer(body) ? body : JSON.stringify(body);
    return new Promise((resolve, reject) => {
      const req = httpRequest({ host: '127.0.0.1', port: this.port, method, path, headers: { ...(data !== undefined ? { 'content-type': 'application/json' } : {}), ...headers } }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let parsed: unknown = text;
          try {
            parsed = JSON.parse(text);
          } catch {
            /* not JSON */
          }
          resolve({ status: res.statusCode ?? 0, headers: res.headers, text, body: parsed });
        });
        res.on('error', reject);
      });
      req.on('error', reject);
      req.end(data);
    });
  }

  /**
   * Writes `bytes` on a new connection and resolves with the status line and headers of the first
   * answer (the socket is then dropped; a 5xx's body is read too), or `status: undefined` if the
   * server closed it unanswered.
   */
  exchange(bytes: string | Buffer): Promise<{ status: number | undefined; head: string }> {
    return new Promise((resolve) => {
      const socket = connect(this.port, '127.0.0.1');
      let received = Buffer.alloc(0);
      let done = false;
      const finish = (status: number | undefined, head: string) => {
        if (done) return;
        done = true;
        socket.destroy();
        resolve({ status, head });
      };
      let status: number | undefined;
      socket.on('data', (chunk: Buffer) => {
        received = Buffer.concat([received, chunk]);
        for (let end = received.indexOf('\r\n\r\n'); end >= 0 && status === undefined; end = received.indexOf('\r\n\r\n')) {
          const head = received.subarray(0, end).toString('latin1');
          const code = Number(/^HTTP\/1\.[01] (\d{3})/.exec(head)?.[1]) || undefined;
          if (code !== undefined && code < 200) {
            received = received.subarray(end + 4); // an interim answer (100 Continue): the final one follows
            continue;
          }
          status = code;
          // A 5xx is a failure to report: read its body too (until the server closes).
          if (status === undefined || status < 500) finish(status, head);
          break;
        }
      });
      socket.on('error', () => finish(status, received.toString('latin1')));
      socket.on('close', () => finish(status, received.toString('latin1')));
      socket.write(bytes);
    });
  }

  deployHello(): Promise<RawResponse> {
    return this.request('POST', '/functions', { files: packFolder(HELLO), settings: { memoryMb: 128 } });
  }

  async close(): Promise<void> {
    await this.gateway.close();
    await this.platform.close();
    rmSync(this.dataDir, { recursive: true, force: true });
  }
}
