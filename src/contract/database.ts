import { MemostrataError } from '../errors.js';
import type { BlobStore } from './blob-store.js';
import { normalizeRange, type NormalizedRange, type Range } from './range.js';

/** One operation of an atomic {@link Database.batch}: store `value` at `key`, or delete `key`. */
export type BatchOperation<K, V> =
  | {
      /** Store a value. */
      type: 'put';
      /** Where. */
      key: K;
      /** What. */
      value: V;
    }
  | {
      /** Delete a key (missing is fine). */
      type: 'del';
      /** Which. */
      key: K;
    };

/**
 * The condition of a {@link Database.batchIf}: what must be stored at `key`
 * for the batch to apply.
 */
export interface BatchCondition<K, V> {
  /** The key whose value is compared. */
  key: K;
  /** The value expected there, compared byte for byte below the layers; `undefined` expects nothing stored. */
  value: V | undefined;
}

/** Options of a write. */
export interface WriteOptions {
  /**
   * Durable write: resolve only once the data has reached stable storage
   * (LevelDB `sync`). Default: the backend's own default (see its options).
   */
  sync?: boolean;
  /**
   * Hold this batch's operations in `stage` instead of writing them now:
   * {@link WriteStage.commit} later applies everything staged as one atomic
   * batch. Layers pass it down unchanged; only the backend that opened the
   * stage accepts it. Default: write now.
   */
  stage?: WriteStage;
}

/**
 * A batch filled by several {@link Database.batch} calls and applied at once,
 * so a very large atomic write (a checkpoint of a million entries) is encoded
 * and handed down in bounded parts instead of as one array of every
 * operation. The backend keeps what is staged in its own compact form.
 * A batch that fails while staging leaves the stage unusable: discard it.
 */
export interface WriteStage {
  /** Operations staged so far. */
  readonly size: number;
  /** Applies every staged operation as one atomic batch (durable with `sync`); the stage is then spent. */
  commit(options?: WriteOptions): Promise<void>;
  /** Drops every staged operation: nothing of them is written. */
  discard(): Promise<void>;
}

/**
 * What an implementation supports, read by the shared contract test suite
 * (the abstract-level manifest idea).
 */
export interface Manifest {
  /** Data outlives the process. */
  persistent: boolean;
  /** Iteration reads a consistent snapshot taken when it starts. */
  snapshots: boolean;
  /**
   * {@link Database.compact} gives the space of deleted and overwritten data
   * back to the file system. Where it is absent or `false`, `compact()` is a
   * no-op (nothing to give back, or the backend reclaims space itself).
   * @default false
   */
  compact?: boolean;
  /**
   * {@link Database.repair} salvages a damaged store: what can still be read
   * is kept, unreadable parts are dropped. Where it is absent or `false`,
   * `repair()` rejects with `BACKEND`.
   * @default false
   */
  repair?: boolean;
  /**
   * Other processes or machines share the store, and it can lose data behind
   * this process's back (a server restarted without persistence): a layer
   * must not skip a write because it remembers the data as stored.
   * @default false
   */
  shared?: boolean;
  /**
   * A {@link Database.batch} is applied whole or not at all. `false` means a
   * batch applies in order, chunk by chunk (each acknowledged before the next
   * is sent): a crash, or a reader meanwhile, can see a prefix of it (on a
   * store spread over nodes, the last chunk of that prefix in part). A caller
   * that needs one write to land before another puts them in separate
   * batches. A batch that fits in one chunk is still atomic where the
   * backend says so; conditional batches keep their own promise.
   * @default true
   */
  atomicBatches?: boolean;
}

/** Whether a database can still be used. */
export type DatabaseStatus = 'open' | 'closed';

/**
 * The storage contract that every backend and every layer speaks.
 *
 * The public methods check their arguments and the open state once, then call
 * the protected hooks (`_get`, `_put`, …) that implementations override — the
 * abstract-level / PluginPlay `DatabaseAPI` pattern. Any method called after
 * {@link Database.close} rejects with code `CLOSED`.
 *
 * @typeParam K - key type; byte keys order by unsigned bytes.
 * @typeParam V - value type.
 */
export abstract class Database<K, V> {
  /** What this implementation supports. */
  abstract readonly manifest: Manifest;

  /**
   * Where this database keeps large values as files, when it has such a
   * place (an embedded store's `blobs` folder, a Redis store's `blobDir`);
   * `undefined` otherwise, and then large values are kept as chunks under
   * `b!` keys of this database. A layer that transforms bytes must not pass
   * its below's files on, or large values would bypass it.
   * @default undefined
   */
  get blobs(): BlobStore | undefined {
    return undefined;
  }

  #status: DatabaseStatus = 'open';
  #closing: Promise<void> | undefined;
  /** The default {@link Database._batchIf} runs one at a time: this is the last one queued. */
  #conditional: Promise<unknown> = Promise.resolve();

  /** `'open'` until {@link Database.close} is called. */
  get status(): DatabaseStatus {
    return this.#status;
  }

  /** The value stored at `key`, or `undefined` when there is none. */
  async get(key: K): Promise<V | undefined> {
    this.assertOpen();
    this.checkKey(key);
    return this._get(key);
  }

  /** The values at `keys`, in the same order, with `undefined` for each missing key. */
  async getMany(keys: readonly K[]): Promise<(V | undefined)[]> {
    this.assertOpen();
    if (!Array.isArray(keys)) throw new MemostrataError('INVALID_ARGUMENT', 'getMany() takes an array of keys.');
    for (const key of keys) this.checkKey(key);
    return this._getMany(keys);
  }

  /** Whether a value is stored at `key`. */
  async has(key: K): Promise<boolean> {
    this.assertOpen();
    this.checkKey(key);
    return this._has(key);
  }

  /** Stores `value` at `key`, replacing what was there. */
  async put(key: K, value: V, options: WriteOptions = {}): Promise<void> {
    this.assertOpen();
    this.checkKey(key);
    this.checkValue(value);
    return this._put(key, value, options);
  }

  /** Removes `key`; removing a missing key is not an error. */
  async delete(key: K, options: WriteOptions = {}): Promise<void> {
    this.assertOpen();
    this.checkKey(key);
    return this._delete(key, options);
  }

  /**
   * Applies every operation or none (in order, chunk by chunk, where the
   * manifest says `atomicBatches: false`). Every operation is checked before
   * anything is written, so a batch holding one invalid operation writes nothing.
   */
  async batch(operations: readonly BatchOperation<K, V>[], options: WriteOptions = {}): Promise<void> {
    this.assertOpen();
    this.checkOperations(operations);
    if (operations.length === 0) return;
    return this._batch(operations, options);
  }

  /** Throws `INVALID_ARGUMENT` unless every operation of a batch is well-formed, before anything is written. */
  private checkOperations(operations: readonly BatchOperation<K, V>[]): void {
    if (!Array.isArray(operations)) throw new MemostrataError('INVALID_ARGUMENT', 'batch() takes an array of operations.');
    for (const [index, op] of operations.entries()) {
      if (op === null || typeof op !== 'object' || (op.type !== 'put' && op.type !== 'del')) {
        throw new MemostrataError('INVALID_ARGUMENT', `batch operation ${index} must be { type: 'put', key, value } or { type: 'del', key }.`);
      }
      this.checkKey(op.key);
      if (op.type === 'put') this.checkValue(op.value);
    }
  }

  /**
   * Applies `operations` as one atomic {@link Database.batch} only if, at that
   * moment, `condition.key` holds `condition.value` (or nothing, when that is
   * `undefined`); otherwise writes nothing. Resolves `true` when it applied.
   *
   * On a store other processes share (LMDB, Redis) the test and the writes are
   * one step for every process: two processes that race to replace the same
   * expected value cannot both succeed. That is what leases are built on.
   * Elsewhere it is one step among this database's own `batchIf` calls.
   */
  async batchIf(condition: BatchCondition<K, V>, operations: readonly BatchOperation<K, V>[], options: WriteOptions = {}): Promise<boolean> {
    this.assertOpen();
    if (condition === null || typeof condition !== 'object') throw new MemostrataError('INVALID_ARGUMENT', 'batchIf() takes a condition { key, value }.');
    this.checkKey(condition.key);
    if (condition.value !== undefined) this.checkValue(condition.value);
    this.checkOperations(operations);
    return this._batchIf(condition, operations, options);
  }

  /**
   * Resolves once `key` may have been changed by a conditional write
   * ({@link Database.batchIf}) of any process, or after `timeoutMs`,
   * whichever comes first: how a process waiting on another's lease is woken.
   * Where the store cannot notify (the default), it is simply the wait, and
   * waiters poll.
   */
  async changed(key: K, timeoutMs: number): Promise<void> {
    this.assertOpen();
    this.checkKey(key);
    if (!Number.isFinite(timeoutMs) || timeoutMs < 0) throw new MemostrataError('INVALID_ARGUMENT', `changed() takes a timeout in ms >= 0; got ${String(timeoutMs)}.`);
    return this._changed(key, timeoutMs);
  }

  /** The entries in `range`, in key order (or reverse order). */
  entries(range: Range<K> = {}): AsyncGenerator<[K, V]> {
    this.assertOpen();
    return this.guardIteration(this._entries(normalizeRange(range, (key) => this.checkKey(key))));
  }

  /** The keys in `range`, in key order (or reverse order). */
  keys(range: Range<K> = {}): AsyncGenerator<K> {
    this.assertOpen();
    return this.guardIteration(this._keys(normalizeRange(range, (key) => this.checkKey(key))));
  }

  /**
   * Gives the space of deleted and overwritten data in `range` back to the
   * file system (LevelDB `compactRange`). A no-op unless the manifest says
   * `compact`. Slow on a large range: meant for maintenance, after removals.
   */
  async compact(range: Range<K> = {}): Promise<void> {
    this.assertOpen();
    return this._compact(normalizeRange(range, (key) => this.checkKey(key)));
  }

  /**
   * Salvages a damaged store in place: every entry that can still be read is
   * kept, unreadable ones are dropped (LevelDB `RepairDB`). The database stays
   * open. Nothing else may use the store meanwhile.
   *
   * @throws MemostrataError `BACKEND` when the manifest does not say `repair`.
   */
  async repair(): Promise<void> {
    this.assertOpen();
    if (this.manifest.repair !== true) {
      throw new MemostrataError('BACKEND', `${this.constructor.name} cannot repair a store; remove the damaged entries instead (\`memostrata verify --fix\`).`);
    }
    return this._repair();
  }

  /**
   * The bytes the store takes on disk, or `undefined` for a store that is not
   * in files of its own (memory, a server).
   */
  async sizeOnDisk(): Promise<number | undefined> {
    this.assertOpen();
    return this._sizeOnDisk();
  }

  /** Writes down whatever this database buffers. A no-op where nothing is buffered. */
  async flush(): Promise<void> {
    this.assertOpen();
    return this._flush();
  }

  /** Flushes and releases resources. Closing twice is fine; every later call rejects with `CLOSED`. */
  async close(): Promise<void> {
    if (this.#closing === undefined) {
      this.#status = 'closed';
      this.#closing = this._close();
    }
    return this.#closing;
  }

  /** Throws `CLOSED` once {@link Database.close} was called. */
  protected assertOpen(): void {
    if (this.#status !== 'open') {
      throw new MemostrataError('CLOSED', `${this.constructor.name} is closed; open a new one to keep using the store.`);
    }
  }

  /** Throws `INVALID_ARGUMENT` for a key this database cannot hold. */
  protected abstract checkKey(key: K): void;

  /** Throws for a value this database cannot hold. Default: accepts anything but `undefined`. */
  protected checkValue(value: V): void {
    if (value === undefined) throw new MemostrataError('INVALID_ARGUMENT', 'A stored value cannot be undefined; use delete() to remove a key.');
  }

  /** Hook of {@link Database.get}: the key is checked and the database open. */
  protected abstract _get(key: K): Promise<V | undefined>;

  /** Hook of {@link Database.getMany}; by default one `_get` per key. */
  protected async _getMany(keys: readonly K[]): Promise<(V | undefined)[]> {
    return Promise.all(keys.map((key) => this._get(key)));
  }

  /** Hook of {@link Database.has}; by default `_get` and a test for `undefined`. */
  protected async _has(key: K): Promise<boolean> {
    return (await this._get(key)) !== undefined;
  }

  /** Hook of {@link Database.put}: key and value are checked. */
  protected abstract _put(key: K, value: V, options: WriteOptions): Promise<void>;

  /** Hook of {@link Database.delete}. */
  protected abstract _delete(key: K, options: WriteOptions): Promise<void>;

  /** Hook of {@link Database.batch}: every operation is checked, and there is at least one. Must apply all or none, unless the manifest says `atomicBatches: false`. */
  protected abstract _batch(operations: readonly BatchOperation<K, V>[], options: WriteOptions): Promise<void>;

  /**
   * Hook of {@link Database.batchIf}: condition and operations are checked.
   * The default reads, compares bytes and writes in turn, one `batchIf` at a
   * time: atomic for a store this process alone writes (memory, LevelDB). A
   * backend that other processes share must override it with one atomic step.
   */
  protected _batchIf(condition: BatchCondition<K, V>, operations: readonly BatchOperation<K, V>[], options: WriteOptions): Promise<boolean> {
    const attempt = this.#conditional.then(async () => {
      const stored = await this._get(condition.key);
      if (!sameStoredValue(stored, condition.value)) return false;
      if (operations.length > 0) await this._batch(operations, options);
      return true;
    });
    this.#conditional = attempt.catch(() => undefined);
    return attempt;
  }

  /** Hook of {@link Database.changed}; by default it only waits: the store cannot tell. */
  protected _changed(_key: K, timeoutMs: number): Promise<void> {
    return new Promise((resolve) => setTimeout(resolve, timeoutMs));
  }

  /** Hook of {@link Database.entries}: yields the range, in order, from a snapshot where the manifest says so. */
  protected abstract _entries(range: NormalizedRange<K>): AsyncGenerator<[K, V]>;

  /** Hook of {@link Database.keys}; by default the keys of `_entries`. */
  protected async *_keys(range: NormalizedRange<K>): AsyncGenerator<K> {
    for await (const [key] of this._entries(range)) yield key;
  }

  /** Hook of {@link Database.compact}; by default there is nothing to give back. */
  protected async _compact(_range: NormalizedRange<K>): Promise<void> {}

  /** Hook of {@link Database.repair}, called only where the manifest says `repair`. */
  protected async _repair(): Promise<void> {}

  /** Hook of {@link Database.sizeOnDisk}; by default `undefined` (not in files). */
  protected async _sizeOnDisk(): Promise<number | undefined> {
    return undefined;
  }

  /** Hook of {@link Database.flush}; by default nothing is buffered. */
  protected async _flush(): Promise<void> {}

  /** Hook of {@link Database.close}, called once. */
  protected abstract _close(): Promise<void>;

  /** Makes an iteration fail with `CLOSED` at its next step once the database is closed. */
  private async *guardIteration<T>(inner: AsyncGenerator<T>): AsyncGenerator<T> {
    try {
      while (true) {
        this.assertOpen();
        const step = await inner.next();
        if (step.done === true) return;
        yield step.value;
      }
    } finally {
      await inner.return(undefined);
    }
  }
}

/** Whether a stored value is the one a condition expects: both absent, or equal bytes. */
function sameStoredValue(stored: unknown, expected: unknown): boolean {
  if (stored === undefined || expected === undefined) return stored === expected;
  if (!(stored instanceof Uint8Array) || !(expected instanceof Uint8Array)) {
    throw new MemostrataError('BACKEND', 'The default batchIf() compares bytes; a database of other values must override _batchIf().');
  }
  return Buffer.compare(stored, expected) === 0;
}
