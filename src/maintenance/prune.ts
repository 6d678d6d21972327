import type { Store } from '../cache/store.js';
import { MemostrataError } from '../errors.js';
import { KeyPrefix, keyText, prefixRange, valueKey } from '../layers/keys.js';
import { readPins } from './pins.js';
import type { MemoRecord } from '../layers/proxy-object-database.js';
import { lastUsedAt, Progress, rawRecords, referencedUuids, type ProgressOptions } from './common.js';
import { removeRecords } from './remove.js';
import { staleRecords } from './code-versions.js';
import { sweepValues } from './garbage.js';
import { blobReferenceOf } from './blobs.js';
import { byWorth } from '../cache/eviction.js';
import { isExpired } from '../cache/expiry.js';

/** What {@link prune} removes; criteria combine (a record that meets any one is removed). */
export interface PruneOptions extends ProgressOptions {
  /** Remove records neither created nor hit within this many milliseconds before `now`. */
  olderThanMs?: number;
  /**
   * Then remove the least recently used records (by the later of creation and
   * last hit; among equally recent ones the largest first) until the values
   * the remaining records refer to take at most this many bytes (encoded
   * size, each shared value counted once). Pinned entries (stored pins, see
   * `memostrata pin`) are never removed for this; they still count towards the
   * size, and {@link PruneResult.pinned} says when they alone exceed it.
   */
  maxBytes?: number;
  /**
   * Which records `maxBytes` removes first: `'lru'`, the least recently used
   * (see `maxBytes`); `'cost'`, those worth least per byte, compute time ×
   * (1 + hits) / result bytes, as `openCache({ maxBytes })` evicts.
   *
   * @default 'lru'
   */
  policy?: 'lru' | 'cost';
  /**
   * Remove the expired records: those stored (`createdAt`) more than this
   * many milliseconds before `now`, which a cache with this `maxAge` would
   * recompute anyway.
   */
  maxAge?: number;
  /**
   * Remove the records of every module whose version (or dependency
   * fingerprint) is not the module's current one: the version its metadata
   * says it last stored calls with, or that was hit since (a revert), see
   * {@link CodeVersionTally}. Run it when no job of older code still runs:
   * that job's calls would be removed, and stored again.
   */
  staleVersions?: boolean;
  /** Only these modules; default every module. */
  modules?: readonly string[];
  /** Count what would be removed, remove nothing. Default `false`. */
  dryRun?: boolean;
  /** The present, for `olderThanMs` (ms since the epoch). Default `Date.now()`. */
  now?: number;
  /**
   * On a store other processes write at the same time (LMDB, Redis): delete a
   * blob no key names only once it is older than this (a writer's batch may be
   * about to name it). A LevelDB store's go at once.
   * @default 900000 (15 minutes)
   */
  orphanGraceMs?: number;
}

/** What {@link prune} removed. */
export interface PruneResult {
  /** Records (memoized calls) removed. */
  records: number;
  /** Removed records per module. */
  byModule: Record<string, number>;
  /** Values freed (no longer referenced by any record). */
  values: number;
  /** Encoded bytes of the freed values. */
  bytes: number;
  /** Blobs (large values) no key names any more, and unfinished writes, deleted. */
  blobs: number;
  /** Their size (bytes). */
  blobBytes: number;
  /**
   * With `maxBytes`: the pinned records it kept (in the modules pruned) and
   * the bytes of the values they refer to, each shared value counted once;
   * `overLimit` is `true` when those bytes alone exceed `maxBytes`, so that
   * the store cannot get under the limit until something is unpinned.
   */
  pinned?: { records: number; bytes: number; overLimit: boolean };
}

/**
 * Removes records by age, total size and staleness of version, then collects
 * the values no record refers to any more (values a remaining record shares
 * stay). Without criteria it only collects garbage.
 *
 * @throws MemostrataError `INVALID_ARGUMENT` for a negative or non-numeric limit;
 *   `CORRUPT` when a record does not decode (nothing is removed).
 */
export async function prune(store: Store, options: PruneOptions = {}): Promise<PruneResult> {
  const { olderThanMs, maxBytes, maxAge } = options;
  const policy = options.policy ?? 'lru';
  if (policy !== 'lru' && policy !== 'cost') throw new MemostrataError('INVALID_ARGUMENT', `prune() option policy must be 'lru' or 'cost'; got ${JSON.stringify(policy)}.`);
  if (maxAge !== undefined && !(typeof maxAge === 'number' && maxAge > 0)) throw new MemostrataError('INVALID_ARGUMENT', `prune() option maxAge must be a number of milliseconds > 0; got ${String(maxAge)}.`);
  for (const [name, limit] of [['olderThanMs', olderThanMs], ['maxBytes', maxBytes]] as const) {
    if (limit !== undefined && (typeof limit !== 'number' || Number.isNaN(limit) || limit < 0)) {
      throw new MemostrataError('INVALID_ARGUMENT', `prune() option ${name} must be a number >= 0; got ${String(limit)}.`);
    }
  }
  const now = options.now ?? Date.now();
  const only = options.modules === undefined ? undefined : new Set(options.modules);
  const progress = new Progress(options.onProgress);

  const records: MemoRecord[] = [];
  for await (const record of rawRecords(store)) {
    records.push(record);
    progress.step();
  }
  const inScope = (record: MemoRecord) => only === undefined || only.has(record.module);
  const doomed = new Set<MemoRecord>();

  if (options.staleVersions === true) {
    for (const record of await staleRecords(store, records)) if (inScope(record)) doomed.add(record);
  }
  if (olderThanMs !== undefined) {
    for (const record of records) if (inScope(record) && lastUsedAt(record) < now - olderThanMs) doomed.add(record);
  }
  if (maxAge !== undefined) {
    for (const record of records) if (inScope(record) && isExpired(record, maxAge, now)) doomed.add(record);
  }
  const pins = maxBytes === undefined ? undefined : await readPins(store);
  const pinned = pins === undefined ? undefined : records.filter((record) => inScope(record) && !doomed.has(record) && pins.has(record.module, record.call));
  const doomedBefore = new Set(doomed);
  if (maxBytes !== undefined) await shrinkTo(store, maxBytes, records, doomed, (record) => inScope(record) && !pins!.has(record.module, record.call), policy);

  const result: PruneResult = { records: doomed.size, byModule: {}, values: 0, bytes: 0, blobs: 0, blobBytes: 0 };
  if (pinned !== undefined) {
    const bytes = await referencedBytes(store, pinned);
    result.pinned = { records: pinned.length, bytes, overLimit: bytes > maxBytes! };
  }
  for (const record of doomed) result.byModule[record.module] = (result.byModule[record.module] ?? 0) + 1;
  if (options.dryRun === true) {
    const live = new Set<string>();
    for (const record of records) if (!doomed.has(record)) for (const uuid of referencedUuids(record)) live.add(uuid);
    const freed = await sweepValues(store, live, true, undefined, options.orphanGraceMs);
    progress.finish();
    return { ...result, ...freed };
  }
  // A pin set by another process (a shared store) since the pins were read keeps an entry chosen for size.
  if (pins !== undefined) {
    const current = await readPins(store);
    for (const record of doomed) if (!doomedBefore.has(record) && current.has(record.module, record.call)) doomed.delete(record);
    result.records = doomed.size;
    result.byModule = {};
    for (const record of doomed) result.byModule[record.module] = (result.byModule[record.module] ?? 0) + 1;
  }
  const { values, bytes, blobs, blobBytes } = await removeRecords(store, doomed, options.orphanGraceMs === undefined ? {} : { orphanGraceMs: options.orphanGraceMs });
  progress.finish();
  return { ...result, values, bytes, blobs, blobBytes };
}

/** Adds least recently used (or, by `policy`, least worth per byte) records to `doomed` until the remaining records' values fit `maxBytes`. */
async function shrinkTo(store: Store, maxBytes: number, records: MemoRecord[], doomed: Set<MemoRecord>, inScope: (record: MemoRecord) => boolean, policy: 'lru' | 'cost'): Promise<void> {
  const sizes = await valueSizes(store);
  const references = new Map<string, number>();
  let total = 0;
  for (const record of records) {
    if (doomed.has(record)) continue;
    for (const uuid of new Set(referencedUuids(record))) {
      const count = references.get(uuid) ?? 0;
      if (count === 0) total += sizes.get(uuid) ?? 0;
      references.set(uuid, count + 1);
    }
  }
  // Least recently used first; among records used at the same moment (one ms), the largest first, so fewer go.
  const candidates = records
    .filter((record) => !doomed.has(record) && inScope(record))
    .sort(policy === 'cost' ? byWorth : (a, b) => lastUsedAt(a) - lastUsedAt(b) || b.size - a.size);
  for (const record of candidates) {
    if (total <= maxBytes) return;
    doomed.add(record);
    for (const uuid of new Set(referencedUuids(record))) {
      const count = references.get(uuid)! - 1;
      references.set(uuid, count);
      if (count === 0) total -= sizes.get(uuid) ?? 0;
    }
  }
}

/** The encoded bytes of the values `records` refer to, each counted once. */
async function referencedBytes(store: Store, records: readonly MemoRecord[]): Promise<number> {
  const uuids = new Set<string>();
  for (const record of records) for (const uuid of referencedUuids(record)) uuids.add(uuid);
  let bytes = 0;
  for (const uuid of uuids) bytes += storedSize(store, await store.backend.get(valueKey(uuid)));
  return bytes;
}

/** Encoded size of every stored value, by UUID. */
async function valueSizes(store: Store): Promise<Map<string, number>> {
  const sizes = new Map<string, number>();
  for await (const [key, bytes] of store.backend.entries(prefixRange(KeyPrefix.value))) sizes.set(keyText(key).slice(2), storedSize(store, bytes));
  return sizes;
}

/** The bytes a stored value takes: its blob's size for a large value, else its encoded size. */
function storedSize(store: Store, bytes: Uint8Array | undefined): number {
  if (bytes === undefined) return 0;
  return blobReferenceOf(store, bytes)?.bytes ?? bytes.length;
}
