// Builds the runtime agent (src/runtime/agent.ts) into one CommonJS file that plain `node` runs
// inside a sandbox: <dataDir>/runtime/agent.cjs. Rebuilt only when a source file it is built from
// changes (content hashes of every input esbuild read are kept beside it) or esbuild's version does.

import { createHash } from 'node:crypto';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

import { build, version as esbuildVersion } from 'esbuild';
import { moduleFile } from '../../core/module-file.ts';

export const AGENT_SOURCE = fileURLToPath(moduleFile('../../runtime/agent', import.meta.url));
const SOURCE_ROOT = resolve(dirname(AGENT_SOURCE), '..', '..');

interface AgentBundleMeta {
  esbuild: string;
  /** Absolute path → sha256 of every input. */
  inputs: Record<string, string>;
  /** sha256 of agent.cjs itself. */
  output: string;
}

export interface AgentBundle {
  path: string;
  /** Whether this call built it (false: reused). */
  built: boolean;
  /** sha256 of the bundle. */
  hash: string;
}

/** How the agent is bundled (bench/agent-invoke.ts builds earlier revisions of it the same way). */
export const AGENT_BUILD_OPTIONS = { bundle: true, platform: 'node', format: 'cjs', target: 'node20' } as const;

const inFlight = new Map<string, Promise<AgentBundle>>();

function sha256(data: string | Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}

async function upToDate(outPath: string, metaPath: string): Promise<AgentBundleMeta | undefined> {
  let meta: AgentBundleMeta;
  try {
    meta = JSON.parse(await readFile(metaPath, 'utf8')) as AgentBundleMeta;
  } catch {
    return undefined;
  }
  if (meta.esbuild !== esbuildVersion || !meta.inputs || Object.keys(meta.inputs).length === 0) return undefined;
  try {
    for (const [file, hash] of Object.entries(meta.inputs)) {
      if (sha256(await readFile(file)) !== hash) return undefined;
    }
    if (sha256(await readFile(outPath)) !== meta.output) return undefined;
  } catch {
    return undefined;
  }
  return meta;
}

async function buildAgent(outPath: string, metaPath: string): Promise<AgentBundle> {
  const existing = await upToDate(outPath, metaPath);
  if (existing) return { path: outPath, built: false, hash: existing.output };

  const result = await build({
    ...AGENT_BUILD_OPTIONS,
    entryPoints: [AGENT_SOURCE],
    absWorkingDir: SOURCE_ROOT,
    outfile: outPath,
    write: false,
    metafile: true,
    logLevel: 'silent',
    legalComments: 'none',
    banner: { js: '// thaw runtime agent: generated from src/runtime/agent.ts by esbuild; do not edit.' },
  });
  const file = result.outputFiles[0];
  if (!file) throw new Error('esbuild produced no output for the runtime agent');
  const inputs: Record<string, string> = {};
  for (const input of Object.keys(result.metafile.inputs)) {
    const abs = resolve(SOURCE_ROOT, input);
    inputs[abs] = sha256(await readFile(abs));
  }
  const output = sha256(file.contents);
  await mkdir(dirname(outPath), { recursive: true, mode: 0o755 });
  // Write then rename: another process may be starting sandboxes with the old one.
  const tmp = `${outPath}.${process.pid}.${Date.now()}.tmp`;
  await writeFile(tmp, file.contents, { mode: 0o644 });
  await rename(tmp, outPath);
  const meta: AgentBundleMeta = { esbuild: esbuildVersion, inputs, output };
  const metaTmp = `${metaPath}.${process.pid}.${Date.now()}.tmp`;
  await writeFile(metaTmp, `${JSON.stringify(meta, null, 2)}\n`);
  await rename(metaTmp, metaPath);
  return { path: outPath, built: true, hash: output };
}

/** The path of an up-to-date agent bundle under dataDir, building it if needed. */
export async function ensureAgentBundle(dataDir: string): Promise<AgentBundle> {
  const outPath = resolve(dataDir, 'runtime', 'agent.cjs');
  let pending = inFlight.get(outPath);
  if (!pending) {
    pending = buildAgent(outPath, join(dirname(outPath), 'agent.meta.json')).finally(() => inFlight.delete(outPath));
    inFlight.set(outPath, pending);
  }
  return pending;
}
