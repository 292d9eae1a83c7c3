// Function snapshots (SnapStart for JavaScript): build, store, verify, restore. See start-path.ts.

export { BlobError, DirectoryBlobStore, LocalBlobCache, checkAddress, type BlobAddress, type BlobLease, type BlobStore, type LocalBlobCacheStats, type PutResult } from './blob-store.ts';
export { buildSnapshot, createSnapshotEntry, summarizeStderr, type SnapshotBuildInput, type SnapshotBuildOptions, type SnapshotBuildResult } from './builder.ts';
export {
  SnapshotSandbox, SnapshotStartPath, SnapshotUnavailableError, formatSize, statusText,
  type SnapshotManifest, type SnapshotStartPathOptions, type SnapshotState, type SnapshotStatusSink,
} from './start-path.ts';
export { UNSUPPORTED_BUILTINS, UNVERIFIED_BUILTINS } from '../../../runtime/snapshot-protocol.ts';
