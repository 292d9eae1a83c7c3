// The architecture, checked on every run: the import graph of src/ (every static, type-only and
// dynamic import, read with TypeScript's own pre-processor) must keep the layers apart —
//
//   cli → platform | sim → policies → core        (arrows point down only; platform and sim apart)
//   runtime: the agent that runs inside sandboxes; it imports only Node built-ins and itself, and
//            the host imports only the modules it shares with the agent (the wire protocol)
//
// — the pure layers (core, policies) must do no I/O, and no modules may import each other in a
// circle. The rules are plain functions over a graph, so each is also shown to fire on a small
// graph that breaks it (a check that can never fail checks nothing).

import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';

import ts from 'typescript';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const SRC = join(ROOT, 'src');

/** src-relative module path (e.g. `core/pool.ts`) → what it imports: src-relative paths, `node:x` or package names. */
export type ImportGraph = Map<string, string[]>;

const LAYER_OF: Record<string, number> = { core: 1, policies: 2, sim: 3, platform: 3, cli: 4 };
/** The folders of src/ (a specifier outside them is a package). */
const SRC_FOLDERS = new Set([...Object.keys(LAYER_OF), 'runtime']);

/** Node built-ins that reach the file system, processes, the network or threads: not for the pure layers. */
const IO_BUILTINS = new Set([
  'fs', 'fs/promises', 'child_process', 'net', 'http', 'http2', 'https', 'dgram', 'dns', 'dns/promises', 'tls',
  'worker_threads', 'cluster', 'os', 'readline', 'readline/promises', 'inspector', 'process', 'v8', 'vm', 'module',
]);

/** The runtime modules the host may import: what it shares with the agent, no agent code. */
const SHARED_WITH_AGENT = new Set(['runtime/protocol.ts', 'runtime/snapshot-protocol.ts', 'runtime/framing.ts']);

function topFolder(module: string): string {
  return module.split('/')[0]!;
}

function builtinName(specifier: string): string | undefined {
  if (specifier.startsWith('node:')) return specifier.slice(5);
  return undefined;
}

/** Every rule the graph breaks, one line each, saying which file imports what and why that is wrong. */
export function layerViolations(graph: ImportGraph): string[] {
  const problems: string[] = [];
  for (const [from, imports] of graph) {
    const fromTop = topFolder(from);
    for (const target of imports) {
      const builtin = builtinName(target);
      if (builtin !== undefined) {
        if ((fromTop === 'core' || fromTop === 'policies') && IO_BUILTINS.has(builtin)) {
          problems.push(`${from} imports ${target}: ${fromTop} is pure (no file system, processes, network or threads)`);
        }
        continue;
      }
      if (!SRC_FOLDERS.has(topFolder(target)) || !target.includes('/')) {
        // A package (or a virtual module of the snapshot builder).
        if (fromTop === 'runtime' && !target.startsWith('thaw:')) problems.push(`${from} imports the package ${target}: the runtime agent uses Node built-ins only`);
        continue;
      }
      const toTop = topFolder(target);
      if (toTop === fromTop) continue;
      if (fromTop === 'runtime') {
        problems.push(`${from} imports ${target}: the runtime agent runs inside sandboxes and imports nothing of the host`);
        continue;
      }
      if (toTop === 'runtime') {
        if (!SHARED_WITH_AGENT.has(target)) problems.push(`${from} imports ${target}: the host imports only what it shares with the agent (${[...SHARED_WITH_AGENT].join(', ')})`);
        continue;
      }
      const a = LAYER_OF[fromTop];
      const b = LAYER_OF[toTop];
      if (a === undefined || b === undefined) {
        problems.push(`${from} imports ${target}: ${a === undefined ? fromTop : toTop}/ is in no layer (add it to the architecture test)`);
      } else if (b > a) {
        problems.push(`${from} imports ${target}: ${fromTop} (a lower layer) must not import ${toTop} (a higher one)`);
      } else if (a === b) {
        problems.push(`${from} imports ${target}: ${fromTop} and ${toTop} are separate worlds over the same core; they share only what is below them`);
      }
    }
  }
  return problems;
}

/** Groups of modules that import each other in a circle (Tarjan's strongly connected components). */
export function circles(graph: ImportGraph): string[][] {
  let counter = 0;
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const found: string[][] = [];
  const visit = (node: string): void => {
    index.set(node, counter);
    low.set(node, counter);
    counter++;
    stack.push(node);
    onStack.add(node);
    for (const next of graph.get(node) ?? []) {
      if (!graph.has(next)) continue;
      if (!index.has(next)) {
        visit(next);
        low.set(node, Math.min(low.get(node)!, low.get(next)!));
      } else if (onStack.has(next)) {
        low.set(node, Math.min(low.get(node)!, index.get(next)!));
      }
    }
    if (low.get(node) === index.get(node)) {
      const component: string[] = [];
      let member: string;
      do {
        member = stack.pop()!;
        onStack.delete(member);
        component.push(member);
      } while (member !== node);
      if (component.length > 1 || (graph.get(node) ?? []).includes(node)) found.push(component.sort());
    }
  };
  for (const node of [...graph.keys()].sort()) if (!index.has(node)) visit(node);
  return found;
}

function sourceFiles(dir: string): string[] {
  const files: string[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) files.push(...sourceFiles(path));
    else if (/\.(ts|js)$/.test(entry.name) && !entry.name.endsWith('.d.ts')) files.push(path);
  }
  return files;
}

/** The import graph of src/, as the files are now. */
export function readImportGraph(): ImportGraph {
  const graph: ImportGraph = new Map();
  for (const file of sourceFiles(SRC)) {
    const info = ts.preProcessFile(readFileSync(file, 'utf8'), true, true);
    const imports = info.importedFiles.map(({ fileName }) => (fileName.startsWith('.') ? relative(SRC, resolve(dirname(file), fileName)) : fileName));
    graph.set(relative(SRC, file), [...new Set(imports)]);
  }
  return graph;
}

describe('architecture', () => {
  const graph = readImportGraph();

  it('reads the whole of src/', () => {
    assert.ok(graph.size > 100, `only ${graph.size} modules read`);
    assert.ok(graph.get('core/pool.ts')?.includes('core/instance.ts'), 'core/pool.ts imports core/instance.ts');
  });

  it('keeps the layers apart and the pure layers pure', () => {
    assert.deepEqual(layerViolations(graph), []);
  });

  it('has no modules that import each other in a circle', () => {
    assert.deepEqual(circles(graph).map((c) => c.join(' ↔ ')), []);
  });

  describe('each rule fires on a graph that breaks it', () => {
    const broken = (edges: Record<string, string[]>): ImportGraph => new Map(Object.entries(edges));

    it('the core importing I/O', () => {
      assert.match(layerViolations(broken({ 'core/pool.ts': ['node:fs'] }))[0] ?? '', /core\/pool\.ts imports node:fs: core is pure/);
      assert.deepEqual(layerViolations(broken({ 'core/random.ts': ['node:assert'] })), []);
    });

    it('a lower layer importing a higher one', () => {
      assert.match(layerViolations(broken({ 'policies/x.ts': ['sim/engine.ts'] }))[0] ?? '', /policies \(a lower layer\) must not import sim/);
      assert.match(layerViolations(broken({ 'platform/x.ts': ['cli/main.ts'] }))[0] ?? '', /must not import cli/);
      assert.match(layerViolations(broken({ 'platform/x.ts': ['sim/run.ts'] }))[0] ?? '', /separate worlds/);
      assert.deepEqual(layerViolations(broken({ 'cli/x.ts': ['platform/y.ts', 'sim/z.ts', 'core/pool.ts'] })), []);
    });

    it('the runtime importing the host, and the host importing agent code', () => {
      assert.match(layerViolations(broken({ 'runtime/agent.ts': ['platform/sandbox/types.ts'] }))[0] ?? '', /imports nothing of the host/);
      assert.match(layerViolations(broken({ 'runtime/agent.ts': ['esbuild'] }))[0] ?? '', /Node built-ins only/);
      assert.match(layerViolations(broken({ 'platform/x.ts': ['runtime/agent-lib.ts'] }))[0] ?? '', /only what it shares with the agent/);
      assert.deepEqual(layerViolations(broken({ 'platform/x.ts': ['runtime/protocol.ts'], 'runtime/snapshot-agent.ts': ['thaw:function', 'node:v8'] })), []);
    });

    it('a circle, however long', () => {
      assert.deepEqual(circles(broken({ 'a.ts': ['b.ts'], 'b.ts': ['c.ts'], 'c.ts': ['a.ts'], 'd.ts': ['a.ts'] })), [['a.ts', 'b.ts', 'c.ts']]);
      assert.deepEqual(circles(broken({ 'a.ts': ['b.ts'], 'b.ts': [] })), []);
    });
  });
});
