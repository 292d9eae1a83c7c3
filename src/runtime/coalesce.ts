// Writes coalesced per turn of the event loop, for a channel that carries many peers' messages (the
// isolate host's: every isolate's invocations go through one pipe each way). Under load, a turn of
// the event loop handles many requests; writing each message as it comes costs one write() and one
// wake-up of the reader per message. The first message of a turn leaves at once (alone, as at
// concurrency 1, it waits for nothing); the ones after it in the same turn are corked until the
// turn's check phase and leave in one write() (stream.Writable's writev): one wake-up for all.

import type { Writable } from 'node:stream';

export function coalescedWriter(stream: Writable): (chunk: string) => void {
  let inTurn = false;
  let corked = false;
  const endTurn = (): void => {
    inTurn = false;
    if (corked) {
      corked = false;
      stream.uncork();
    }
  };
  return (chunk) => {
    if (!inTurn) {
      inTurn = true;
      setImmediate(endTurn);
    } else if (!corked) {
      corked = true;
      stream.cork();
    }
    stream.write(chunk);
  };
}
