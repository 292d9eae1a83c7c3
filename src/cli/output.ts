// Where command results go: a table on the terminal, JSON for machines, files in an output folder.

import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';

export interface OutputTarget {
  /** Print JSON on stdout instead of the table. */
  json: boolean;
  /** Folder for the JSON and HTML files (none: nothing written). */
  outDir?: string;
}

export function writeOutputs(target: OutputTarget, name: string, data: unknown, html: () => string): string[] {
  if (!target.outDir) return [];
  const jsonPath = join(target.outDir, `${name}.json`);
  const htmlPath = join(target.outDir, `${name}.html`);
  mkdirSync(dirname(jsonPath), { recursive: true });
  writeFileSync(jsonPath, JSON.stringify(data, null, 2) + '\n');
  writeFileSync(htmlPath, html());
  return [jsonPath, htmlPath];
}

export function print(text: string): void {
  process.stdout.write(text.endsWith('\n') ? text : text + '\n');
}

/** Messages for people (not data) go to stderr, so stdout stays clean for --json. */
export function say(text: string): void {
  process.stderr.write(text + '\n');
}
