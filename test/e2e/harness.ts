// Starts `thaw serve` for real (a child process, real sandboxes, real HTTP) and talks to it.

import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { packFolder } from '../../src/cli/commands/client.ts';

export const BIN = fileURLToPath(new URL('../../bin/thaw.js', import.meta.url));
// Tests run the sources: every thaw a test starts (they inherit this environment) loads src/
// through tsx, never a stale or missing dist/ — under npm test (which sets it too) or alone.
process.env.THAW_FROM_SOURCE = '1';
export const EXAMPLES = fileURLToPath(new URL('../../examples', import.meta.url));
export const E2E_FIXTURES = fileURLToPath(new URL('../fixtures/e2e', import.meta.url));

export interface Response {
  status: number;
  body: any;
  headers: Headers;
}

export class ThawServer {
  stderr = '';
  private constructor(
    readonly process: ChildProcess,
    readonly url: string,
    readonly dataDir: string,
  ) {}

  /** Starts a server on a free port; resolves once it listens. */
  /** `nodeArgs`: options for the server's node (a benchmark's --cpu-prof); `bin`: another checkout's bin/thaw.js (a benchmark's "before"). */
  static async start(args: string[] = [], dataDir = mkdtempSync(join(tmpdir(), 'thaw-e2e-')), env: NodeJS.ProcessEnv = process.env, nodeArgs: string[] = [], bin = BIN): Promise<ThawServer> {
    const child = spawn(process.execPath, [...nodeArgs, bin, 'serve', '--port', '0', '--data-dir', dataDir, '--clock', 'manual', ...args], { stdio: ['ignore', 'pipe', 'pipe'], env });
    let stderr = '';
    child.stderr!.on('data', (d) => (stderr += d));
    const lines = createInterface({ input: child.stdout! });
    const url = await new Promise<string>((resolve, reject) => {
      lines.once('line', resolve);
      child.once('exit', (code) => reject(new Error(`thaw serve exited with ${code}:\n${stderr}`)));
    });
    const server = new ThawServer(child, url.trim(), dataDir);
    child.stderr!.on('data', (d) => (server.stderr += d));
    server.stderr = stderr;
    return server;
  }

  async request(method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<Response> {
    const res = await fetch(this.url + path, {
      method,
      headers: { 'content-type': 'application/json', ...headers },
      body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
    });
    const text = await res.text();
    let parsed: unknown = text;
    try {
      parsed = JSON.parse(text);
    } catch {
      /* text */
    }
    return { status: res.status, body: parsed, headers: res.headers };
  }

  async deploy(dir: string, settings: Record<string, unknown> = {}): Promise<Response> {
    return this.request('POST', '/functions', { files: packFolder(dir), settings });
  }

  invoke(name: string, event: unknown = {}, query = ''): Promise<Response> {
    return this.request('POST', `/functions/${name}/invoke${query}`, event);
  }

  /** Advances the server's manual clock (keep-alive, pause timers). */
  advance(ms: number): Promise<Response> {
    return this.request('POST', '/debug/clock', { advanceMs: ms });
  }

  async stats(): Promise<any> {
    return (await this.request('GET', '/stats')).body;
  }

  /** Stops it: gracefully (SIGTERM) or as a crash (SIGKILL). */
  async stop(signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
    if (this.process.exitCode !== null || this.process.signalCode !== null) return;
    const exited = new Promise((resolve) => this.process.once('exit', resolve));
    this.process.kill(signal);
    await exited;
  }
}

/**
 * Servers started together and stopped together: stopAll() stops every one that started, so a run
 * that fails halfway (the second of two servers failing to start) leaves none of them running.
 */
export class ServerGroup {
  readonly #started: ThawServer[] = [];

  async start(...args: Parameters<typeof ThawServer.start>): Promise<ThawServer> {
    const server = await ThawServer.start(...args);
    this.#started.push(server);
    return server;
  }

  async stopAll(): Promise<void> {
    for (const server of this.#started.splice(0).reverse()) await server.stop();
  }
}
