// SOCK zygotes as a start path: see start-path.ts (the path), tree.ts (which package sets get a
// zygote), memory.ts (zygote memory in the invoker's Pool), packages.ts (their package folders),
// instance-sandbox.ts (the Sandbox a zygote start hands the invoker).

export { ZygoteStartPath, toZygoteFunction, type ZygoteFunction, type ZygoteSetStats, type ZygoteStartPathOptions, type ZygoteStats } from './start-path.ts';
export { ZygoteInstanceSandbox } from './instance-sandbox.ts';
export { BudgetZygoteMemory, DeferredZygoteMemory, PoolZygoteMemory, ZYGOTE_SPEC_PREFIX, type PoolZygoteMemoryOptions, type ZygoteLease, type ZygoteMemory } from './memory.ts';
export { ensurePackageFolder, npmInstaller, type PackageFolder, type PackageInstaller } from './packages.ts';
export {
  DEFAULT_TREE_OPTIONS,
  deepestContained,
  describeSet,
  isContained,
  packagesHash,
  planZygoteTree,
  zygoteKey,
  type PackageSet,
  type TreeCandidate,
  type TreeOptions,
  type ZygoteNode,
  type ZygoteTree,
} from './tree.ts';
