import type { Store } from '../cache/store.js';
import { KeyPrefix, keyText, prefixRange } from '../layers/keys.js';
import { isMemostrataError } from '../errors.js';
import { warnOnce } from '../warnings.js';
import { sweepBlobs, type BlobSweepOptions, type BlobSweepResult } from './blobs.js';
import { BatchWriter, Progress, rawRecords, referencedUuids, type ProgressOptions } from './common.js';

/** What {@link collectGarbage} freed. */
export interface GarbageResult {
  /** Values (`v!` entries) deleted. */
  values: number;
  /** Their encoded size (bytes); a large value counts its reference here and its blob in `blobBytes`. */
  bytes: number;
  /** Blobs (large values) no key names any more, and unfinished writes, deleted. */
  blobs: number;
  /** Their size (bytes). */
  blobBytes: number;
}

/** Options of {@link collectGarbage}. */
export interface GarbageOptions extends ProgressOptions {
  /** Count what would be freed, delete nothing. Default `false`. */
  dryRun?: boolean;
  /**
   * On a store other processes write at the same time (LMDB, Redis): delete a
   * blob no key names only once it is older than this, as a writer's batch
   * may be about to name it. A LevelDB store's go at once.
   * @default 900000 (15 minutes)
   */
  orphanGraceMs?: number;
}

/**
 * The UUIDs of every value a memo record refers to (inputs and results).
 * Saved states (`s!`) hold their state inline, not by UUID, so they refer to no value.
 *
 * @throws MemostrataError `CORRUPT` when a record does not decode: what it
 *   refers to is unknown, so nothing may be collected until `verify --fix` ran.
 */
export async function referencedValues(store: Store, progress?: Progress): Promise<Set<string>> {
  const live = new Set<string>();
  for await (const record of rawRecords(store)) {
    for (const uuid of referencedUuids(record)) live.add(uuid);
    progress?.step();
  }
  return live;
}

/**
 * Mark and sweep: deletes every stored value that no memo record refers to,
 * in batches. Assumes no other writer uses the store meanwhile (the CLI holds
 * the store's lock; inside a process, do not run it beside an open Cache on the same store).
 *
 * @throws MemostrataError `CORRUPT` when a record does not decode (nothing is deleted).
 */
export async function collectGarbage(store: Store, options: GarbageOptions = {}): Promise<GarbageResult> {
  const progress = new Progress(options.onProgress);
  const freed = await sweepValues(store, await referencedValues(store, progress), options.dryRun === true, progress, options.orphanGraceMs);
  progress.finish();
  return freed;
}

/**
 * The sweep: deletes (or, for a dry run, only counts) every stored value whose
 * UUID is not in `live`, then every blob no remaining key names (see
 * {@link sweepBlobs}; `orphanGraceMs` as {@link GarbageOptions.orphanGraceMs}).
 */
export async function sweepValues(store: Store, live: ReadonlySet<string>, dryRun: boolean, progress?: Progress, orphanGraceMs?: number): Promise<GarbageResult> {
  // Through the byte layers, so that an audit layer logs the deletes.
  const writer = new BatchWriter(store.bytes);
  const freed: GarbageResult = { values: 0, bytes: 0, blobs: 0, blobBytes: 0 };
  for await (const [key, bytes] of store.backend.entries(prefixRange(KeyPrefix.value))) {
    progress?.step();
    if (live.has(keyText(key).slice(KeyPrefix.value.length))) continue;
    freed.values += 1;
    freed.bytes += bytes.length;
    if (!dryRun) await writer.del(key);
  }
  await writer.flush(true);
  await writer.compactDeleted();
  // The value layer remembers which UUIDs are stored, to skip writing them again.
  if (freed.values > 0 && !dryRun) store.values.forgetStored();
  // After the values: a blob whose last value just went is garbage now (in a dry run, counted as if it were gone).
  const blobOptions: BlobSweepOptions = { dryRun, ...(orphanGraceMs === undefined ? {} : { orphanGraceMs }) };
  if (dryRun) blobOptions.deleted = (key) => key.startsWith(KeyPrefix.value) && !live.has(key.slice(KeyPrefix.value.length));
  let blobs: BlobSweepResult;
  try {
    blobs = await sweepBlobs(store, blobOptions);
  } catch (error) {
    if (!isMemostrataError(error, 'CORRUPT')) throw error;
    // A value that cannot be read (it fails its authentication) may name any blob: keep them all, and say so.
    // The records and values were removed as asked; failing now would hide that.
    warnOnce(`Blobs of large values were not collected: ${error.message}`, 'MEMOSTRATA_BLOBS_KEPT', store.location);
    return freed;
  }
  freed.blobs = blobs.blobs;
  freed.blobBytes = blobs.blobBytes;
  return freed;
}
