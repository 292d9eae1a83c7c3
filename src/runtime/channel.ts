// The protocol channel as the agent session uses it: whole lines from the host in, lines to it out.
//
// A warm invocation is one line each way, and on a warm instance the channel is most of what the
// agent itself does per invocation. On fd 3 (a socket or pipe from the host) it goes around node's
// stream machinery both ways: reads land in one buffer of the channel's own (net.Socket's `onread`:
// no Buffer per read, no StringDecoder, no Readable queue or 'data' event, no read-more tick) and
// are cut into lines there; a line out is one write(2) (fs.writeSync: no WriteWrap, no Writable
// state, no after-write tick), falling back to the socket's own queued write only when the host's
// end is full (or anything is still queued, so order holds). Measured on warm `hello` in
// bench/agent-invoke.ts. Inside a microVM the channel is a duplex over a virtio-serial port
// (agent.ts) and goes through streamChannel().

import * as fs from 'node:fs';
import * as net from 'node:net';
import type { Duplex } from 'node:stream';

import { ByteLineSplitter, onLines } from './framing.ts';

export interface ProtocolChannel {
  /**
   * Hands each complete line from the host (without its newline) to onLine, in order, including
   * any that arrived before this call; onEnd once the host closed its end, onError if the channel
   * broke. Called once.
   */
  listen(onLine: (line: string) => void, onEnd: () => void, onError: () => void): void;
  /** Sends `text` (whole lines) after everything sent before it; `flushed` runs once it has been written. */
  send(text: string, flushed?: () => void): void;
  /** false once the channel is closed or broken: nothing sent would arrive. */
  readonly open: boolean;
}

/** What one read takes at most: libuv's own read size for node streams. */
const READ_BUFFER_BYTES = 64 * 1024;

/** The channel on `fd`, a socket or pipe to the host (throws if `fd` is neither). */
export function socketChannel(fd: number): ProtocolChannel {
  const buffer = Buffer.allocUnsafe(READ_BUFFER_BYTES);
  const splitter = new ByteLineSplitter();
  // What comes before listen() (reading starts with the socket) is kept for it: lines, the end.
  let early: string[] | undefined = [];
  let deliver = (line: string): void => void early!.push(line);
  let closed: 'end' | 'error' | undefined;
  let onClosed = (how: 'end' | 'error'): void => void (closed ??= how);
  // (node's Socket constructor takes `onread` as connect() does; its types list it for connect() only.)
  const options: net.SocketConstructorOpts & net.ConnectOpts = {
    fd,
    readable: true,
    writable: true,
    onread: {
      buffer,
      callback: (nread) => {
        splitter.push(buffer, nread, deliver);
        return true; // (false would pause reading)
      },
    },
  };
  const socket = new net.Socket(options);
  socket.on('end', () => onClosed('end'));
  socket.on('error', () => onClosed('error'));
  return {
    listen(onLine, onEnd, onError) {
      const before = early!;
      early = undefined;
      deliver = onLine;
      onClosed = (how) => (how === 'end' ? onEnd() : onError());
      for (const line of before) onLine(line);
      if (closed !== undefined) onClosed(closed);
    },
    send(text, flushed) {
      // (A destroyed socket's fd is closed, and may be another file's by now: never write to it.)
      if (flushed !== undefined || socket.writableLength > 0 || socket.destroyed) {
        socket.write(text, flushed);
        return;
      }
      const written = writeNow(fd, text);
      if (written === 0) socket.write(text);
      // A partial write (the host's end filled up): the rest goes through the socket's queue.
      else if (written < Buffer.byteLength(text)) socket.write(Buffer.from(text).subarray(written));
    },
    get open() {
      return !socket.destroyed && socket.writable;
    },
  };
}

/**
 * write(2) of `text` now: the bytes written, 0 when the host's end is full (EAGAIN: the socket is
 * non-blocking) or the write failed (the socket's own write then reports the error as it does).
 */
function writeNow(fd: number, text: string): number {
  try {
    return fs.writeSync(fd, text);
  } catch {
    return 0;
  }
}

/** The channel over a duplex stream of the host's lines (a microVM's virtio-serial port). */
export function streamChannel(stream: Duplex): ProtocolChannel {
  return {
    listen(onLine, onEnd, onError) {
      onLines(stream, onLine);
      stream.on('end', onEnd);
      stream.on('error', onError);
    },
    send(text, flushed) {
      stream.write(text, flushed);
    },
    get open() {
      return !stream.destroyed && stream.writable;
    },
  };
}
