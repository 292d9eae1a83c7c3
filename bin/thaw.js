#!/usr/bin/env node
// Entry point of the `thaw` command: runs the compiled CLI in dist/ (npm run build; `npm ci` builds
// it) with no TypeScript loader. THAW_FROM_SOURCE=1 runs src/ through tsx instead: `npm test` sets
// it, so the tests run the sources as they are, never a stale dist/.
let main;
if (process.env.THAW_FROM_SOURCE === '1') {
  const { register } = await import('tsx/esm/api');
  register();
  ({ main } = await import('../src/cli/main.ts'));
} else {
  try {
    ({ main } = await import('../dist/cli/main.js'));
  } catch (error) {
    if (error?.code !== 'ERR_MODULE_NOT_FOUND' || !String(error.message).includes('dist/cli/main.js')) throw error;
    process.stderr.write("thaw: dist/ is not built — run 'npm run build' (npm ci builds it), or set THAW_FROM_SOURCE=1 to run the sources\n");
    process.exit(6);
  }
}
process.exitCode = await main(process.argv.slice(2));
