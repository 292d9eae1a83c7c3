#!/usr/bin/env node
// npm run build: compiles src/ to dist/ with tsc (tsconfig.build.json), then copies the files that
// are not TypeScript (the dashboard, the microVM helpers' C sources, the report's client script)
// beside the compiled modules that read them by a path relative to themselves. Plain JavaScript:
// it runs before anything is compiled, with no TypeScript loader.

import { spawnSync } from 'node:child_process';
import { cpSync, readdirSync, rmSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const src = join(root, 'src');
const dist = join(root, 'dist');

rmSync(dist, { recursive: true, force: true });
const tsc = spawnSync(process.execPath, [join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', join(root, 'tsconfig.build.json')], { stdio: 'inherit' });
if (tsc.status !== 0) process.exit(tsc.status ?? 1);

let copied = 0;
const walk = (dir) => {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) walk(path);
    else if (!entry.name.endsWith('.ts')) {
      cpSync(path, join(dist, relative(src, path)));
      copied++;
    }
  }
};
walk(src);
process.stdout.write(`thaw: built dist/ (tsc, and ${copied} asset files)\n`);
