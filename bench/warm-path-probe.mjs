// Loaded into thaw's server (node --import) by bench/warm-path.ts: times each stage of a warm
// synchronous invocation inside the server, from the HTTP request event to the answer's res.end,
// by wrapping the methods the invocation passes through (no change to thaw's code; a wrapper costs
// one performance.now() and, for an async method, one promise hop: it shifts every stage alike).
// One invocation in flight at a time (concurrency 1): the stages of the current one are global.
// SIGUSR1 clears what was kept (after the warm-up); SIGUSR2 writes it to THAW_PROBE_OUT as JSON:
// per point, each invocation's time since its request event, in µs.

import { writeFileSync } from 'node:fs';
import { Server, ServerResponse } from 'node:http';
import { pathToFileURL } from 'node:url';

const dist = pathToFileURL(`${process.env.THAW_PROBE_DIST}/platform/`).href;
const { Platform } = await import(`${dist}platform.js`);
const { Invoker } = await import(`${dist}invoker/invoker.js`);
const { RuntimeProcess } = await import(`${dist}sandbox/runtime-process.js`);

/** Point → µs since the request event, one entry per invocation that reached it. */
let samples = new Map();
let requestAt = 0;
const mark = (point) => {
  if (requestAt === 0) return;
  let list = samples.get(point);
  if (!list) samples.set(point, (list = []));
  list.push((performance.now() - requestAt) * 1000);
};

const emit = Server.prototype.emit;
Server.prototype.emit = function (event, ...args) {
  if (event === 'request') requestAt = performance.now();
  return emit.call(this, event, ...args);
};
const end = ServerResponse.prototype.end;
ServerResponse.prototype.end = function (...args) {
  mark('res.end called');
  const out = end.apply(this, args);
  mark('res.end returned (answer written)');
  requestAt = 0;
  return out;
};

/** Marks `entered` when the method is called and `resolved` when its promise settles. */
function around(Class, method, entered, resolved) {
  const original = Class.prototype[method];
  Class.prototype[method] = function (...args) {
    mark(entered);
    const result = original.apply(this, args);
    if (!resolved) return result;
    return result.then((value) => {
      mark(resolved);
      return value;
    });
  };
}
around(Platform, 'invokeSync', 'platform.invokeSync (routed, body read)', 'platform.invokeSync resolved (recorded)');
around(Invoker, 'invoke', 'invoker.invoke', 'invoker.invoke resolved (instance released)');
around(RuntimeProcess, 'invoke', 'sandbox invoke (instance taken)', 'sandbox invoke resolved (logs cut)');
around(RuntimeProcess, 'onAgentLine', "agent's result arrives");

process.on('SIGUSR1', () => (samples = new Map()));
process.on('SIGUSR2', () => writeFileSync(process.env.THAW_PROBE_OUT, JSON.stringify(Object.fromEntries(samples))));
