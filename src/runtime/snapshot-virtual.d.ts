// Virtual modules the snapshot builder (src/platform/accelerators/v8-snapshot/builder.ts) provides to
// src/runtime/snapshot-agent.ts when it bundles one function's snapshot entry with esbuild.

declare module 'thaw:function' {
  /**
   * The function's deployed bundle (bundle.cjs), verbatim, as the body of a CommonJS module wrapper:
   * the agent calls it with its own `require`, so it decides what the function may load at build
   * time and resolves run-time requires normally after a restore.
   */
  export function define(exports: unknown, require: (id: string) => unknown, module: { exports: unknown }, __filename: string, __dirname: string): void;
}

declare module 'thaw:snapshot-config' {
  const config: import('./snapshot-protocol.ts').SnapshotEntryConfig;
  export default config;
}
