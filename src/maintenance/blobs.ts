import type { Store } from '../cache/store.js';
import type { BlobReader, ListedBlob } from '../contract/blob-store.js';
import { MemostrataError, isMemostrataError } from '../errors.js';
import { checkBlob } from '../layers/blob/blob-file.js';
import { KeyPrefix, keyText } from '../layers/keys.js';
import type { BlobReference } from '../layers/value-codec.js';

/*
 * What every maintenance tool needs to know about blobs (large values kept
 * outside the keyspace or under `b!` keys): which blobs the store's keys name,
 * whether a blob is sound, which blobs are garbage, and how to copy one into
 * another store. Blobs are reached only through `store.serialized.largeValues`,
 * never by path, so every tool works on every backend and layer stack.
 */

/** The default of {@link BlobSweepOptions.orphanGraceMs}: 15 minutes. */
export const ORPHAN_GRACE_MS = 15 * 60 * 1000;

/** A blob the store's keys name, and the keys (as text) that name it. */
export interface NamedBlob {
  /** Its size, as the reference says. */
  bytes: number;
  /** The keys whose value is a reference to it, in key order. */
  keys: string[];
}

/** The key ranges that can hold a blob reference, in key order: every key but the `b!` chunks, which are the blobs themselves. */
export function referenceRanges(): { gte?: Uint8Array; lt?: Uint8Array }[] {
  const encoder = new TextEncoder();
  const blobStart = encoder.encode(KeyPrefix.blob);
  const blobEnd = blobStart.slice();
  blobEnd[blobEnd.length - 1]! += 1;
  return [{ lt: blobStart }, { gte: blobEnd }];
}

/**
 * The blob reference that stored bytes hold, or `undefined` for an ordinary
 * value (and for bytes that only look like a reference but are damaged: those
 * are the value checks' business).
 */
export function blobReferenceOf(store: Store, bytes: Uint8Array): BlobReference | undefined {
  try {
    return store.serialized.codec.blobReference(bytes);
  } catch (error) {
    if (isMemostrataError(error, 'CORRUPT')) return undefined;
    throw error;
  }
}

/**
 * Every blob the store's keys name, by id: reads every key's bytes (through
 * the byte layers, so an encrypted store's references are seen), from one
 * snapshot per range. A value a layer refuses (damaged, unsigned) names nothing.
 */
export async function namedBlobs(store: Store): Promise<Map<string, NamedBlob>> {
  const named = new Map<string, NamedBlob>();
  for (const range of referenceRanges()) {
    const entries = store.bytes.entries(range)[Symbol.asyncIterator]();
    for (;;) {
      let next: IteratorResult<[Uint8Array, Uint8Array]>;
      try {
        next = await entries.next();
      } catch (error) {
        // A value the byte layers cannot open stops this range; verify reports it, and collecting must not guess.
        if (isMemostrataError(error, 'CORRUPT')) throw new MemostrataError('CORRUPT', `${error.message} Blobs are not collected until \`memostrata verify --fix\` has run.`, { cause: error });
        throw error;
      }
      if (next.done === true) break;
      const [key, bytes] = next.value;
      const reference = blobReferenceOf(store, bytes);
      if (reference === undefined) continue;
      let entry = named.get(reference.id);
      if (entry === undefined) named.set(reference.id, (entry = { bytes: reference.bytes, keys: [] }));
      entry.keys.push(keyText(key));
    }
  }
  return named;
}

/** Every blob and unfinished write the store holds. */
export async function listBlobs(store: Store): Promise<ListedBlob[]> {
  const listed: ListedBlob[] = [];
  for await (const blob of store.serialized.largeValues.list()) listed.push(blob);
  return listed;
}

/** What is wrong with a blob a key names. */
export interface BlobFault {
  /** `missing`: the store does not have it; `damaged`: it is there but unsound. */
  kind: 'missing' | 'damaged';
  /** For people: completes "the blob … ". */
  message: string;
}

/**
 * What is wrong with the blob `reference` names (missing, resized, a damaged
 * header or block, a name its layout does not give), or `undefined`. `keys`
 * are the keys that name it (see `checkBlob`).
 */
export async function blobProblem(store: Store, reference: BlobReference, keys: readonly string[]): Promise<BlobFault | undefined> {
  let reader: BlobReader | undefined;
  try {
    reader = await store.serialized.largeValues.open(reference.id);
  } catch (error) {
    // A keyed blob whose head is damaged.
    if (isMemostrataError(error, 'CORRUPT')) return { kind: 'damaged', message: `is damaged: ${error.message}` };
    throw error;
  }
  if (reader === undefined) return { kind: 'missing', message: `is missing from ${store.serialized.largeValues.location}` };
  try {
    const problem = await checkBlob(reader, reference, reference.id, keyBytes(keys));
    return problem === undefined ? undefined : { kind: 'damaged', message: `is damaged: ${problem}` };
  } finally {
    await reader.close();
  }
}

/** Options of {@link sweepBlobs}. */
export interface BlobSweepOptions {
  /**
   * On a store that other processes write at the same time (LMDB, Redis), a
   * blob no key names yet may belong to a checkpoint whose batch has not
   * committed: such a blob (or unfinished write) is deleted only once it is
   * older than this. A store one process holds (LevelDB) has no such writer,
   * and its garbage blobs go at once.
   * @default 900000 (15 minutes)
   */
  orphanGraceMs?: number;
  /** Count what would be deleted, delete nothing. @default false */
  dryRun?: boolean;
  /** The present, for the grace period (ms since the epoch). @default Date.now() */
  now?: number;
  /**
   * For a dry run of a removal: the keys (as text) about to be deleted; a blob
   * that only they name counts as garbage.
   * @default none
   */
  deleted?: (key: string) => boolean;
}

/** What {@link sweepBlobs} deleted (or, for a dry run, would delete). */
export interface BlobSweepResult {
  /** Blobs no key names, and unfinished writes, deleted. */
  blobs: number;
  /** Their size (bytes). */
  blobBytes: number;
  /** Unreferenced blobs kept because they are younger than the grace period (shared stores only). */
  keptYoung: number;
}

/**
 * Deletes every blob no key of the store names, and the remains of
 * unfinished writes (a killed checkpoint's), within the grace period rule of
 * {@link BlobSweepOptions.orphanGraceMs}. The keys are read after the blobs
 * are listed: a blob that a batch names by then is kept.
 *
 * @throws MemostrataError `INVALID_ARGUMENT` for a negative grace period;
 *   `CORRUPT` when a value cannot be read through the byte layers (nothing is deleted).
 */
export async function sweepBlobs(store: Store, options: BlobSweepOptions = {}): Promise<BlobSweepResult> {
  const grace = options.orphanGraceMs ?? ORPHAN_GRACE_MS;
  if (typeof grace !== 'number' || Number.isNaN(grace) || grace < 0) {
    throw new MemostrataError('INVALID_ARGUMENT', `orphanGraceMs must be a number of milliseconds >= 0; got ${String(grace)}.`);
  }
  const shared = store.backend.manifest.shared === true;
  const now = options.now ?? Date.now();
  // Listed first: a blob written after this list is not a candidate; one written before and named since is kept below.
  const listed = await listBlobs(store);
  const result: BlobSweepResult = { blobs: 0, blobBytes: 0, keptYoung: 0 };
  if (listed.length === 0) return result;
  const named = await namedBlobs(store);
  const deleted = options.deleted;
  const doomed: string[] = [];
  for (const blob of listed) {
    const keys = named.get(blob.id)?.keys;
    if (blob.complete && keys !== undefined && (deleted === undefined || !keys.every(deleted))) continue;
    if (shared && blob.modifiedMs > now - grace) {
      result.keptYoung += 1;
      continue;
    }
    doomed.push(blob.id);
    result.blobs += 1;
    result.blobBytes += blob.bytes;
  }
  if (options.dryRun === true || doomed.length === 0) return result;
  if (shared) {
    // A writer that stores a value again rewrites its blob (a new modification time) before naming it:
    // look once more, just before deleting, and spare any blob written since the first look.
    const first = new Map(listed.map((blob) => [blob.id, blob.modifiedMs]));
    const rewritten = new Set<string>();
    for (const blob of await listBlobs(store)) if (first.get(blob.id) !== blob.modifiedMs) rewritten.add(blob.id);
    for (const blob of listed) {
      if (!rewritten.has(blob.id) || !doomed.includes(blob.id)) continue;
      doomed.splice(doomed.indexOf(blob.id), 1);
      result.blobs -= 1;
      result.blobBytes -= blob.bytes;
      result.keptYoung += 1;
    }
  }
  if (doomed.length > 0) await store.serialized.largeValues.delete(doomed);
  return result;
}

/**
 * Copies the blob `reference` names at the key `where` (text) from `source`
 * into `target` (through both stores' `largeValues`), unless the target has
 * it already.
 *
 * The blob streams from one store to the other in slices, then the copy is
 * checked where it landed (`checkBlob`, one more read) and deleted again if
 * it is damaged: a damaged blob is never left under its name. A target that
 * keeps blobs as `b!` chunks holds the blob in memory while writing it (its
 * chunk keys carry the name).
 *
 * @returns whether it was copied.
 * @throws MemostrataError `CORRUPT` when the source's blob is missing or damaged.
 */
export async function copyBlob(source: Store, target: Store, reference: BlobReference, where: string): Promise<boolean> {
  const existing = await target.serialized.largeValues.open(reference.id);
  if (existing !== undefined) {
    const size = existing.bytes;
    await existing.close();
    if (size === reference.bytes) return false;
  }
  const reader = await source.serialized.largeValues.open(reference.id);
  if (reader === undefined) throw new MemostrataError('CORRUPT', `The blob ${reference.id} named at ${where} is missing from ${source.serialized.largeValues.location}; run \`memostrata verify --fix\` on ${source.location}.`);
  try {
    await target.serialized.largeValues.write(slicesOf(reader), { name: () => reference.id });
  } finally {
    await reader.close();
  }
  const problem = await blobProblem(target, reference, [where]);
  if (problem !== undefined) {
    await target.serialized.largeValues.delete([reference.id]);
    throw new MemostrataError('CORRUPT', `The blob ${reference.id} named at ${where} in ${source.location} ${problem.message}; run \`memostrata verify --fix\` on ${source.location}.`);
  }
  return true;
}

/** Slices of a copied blob: each a new buffer, as a blob store may hold the parts it is given. */
const COPY_SLICE_BYTES = 8 * 1024 * 1024;

/** The bytes of the blob `reader` has open, slice by slice. */
async function* slicesOf(reader: BlobReader): AsyncGenerator<Uint8Array> {
  for (let position = 0; position < reader.bytes; position += COPY_SLICE_BYTES) {
    const slice = Buffer.allocUnsafe(Math.min(COPY_SLICE_BYTES, reader.bytes - position));
    await reader.read(position, slice);
    yield slice;
  }
}

/** The keys of the store layout (text) as the bytes a value blob's name covers. */
export function keyBytes(keys: readonly string[]): Uint8Array[] {
  return keys.map((key) => Buffer.from(key, 'utf8'));
}

/** Σ of the sizes of the store's blobs, and how many (unfinished writes counted apart). */
export async function blobTotals(store: Store): Promise<{ count: number; bytes: number; unfinished: number; unfinishedBytes: number }> {
  const totals = { count: 0, bytes: 0, unfinished: 0, unfinishedBytes: 0 };
  for await (const blob of store.serialized.largeValues.list()) {
    if (blob.complete) {
      totals.count += 1;
      totals.bytes += blob.bytes;
    } else {
      totals.unfinished += 1;
      totals.unfinishedBytes += blob.bytes;
    }
  }
  return totals;
}
