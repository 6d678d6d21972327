import { existsSync, readdirSync, renameSync, rmSync, statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { LevelBackend } from '../backends/level-backend.js';
import { makeDirectory, removeAbandonedSiblings, siblingPath } from '../backends/level-files.js';
import { LmdbBackend } from '../backends/lmdb-backend.js';
import { openStore, type Store } from '../cache/store.js';
import { MemostrataError } from '../errors.js';
import { defaultTypes, type TypeRegistry } from '../layers/type-registry.js';
import { KeyPrefix, keyText } from '../layers/keys.js';
import type { BlobReference } from '../layers/value-codec.js';
import { blobReferenceOf, copyBlob } from './blobs.js';
import { BatchWriter, Progress, type ProgressOptions } from './common.js';
import { embeddedConfig, type EmbeddedKind } from './store-kind.js';

/** What {@link backup} and {@link restore} copied. */
export interface CopyResult {
  /** The absolute path of the store written. */
  path: string;
  /** Entries (keys) copied. */
  entries: number;
  /** Σ of the copied keys' and values' sizes (bytes). */
  bytes: number;
  /** Blobs (large values) copied through the stores' `largeValues`; a store with byte layers keeps them as `b!` entries, counted in `entries`. */
  blobs: number;
  /** Their size (bytes). */
  blobBytes: number;
}

/** Options of {@link restore}. */
export interface RestoreOptions extends ProgressOptions {
  /**
   * Replace a store that already holds data. The old store is kept until the
   * copy is complete, then swapped out by renaming, so a failed restore leaves
   * it as it was. Default `false`: a non-empty target is refused.
   */
  force?: boolean;
  /** Registered types (only the digester needs them). Default: the process-wide registry. */
  types?: TypeRegistry;
}

/**
 * Copies every entry of `store`, read from one snapshot, into a new store at
 * `destPath`, in batches, the last one durable. The copy is of the store's
 * kind (an LMDB store gives an LMDB copy) and a LevelDB store for a store
 * that is not in files (Redis): it opens with `openCache({ backend: { type,
 * path: destPath } })`. On failure the partial copy is removed.
 *
 * @throws MemostrataError `CONFIG` when `destPath` exists and is not an empty
 *   directory, or is the store itself (nothing is touched).
 */
export async function backup(store: Store, destPath: string, options: ProgressOptions = {}): Promise<CopyResult> {
  const dest = resolve(destPath);
  if ((store.backend instanceof LevelBackend || store.backend instanceof LmdbBackend) && resolve(store.backend.path) === dest) {
    throw new MemostrataError('CONFIG', `Cannot back up the store at ${dest} into itself; choose another destination.`);
  }
  assertFreshDestination(dest, 'back up into');
  return copyInto(store, dest, kindOf(store), options);
}

/** The kind of embedded store a copy of `store` is: its own, or LevelDB for a store not in files. */
function kindOf(store: Store): EmbeddedKind {
  return store.backend instanceof LmdbBackend ? 'lmdb' : 'level';
}

/**
 * Copies the store at `srcPath` into `storePath` (the same copy as
 * {@link backup}, the other way, and of the backup's kind, LevelDB or LMDB).
 * An empty or missing target is written in place; a target that holds a
 * store is replaced only with `force`, and only once the copy is complete.
 * Nothing stops processes that share an LMDB target from writing to it
 * meanwhile (LMDB has no lock to hold): stop them before a forced restore.
 *
 * @throws MemostrataError `CONFIG` when `srcPath` holds no store, or the target
 *   holds data and `force` is not set; `NOT_A_STORE` or `LOCKED` for a target
 *   that is not a memostrata store or is in use; nothing is touched then.
 */
export async function restore(srcPath: string, storePath: string, options: RestoreOptions = {}): Promise<CopyResult> {
  const src = resolve(srcPath);
  const target = resolve(storePath);
  if (src === target) throw new MemostrataError('CONFIG', `Cannot restore ${src} onto itself; the source and the target are the same path.`);
  if (!existsSync(src) || !statSync(src).isDirectory() || readdirSync(src).length === 0) {
    throw new MemostrataError('CONFIG', `There is no store at ${src} to restore from.`);
  }
  const types = options.types ?? defaultTypes;
  const source = await openStore(embeddedConfig(src), types);
  try {
    if (isFreshDestination(target)) return await copyInto(source, target, kindOf(source), options);
    if (options.force !== true) {
      throw new MemostrataError('CONFIG', `${target} already holds data; pass force (--force on the command line) to replace it with the store at ${src}.`);
    }
    // Opening the target proves it is a memostrata store that no other process holds; keeping it
    // open holds its lock during the copy, so no job can start on the store about to be replaced.
    const current = await openStore(embeddedConfig(target), types);
    removeAbandonedCopies(target);
    const staging = siblingPath(target, 'restoring');
    let result: CopyResult;
    try {
      result = await writeCopy(source, staging, kindOf(source), options);
    } finally {
      await current.serialized.close();
    }
    const replaced = siblingPath(target, 'replaced');
    renameSync(target, replaced);
    try {
      renameSync(staging, target);
    } catch (error) {
      renameSync(replaced, target);
      rmSync(staging, { recursive: true, force: true });
      throw new MemostrataError('BACKEND', `Could not move the restored store into ${target}: ${(error as Error).message}`, { cause: error });
    }
    rmSync(replaced, { recursive: true, force: true });
    return { ...result, path: target };
  } finally {
    await source.serialized.close();
  }
}

/**
 * Writes every entry of `source` into a new LevelDB store at `dest` (absent or empty).
 * The copy is written under a sibling name and renamed into place only once it
 * is complete and durable: key order puts records (`m!`) before the values
 * (`v!`) they use, so a copy cut short (an error, Ctrl-C, a kill) must never
 * be found at `dest`, where it would open as a store whose hits fail.
 */
async function copyInto(source: Store, dest: string, kind: EmbeddedKind, options: ProgressOptions): Promise<CopyResult> {
  makeDirectory(dirname(dest), `write a copy to ${dest}`);
  removeAbandonedCopies(dest);
  const staging = siblingPath(dest, 'copying');
  const result = await writeCopy(source, staging, kind, options);
  // `dest` was checked to be absent or an empty directory; rename() replaces an empty directory.
  try {
    renameSync(staging, dest);
  } catch (error) {
    rmSync(staging, { recursive: true, force: true });
    throw new MemostrataError('BACKEND', `Could not move the finished copy into ${dest}: ${(error as Error).message}`, { cause: error });
  }
  return { ...result, path: dest };
}

/**
 * Removes the work directories that a killed backup or restore left beside
 * `path`: copies in progress (`copying`) and finished copies not yet moved
 * into place (`restoring`), of processes that are gone (see
 * removeAbandonedSiblings). Both are only copies: their source still exists.
 * A store that a restore had moved aside (`replaced`) is never removed.
 */
function removeAbandonedCopies(path: string): void {
  removeAbandonedSiblings(path, ['copying', 'restoring']);
}

/** Writes every entry of `source` into a new store of `kind` at `path` (a work path nobody reads); removes it on failure. */
async function writeCopy(source: Store, path: string, kind: EmbeddedKind, options: ProgressOptions): Promise<CopyResult> {
  const progress = new Progress(options.onProgress);
  let target: Store | undefined;
  try {
    // The copy brings its own format record, so the new store's is neither checked nor written here.
    target = await openStore({ type: kind, path }, source.types, { checkFormat: false });
    const writer = new BatchWriter(target.backend);
    let entries = 0;
    let bytes = 0;
    // Under byte layers the blobs are b! entries like any other (sealed by the layers): copied as they are.
    // Otherwise they are the backend's own (files, or b! chunks of a store not in files) and go through
    // both stores' largeValues, into the copy's files.
    const blobsAsEntries = source.byteLayers.length > 0;
    const named = new Map<string, { reference: BlobReference; key: string }>();
    // One iteration reads one snapshot: the copy is consistent even if the store changes meanwhile.
    for await (const [key, value] of source.backend.entries()) {
      if (!blobsAsEntries && isBlobKey(key)) continue;
      await writer.put(key, value);
      entries += 1;
      bytes += key.length + value.length;
      const reference = blobsAsEntries ? undefined : blobReferenceOf(source, value);
      if (reference !== undefined && !named.has(reference.id)) named.set(reference.id, { reference, key: keyText(key) });
      progress.step();
    }
    let blobs = 0;
    let blobBytes = 0;
    for (const { reference, key } of named.values()) {
      await copyBlob(source, target, reference, key);
      blobs += 1;
      blobBytes += reference.bytes;
      progress.step();
    }
    await writer.flush(true);
    await target.serialized.close();
    target = undefined;
    progress.finish();
    return { path, entries, bytes, blobs, blobBytes };
  } catch (error) {
    await target?.serialized.close().catch(() => undefined);
    rmSync(path, { recursive: true, force: true });
    throw error;
  }
}

const BLOB_PREFIX = new TextEncoder().encode(KeyPrefix.blob);

function isBlobKey(key: Uint8Array): boolean {
  return key.length > BLOB_PREFIX.length && key[0] === BLOB_PREFIX[0] && key[1] === BLOB_PREFIX[1];
}

function isFreshDestination(path: string): boolean {
  if (!existsSync(path)) return true;
  return statSync(path).isDirectory() && readdirSync(path).length === 0;
}

function assertFreshDestination(path: string, verb: string): void {
  if (isFreshDestination(path)) return;
  const what = statSync(path).isDirectory() ? 'a directory that is not empty' : 'a file';
  throw new MemostrataError('CONFIG', `Cannot ${verb} ${path}: it is ${what}. Choose a new or empty directory.`);
}
