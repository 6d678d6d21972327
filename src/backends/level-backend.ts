import { existsSync, renameSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { ClassicLevel } from 'classic-level';
import { FileBlobStore } from './file-blob-store.js';
import { Database, type BatchOperation, type Manifest, type WriteOptions, type WriteStage } from '../contract/database.js';
import type { NormalizedRange } from '../contract/range.js';
import { MemostrataError } from '../errors.js';
import { assertBytes } from './bytes.js';
import { readableEntries } from '../contract/readable.js';
import { canonicalLocation, describeHolder, directorySize, finishInterruptedRepair, prepareStoreLocation, removeOwner, siblingPath, writeAheadLogBytes, writeOwner } from './level-files.js';

/** Options of {@link LevelBackend.open}. */
export interface LevelBackendOptions {
  /**
   * Make every write durable (fsync) before it resolves, unless a write asks
   * otherwise. Without it writes reach the OS at once and survive a killed
   * process, and the Cache asks for `sync` where it promises durability.
   *
   * @default false
   */
  sync?: boolean;
  /**
   * Snappy compression of stored blocks.
   *
   * @default true
   */
  compression?: boolean;
  /**
   * LevelDB's write buffer in bytes.
   *
   * @default 4194304 (4 MiB, LevelDB's own)
   */
  writeBufferSize?: number;
  /**
   * Serve `get` with LevelDB's synchronous read (`getSync`) rather than a
   * round trip through Node's thread pool: a read from LevelDB's caches
   * takes microseconds, and a hit after a restart makes two dependent reads.
   * Turn it off when the event loop must never wait on the disk (a server
   * reading large values that are not in the OS cache).
   *
   * @default true
   */
  syncReads?: boolean;
}

type Level = ClassicLevel<Uint8Array, Uint8Array>;

interface SharedHandle {
  /** The registry key: the store's path with symlinks resolved. */
  canonicalPath: string;
  db: Level;
  references: number;
  opening: Promise<void>;
}

/*
 * One LevelDB handle per path per process. A second ClassicLevel on the same
 * directory in one process fails, and LevelDB then silently drops the
 * cross-process LOCK (LevelDB 1.20's lock code), so every LevelBackend on a path shares
 * one handle and the last one to close closes it.
 */
const handles = new Map<string, SharedHandle>();

/** Bytes of keys and values per write batch of a salvage copy (LevelDB writes a batch through its log whole). */
const SALVAGE_BATCH_BYTES = 8 << 20;
/** A write-ahead log this large is flushed at close rather than replayed by the next open (see `#flushLog`). */
const FLUSH_LOG_AT_CLOSE_BYTES = 4 << 20;

/**
 * The embedded default backend: LevelDB through `classic-level`, bytes to
 * bytes. Batches are atomic, iteration reads a snapshot taken when it starts,
 * and a store held by another process fails to open with code `LOCKED`.
 */
export class LevelBackend extends Database<Uint8Array, Uint8Array> {
  readonly manifest: Manifest = { persistent: true, snapshots: true, compact: true, repair: true };

  /** The absolute path of the store directory. */
  readonly path: string;
  readonly #blobs: FileBlobStore;
  readonly #handle: SharedHandle;
  readonly #sync: boolean;
  readonly #syncReads: boolean;

  private constructor(path: string, handle: SharedHandle, options: LevelBackendOptions) {
    super();
    this.path = path;
    this.#blobs = new FileBlobStore(join(path, 'blobs'));
    this.#handle = handle;
    this.#sync = options.sync ?? false;
    this.#syncReads = options.syncReads ?? true;
  }

  /** Large values, as files in the store directory's `blobs` folder. */
  override get blobs(): FileBlobStore {
    return this.#blobs;
  }

  /**
   * Opens (creating if needed) the LevelDB store at `path`.
   *
   * The directory is made here (parents too); while the store is open, a
   * small `owner` file in it names this process, for the `LOCKED` message
   * another process gets.
   *
   * @throws MemostrataError `NOT_A_STORE` when the path is a file or a
   *   non-empty directory that is not a LevelDB store; `CONFIG` when it lies
   *   under a file or cannot be created; `LOCKED` when another process holds
   *   it; `CORRUPT` when LevelDB finds it damaged; `BACKEND` for any other
   *   failure (the cause, such as `EACCES`, in the message).
   */
  static async open(path: string, options: LevelBackendOptions = {}): Promise<LevelBackend> {
    const location = resolve(path);
    const canonicalPath = canonicalLocation(location);
    let handle = handles.get(canonicalPath);
    if (handle === undefined) {
      finishInterruptedRepair(canonicalPath);
      prepareStoreLocation(location);
      const db: Level = new ClassicLevel<Uint8Array, Uint8Array>(location, {
        keyEncoding: 'view',
        valueEncoding: 'view',
        compression: options.compression ?? true,
        ...(options.writeBufferSize === undefined ? {} : { writeBufferSize: options.writeBufferSize }),
      });
      const opening = db.open().then(
        () => writeOwner(location),
        (error: unknown) => Promise.reject(openError(location, error)),
      );
      const created: SharedHandle = { canonicalPath, db, references: 0, opening };
      handles.set(canonicalPath, created);
      handle = created;
      created.opening.catch(() => {
        if (handles.get(canonicalPath) === created) handles.delete(canonicalPath);
      });
    }
    handle.references += 1;
    try {
      await handle.opening;
    } catch (error) {
      handle.references -= 1;
      throw error;
    }
    return new LevelBackend(location, handle, options);
  }

  protected checkKey(key: Uint8Array): void {
    assertBytes(key, 'key');
  }

  protected checkValue(value: Uint8Array): void {
    assertBytes(value, 'value');
  }

  protected async _get(key: Uint8Array): Promise<Uint8Array | undefined> {
    if (this.#syncReads) return this.#call(async () => this.#handle.db.getSync(key));
    return this.#call(() => this.#handle.db.get(key));
  }

  protected async _getMany(keys: readonly Uint8Array[]): Promise<(Uint8Array | undefined)[]> {
    return this.#call(() => this.#handle.db.getMany(keys as Uint8Array[]));
  }

  protected async _has(key: Uint8Array): Promise<boolean> {
    return this.#call(() => this.#handle.db.has(key));
  }

  protected async _put(key: Uint8Array, value: Uint8Array, options: WriteOptions): Promise<void> {
    await this.#call(() => this.#handle.db.put(key, value, { sync: options.sync ?? this.#sync }));
  }

  protected async _delete(key: Uint8Array, options: WriteOptions): Promise<void> {
    await this.#call(() => this.#handle.db.del(key, { sync: options.sync ?? this.#sync }));
  }

  /**
   * A stage for {@link WriteOptions.stage}: one chained batch that batches
   * given it add to, in LevelDB's own memory, and that its commit writes.
   */
  openStage(): WriteStage {
    this.assertOpen();
    return new LevelStage(this, this.#handle.db.batch(), (batch, options) => this.#call(() => batch.write({ sync: options.sync ?? this.#sync })));
  }

  protected async _batch(operations: readonly BatchOperation<Uint8Array, Uint8Array>[], options: WriteOptions): Promise<void> {
    if (options.stage !== undefined) {
      if (!(options.stage instanceof LevelStage) || options.stage.backend !== this) throw foreignStage(this.path);
      options.stage.add(operations);
      return;
    }
    // A chained batch is one LevelDB WriteBatch, as atomic as the array form, and several times
    // faster for large batches: the array form clones and re-checks every operation object.
    await this.#call(async () => {
      const batch = this.#handle.db.batch();
      try {
        for (const op of operations) {
          if (op.type === 'put') batch.put(op.key, op.value);
          else batch.del(op.key);
        }
      } catch (error) {
        await batch.close();
        throw error;
      }
      await batch.write({ sync: options.sync ?? this.#sync });
    });
  }

  protected async *_entries(range: NormalizedRange<Uint8Array>): AsyncGenerator<[Uint8Array, Uint8Array]> {
    // A classic-level iterator reads the implicit snapshot taken when it is created.
    const iterator = this.#handle.db.iterator(levelRange(range));
    try {
      while (true) {
        const page = await this.#call(() => iterator.nextv(1000));
        if (page.length === 0) return;
        for (const entry of page) yield entry;
      }
    } finally {
      await iterator.close();
    }
  }

  protected async *_keys(range: NormalizedRange<Uint8Array>): AsyncGenerator<Uint8Array> {
    const iterator = this.#handle.db.keys(levelRange(range));
    try {
      while (true) {
        const page = await this.#call(() => iterator.nextv(1000));
        if (page.length === 0) return;
        yield* page;
      }
    } finally {
      await iterator.close();
    }
  }

  /** Rewrites the files holding `range` to drop overwritten and deleted data (LevelDB `compactRange`). */
  protected async _compact(range: NormalizedRange<Uint8Array>): Promise<void> {
    // compactRange takes inclusive bounds; compacting a bound key too costs nothing.
    const start = range.gte ?? range.gt ?? new Uint8Array([0x00]);
    const end = range.lte ?? range.lt ?? new Uint8Array(64).fill(0xff);
    await this.#call(() => this.#handle.db.compactRange(start, end));
  }

  /**
   * Copies every entry that can still be read (stepping over damaged blocks)
   * into a new LevelDB beside the store, then puts the copy in the store's
   * place on the same handle. Entries in damaged blocks are lost; the others
   * are kept unchanged. Not LevelDB's RepairDB: on some damage (a key out of
   * order in a block) it aborts the whole process on a failed assertion, and
   * it can keep a damaged key that later reads still trip over.
   */
  protected async _repair(): Promise<void> {
    const store = this.#handle.canonicalPath;
    const staging = siblingPath(store, 'salvage');
    const copy = new ClassicLevel<Uint8Array, Uint8Array>(staging, { keyEncoding: 'view', valueEncoding: 'view' });
    try {
      await copy.open();
      let batch = copy.batch();
      let bytes = 0;
      for await (const [key, value] of readableEntries(this, () => undefined)) {
        batch.put(key, value);
        bytes += key.length + value.length;
        if (batch.length >= 1000 || bytes >= SALVAGE_BATCH_BYTES) {
          await batch.write();
          batch = copy.batch();
          bytes = 0;
        }
      }
      await batch.write({ sync: true });
      await copy.close();
    } catch (error) {
      await copy.close().catch(() => undefined);
      rmSync(staging, { recursive: true, force: true });
      throw levelError(this.path, error);
    }
    const { db } = this.#handle;
    const damaged = siblingPath(store, 'damaged');
    await this.#call(() => db.close());
    renameSync(store, damaged);
    renameSync(staging, store);
    // Large values live beside the LevelDB files, not in them: they go with the store, never with its damaged files.
    if (existsSync(join(damaged, 'blobs'))) renameSync(join(damaged, 'blobs'), join(store, 'blobs'));
    await this.#call(() => db.open());
    writeOwner(store);
    rmSync(damaged, { recursive: true, force: true });
  }

  protected async _sizeOnDisk(): Promise<number> {
    return directorySize(this.path);
  }

  protected async _close(): Promise<void> {
    const handle = this.#handle;
    handle.references -= 1;
    if (handle.references > 0) return;
    if (handles.get(handle.canonicalPath) === handle) handles.delete(handle.canonicalPath);
    await this.#flushLog(handle);
    // While the lock is still ours: a process that opens the store next writes its own.
    removeOwner(this.path);
    await this.#call(() => handle.db.close());
  }

  /**
   * Writes LevelDB's in-memory table to a table file when its write-ahead log
   * has grown past {@link FLUSH_LOG_AT_CLOSE_BYTES}: otherwise the next open
   * replays the log (about a second after a checkpoint of 100k entries). A
   * compaction of a range no key can be in (0xff starts no UTF-8 key) flushes
   * the table and compacts nothing.
   */
  async #flushLog(handle: SharedHandle): Promise<void> {
    let bytes: number;
    try {
      bytes = writeAheadLogBytes(this.path);
    } catch {
      return; // the store's folder went away under it: close reports what matters
    }
    if (bytes < FLUSH_LOG_AT_CLOSE_BYTES) return;
    const nowhere = Uint8Array.of(0xff);
    await this.#call(() => handle.db.compactRange(nowhere, nowhere));
  }

  async #call<T>(operation: () => Promise<T>): Promise<T> {
    try {
      return await operation();
    } catch (error) {
      throw levelError(this.path, error);
    }
  }
}

/**
 * The MemostrataError for a failed LevelDB operation on the store at `path`.
 * LevelDB reports a damaged table block (`corrupted compressed block
 * contents`, `bad entry in block`, a bad checksum) as a Corruption status,
 * which classic-level gives code `LEVEL_CORRUPTION` (on the error or its
 * cause): that is `CORRUPT`, so the Cache can treat it as a miss and
 * `memostrata verify --fix` can salvage the rest. Anything else is `BACKEND`.
 */
export function levelError(path: string, error: unknown): MemostrataError {
  if (error instanceof MemostrataError) return error;
  const message = innermostMessage(error);
  if (hasCode(error, 'LEVEL_CORRUPTION')) {
    return new MemostrataError('CORRUPT', `The LevelDB store at ${path} is damaged (${message}); run \`memostrata verify --fix\` on it to salvage what can still be read.`, {
      cause: error,
    });
  }
  // LevelDB keeps a failed background write (a compaction on a full disk) and refuses every later
  // write until the store is reopened, even once the cause is gone; classic-level cannot reset it.
  const hint = /no space left|ENOSPC/i.test(message)
    ? ' Free disk space; if writes still fail after that, close the cache and open it again (LevelDB keeps a failed background write until the store is reopened).'
    : hasCode(error, 'LEVEL_IO_ERROR')
      ? ' If it keeps failing once the cause is fixed, close the cache and open it again (LevelDB keeps a failed background write until the store is reopened).'
      : '';
  return new MemostrataError('BACKEND', `LevelDB at ${path} failed: ${message}.${hint}`, { cause: error });
}

/** Whether `error` or one of its causes has `code`. */
function hasCode(error: unknown, code: string): boolean {
  for (let current = error, depth = 0; current instanceof Error && depth < 5; current = current.cause, depth += 1) {
    if ((current as { code?: unknown }).code === code) return true;
  }
  return false;
}

/**
 * The message of the deepest cause: classic-level wraps the real failure
 * (`ENOTDIR: not a directory, mkdir …`, `IO error: …: Permission denied`) in
 * a "Database failed to open" error.
 */
function innermostMessage(error: unknown): string {
  let current = error;
  for (let depth = 0; current instanceof Error && current.cause instanceof Error && depth < 5; depth += 1) current = current.cause;
  return current instanceof Error ? current.message.replace(/\.$/, '') : String(current);
}

function levelRange(range: NormalizedRange<Uint8Array>): Record<string, unknown> {
  const options: Record<string, unknown> = { reverse: range.reverse, limit: range.limit === Infinity ? -1 : range.limit };
  for (const bound of ['gt', 'gte', 'lt', 'lte'] as const) {
    if (range[bound] !== undefined) options[bound] = range[bound];
  }
  return options;
}

/**
 * Backends that let many processes use one store at once, for the `LOCKED`
 * message. LMDB (one machine) joins this list when its backend is built.
 */
const SHARED_BACKENDS = ['Redis (`backend: { type: \'redis\', url }`)'];

function openError(location: string, error: unknown): MemostrataError {
  if (hasCode(error, 'LEVEL_LOCKED')) {
    const holder = describeHolder(location);
    return new MemostrataError(
      'LOCKED',
      `The store at ${location} is in use by another process${holder === undefined ? '' : `: ${holder}`}. ` +
        `Wait for that process to finish (or stop it), or open a different path. ` +
        `A LevelDB store serves one process at a time; for parallel jobs on one store use ${SHARED_BACKENDS.join(' or ')}.`,
      { cause: error },
    );
  }
  const code = hasCode(error, 'LEVEL_CORRUPTION') ? 'CORRUPT' : 'BACKEND';
  const hint = code === 'CORRUPT' ? ' Run `memostrata verify --fix` on it to salvage what can still be read.' : '';
  return new MemostrataError(code, `Could not open the LevelDB store at ${location}: ${innermostMessage(error)}.${hint}`, { cause: error });
}

type ChainedBatch = ReturnType<ClassicLevel<Uint8Array, Uint8Array>['batch']>;

/** A {@link WriteStage} of a {@link LevelBackend}: one chained batch (a LevelDB WriteBatch, in native memory). */
class LevelStage implements WriteStage {
  readonly backend: LevelBackend;
  readonly #write: (batch: ChainedBatch, options: WriteOptions) => Promise<void>;
  #batch: ChainedBatch | undefined;
  #failed = false;

  constructor(backend: LevelBackend, batch: ChainedBatch, write: (batch: ChainedBatch, options: WriteOptions) => Promise<void>) {
    this.backend = backend;
    this.#batch = batch;
    this.#write = write;
  }

  get size(): number {
    return this.#batch?.length ?? 0;
  }

  add(operations: readonly BatchOperation<Uint8Array, Uint8Array>[]): void {
    const batch = this.#open();
    try {
      for (const op of operations) {
        if (op.type === 'put') batch.put(op.key, op.value);
        else batch.del(op.key);
      }
    } catch (error) {
      // Part of this batch is staged: the stage can no longer be committed whole.
      this.#failed = true;
      throw error;
    }
  }

  async commit(options: WriteOptions = {}): Promise<void> {
    const batch = this.#open();
    this.#batch = undefined;
    if (this.#failed) {
      await batch.close();
      throw new MemostrataError('INVALID_ARGUMENT', 'A batch failed while it was being staged, so this stage cannot be written whole; discard it and write again.');
    }
    await this.#write(batch, options);
  }

  async discard(): Promise<void> {
    const batch = this.#batch;
    this.#batch = undefined;
    if (batch !== undefined) await batch.close();
  }

  #open(): ChainedBatch {
    if (this.#batch === undefined) throw new MemostrataError('INVALID_ARGUMENT', 'This write stage was already committed or discarded; open a new one with openStage().');
    return this.#batch;
  }
}

function foreignStage(path: string): MemostrataError {
  return new MemostrataError('INVALID_ARGUMENT', `A batch for the LevelDB store at ${path} was given a stage another store opened; open the stage with this store's openStage().`);
}
