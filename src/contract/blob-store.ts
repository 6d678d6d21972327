/**
 * Where large values live: content-addressed byte sequences ("blobs") kept
 * beside the key-value store. A store writes a blob whole and durably before
 * any key names it, reads any part of it, and lists and deletes blobs for
 * garbage collection.
 *
 * A blob is named by its writer or, by default, by the SHA-256 of its bytes.
 * A large value's blob is named by the layer that lays it out, from the key
 * that names it and its checksummed layout (see `valueBlob` in
 * src/layers/blob/blob-file.ts), so that naming it costs no pass over its
 * bytes.
 *
 * Two implementations ship: files in a directory beside an embedded store or
 * on a shared filesystem (`FileBlobStore`), and chunks under `b!` keys of a
 * byte database, which goes through every byte layer (`KeyedBlobStore`).
 *
 * @module
 */

/** A blob as written: its name and size. */
export interface BlobInfo {
  /** Its name, 64 lowercase hex characters (see {@link BlobWriteOptions.name}). */
  id: string;
  /** Its size in bytes. */
  bytes: number;
}

/** A blob found by {@link BlobStore.list}; for an unfinished write, `id` is whatever names its remains for {@link BlobStore.delete}. */
export interface ListedBlob extends BlobInfo {
  /** When it was last written (ms since the epoch); a blob younger than a grace period may be about to be named by a writer. */
  modifiedMs: number;
  /** `false` for the remains of a write that never finished (a killed process): never named by a record, always garbage. */
  complete: boolean;
}

/** How {@link BlobStore.write} names a blob and when it lets the writer check what it wrote. */
export interface BlobWriteOptions {
  /**
   * Returns the blob's name (64 lowercase hex characters). Called once, after
   * the last part has been taken from `parts` (a name may depend on checksums
   * computed while they are produced).
   *
   * @default the SHA-256 of the blob's bytes
   */
  name?: () => string;
  /**
   * Called once every byte has been handed over (written to the file, or sent),
   * before the write is made durable and before the name is visible. It may
   * throw to refuse the write: used to check that a value changed by its owner
   * during the write is not stored (see `SerializedDB.checkLargeValuesWith`).
   */
  written?: () => void;
}

/**
 * A blob whose bytes are on their way to the store, not yet named (see
 * {@link BlobStore.begin}). Finish it or abandon it.
 */
export interface PendingBlob {
  /**
   * Names the blob and makes it durable and visible, as {@link BlobStore.write}
   * does after its last part: waits for the bytes, runs `options.written`,
   * syncs, names. When a write failed or `written` threw, nothing is left
   * under the name (bar what was there before) and it rejects with that error.
   */
  finish(options: BlobWriteOptions & { name: () => string }): Promise<BlobInfo>;
  /** Drops the write and what it wrote. Never rejects; a no-op once finished or abandoned. */
  abandon(): Promise<void>;
}

/** An open blob, for positioned reads. Close it when done. */
export interface BlobReader {
  /** The blob's size in bytes. */
  readonly bytes: number;
  /**
   * Fills `target` with the blob's bytes from `position` on.
   *
   * @throws MemostrataError `CORRUPT` when the blob ends before `target` is full.
   */
  read(position: number, target: Uint8Array): Promise<void>;
  /** Releases the reader. */
  close(): Promise<void>;
}

/** A place for blobs (see the module comment). */
export interface BlobStore {
  /** Where the blobs are, for messages: a directory, or the keys of a database. */
  readonly location: string;
  /**
   * Writes the concatenation of `parts` as one blob (an async iterable lets
   * a copy stream from another store without holding the blob): durable (on stable
   * storage, or acknowledged by the server) before it resolves, and never
   * visible under its name half-written. Writing a blob that exists replaces
   * it with the same bytes (repairing a damaged copy). When `options.written`
   * throws, nothing is left under the name (bar what was there before) and
   * `write` rejects with its error.
   */
  write(parts: Iterable<Uint8Array> | AsyncIterable<Uint8Array>, options?: BlobWriteOptions): Promise<BlobInfo>;
  /**
   * Starts writing the concatenation of `parts` now, to be named later with
   * {@link PendingBlob.finish}: takes every part at once, before it returns,
   * and hands them all to the disk, so that they are written while the caller
   * computes (a large result's blob, while its digest is taken). Optional;
   * `undefined` when the write cannot start (use {@link BlobStore.write}).
   * Parts must stay unchanged until the write is finished: the bytes are taken
   * from them as the disk gets to them.
   */
  begin?(parts: Iterable<Uint8Array>): PendingBlob | undefined;
  /** The blob named `id`, open for reading, or `undefined` when there is none. */
  open(id: string): Promise<BlobReader | undefined>;
  /** Deletes the blobs named `ids` (missing ones are fine), and the remains of unfinished writes with those names. */
  delete(ids: readonly string[]): Promise<void>;
  /** Every blob and unfinished write, in no particular order. */
  list(): AsyncIterable<ListedBlob>;
}

/** Whether `id` can name a blob: 64 lowercase hex characters. */
export function isBlobId(id: unknown): id is string {
  return typeof id === 'string' && /^[0-9a-f]{64}$/.test(id);
}
