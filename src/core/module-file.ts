// thaw runs from its TypeScript sources (tsx: tests, development) or from dist/ (npm run build: the
// installed `thaw` command). A module that hands a sibling module to esbuild or a worker thread
// names it by its own extension, so the sources find sources and dist/ finds dist/.

/** The URL of the module `relative` (no extension) next to `base` (an import.meta.url), as this copy of thaw names it. */
export function moduleFile(relative: string, base: string): URL {
  return new URL(`${relative}${base.endsWith('.ts') ? '.ts' : '.js'}`, base);
}

/** Whether `base` (an import.meta.url) is compiled JavaScript from dist/ rather than a TypeScript source. */
export function isCompiled(base: string): boolean {
  return !base.endsWith('.ts');
}
