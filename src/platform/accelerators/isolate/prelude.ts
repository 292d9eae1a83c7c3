// The JavaScript every function isolate runs before the function's bundle: the few Node-like globals
// a bundled function commonly needs (console, timers, process.env, crypto's random functions) and a
// `require` that answers only for those. It is plain source, compiled inside the isolate, and it
// reaches the host only through the two callbacks the host installs (random bytes, timers): nothing
// of the host's own globals or modules is visible in an isolate.

/** Node builtins an isolate provides (what compat.ts lets through); everything else is refused. */
export const ISOLATE_BUILTINS = ['crypto', 'process', 'url', 'buffer'] as const;

export const PRELUDE = String.raw`'use strict';
(() => {
  const g = globalThis;
  const hostRandomHex = g.__thaw_random;
  const hostTimer = g.__thaw_timer;
  delete g.__thaw_random;
  delete g.__thaw_timer;
  let stdout = [];
  let stderr = [];
  const show = (v) => {
    if (typeof v === 'string') return v;
    if (v instanceof Error) return v.stack || String(v);
    try { const s = JSON.stringify(v); return s === undefined ? String(v) : s; } catch { return String(v); }
  };
  const line = (into) => (...args) => { into.push(args.map(show).join(' ')); };
  g.console = { log: line(stdout), info: line(stdout), debug: line(stdout), warn: line(stderr), error: line(stderr), trace: line(stderr) };

  const timers = new Map();
  let nextTimer = 1;
  const schedule = (fn, ms, args, repeat) => {
    const id = nextTimer++;
    const delay = Math.max(0, Number(ms) || 0);
    timers.set(id, { fn, args, repeat: repeat ? delay : -1 });
    hostTimer(delay, id);
    return id;
  };
  g.setTimeout = (fn, ms, ...args) => schedule(fn, ms, args, false);
  g.setInterval = (fn, ms, ...args) => schedule(fn, ms, args, true);
  g.clearTimeout = g.clearInterval = (id) => { timers.delete(id); };
  g.setImmediate = (fn, ...args) => schedule(fn, 0, args, false);
  g.queueMicrotask = (fn) => { Promise.resolve().then(fn); };
  Object.defineProperty(g, '__thaw_fire', { value: (id) => {
    const t = timers.get(id);
    if (!t) return;
    if (t.repeat >= 0) hostTimer(t.repeat, id); else timers.delete(id);
    t.fn(...t.args);
  } });

  const randomBytes = (n) => {
    const hex = hostRandomHex(n);
    const out = new Uint8Array(n);
    for (let i = 0; i < n; i++) out[i] = parseInt(hex.substr(2 * i, 2), 16);
    return out;
  };
  const getRandomValues = (view) => {
    new Uint8Array(view.buffer, view.byteOffset, view.byteLength).set(randomBytes(view.byteLength));
    return view;
  };
  const randomUUID = () => {
    const b = randomBytes(16);
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    const h = Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
    return h.slice(0, 8) + '-' + h.slice(8, 12) + '-' + h.slice(12, 16) + '-' + h.slice(16, 20) + '-' + h.slice(20);
  };
  g.crypto = { getRandomValues, randomUUID };
  g.process = { env: {}, platform: 'linux', version: 'v20.0.0', versions: {}, argv: [], cwd: () => '/code',
    nextTick: (fn, ...args) => { Promise.resolve().then(() => fn(...args)); }, emitWarning: () => {} };
  const builtins = {
    crypto: { randomUUID, getRandomValues, randomFillSync: getRandomValues, webcrypto: g.crypto },
    process: g.process,
    // thaw's bundles compute import.meta.url from __filename.
    url: { pathToFileURL: (p) => ({ href: 'file://' + p }), fileURLToPath: (u) => String(u && u.href !== undefined ? u.href : u).replace(/^file:\/\//, '') },
    // No Buffer: code that checks for one takes its Uint8Array path.
    buffer: {},
  };
  const require = (name) => {
    const key = String(name).replace(/^node:/, '');
    if (Object.prototype.hasOwnProperty.call(builtins, key)) return builtins[key];
    throw new Error("Cannot find module '" + name + "': an isolate provides only " + Object.keys(builtins).join(', '));
  };

  let handler;
  let init;
  const pick = (mod, name) => {
    if (mod == null) return undefined;
    if (typeof mod[name] === 'function') return mod[name];
    const def = mod.default;
    if (def != null && typeof def === 'object' && typeof def[name] === 'function') return def[name];
    if (name === 'handler') { if (typeof def === 'function') return def; if (typeof mod === 'function') return mod; }
    return undefined;
  };
  const flush = () => { const logs = { stdout: stdout.join('\n'), stderr: stderr.join('\n') }; stdout = []; stderr = []; return logs; };
  const fail = (e) => ({ name: e && e.name, message: e && e.message !== undefined ? String(e.message) : String(e), stack: e && e.stack });
  Object.defineProperty(g, '__thaw_define', { value: (env, factory) => {
    Object.assign(g.process.env, JSON.parse(env));
    const module = { exports: {} };
    factory.call(module.exports, module.exports, require, module, '/code/bundle.cjs', '/code');
    handler = pick(module.exports, 'handler');
    init = pick(module.exports, 'init');
    if (!handler) throw new TypeError('the bundle exports no handler: expected module.exports.handler (or a default export) to be a function');
  } });
  Object.defineProperty(g, '__thaw_init', { value: async () => {
    try { if (init) await init(); return JSON.stringify({ ok: true, ...flush() }); }
    catch (e) { return JSON.stringify({ ok: false, error: fail(e), ...flush() }); }
  } });
  Object.defineProperty(g, '__thaw_invoke', { value: async (payload, context) => {
    try {
      const value = await handler(JSON.parse(payload), JSON.parse(context));
      return JSON.stringify({ ok: true, value, ...flush() });
    } catch (e) { return JSON.stringify({ ok: false, error: fail(e), ...flush() }); }
  } });
})();
`;
