// A client for QEMU's machine protocol (QMP): JSON over a Unix socket, commands answered by id;
// asynchronous events are not used (the migration's end is polled).

import { connect, type Socket } from 'node:net';
import { ThawError } from '../../../core/errors.ts';
import { frame, onMessages } from '../../../runtime/framing.ts';

/** QEMU answered a machine-protocol command with an error: a VM that could not boot, snapshot or restore. */
export class QmpError extends ThawError {
  constructor(
    message: string,
    readonly command: string,
  ) {
    super('ERR_VM_START', message);
    this.name = 'QmpError';
  }
}

type Pending = { resolve: (value: unknown) => void; reject: (err: Error) => void; command: string };

export class QmpClient {
  private nextId = 1;
  private readonly pending = new Map<string, Pending>();
  private closedError: Error | undefined;

  private constructor(private readonly socket: Socket) {
    onMessages<Record<string, unknown>>(socket, (msg) => this.onMessage(msg));
    socket.on('error', (err) => this.fail(err));
    socket.on('close', () => this.fail(new Error('QMP connection closed (QEMU exited?)')));
  }

  /** Connects to QMP at `path` and negotiates capabilities. */
  static async connect(path: string): Promise<QmpClient> {
    const socket = await new Promise<Socket>((resolve, reject) => {
      const s = connect(path);
      s.once('connect', () => resolve(s));
      s.once('error', reject);
    });
    const client = new QmpClient(socket);
    await client.waitGreeting();
    await client.execute('qmp_capabilities');
    return client;
  }

  private greeting: (() => void) | undefined;
  private greeted = false;
  private waitGreeting(): Promise<void> {
    if (this.greeted) return Promise.resolve();
    return new Promise((resolve) => (this.greeting = resolve));
  }

  private onMessage(msg: Record<string, unknown>): void {
    if ('QMP' in msg) {
      this.greeted = true;
      this.greeting?.();
    } else if ('event' in msg) {
      // Asynchronous events (STOP, RESUME, SHUTDOWN...): thaw polls state instead.
    } else if ('id' in msg) {
      const p = this.pending.get(String(msg.id));
      if (!p) return;
      this.pending.delete(String(msg.id));
      if ('error' in msg) {
        const e = msg.error as { class?: string; desc?: string };
        p.reject(new QmpError(`QMP ${p.command}: ${e.desc ?? 'failed'} (${e.class ?? 'error'})`, p.command));
      } else {
        p.resolve(msg.return);
      }
    }
  }

  private fail(err: Error): void {
    if (this.closedError) return;
    this.closedError = err;
    for (const p of this.pending.values()) p.reject(new QmpError(`QMP ${p.command}: ${err.message}`, p.command));
    this.pending.clear();
  }

  execute<T = unknown>(command: string, args?: Record<string, unknown>): Promise<T> {
    if (this.closedError) return Promise.reject(new QmpError(`QMP ${command}: ${this.closedError.message}`, command));
    const id = String(this.nextId++);
    return new Promise<T>((resolve, reject) => {
      this.pending.set(id, { resolve: resolve as (v: unknown) => void, reject, command });
      this.socket.write(frame({ execute: command, ...(args ? { arguments: args } : {}), id }));
    });
  }

  /** Polls query-migrate until the migration ends; rejects if it failed. */
  async migrationDone(pollMs = 2): Promise<Record<string, unknown>> {
    for (;;) {
      const info = await this.execute<Record<string, unknown>>('query-migrate');
      const status = String(info.status ?? '');
      if (status === 'completed') return info;
      if (status === 'failed' || status === 'cancelled') {
        throw new QmpError(`migration ${status}${info['error-desc'] ? `: ${String(info['error-desc'])}` : ''}`, 'query-migrate');
      }
      await new Promise((r) => setTimeout(r, pollMs));
    }
  }

  close(): void {
    this.socket.destroy();
  }
}
