// Imported second by the agent (after boot-clock.ts), before any other built-in module loads.
//
// Where the runtime runs under --max-old-space-size (the function's heap limit: plain processes, and
// containers whose heap the memory cgroup cannot bound, see heapBound in launcher.ts; elsewhere
// there is no flag and this does nothing). Node's built-in modules
// come with a V8 code cache made under default flags, and V8 accepts a cache only when the hash of
// the current flags matches the one it was made with: under the heap flag every built-in the agent
// loads (node:stream, node:net for its channel and stdout) is compiled from source instead, 20–40
// ms of every cold start (measured: require of net and stream 24–69 ms with the flag, 6–21 ms
// without). The heap limit is fixed when the isolate is made, before this line: setting the flag
// back to its default now restores the hash (and the cache) and leaves the limit as it is
// (v8.getHeapStatistics().heap_size_limit is unchanged; sandbox.test.ts checks the OOM it gives).
// The binding is used directly because node:v8 itself would be compiled from source first.

const node = process as unknown as { noDeprecation?: boolean; binding(name: string): { setFlagsFromString?: (flags: string) => void } };

const v8Binding = (() => {
  const quiet = node.noDeprecation;
  node.noDeprecation = true; // process.binding warns (DEP0111) into the function's stderr otherwise
  try {
    return node.binding('v8');
  } catch {
    return undefined;
  } finally {
    node.noDeprecation = quiet;
  }
})();

if (process.execArgv.some((arg) => arg.startsWith('--max-old-space-size='))) v8Binding?.setFlagsFromString?.('--max-old-space-size=0');
