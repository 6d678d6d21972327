import { closeSync, existsSync, openSync, readdirSync, readSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { open, type RootDatabase } from 'lmdb';
import { FileBlobStore } from './file-blob-store.js';
import { Database, type BatchCondition, type BatchOperation, type Manifest, type WriteOptions, type WriteStage } from '../contract/database.js';
import type { NormalizedRange } from '../contract/range.js';
import { MemostrataError } from '../errors.js';
import { BackendLimitError } from './backend-errors.js';
import { assertBytes, copyBytes } from './bytes.js';
import { canonicalLocation, directorySize, makeDirectory } from './level-files.js';
import { LmdbLockFile } from './lmdb-lock-file.js';
import { WriteArena } from './write-arena.js';

/** Options of {@link LmdbBackend.open}. */
export interface LmdbBackendOptions {
  /**
   * Make every write durable (flushed to disk) before it resolves, unless a
   * write asks otherwise. Without it a write resolves once committed: it is
   * visible to every process at once and survives a killed process, and the
   * Cache asks for `sync` where it promises durability.
   *
   * @default false
   */
  sync?: boolean;
}

/** The data file of an LMDB environment directory. */
const DATA_FILE = 'data.mdb';
/** `MDB_MAGIC`, a little-endian uint32 after the page header of each of the two meta pages. */
const LMDB_MAGIC = 0xbeefc0de;
const MAGIC_OFFSET = 24;
/** Page sizes where the second meta page may start (the OS page size when the store was made). */
const PAGE_SIZES = [4096, 8192, 16384, 65536];
/** LMDB's longest key, in bytes (lmdb-js is built with this limit); keys may not be empty either. */
export const LMDB_MAX_KEY_BYTES = 1978;

/** The smallest key LMDB can hold. */
const SMALLEST_KEY = Buffer.from([0x00]);

type Lmdb = RootDatabase<Buffer, Buffer>;

interface SharedHandle {
  canonicalPath: string;
  db: Lmdb;
  lockFile: LmdbLockFile;
  references: number;
}

/** What a write transaction's body returns when it found its snapshot stale and wrote nothing. */
const STALE_SNAPSHOT = Symbol('stale snapshot');
/** Repairs of a stale snapshot one write tries before it gives up. */
const STALE_SNAPSHOT_ATTEMPTS = 8;

/*
 * One LMDB environment per path per process: LMDB's documentation forbids
 * opening one environment twice in a process (closing the second handle
 * drops the process's advisory locks on the first), so every LmdbBackend on
 * a path shares one handle and the last one to close closes it.
 */
const handles = new Map<string, SharedHandle>();

/**
 * An embedded store that many processes on one machine open, read and write
 * at once: LMDB through the `lmdb` package, bytes to bytes. Writers take
 * turns through LMDB's process-shared write lock, readers never wait; a batch
 * is one write transaction, iteration reads one read transaction (a snapshot),
 * and a process killed in the middle of a write leaves the last committed
 * transaction behind (LMDB never overwrites live pages).
 */
export class LmdbBackend extends Database<Uint8Array, Uint8Array> {
  readonly manifest: Manifest = { persistent: true, snapshots: true, shared: true };

  /** The absolute path of the store directory. */
  readonly path: string;
  readonly #blobs: FileBlobStore;
  readonly #handle: SharedHandle;
  readonly #sync: boolean;

  private constructor(path: string, handle: SharedHandle, options: LmdbBackendOptions) {
    super();
    this.path = path;
    this.#blobs = new FileBlobStore(join(path, 'blobs'));
    this.#handle = handle;
    this.#sync = options.sync ?? false;
  }

  /** Large values, as files in the store directory's `blobs` folder. */
  override get blobs(): FileBlobStore {
    return this.#blobs;
  }

  /**
   * Opens (creating if needed) the LMDB store directory at `path`. Other
   * processes may hold it open at the same time.
   *
   * @throws MemostrataError `NOT_A_STORE` when the path is a file, or a
   *   non-empty directory that does not hold an LMDB store; `CONFIG` when it
   *   lies under a file or cannot be created; `BACKEND` for any other failure
   *   (the cause, such as `EACCES`, in the message).
   */
  static async open(path: string, options: LmdbBackendOptions = {}): Promise<LmdbBackend> {
    const location = resolve(path);
    const canonicalPath = canonicalLocation(location);
    let handle = handles.get(canonicalPath);
    if (handle === undefined) {
      prepareLmdbLocation(location);
      let db: Lmdb;
      try {
        // overlappingSync (lmdb-js's default on Linux) flushes after the write lock is released; with writers
        // SIGKILLed at random it left a surviving writer failing (MDB_PROBLEM) or waiting forever after ~60–150
        // kills. Flushing inside the commit held through 320 kills (npm run stress).
        db = open<Buffer, Buffer>({ path: location, noSubdir: false, keyEncoding: 'binary', encoding: 'binary', overlappingSync: false });
      } catch (error) {
        throw new MemostrataError('BACKEND', `Could not open the LMDB store at ${location}: ${messageOf(error)}.`, { cause: error });
      }
      handle = { canonicalPath, db, lockFile: new LmdbLockFile(location), references: 0 };
      handles.set(canonicalPath, handle);
      handle.references += 1;
      const backend = new LmdbBackend(location, handle, options);
      try {
        // This open may itself have moved the last-transaction word back (see LmdbLockFile):
        // an empty write transaction puts it right before anyone reads an old snapshot for long.
        await backend.#call(() => backend.#transact(() => undefined));
      } catch (error) {
        await backend.close();
        throw error;
      }
      return backend;
    }
    handle.references += 1;
    return new LmdbBackend(location, handle, options);
  }

  /**
   * When nothing is stored, writes `value` at `key`, in one write transaction
   * (so two processes opening a new store together cannot both see it empty
   * and each write a format record between the other's steps); returns what
   * is at `key` afterwards. Durable when it resolves.
   */
  async initializeFormat(key: Uint8Array, value: Uint8Array): Promise<Uint8Array | undefined> {
    this.assertOpen();
    checkWritableKey(key);
    const stored = asBuffer(copyBytes(value));
    const { db } = this.#handle;
    await this.#call(async () => {
      await this.#transact(() => {
        for (const _ of db.getKeys({ limit: 1 })) return;
        void db.put(asBuffer(copyBytes(key)), stored);
      });
      await db.flushed;
    });
    return this._get(key);
  }

  protected checkKey(key: Uint8Array): void {
    assertBytes(key, 'key');
  }

  protected checkValue(value: Uint8Array): void {
    assertBytes(value, 'value');
  }

  protected async _get(key: Uint8Array): Promise<Uint8Array | undefined> {
    // A key LMDB cannot hold is a key that is not there.
    if (!fitsLmdb(key)) return undefined;
    return this.#callSync(() => this.#handle.db.getBinary(asBuffer(key)));
  }

  protected async _getMany(keys: readonly Uint8Array[]): Promise<(Uint8Array | undefined)[]> {
    return this.#callSync(() => keys.map((key) => (fitsLmdb(key) ? this.#handle.db.getBinary(asBuffer(key)) : undefined)));
  }

  protected async _has(key: Uint8Array): Promise<boolean> {
    if (!fitsLmdb(key)) return false;
    return this.#callSync(() => this.#handle.db.doesExist(asBuffer(key)));
  }

  protected async _put(key: Uint8Array, value: Uint8Array, options: WriteOptions): Promise<void> {
    await this._batch([{ type: 'put', key, value }], options);
  }

  protected async _delete(key: Uint8Array, options: WriteOptions): Promise<void> {
    // Nothing to delete at a key LMDB cannot hold.
    if (!fitsLmdb(key)) return;
    await this._batch([{ type: 'del', key }], options);
  }

  /**
   * A stage for {@link WriteOptions.stage}: batches given it are copied into
   * one growing arena, and its commit writes them all in one transaction.
   */
  openStage(): WriteStage {
    this.assertOpen();
    return new LmdbStage(this, (arena, options) => this.#write(arena, options));
  }

  protected async _batch(operations: readonly BatchOperation<Uint8Array, Uint8Array>[], options: WriteOptions): Promise<void> {
    if (options.stage !== undefined) {
      if (!(options.stage instanceof LmdbStage) || options.stage.backend !== this) throw foreignStage(this.path);
      prepareWrites(operations, options.stage.arena());
      return;
    }
    await this.#write(prepareWrites(operations, sizedArena(operations)), options);
  }

  async #write(arena: WriteArena, options: WriteOptions): Promise<void> {
    if (arena.size === 0) return;
    const { db } = this.#handle;
    await this.#call(async () => {
      await this.#transact(() => {
        for (const [key, value] of arena.writes()) {
          if (value === undefined) void db.remove(key);
          else void db.put(key, value);
        }
      });
      if (options.sync ?? this.#sync) await db.flushed;
    });
  }

  protected async _batchIf(condition: BatchCondition<Uint8Array, Uint8Array>, operations: readonly BatchOperation<Uint8Array, Uint8Array>[], options: WriteOptions): Promise<boolean> {
    const prepared = prepareWrites(operations, sizedArena(operations));
    const key = fitsLmdb(condition.key) ? asBuffer(copyBytes(condition.key)) : undefined;
    const expected = condition.value === undefined ? undefined : copyBytes(condition.value);
    const { db } = this.#handle;
    return this.#call(async () => {
      // The test runs inside the write transaction, which holds LMDB's write lock across processes:
      // no other process can write between the read and the writes.
      const applied = await this.#transact(() => {
        const stored = key === undefined ? undefined : db.getBinary(key);
        if (stored === undefined || expected === undefined ? stored !== expected : Buffer.compare(stored, expected) !== 0) return false;
        for (const [key, value] of prepared.writes()) {
          if (value === undefined) void db.remove(key);
          else void db.put(key, value);
        }
        return true;
      });
      if (applied && (options.sync ?? this.#sync)) await db.flushed;
      return applied;
    });
  }

  protected async *_entries(range: NormalizedRange<Uint8Array>): AsyncGenerator<[Uint8Array, Uint8Array]> {
    // One read transaction for the whole iteration: the snapshot the manifest promises.
    for (const { key, value } of this.#range(range, false)) yield [key, value as Uint8Array];
  }

  protected async *_keys(range: NormalizedRange<Uint8Array>): AsyncGenerator<Uint8Array> {
    for (const { key } of this.#range(range, true)) yield key;
  }

  protected async _sizeOnDisk(): Promise<number> {
    return directorySize(this.path);
  }

  protected async _close(): Promise<void> {
    const handle = this.#handle;
    handle.references -= 1;
    if (handle.references > 0) return;
    if (handles.get(handle.canonicalPath) === handle) handles.delete(handle.canonicalPath);
    await this.#call(() => handle.db.close());
  }

  /**
   * Runs `body` in one write transaction on lmdb-js's write thread, which holds
   * LMDB's write lock across processes while `body` runs on this thread. The
   * transaction first checks that it starts from the newest commit: when
   * another process's open moved the shared last-transaction word back (see
   * {@link LmdbLockFile}), it writes nothing, sets the word right, and runs again.
   */
  async #transact<T>(body: () => T): Promise<T> {
    const { db, lockFile } = this.#handle;
    for (let attempt = 1; ; attempt += 1) {
      const result = await db.transaction((): T | typeof STALE_SNAPSHOT => {
        const newest = newestTxnId(db);
        // LMDB reads the snapshot from meta page (word & 1): a word one above the newest names the
        // older page just as one below does, so only the next id is a transaction on the newest commit.
        if (db.getWriteTxnId() === newest + 1) return body();
        lockFile.repair(newest);
        return STALE_SNAPSHOT;
      });
      if (result !== STALE_SNAPSHOT) return result;
      if (attempt === STALE_SNAPSHOT_ATTEMPTS) {
        throw new MemostrataError('BACKEND', `LMDB at ${this.path}: write transactions kept starting from an old snapshot after ${attempt} repairs of the lock file's last-transaction word; nothing was written. Retry the write.`);
      }
    }
  }

  /** The entries of `range` in order, bounds checked here (lmdb-js cannot take an empty or over-long bound). */
  *#range(range: NormalizedRange<Uint8Array>, keysOnly: boolean): Generator<{ key: Uint8Array; value?: Uint8Array }> {
    if (range.limit === 0) return;
    const { db } = this.#handle;
    const lower = range.gt ?? range.gte;
    const upper = range.lt ?? range.lte;
    const above = (key: Uint8Array): boolean => lower === undefined || (range.gt === undefined ? Buffer.compare(key, lower) >= 0 : Buffer.compare(key, lower) > 0);
    const below = (key: Uint8Array): boolean => upper === undefined || (range.lt === undefined ? Buffer.compare(key, upper) <= 0 : Buffer.compare(key, upper) < 0);
    // Native bounds only narrow the scan; the exact tests above decide. A bound LMDB cannot take
    // (empty, or longer than a key may be) is left to them: a prefix of it would cut too much.
    const start = range.reverse ? upper : lower;
    // Backwards without an end, lmdb-js stops before the key 0x00: end there, inclusively.
    const end = range.reverse ? (lower !== undefined && fitsLmdb(lower) ? lower : SMALLEST_KEY) : upper;
    const options = {
      reverse: range.reverse,
      ...(start !== undefined && fitsLmdb(start) ? { start: asBuffer(start) } : {}),
      ...(end !== undefined && fitsLmdb(end) ? { end: asBuffer(end), inclusiveEnd: true } : {}),
      snapshot: true,
    };
    const iterable = keysOnly ? db.getKeys(options) : db.getRange(options);
    let yielded = 0;
    const iterator = this.#callSync(() => (iterable as Iterable<unknown>)[Symbol.iterator]());
    try {
      while (true) {
        const step = this.#callSync(() => iterator.next());
        if (step.done === true) return;
        const entry = (keysOnly ? { key: step.value } : step.value) as { key: Buffer; value?: Buffer };
        // Past the far bound: nothing further along can be inside.
        if (range.reverse ? !above(entry.key) : !below(entry.key)) return;
        if (range.reverse ? !below(entry.key) : !above(entry.key)) continue;
        yield keysOnly ? { key: new Uint8Array(entry.key) } : { key: new Uint8Array(entry.key), value: new Uint8Array(entry.value!) };
        yielded += 1;
        if (yielded >= range.limit) return;
      }
    } finally {
      iterator.return?.();
    }
  }

  async #call<T>(operation: () => Promise<T>): Promise<T> {
    try {
      return await operation();
    } catch (error) {
      throw lmdbError(this.path, error);
    }
  }

  #callSync<T>(operation: () => T): T {
    try {
      return operation();
    } catch (error) {
      throw lmdbError(this.path, error);
    }
  }
}

/** The id of the newest committed transaction, from the data file's meta pages. */
function newestTxnId(db: Lmdb): number {
  return (db as unknown as { env: { info(): { lastTxnId: number } } }).env.info().lastTxnId;
}

/** Whether LMDB can hold `key`: 1 to {@link LMDB_MAX_KEY_BYTES} bytes. */
function fitsLmdb(key: Uint8Array): boolean {
  return key.length > 0 && key.length <= LMDB_MAX_KEY_BYTES;
}

/**
 * Refuses a key LMDB cannot hold, with `BACKEND` and a {@link BackendLimitError}
 * cause: the write can never succeed as it is, and nothing was written.
 */
function checkWritableKey(key: Uint8Array): void {
  if (fitsLmdb(key)) return;
  throw new MemostrataError('BACKEND', `An LMDB key must be 1 to ${LMDB_MAX_KEY_BYTES} bytes; got ${key.length}. Nothing was written.`, {
    cause: new BackendLimitError(`LMDB key of ${key.length} bytes`, { key, size: key.length, limit: LMDB_MAX_KEY_BYTES }),
  });
}

function asBuffer(bytes: Uint8Array): Buffer {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/**
 * Makes sure `location` is a directory holding an LMDB store, or nothing yet.
 * LMDB must never open a data file it did not write: lmdb-js crashes the
 * whole process (a segmentation fault) on a foreign `data.mdb`.
 *
 * @throws MemostrataError `NOT_A_STORE` for a file, a non-empty directory
 *   without an LMDB data file, or a data file that is not LMDB's; `CONFIG`
 *   when the directory cannot be made.
 */
function prepareLmdbLocation(location: string): void {
  if (!existsSync(location)) {
    makeDirectory(location, `make a store at ${location}`);
    return;
  }
  if (!statSync(location).isDirectory()) {
    throw new MemostrataError('NOT_A_STORE', `${location} is a file, not a store directory; choose another path for the cache.`);
  }
  const names = readdirSync(location);
  if (names.length === 0) return;
  if (!names.includes(DATA_FILE)) {
    const what = names.includes('CURRENT') ? 'a LevelDB store (open it with `backend: { type: \'level\' }`)' : 'a directory that holds other files';
    throw new MemostrataError('NOT_A_STORE', `${location} is ${what}, not an LMDB store; choose an empty or new path for an LMDB store.`);
  }
  if (!hasLmdbMagic(join(location, DATA_FILE))) {
    throw new MemostrataError('NOT_A_STORE', `${join(location, DATA_FILE)} is not an LMDB data file; choose an empty or new path for an LMDB store.`);
  }
}

/** Whether `file` is empty (LMDB initializes it) or one of its two meta pages starts with LMDB's magic. */
function hasLmdbMagic(file: string): boolean {
  const size = statSync(file).size;
  if (size === 0) return true;
  const fd = openSync(file, 'r');
  try {
    const word = Buffer.alloc(4);
    for (const offset of [0, ...PAGE_SIZES]) {
      if (offset + MAGIC_OFFSET + 4 > size) break;
      if (readSync(fd, word, 0, 4, offset + MAGIC_OFFSET) === 4 && word.readUInt32LE(0) === LMDB_MAGIC) return true;
    }
    return false;
  } finally {
    closeSync(fd);
  }
}

/**
 * The MemostrataError for a failed LMDB operation on the store at `path`:
 * `CORRUPT` where LMDB says its pages are damaged, `BACKEND` otherwise, with
 * LMDB's reason in the message.
 */
export function lmdbError(path: string, error: unknown): MemostrataError {
  if (error instanceof MemostrataError) return error;
  const message = messageOf(error);
  if (/MDB_CORRUPTED|MDB_PAGE_NOTFOUND|MDB_INVALID/.test(message)) {
    return new MemostrataError('CORRUPT', `The LMDB store at ${path} is damaged (${message}); restore it from a backup, or export what can be read.`, { cause: error });
  }
  return new MemostrataError('BACKEND', `LMDB at ${path} failed: ${message}.`, { cause: error });
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message.replace(/\.$/, '') : String(error);
}

/**
 * A batch's writes, checked before the first is copied into `arena`: a write
 * that throws halfway through a transaction leaves the earlier ones applied,
 * and the puts run later, once lmdb-js's write thread holds the lock, by which
 * time a caller may have reused the buffers. Deletes of keys LMDB cannot hold
 * are dropped.
 */
function prepareWrites(operations: readonly BatchOperation<Uint8Array, Uint8Array>[], arena: WriteArena): WriteArena {
  for (const op of operations) if (op.type === 'put') checkWritableKey(op.key);
  for (const op of operations) {
    if (op.type === 'put') arena.add(op.key, op.value);
    else if (fitsLmdb(op.key)) arena.add(op.key, undefined);
  }
  return arena;
}

/** An arena that holds `operations` in one slab. */
function sizedArena(operations: readonly BatchOperation<Uint8Array, Uint8Array>[]): WriteArena {
  let bytes = 0;
  for (const op of operations) bytes += WriteArena.bytesOf(op.key, op.type === 'put' ? op.value : undefined);
  return new WriteArena(bytes);
}

/** A {@link WriteStage} of an {@link LmdbBackend}: its writes wait in one arena. */
class LmdbStage implements WriteStage {
  readonly backend: LmdbBackend;
  readonly #write: (arena: WriteArena, options: WriteOptions) => Promise<void>;
  #arena: WriteArena | undefined = new WriteArena();

  constructor(backend: LmdbBackend, write: (arena: WriteArena, options: WriteOptions) => Promise<void>) {
    this.backend = backend;
    this.#write = write;
  }

  get size(): number {
    return this.#arena?.size ?? 0;
  }

  /** Where staged writes go; throws once the stage is spent. */
  arena(): WriteArena {
    if (this.#arena === undefined) throw spentStage();
    return this.#arena;
  }

  async commit(options: WriteOptions = {}): Promise<void> {
    const arena = this.arena();
    this.#arena = undefined;
    await this.#write(arena, options);
  }

  async discard(): Promise<void> {
    this.#arena = undefined;
  }
}

function foreignStage(path: string): MemostrataError {
  return new MemostrataError('INVALID_ARGUMENT', `A batch for the LMDB store at ${path} was given a stage another store opened; open the stage with this store's openStage().`);
}

function spentStage(): MemostrataError {
  return new MemostrataError('INVALID_ARGUMENT', 'This write stage was already committed or discarded; open a new one with openStage().');
}
