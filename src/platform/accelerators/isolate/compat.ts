// Whether a function's bundle can run in an isolate, decided before any isolate is tried: an isolate
// has no file system, no processes, no sockets and no native code, so a bundle that requires those
// Node modules (or a native addon) runs in a container, and says why. What passes here may still fail
// to load in an isolate (a Node global it needs at the top level): the start then falls back to a
// container too (sandbox.ts), and the version is marked incompatible with that error as the reason.

/** Node modules that need what an isolate does not have. */
const NEEDS_THE_OS: Record<string, string> = {
  fs: 'the file system', 'fs/promises': 'the file system', child_process: 'processes', cluster: 'processes',
  worker_threads: 'threads', net: 'sockets', dgram: 'sockets', tls: 'sockets', http: 'sockets', https: 'sockets',
  http2: 'sockets', dns: 'the network', inspector: 'the inspector', v8: "the host's V8", vm: "the host's V8",
  module: "Node's module loader", os: 'the operating system', readline: 'a terminal', tty: 'a terminal',
};

export type Compatibility = { compatible: true } | { compatible: false; reason: string };

/** Reads the bundle's static `require("…")` calls and refuses what an isolate cannot provide. */
export function checkBundle(code: string): Compatibility {
  const needs = new Map<string, string>();
  const addons: string[] = [];
  for (const match of code.matchAll(/\brequire\(\s*["']([^"'\n]+)["']\s*\)/g)) {
    const specifier = match[1]!;
    const name = specifier.replace(/^node:/, '');
    if (NEEDS_THE_OS[name]) needs.set(name, NEEDS_THE_OS[name]!);
    else if (specifier.endsWith('.node')) addons.push(specifier);
  }
  if (/\bprocess\.(binding|dlopen)\b/.test(code)) addons.push('process.dlopen');
  const parts: string[] = [];
  if (needs.size > 0) parts.push(`uses ${[...needs].map(([m, what]) => `${m} (${what})`).join(', ')}`);
  if (addons.length > 0) parts.push(`loads native code (${[...new Set(addons)].slice(0, 3).join(', ')})`);
  if (parts.length === 0) return { compatible: true };
  return { compatible: false, reason: `${parts.join('; ')}: an isolate has none of that, so it runs in a container` };
}

/** The bundle without its inline source map: an isolate does not use it, and it is most of the bytes. */
export function stripInlineSourceMap(code: string): string {
  return code.replace(/\n\/\/# sourceMappingURL=data:[^\n]*\s*$/, '\n');
}
