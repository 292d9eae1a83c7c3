// hello — the first function to deploy: `thaw deploy examples/hello`, then invoke it with {"name": "Ada"}.
// It greets the event's name and counts the invocations this instance has served, so warm starts
// (count > 1) are easy to tell from cold ones (count 1).

import { randomUUID } from 'node:crypto';

let invocations = 0;
let instanceId = randomUUID().slice(0, 8);

export async function handler(event, context) {
  invocations += 1;
  const name = typeof event?.name === 'string' && event.name !== '' ? event.name : 'world';
  return {
    message: `Hello, ${name}!`,
    invocationsInThisInstance: invocations,
    instanceId,
    version: context?.version,
  };
}

// Restored from a snapshot: this is a new instance, not the one the snapshot was taken from.
export function afterRestore() {
  invocations = 0;
  instanceId = randomUUID().slice(0, 8);
}
