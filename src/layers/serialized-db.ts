import { assertBytes } from '../backends/bytes.js';
import type { BlobReader, BlobStore, PendingBlob } from '../contract/blob-store.js';
import { Database, type BatchCondition, type BatchOperation, type Manifest, type WriteOptions } from '../contract/database.js';
import type { NormalizedRange } from '../contract/range.js';
import { MemostrataError, isMemostrataError } from '../errors.js';
import type { TypeRegistry } from './type-registry.js';
import { typedArrayClasses, type SegmentWatch } from './typed-arrays.js';
import { readBlobLayout, readSegment, readSegmentRange, readSegments, valueBlob, writtenChecksum, type BlobLayout } from './blob/blob-file.js';
import type { BlockChecksum } from './blob/block-checksum.js';
import { isLarger } from './value-size.js';
import { KeyedBlobStore } from './blob/keyed-blob-store.js';
import { ValueCodec, type BlobReference, type SegmentType, type SplitValue } from './value-codec.js';

/** The default of {@link SerializedDBOptions.largeValueBytes}: 1 MiB. */
export const LARGE_VALUE_BYTES = 1024 * 1024;
/** Typed arrays and Buffers of a large value at least this large go to its blob's data, straight from their memory. */
const MIN_SEGMENT_BYTES = 64 * 1024;

/** Options of {@link SerializedDB}. */
export interface SerializedDBOptions {
  /** Registry of user types. Default: the codec's, or the process-wide `defaultTypes`. */
  types?: TypeRegistry;
  /** The codec to use. Default: a new {@link ValueCodec} over `types`. */
  codec?: ValueCodec;
  /**
   * Values whose stored form is larger than this many bytes are kept as
   * blobs (see {@link SerializedDBOptions.blobs}), and the key holds a small
   * reference to the blob.
   * @default 1048576 (1 MiB)
   */
  largeValueBytes?: number;
  /**
   * Where large values go.
   * @default the files of the database below (`below.blobs`), else chunks under `b!` keys of it
   */
  blobs?: BlobStore;
}

/** A segment of a stored value (a large typed array or Buffer), readable in part. */
export interface StoredSegment {
  /** What it holds. */
  readonly type: SegmentType;
  /** Its size in bytes. */
  readonly bytes: number;
  /** Bytes `[start, end)` of it, reading only those (and at most a block more on each side), checked against their checksums. */
  read(start: number, end: number): Promise<Uint8Array>;
}

/** A blob started by {@link SerializedDB.startWriting}: tell it the key once the value's digest names it, or abandon it. */
export interface StartedWriting {
  /** The key the value will be stored at (`v!<uuid>`): only a store there finishes the blob. */
  bind(key: Uint8Array): void;
  /** Drops the write: the value will not be stored (it cannot be digested). */
  abandon(): void;
}

/** A large value's blob started before its key was known. */
interface StartedWrite {
  /** The blob's name as the value at a key (see `ValueBlob.name`). */
  readonly name: (key: Uint8Array) => string;
  readonly pending: PendingBlob;
  /** The layout it was written with: a store of its value must have the same. */
  readonly skeleton: Uint8Array;
  readonly segments: readonly { type: SegmentType; bytes: number }[];
  /** The key its value's digest named; until it is known, no store uses it. */
  key: Uint8Array | undefined;
}

/** A stored value opened without reading its large typed arrays (see {@link SerializedDB.open}). */
export interface OpenedValue {
  /**
   * The value, except that each of its segments is an empty stand-in of its
   * type (a zero-length typed array or Buffer), mapped to the segment in
   * {@link OpenedValue.segments}. A value stored whole has no stand-ins.
   */
  readonly outline: unknown;
  /** The segment each stand-in stands for. */
  readonly segments: ReadonlyMap<ArrayBufferView, StoredSegment>;
  /** The blob that holds the value, if it is large. */
  readonly blob: BlobReference | undefined;
}

/** The key under which the names of the registered types that the store uses are kept: a CBOR array of strings. */
export const typesKey: Uint8Array = new TextEncoder().encode('meta!types');

/**
 * The layer that turns typed values into bytes: keys pass through unchanged,
 * values are encoded with a {@link ValueCodec} on the way down and decoded on
 * the way up. It owns the database below: closing or flushing this one closes
 * or flushes that one.
 *
 * It records the name of every registered type it writes under
 * {@link typesKey}, in the same batch as the first value that uses it, so
 * that a process can tell which types a store needs before reading it.
 */
export class SerializedDB extends Database<Uint8Array, unknown> {
  /** The codec in use. */
  readonly codec: ValueCodec;
  /** Where values over {@link SerializedDBOptions.largeValueBytes} go: the blobs of this store. */
  readonly largeValues: BlobStore;
  readonly #below: Database<Uint8Array, Uint8Array>;
  readonly #largeValueBytes: number;
  /** Checks a large value still holds what it held when it was last checked, once its blob is written (see {@link SerializedDB.checkLargeValuesWith}). */
  #checkWritten: ((value: unknown) => void) | undefined;
  /** The block checksum blobs are written with, once loaded: a blob started before its value's key is known needs it at hand. */
  #checksum: BlockChecksum | undefined;
  /** Blobs of large values started before the values were stored, by value (see {@link SerializedDB.startWriting}). */
  readonly #started = new WeakMap<object, StartedWrite>();
  /** The same writes, to abandon at close. */
  readonly #startedOpen = new Set<StartedWrite>();
  /** Abandons the write started for a value that was dropped without being stored. */
  readonly #startedValues = new FinalizationRegistry<StartedWrite>((started) => {
    if (this.#startedOpen.delete(started)) this.#abandon(started);
  });
  /** Abandons under way (each waits for its writes to land, then removes the file): close waits for them. */
  readonly #abandoning = new Set<Promise<void>>();
  /** Type names known to be recorded in the store; read once, on the first write that needs it. */
  #recorded: Set<string> | undefined;
  /**
   * The last write that records new type names, while it is in flight. Those
   * writes read, merge and write {@link typesKey}, so they run one at a time,
   * and any write issued meanwhile runs after them to keep call order.
   */
  #typesWrite: Promise<void> | undefined;

  constructor(below: Database<Uint8Array, Uint8Array>, options: SerializedDBOptions = {}) {
    super();
    if (!(below instanceof Database)) throw new MemostrataError('INVALID_ARGUMENT', 'SerializedDB needs a byte database (a backend or a layer) below it.');
    if (options.codec !== undefined && options.types !== undefined && options.codec.types !== options.types) {
      throw new MemostrataError('CONFIG', 'SerializedDB was given both a codec and a types registry that the codec does not use; pass one of them.');
    }
    const large = options.largeValueBytes ?? LARGE_VALUE_BYTES;
    if (!Number.isSafeInteger(large) || large < 1) throw new MemostrataError('CONFIG', `largeValueBytes must be a positive whole number of bytes; got ${String(large)}.`);
    this.#below = below;
    this.#largeValueBytes = large;
    this.codec = options.codec ?? new ValueCodec(options.types);
    this.largeValues = options.blobs ?? below.blobs ?? new KeyedBlobStore(below, 'the store');
    if (this.largeValues.begin !== undefined) {
      writtenChecksum().then(
        (checksum) => {
          this.#checksum = checksum;
        },
        () => undefined, // a write then loads it (and reports why it cannot)
      );
    }
  }

  /**
   * Starts writing the blob of `value`, a new value to store, before its key
   * is known: when it is larger than {@link SerializedDBOptions.largeValueBytes}
   * and the blob store can start a write ({@link BlobStore.begin}). Its bytes
   * then go to the disk while the caller takes its digest, and the write that
   * stores this value (by identity) under the key that digest names finishes
   * that blob instead of writing another: it is checked then, as any blob
   * write is, against the value still holding what it held. Tell the key with
   * `bind` once it is known; until then, and for any other key or a value
   * whose layout changed, nothing uses it. An unused write is abandoned when
   * the value is found stored already ({@link SerializedDB.abandonWriting}),
   * when the value is garbage collected, and at close.
   *
   * @returns `undefined` when nothing was started.
   */
  startWriting(value: unknown): StartedWriting | undefined {
    const checksum = this.#checksum;
    if (typeof value !== 'object' || value === null || checksum === undefined || this.largeValues.begin === undefined) return undefined;
    if (this.#started.has(value) || !isLarger(value, this.#largeValueBytes)) return undefined;
    let pending: PendingBlob | undefined;
    let started: StartedWrite;
    try {
      const split = this.#encode(value, 'value', new Set());
      if (split instanceof Uint8Array) return undefined;
      const blob = valueBlob(split, checksum);
      pending = this.largeValues.begin(blob.parts);
      if (pending === undefined) return undefined;
      started = { name: blob.name, pending, skeleton: split.skeleton, segments: split.segments.map(({ type, bytes }) => ({ type, bytes: bytes.byteLength })), key: undefined };
    } catch {
      // A value that cannot be stored: the digest says why. The write goes the usual way otherwise.
      void pending?.abandon();
      return undefined;
    }
    this.#started.set(value, started);
    this.#startedOpen.add(started);
    this.#startedValues.register(value, started, started);
    return {
      bind: (key) => {
        started.key = key;
      },
      abandon: () => this.abandonWriting(value),
    };
  }

  /** Whether any write started by {@link SerializedDB.startWriting} is neither finished nor abandoned. */
  get startedWrites(): boolean {
    return this.#startedOpen.size > 0;
  }

  /** Abandons the write {@link SerializedDB.startWriting} started for `value`, if any: it will not be stored. */
  abandonWriting(value: unknown): void {
    const started = typeof value === 'object' && value !== null ? this.#started.get(value) : undefined;
    if (started === undefined) return;
    this.#forgetStarted(value as object, started);
    this.#abandon(started);
  }

  #abandon(started: StartedWrite): void {
    const abandoning = started.pending.abandon().finally(() => this.#abandoning.delete(abandoning));
    this.#abandoning.add(abandoning);
  }

  #forgetStarted(value: object, started: StartedWrite): void {
    this.#started.delete(value);
    this.#startedOpen.delete(started);
    this.#startedValues.unregister(started);
  }

  /**
   * The write started for `value` if it is the blob to store at `key` as
   * `encoded`: started for that key, and laid out the same way (else the
   * value changed since, and that write is abandoned).
   */
  #takeStarted(key: Uint8Array, encoded: SplitValue, value: unknown): StartedWrite | undefined {
    const started = typeof value === 'object' && value !== null ? this.#started.get(value) : undefined;
    // Another key's store of the same object (a saved state, say) writes a blob of its own.
    if (started === undefined || started.key === undefined || Buffer.compare(started.key, key) !== 0) return undefined;
    this.#forgetStarted(value as object, started);
    const sameLayout =
      Buffer.compare(started.skeleton, encoded.skeleton) === 0 &&
      started.segments.length === encoded.segments.length &&
      started.segments.every((segment, index) => segment.type === encoded.segments[index]!.type && segment.bytes === encoded.segments[index]!.bytes.byteLength);
    if (sameLayout) return started;
    this.#abandon(started);
    return undefined;
  }

  get manifest(): Manifest {
    return this.#below.manifest;
  }

  /** Names of the registered types that values in the store use, sorted (from {@link typesKey}). */
  async storedTypeNames(): Promise<string[]> {
    this.assertOpen();
    return [...(await this.#readRecorded())].sort();
  }

  /**
   * Has `check` run on each large value once its blob is written and before
   * the write that names the blob: a blob is written from the value's own
   * memory, while the caller may still change it, and what changed after the
   * value was given its content UUID must not be stored under that UUID (a
   * read in part checks block checksums, not the content digest). `check`
   * throws to refuse the whole write.
   */
  checkLargeValuesWith(check: (value: unknown) => void): void {
    this.#checkWritten = check;
  }

  protected checkKey(key: Uint8Array): void {
    assertBytes(key, 'key');
  }

  protected async _get(key: Uint8Array): Promise<unknown> {
    const bytes = await this.#below.get(key);
    return bytes === undefined ? undefined : this.#read(key, bytes);
  }

  /**
   * The value at `key`, as {@link SerializedDB.get}, except that a large
   * value's block checksums are not checked: for a caller that checks the
   * whole value against its content digest anyway (`UUIDDatabase.load`), so
   * that a gigabyte is not checked twice. `watch` sees the bytes of a large
   * value made of one segment as they are read (see {@link SegmentWatch}).
   */
  async getForContentCheck(key: Uint8Array, watch?: SegmentWatch): Promise<unknown> {
    this.assertOpen();
    this.checkKey(key);
    const bytes = await this.#below.get(key);
    if (bytes === undefined) return undefined;
    const reference = this.#reference(key, bytes);
    return reference === undefined ? this.#decode(key, bytes) : this.#readBlob(key, reference, false, watch);
  }

  protected async _getMany(keys: readonly Uint8Array[]): Promise<unknown[]> {
    const values = await this.#below.getMany(keys);
    return Promise.all(values.map((bytes, index) => (bytes === undefined ? undefined : this.#read(keys[index]!, bytes))));
  }

  /**
   * The value at `key` opened for reading in part: a large value's typed
   * arrays stay in its blob until a part of one is read. `undefined` when
   * nothing is stored there.
   *
   * @throws MemostrataError `CORRUPT` when the value or its blob is damaged or missing.
   */
  async open(key: Uint8Array): Promise<OpenedValue | undefined> {
    this.assertOpen();
    this.checkKey(key);
    const bytes = await this.#below.get(key);
    if (bytes === undefined) return undefined;
    const reference = this.#reference(key, bytes);
    if (reference === undefined) return { outline: this.#decode(key, bytes), segments: new Map(), blob: undefined };
    // Arrays inside registered values are read whole: their decode() must see them as they are.
    const { layout, whole } = await this.#withBlob(key, reference, async (reader, name) => {
      const layout = await readBlobLayout(reader, name);
      const inRegistered = this.#segmentsInRegistered(key, layout);
      const whole = new Map<number, ArrayBufferView>();
      for (const index of inRegistered) whole.set(index, await readSegment(reader, layout, index, name));
      return { layout, whole };
    });
    const segments = new Map<ArrayBufferView, StoredSegment>();
    const standIns = layout.segments.map((segment, index) => {
      const read = whole.get(index);
      if (read !== undefined) return read;
      const standIn = emptyOf(segment.type);
      segments.set(standIn, {
        type: segment.type,
        bytes: segment.bytes,
        read: (start, end) => {
          if (!Number.isSafeInteger(start) || !Number.isSafeInteger(end) || start < 0 || end < start || end > segment.bytes) {
            throw new MemostrataError('INVALID_ARGUMENT', `Bytes [${start}, ${end}) are not within this segment of ${segment.bytes} bytes.`);
          }
          return this.#withBlob(key, reference, (reader, name) => readSegmentRange(reader, layout, index, start, end, name));
        },
      });
      return standIn;
    });
    return { outline: this.#decodeSplit(key, layout, standIns), segments, blob: reference };
  }

  protected _has(key: Uint8Array): Promise<boolean> {
    return this.#below.has(key);
  }

  protected async _put(key: Uint8Array, value: unknown, options: WriteOptions): Promise<void> {
    const names = new Set<string>();
    const bytes = await this.#store(key, this.#encode(value, 'value', names), value);
    if (isTypesKey(key)) this.#recorded = undefined;
    if (names.size > 0 && !this.#allRecorded(names)) return this.#writeWithTypes([{ type: 'put', key, value: bytes }], names, options);
    return this.#inOrder(() => this.#below.put(key, bytes, options));
  }

  protected _delete(key: Uint8Array, options: WriteOptions): Promise<void> {
    if (isTypesKey(key)) this.#recorded = undefined;
    return this.#inOrder(() => this.#below.delete(key, options));
  }

  protected async _batch(operations: readonly BatchOperation<Uint8Array, unknown>[], options: WriteOptions): Promise<void> {
    const names = new Set<string>();
    const encoded = await this.#encodeBatch(operations, names);
    if (encoded.some((op) => isTypesKey(op.key))) this.#recorded = undefined;
    if (names.size > 0 && !this.#allRecorded(names)) return this.#writeWithTypes(encoded, names, options);
    return this.#inOrder(() => this.#below.batch(encoded, options));
  }

  protected async _batchIf(condition: BatchCondition<Uint8Array, unknown>, operations: readonly BatchOperation<Uint8Array, unknown>[], options: WriteOptions): Promise<boolean> {
    const names = new Set<string>();
    // Conditions compare small values (leases): never a blob reference.
    const expected = condition.value === undefined ? undefined : this.codec.encode(condition.value, 'the condition value');
    const encoded = await this.#encodeBatch(operations, names);
    if (encoded.some((op) => isTypesKey(op.key))) this.#recorded = undefined;
    // The type names go first, on their own: a name recorded for a write that then does not apply costs nothing.
    if (names.size > 0 && !this.#allRecorded(names)) await this.#writeWithTypes([], names, options);
    let applied = false;
    await this.#inOrder(async () => {
      applied = await this.#below.batchIf({ key: condition.key, value: expected }, encoded, options);
    });
    return applied;
  }

  protected _changed(key: Uint8Array, timeoutMs: number): Promise<void> {
    return this.#below.changed(key, timeoutMs);
  }

  protected async *_entries(range: NormalizedRange<Uint8Array>): AsyncGenerator<[Uint8Array, unknown]> {
    for await (const [key, bytes] of this.#below.entries(range)) yield [key, await this.#read(key, bytes)];
  }

  protected _keys(range: NormalizedRange<Uint8Array>): AsyncGenerator<Uint8Array> {
    return this.#below.keys(range);
  }

  protected _flush(): Promise<void> {
    return this.#below.flush();
  }

  protected _compact(range: NormalizedRange<Uint8Array>): Promise<void> {
    return this.#below.compact(range);
  }

  protected async _close(): Promise<void> {
    for (const started of this.#startedOpen) this.#abandon(started);
    this.#startedOpen.clear();
    await Promise.all(this.#abandoning);
    return this.#below.close();
  }

  /**
   * Encodes every put, then stores the large ones' blobs, then returns the
   * batch: one unserializable value writes nothing (bar blobs, which nothing
   * names and garbage collection removes), and every blob a batch names is
   * durable before the batch is written.
   */
  async #encodeBatch(operations: readonly BatchOperation<Uint8Array, unknown>[], names: Set<string>): Promise<BatchOperation<Uint8Array, Uint8Array>[]> {
    const encoded = operations.map((op, index) => (op.type === 'put' ? { key: op.key, value: this.#encode(op.value, `batch[${index}].value`, names), original: op.value } : op));
    const written: BatchOperation<Uint8Array, Uint8Array>[] = [];
    for (const op of encoded) written.push('type' in op ? op : { type: 'put', key: op.key, value: await this.#store(op.key, op.value, op.original) });
    return written;
  }

  /** A value's stored bytes, or its split form when it is larger than {@link SerializedDBOptions.largeValueBytes}. */
  #encode(value: unknown, path: string, names: Set<string>): Uint8Array | SplitValue {
    const split = this.codec.encodeSplit(value, Math.min(MIN_SEGMENT_BYTES, this.#largeValueBytes), path, names);
    let bytes = split.skeleton.byteLength;
    for (const segment of split.segments) bytes += segment.bytes.byteLength;
    if (bytes > this.#largeValueBytes) return split;
    // Small enough to store whole: with no segments the skeleton is the value's encoding.
    return split.segments.length === 0 ? split.skeleton : this.codec.encode(value, path, names);
  }

  /** Stored bytes as they are, or a split value's blob, written durably, and the reference to it that `key` will hold. */
  async #store(key: Uint8Array, encoded: Uint8Array | SplitValue, value: unknown): Promise<Uint8Array> {
    if (encoded instanceof Uint8Array) return encoded;
    const check = this.#checkWritten;
    // The check runs once every byte is handed over, while the blob store makes them durable.
    const written = check === undefined ? undefined : () => check(value);
    const started = this.#takeStarted(key, encoded, value);
    if (started !== undefined) {
      try {
        return this.codec.encodeBlobReference(await started.pending.finish({ name: () => started.name(key), written }));
      } catch (error) {
        // Its bytes did not make it (a failed write; a prune of a shared store took the old unfinished file): write them now.
        if (!isMemostrataError(error, 'BACKEND')) throw error;
      }
    }
    const blob = valueBlob(encoded, await writtenChecksum());
    return this.codec.encodeBlobReference(await this.largeValues.write(blob.parts, { name: () => blob.name(key), written }));
  }

  /** The value that stored bytes hold: decoded, or read from the blob they name. */
  #read(key: Uint8Array, bytes: Uint8Array): unknown {
    const reference = this.#reference(key, bytes);
    return reference === undefined ? this.#decode(key, bytes) : this.#readBlob(key, reference, true);
  }

  /** The large value in the blob `reference` names at `key`, its blocks checked as they are read when `checkBlocks`; `watch` as in {@link SerializedDB.getForContentCheck}. */
  #readBlob(key: Uint8Array, reference: BlobReference, checkBlocks: boolean, watch?: SegmentWatch): Promise<unknown> {
    return this.#withBlob(key, reference, async (reader, name) => {
      const layout = await readBlobLayout(reader, name);
      // A value of several segments is digested whole once decoded: only a lone segment may be the value itself.
      return this.#decodeSplit(key, layout, await readSegments(reader, layout, name, checkBlocks, layout.segments.length === 1 ? watch : undefined));
    });
  }

  #reference(key: Uint8Array, bytes: Uint8Array): BlobReference | undefined {
    try {
      return this.codec.blobReference(bytes);
    } catch (error) {
      if (isMemostrataError(error, 'CORRUPT')) throw new MemostrataError('CORRUPT', `At key ${describeKey(key)}: ${error.message}`, { cause: error });
      throw error;
    }
  }

  /** Runs `use` on the blob `reference` names, open; a missing or resized blob is damage. */
  async #withBlob<T>(key: Uint8Array, reference: BlobReference, use: (reader: BlobReader, name: string) => Promise<T>): Promise<T> {
    const name = `${reference.id} (named at key ${describeKey(key)})`;
    const reader = await this.largeValues.open(reference.id);
    if (reader === undefined) throw new MemostrataError('CORRUPT', `The blob ${name} is missing from ${this.largeValues.location}; run \`memostrata verify --fix\`.`);
    try {
      if (reader.bytes !== reference.bytes) throw new MemostrataError('CORRUPT', `The blob ${name} has ${reader.bytes} bytes, not the ${reference.bytes} it was written with; run \`memostrata verify --fix\`.`);
      return await use(reader, name);
    } finally {
      await reader.close();
    }
  }

  #segmentsInRegistered(key: Uint8Array, layout: BlobLayout): Set<number> {
    try {
      return this.codec.segmentsInRegistered(layout.skeleton, layout.segments.length);
    } catch (error) {
      if (isMemostrataError(error, 'CORRUPT')) throw new MemostrataError('CORRUPT', `At key ${describeKey(key)}: ${error.message}`, { cause: error });
      throw error;
    }
  }

  #decodeSplit(key: Uint8Array, layout: BlobLayout, segments: readonly ArrayBufferView[]): unknown {
    try {
      return this.codec.decodeSplit(layout.skeleton, segments);
    } catch (error) {
      if (isMemostrataError(error, 'CORRUPT') || isMemostrataError(error, 'UNKNOWN_TYPE')) {
        throw new MemostrataError(error.code, `At key ${describeKey(key)}: ${error.message}`, { cause: error });
      }
      throw error;
    }
  }

  #allRecorded(names: ReadonlySet<string>): boolean {
    const recorded = this.#recorded;
    // A shared store may have lost the type record behind this process's back (a server restarted empty).
    if (recorded === undefined || this.manifest.shared === true) return false;
    for (const name of names) if (!recorded.has(name)) return false;
    return true;
  }

  /** Runs a plain write now, or after the type-recording write in flight. */
  #inOrder(write: () => Promise<void>): Promise<void> {
    const pending = this.#typesWrite;
    return pending === undefined ? write() : pending.then(write, write);
  }

  /** Writes `operations` and the merged type record in one batch. */
  #writeWithTypes(operations: BatchOperation<Uint8Array, Uint8Array>[], names: ReadonlySet<string>, options: WriteOptions): Promise<void> {
    const write = this.#inOrder(async () => {
      // Read afresh: another process may have recorded names since we last looked.
      const recorded = await this.#readRecorded(true);
      const merged = new Set([...recorded, ...names]);
      if (merged.size === recorded.size) {
        if (operations.length > 0) await this.#below.batch(operations, options);
        return;
      }
      const record = this.codec.encode([...merged].sort(), 'the type record');
      await this.#below.batch([...operations, { type: 'put', key: typesKey, value: record }], options);
      this.#recorded = merged;
    });
    const settled = write.catch(() => undefined);
    this.#typesWrite = settled;
    void settled.then(() => {
      if (this.#typesWrite === settled) this.#typesWrite = undefined;
    });
    return write;
  }

  async #readRecorded(fresh = false): Promise<Set<string>> {
    if (this.#recorded !== undefined && !fresh) return this.#recorded;
    const bytes = await this.#below.get(typesKey);
    const names = bytes === undefined ? [] : this.#decode(typesKey, bytes);
    if (!Array.isArray(names) || !names.every((name) => typeof name === 'string')) {
      throw new MemostrataError('CORRUPT', `The type record at ${describeKey(typesKey)} is not a list of type names.`);
    }
    return (this.#recorded = new Set(names));
  }

  #decode(key: Uint8Array, bytes: Uint8Array): unknown {
    try {
      return this.codec.decode(bytes);
    } catch (error) {
      if (isMemostrataError(error, 'CORRUPT') || isMemostrataError(error, 'UNKNOWN_TYPE')) {
        throw new MemostrataError(error.code, `At key ${describeKey(key)}: ${error.message}`, { cause: error });
      }
      throw error;
    }
  }
}

/** A zero-length typed array or Buffer of `type`: the stand-in of a segment not read. */
function emptyOf(type: SegmentType): ArrayBufferView {
  return type === 'Buffer' ? Buffer.alloc(0) : new typedArrayClasses[type](0);
}

function isTypesKey(key: Uint8Array): boolean {
  return key.length === typesKey.length && Buffer.compare(key, typesKey) === 0;
}

/** A key for a message: quoted text when it is printable ASCII, hex otherwise; long keys are cut. */
function describeKey(key: Uint8Array): string {
  const shown = key.subarray(0, 64);
  const more = key.length > shown.length ? `… (${key.length} bytes)` : '';
  const printable = shown.every((byte) => byte >= 0x20 && byte < 0x7f);
  return printable ? `'${Buffer.from(shown).toString('latin1')}'${more}` : `0x${Buffer.from(shown).toString('hex')}${more}`;
}
