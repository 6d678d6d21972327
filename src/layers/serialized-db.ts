import { assertBytes } from '../backends/bytes.js';
import { Database, type BatchCondition, type BatchOperation, type Manifest, type WriteOptions } from '../contract/database.js';
import type { NormalizedRange } from '../contract/range.js';
import { MemostrataError, isMemostrataError } from '../errors.js';
import type { TypeRegistry } from './type-registry.js';
import { ValueCodec } from './value-codec.js';

/** Options of {@link SerializedDB}. */
export interface SerializedDBOptions {
  /** Registry of user types. Default: the codec's, or the process-wide `defaultTypes`. */
  types?: TypeRegistry;
  /** The codec to use. Default: a new {@link ValueCodec} over `types`. */
  codec?: ValueCodec;
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
  readonly #below: Database<Uint8Array, Uint8Array>;
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
    this.#below = below;
    this.codec = options.codec ?? new ValueCodec(options.types);
  }

  get manifest(): Manifest {
    return this.#below.manifest;
  }

  /** Names of the registered types that values in the store use, sorted (from {@link typesKey}). */
  async storedTypeNames(): Promise<string[]> {
    this.assertOpen();
    return [...(await this.#readRecorded())].sort();
  }

  protected checkKey(key: Uint8Array): void {
    assertBytes(key, 'key');
  }

  protected async _get(key: Uint8Array): Promise<unknown> {
    const bytes = await this.#below.get(key);
    return bytes === undefined ? undefined : this.#decode(key, bytes);
  }

  protected async _getMany(keys: readonly Uint8Array[]): Promise<unknown[]> {
    const values = await this.#below.getMany(keys);
    return values.map((bytes, index) => (bytes === undefined ? undefined : this.#decode(keys[index]!, bytes)));
  }

  protected _has(key: Uint8Array): Promise<boolean> {
    return this.#below.has(key);
  }

  protected async _put(key: Uint8Array, value: unknown, options: WriteOptions): Promise<void> {
    const names = new Set<string>();
    const bytes = this.codec.encode(value, 'value', names);
    if (isTypesKey(key)) this.#recorded = undefined;
    if (names.size > 0 && !this.#allRecorded(names)) return this.#writeWithTypes([{ type: 'put', key, value: bytes }], names, options);
    return this.#inOrder(() => this.#below.put(key, bytes, options));
  }

  protected _delete(key: Uint8Array, options: WriteOptions): Promise<void> {
    if (isTypesKey(key)) this.#recorded = undefined;
    return this.#inOrder(() => this.#below.delete(key, options));
  }

  protected async _batch(operations: readonly BatchOperation<Uint8Array, unknown>[], options: WriteOptions): Promise<void> {
    // Encode everything before writing anything: one unserializable value writes nothing.
    const names = new Set<string>();
    const encoded = operations.map((op, index): BatchOperation<Uint8Array, Uint8Array> =>
      op.type === 'put' ? { type: 'put', key: op.key, value: this.codec.encode(op.value, `batch[${index}].value`, names) } : op,
    );
    if (encoded.some((op) => isTypesKey(op.key))) this.#recorded = undefined;
    if (names.size > 0 && !this.#allRecorded(names)) return this.#writeWithTypes(encoded, names, options);
    return this.#inOrder(() => this.#below.batch(encoded, options));
  }

  protected async _batchIf(condition: BatchCondition<Uint8Array, unknown>, operations: readonly BatchOperation<Uint8Array, unknown>[], options: WriteOptions): Promise<boolean> {
    const names = new Set<string>();
    const expected = condition.value === undefined ? undefined : this.codec.encode(condition.value, 'the condition value');
    const encoded = operations.map((op, index): BatchOperation<Uint8Array, Uint8Array> =>
      op.type === 'put' ? { type: 'put', key: op.key, value: this.codec.encode(op.value, `batch[${index}].value`, names) } : op,
    );
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
    for await (const [key, bytes] of this.#below.entries(range)) yield [key, this.#decode(key, bytes)];
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

  protected _close(): Promise<void> {
    return this.#below.close();
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
