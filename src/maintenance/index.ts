/**
 * Store maintenance: inspection, pruning, garbage collection, verification,
 * backup and restore, comparison, export and import, merging stores. Each operation is a
 * function over an open {@link Store} that returns a plain result object
 * (for the CLI to print as text or JSON) and takes an optional `onProgress`.
 *
 * Those that change a store assume that no other writer uses it meanwhile: the
 * CLI holds a LevelDB store's lock, but nothing holds an LMDB or Redis store
 * (shared by design), and a program should not run them beside an open Cache
 * on the same store. `merge` is the exception: see its documentation.
 *
 * @module
 */
export { Progress, BatchWriter, type ProgressCallback, type ProgressOptions } from './common.js';
export { recountModules } from './module-meta.js';
export { listRecords, moduleSummaries, storeSummary, findRecords, findRecord, type ModuleSummary, type StoreSummary } from './inventory.js';
export { collectGarbage, referencedValues, type GarbageOptions, type GarbageResult } from './garbage.js';
export { prune, type PruneOptions, type PruneResult } from './prune.js';
export { pin, unpin, readPins, isPinned, StoredPins, type PinRecord, type PinTarget } from './pins.js';
export { CodeVersionTally, staleRecords, type CodeVersion, type CurrentCode } from './code-versions.js';
export { removeRecords, clearStore, type Removed, type RemoveOptions } from './remove.js';
export { verify, type BlobCheck, type Problem, type ProblemKind, type VerifyOptions, type VerifyResult } from './verify.js';
export { sweepBlobs, ORPHAN_GRACE_MS, type BlobSweepOptions, type BlobSweepResult } from './blobs.js';
export { backup, restore, type CopyResult, type RestoreOptions } from './copy.js';
export { diff, type DiffResult, type ModuleDiff } from './diff.js';
export { merge, type MergeConflict, type MergeResult, type MergeSourceResult, type CounterCount } from './merge.js';
export { storeKindAt, embeddedConfig, type EmbeddedKind } from './store-kind.js';
export {
  exportStore,
  importStore,
  EXPORT_FORMAT,
  EXPORT_END_FORMAT,
  EXPORT_VERSION,
  type ExportHeader,
  type ExportOptions,
  type ExportResult,
  type ImportResult,
  type MergeCount,
} from './export.js';
