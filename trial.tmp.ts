import { deployFunction } from './src/platform/deploy/index.ts';
import { Store } from './src/platform/store/index.ts';
import { invokeBundle } from './test/platform/deploy/helpers.ts';
import { mkdtempSync, readdirSync } from 'node:fs';
const store = Store.open(mkdtempSync('/tmp/trial-'));
const events: Record<string, unknown> = { 'compat-express': { path: '/hello/thaw?q=1' }, 'compat-zod': { id: 'a', qty: 2 } };
for (const name of (process.argv[2] ? [process.argv[2]] : readdirSync('test/compat/functions'))) {
  const t = performance.now();
  try {
    const r = await deployFunction(store, `test/compat/functions/${name}`);
    console.log(name, Math.round(performance.now() - t), 'ms', r.version.layout, '|', r.version.layoutReason?.slice(0, 140), '|', JSON.stringify(invokeBundle(r.version.bundlePath, events[name] ?? {})));
  } catch (e) { console.log(name, 'ERR', (e as Error).message.slice(0, 400)); }
}
