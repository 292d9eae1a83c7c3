// Reading a function's package.json: parse errors name the line and column; the fields thaw uses are
// checked for type.

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { InvalidPackageError } from '../../core/errors.ts';

export interface FunctionPackage {
  name: string | undefined;
  main: string | undefined;
  type: 'module' | 'commonjs' | undefined;
  dependencies: Record<string, string>;
  optionalDependencies: Record<string, string>;
  peerDependencies: Record<string, string>;
  devDependencies: Record<string, string>;
  /** The "thaw" settings field, unchecked (see settings.ts). */
  thaw: unknown;
}

const FILE = 'package.json';

export function readPackageJson(dir: string): FunctionPackage {
  let text: string;
  try {
    text = readFileSync(join(dir, FILE), 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new InvalidPackageError(FILE, 'not found: a function is a folder with a package.json and a module exporting handler(event, context)');
    throw new InvalidPackageError(FILE, `cannot be read (${code ?? String(err)})`);
  }
  return parsePackageJson(text);
}

export function parsePackageJson(text: string): FunctionPackage {
  let raw: unknown;
  try {
    raw = JSON.parse(text.charCodeAt(0) === 0xfeff ? text.slice(1) : text);
  } catch (err) {
    const message = (err as Error).message;
    const { line, column } = jsonErrorPosition(text, message);
    throw new InvalidPackageError(FILE, `invalid JSON: ${message.replace(/ in JSON at position \d+.*$/, '').replace(/^JSON\.parse: /, '')}`, line, column);
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new InvalidPackageError(FILE, 'must contain a JSON object');
  const pkg = raw as Record<string, unknown>;
  const str = (key: string): string | undefined => {
    const v = pkg[key];
    if (v === undefined) return undefined;
    if (typeof v !== 'string' || v === '') throw new InvalidPackageError(FILE, `"${key}" must be a non-empty string, got ${JSON.stringify(v)}`);
    return v;
  };
  const deps = (key: string): Record<string, string> => {
    const v = pkg[key];
    if (v === undefined) return {};
    if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new InvalidPackageError(FILE, `"${key}" must be an object of "name": "version range"`);
    for (const [name, range] of Object.entries(v)) {
      if (typeof range !== 'string') throw new InvalidPackageError(FILE, `"${key}.${name}" must be a version string, got ${JSON.stringify(range)}`);
    }
    return v as Record<string, string>;
  };
  const type = str('type');
  if (type !== undefined && type !== 'module' && type !== 'commonjs') throw new InvalidPackageError(FILE, `"type" must be "module" or "commonjs", got ${JSON.stringify(type)}`);
  return {
    name: str('name'),
    main: str('main'),
    type,
    dependencies: deps('dependencies'),
    optionalDependencies: deps('optionalDependencies'),
    peerDependencies: deps('peerDependencies'),
    devDependencies: deps('devDependencies'),
    thaw: pkg.thaw,
  };
}

/** 1-based line and column of a JSON.parse error (V8 reports a character position, or nothing at the end of input). */
export function jsonErrorPosition(text: string, message: string): { line: number; column: number } {
  const lc = /\(line (\d+) column (\d+)\)/.exec(message);
  if (lc) return { line: Number(lc[1]), column: Number(lc[2]) };
  const m = /at position (\d+)/.exec(message);
  const pos = m ? Math.min(Number(m[1]), text.length) : text.length;
  let line = 1;
  let lineStart = 0;
  for (let i = 0; i < pos; i++) {
    if (text.charCodeAt(i) === 10) {
      line++;
      lineStart = i + 1;
    }
  }
  return { line, column: pos - lineStart + 1 };
}
