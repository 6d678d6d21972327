import { existsSync, readdirSync, realpathSync, statSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { ClassicLevel } from 'classic-level';
import { Database, type BatchOperation, type Manifest, type WriteOptions } from '../contract/database.js';
import type { NormalizedRange } from '../contract/range.js';
import { MemostrataError } from '../errors.js';
import { assertBytes } from './bytes.js';

/** Options of {@link LevelBackend.open}. */
export interface LevelBackendOptions {
  /**
   * Make every write durable (fsync) before it resolves, unless a write asks
   * otherwise. Default `false`: writes reach the OS at once and survive a
   * killed process, and the Cache asks for `sync` where it promises durability.
   */
  sync?: boolean;
  /** Snappy compression of stored blocks. Default `true`. */
  compression?: boolean;
  /** LevelDB's write buffer in bytes. Default 4 MiB (LevelDB's own). */
  writeBufferSize?: number;
  /**
   * Serve `get` with LevelDB's synchronous read (`getSync`) rather than a
   * round trip through Node's thread pool. Default `true`: a read from
   * LevelDB's caches takes microseconds, and a hit after a restart makes two
   * dependent reads. Turn it off when the event loop must never wait on the
   * disk (a server reading large values that are not in the OS cache).
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
 * cross-process LOCK (see DESIGN.md), so every LevelBackend on a path shares
 * one handle and the last one to close closes it.
 */
const handles = new Map<string, SharedHandle>();

/**
 * The embedded default backend: LevelDB through `classic-level`, bytes to
 * bytes. Batches are atomic, iteration reads a snapshot taken when it starts,
 * and a store held by another process fails to open with code `LOCKED`.
 */
export class LevelBackend extends Database<Uint8Array, Uint8Array> {
  readonly manifest: Manifest = { persistent: true, snapshots: true };

  /** The absolute path of the store directory. */
  readonly path: string;
  readonly #handle: SharedHandle;
  readonly #sync: boolean;
  readonly #syncReads: boolean;

  private constructor(path: string, handle: SharedHandle, options: LevelBackendOptions) {
    super();
    this.path = path;
    this.#handle = handle;
    this.#sync = options.sync ?? false;
    this.#syncReads = options.syncReads ?? true;
  }

  /**
   * Opens (creating if needed) the LevelDB store at `path`.
   *
   * @throws MemostrataError `NOT_A_STORE` when the path is a file or a
   *   non-empty directory that is not a LevelDB store; `LOCKED` when another
   *   process holds it; `BACKEND` for any other failure.
   */
  static async open(path: string, options: LevelBackendOptions = {}): Promise<LevelBackend> {
    const location = resolve(path);
    const canonicalPath = canonicalLocation(location);
    let handle = handles.get(canonicalPath);
    if (handle === undefined) {
      assertStoreLocation(location);
      const db: Level = new ClassicLevel<Uint8Array, Uint8Array>(location, {
        keyEncoding: 'view',
        valueEncoding: 'view',
        compression: options.compression ?? true,
        ...(options.writeBufferSize === undefined ? {} : { writeBufferSize: options.writeBufferSize }),
      });
      const opening = db.open().catch((error: unknown) => Promise.reject(openError(location, error)));
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

  protected async _batch(operations: readonly BatchOperation<Uint8Array, Uint8Array>[], options: WriteOptions): Promise<void> {
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

  /**
   * Rewrites the store's files to drop overwritten and deleted data. Slow on a
   * large store; used by pruning and by tests that measure size on disk.
   */
  async compact(): Promise<void> {
    this.assertOpen();
    await this.#call(() => this.#handle.db.compactRange(new Uint8Array([0x00]), new Uint8Array(64).fill(0xff)));
  }

  protected async _close(): Promise<void> {
    const handle = this.#handle;
    handle.references -= 1;
    if (handle.references > 0) return;
    if (handles.get(handle.canonicalPath) === handle) handles.delete(handle.canonicalPath);
    await this.#call(() => handle.db.close());
  }

  async #call<T>(operation: () => Promise<T>): Promise<T> {
    try {
      return await operation();
    } catch (error) {
      throw new MemostrataError('BACKEND', `LevelDB at ${this.path} failed: ${(error as Error).message}`, { cause: error });
    }
  }
}

function levelRange(range: NormalizedRange<Uint8Array>): Record<string, unknown> {
  const options: Record<string, unknown> = { reverse: range.reverse, limit: range.limit === Infinity ? -1 : range.limit };
  for (const bound of ['gt', 'gte', 'lt', 'lte'] as const) {
    if (range[bound] !== undefined) options[bound] = range[bound];
  }
  return options;
}

/**
 * `location` with every symlink resolved, also for a store not made yet (its
 * nearest existing ancestor is resolved). Two spellings of one directory must
 * share one handle: a second LevelDB handle on the same files keeps its own
 * memtable, and closing it drops the process's POSIX lock on the store.
 */
function canonicalLocation(location: string): string {
  try {
    return realpathSync.native(location);
  } catch {
    const parent = dirname(location);
    return parent === location ? location : join(canonicalLocation(parent), basename(location));
  }
}

/** Refuses a path that is a file, or a non-empty directory that LevelDB did not make. */
function assertStoreLocation(location: string): void {
  if (!existsSync(location)) return;
  if (!statSync(location).isDirectory()) {
    throw new MemostrataError('NOT_A_STORE', `${location} is a file, not a store directory; choose another path for the cache.`);
  }
  const names = readdirSync(location);
  if (names.length > 0 && !names.includes('CURRENT')) {
    throw new MemostrataError(
      'NOT_A_STORE',
      `${location} is a directory that holds other files, not a memostrata store; choose an empty or new path.`,
    );
  }
}

function openError(location: string, error: unknown): MemostrataError {
  const cause = (error as { cause?: { code?: string } }).cause;
  if (cause?.code === 'LEVEL_LOCKED') {
    return new MemostrataError(
      'LOCKED',
      `The store at ${location} is in use by another process. Wait for that process to finish (or stop it), or open a different path.`,
      { cause: error },
    );
  }
  const code = cause?.code === 'LEVEL_CORRUPTION' ? 'CORRUPT' : 'BACKEND';
  return new MemostrataError(code, `Could not open the LevelDB store at ${location}: ${(error as Error).message}`, { cause: error });
}
