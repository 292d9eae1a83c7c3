// Compatibility modes: simulators that reproduce a published reference simulator number for number.

export {
  simulateFaasCache,
  analyzeTimings,
  coldStartOverheadPct,
  pythonSum,
  FAASCACHE_POLICIES,
  type FaasCacheOptions,
  type FaasCachePolicy,
  type FaasCacheResult,
  type FaasCacheFunctionResult,
  type FaasCacheReferenceAnalysis,
  type PythonSum,
} from './faascache.ts';
export { heapify, heappop, heappush, siftdown, siftup, listRemove, CACHE_FRIENDLY_HEAPIFY_THRESHOLD, type Less } from './pyheap.ts';
