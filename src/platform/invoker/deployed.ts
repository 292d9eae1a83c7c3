// A stored function version as the invoker (and the start paths) see it.

import type { FunctionVersion } from '../store/types.ts';
import type { DeployedFunction } from './invoker.ts';

export function toDeployed(v: FunctionVersion): DeployedFunction {
  return {
    name: v.functionName,
    version: v.version,
    codeDir: v.codeDir,
    memoryMb: v.memoryMb,
    timeoutMs: v.timeoutMs,
    maxConcurrency: v.maxConcurrency,
    env: v.env,
    network: v.network,
    provisioned: v.provisioned,
    start: v.start,
    dependencies: v.dependencies,
  };
}
