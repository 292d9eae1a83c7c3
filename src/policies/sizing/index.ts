// Cache sizing from reuse distances (docs/techniques.md §1.1, FaaSCache): exact and SHARDS-sampled
// hit-ratio curves, static sizing read off them, and the dynamic sizing controller.

export { computeCurves, CURVE_DEFAULTS, type CurveOptions } from './curve.ts';
export {
  curveError,
  DEFAULT_GRID_POINTS,
  hitRatioAt,
  hitRatioCurve,
  kneeOf,
  sizeForHitRatio,
  sizeGrid,
  type CurveError,
  type GridOptions,
} from './hit-ratio-curve.ts';
export { DistanceHistogram, DEFAULT_MAX_BINS, INFINITE_BIN, type HistogramSizing } from './histogram.ts';
export { ExactDistanceCollector, exactDistanceHistogram, ReuseDistanceTracker, type TrackerOptions } from './reuse-distance.ts';
export {
  SHARDS_DEFAULTS,
  ShardsDistanceCollector,
  shardsDistanceHistogram,
  ShardsSampler,
  type ShardsHistogram,
  type ShardsOptions,
  type ShardsSamplingOptions,
} from './shards.ts';
export { murmur3 } from './hash.ts';
export {
  DYNAMIC_SIZING_DEFAULTS,
  DynamicSizingController,
  type ControllerState,
  type DynamicSizingOptions,
  type MissSpeedSource,
  type ResizeEvent,
} from './controller.ts';
export { feedTrace, type BatchConsumer } from './stream.ts';
