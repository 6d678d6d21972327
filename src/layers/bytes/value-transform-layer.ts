import type { BatchCondition, BatchOperation, Database, WriteOptions } from '../../contract/database.js';
import type { NormalizedRange } from '../../contract/range.js';
import { isMemostrataError } from '../../errors.js';
import { PassThroughLayer, type LayerOptions } from '../pass-through-layer.js';

/** A backend that claims an empty store in one atomic step (see `openStore`); layers that change value bytes forward it. */
interface InitializesFormat {
  initializeFormat(key: Uint8Array, value: Uint8Array): Promise<Uint8Array | undefined>;
}

/**
 * A byte layer that stores each value in another form (ciphertext, a signed
 * envelope) under the same key: {@link ValueTransformLayer.seal} on the way
 * down, {@link ValueTransformLayer.open} on the way up. Keys, order and
 * ranges pass through unchanged.
 *
 * Conditional batches compare what the caller sees (the opened bytes), never
 * the stored form, which may differ for equal values (random nonces): the
 * layer reads what is below, compares it opened, and conditions the write
 * below on the exact stored bytes it read, retrying while those change under
 * it, so the batch stays one atomic step of the store below.
 */
export abstract class ValueTransformLayer extends PassThroughLayer<Uint8Array> {
  /** The stored form of `value` at `key`. */
  protected abstract seal(key: Uint8Array, value: Uint8Array): Uint8Array;

  /**
   * The value that `stored` at `key` holds, or `undefined` to read the key as
   * missing (a value that must not be served, already reported).
   * Throws for a store this layer cannot read (`KEY`, `CORRUPT`).
   */
  protected abstract open(key: Uint8Array, stored: Uint8Array): Uint8Array | undefined;

  /** Large values go through this layer as chunks: a file store of the backend would bypass it. */
  get blobs(): undefined {
    return undefined;
  }

  protected async _get(key: Uint8Array): Promise<Uint8Array | undefined> {
    const stored = await this.below.get(key);
    return stored === undefined ? undefined : this.open(key, stored);
  }

  protected async _getMany(keys: readonly Uint8Array[]): Promise<(Uint8Array | undefined)[]> {
    const stored = await this.below.getMany(keys);
    return stored.map((bytes, index) => (bytes === undefined ? undefined : this.open(keys[index]!, bytes)));
  }

  protected async _has(key: Uint8Array): Promise<boolean> {
    return (await this._get(key)) !== undefined;
  }

  protected _put(key: Uint8Array, value: Uint8Array, options: WriteOptions): Promise<void> {
    return this.below.put(key, this.seal(key, value), options);
  }

  protected _batch(operations: readonly BatchOperation<Uint8Array, Uint8Array>[], options: WriteOptions): Promise<void> {
    return this.below.batch(this.sealAll(operations), options);
  }

  protected async _batchIf(condition: BatchCondition<Uint8Array, Uint8Array>, operations: readonly BatchOperation<Uint8Array, Uint8Array>[], options: WriteOptions): Promise<boolean> {
    // Sealed once: a retry writes the same bytes.
    const sealed = this.sealAll(operations);
    for (;;) {
      const stored = await this.below.get(condition.key);
      const seen = stored === undefined ? undefined : this.#openAsRead(condition.key, stored);
      if (!sameBytes(seen, condition.value)) return false;
      if (await this.below.batchIf({ key: condition.key, value: stored }, sealed, options)) return true;
      // The stored bytes changed between the read and the write: look again.
    }
  }

  protected async *_entries(range: NormalizedRange<Uint8Array>): AsyncGenerator<[Uint8Array, Uint8Array]> {
    for await (const [key, stored] of this.below.entries(range)) {
      const value = this.open(key, stored);
      if (value !== undefined) yield [key, value];
    }
  }

  /**
   * Where the store below claims an empty store in one atomic step (a shared
   * store's format record, see `openStore`), the same in this layer's form;
   * absent otherwise, like below.
   */
  readonly initializeFormat?: (key: Uint8Array, value: Uint8Array) => Promise<Uint8Array | undefined>;

  constructor(below: Database<Uint8Array, Uint8Array>, options: LayerOptions = {}) {
    super(below, options);
    const claim = (below as Partial<InitializesFormat>).initializeFormat;
    if (typeof claim === 'function') {
      this.initializeFormat = async (key, value) => {
        this.assertOpen();
        // A layer that writes nothing (a reader) claims nothing: it only looks.
        const stored = (this as { readOnly?: boolean }).readOnly === true ? await below.get(key) : await claim.call(below, key, this.seal(key, value));
        return stored === undefined ? undefined : this.open(key, stored);
      };
    }
  }

  /**
   * What a read sees at `key`: damaged bytes (`CORRUPT`) read as missing, so
   * a condition on them behaves as on a missing key, and the write that
   * replaces them (the recomputed value, a lease) goes through instead of
   * failing for as long as the damage stays. `KEY` and `CONFIG` still throw.
   */
  #openAsRead(key: Uint8Array, stored: Uint8Array): Uint8Array | undefined {
    try {
      return this.open(key, stored);
    } catch (error) {
      if (isMemostrataError(error, 'CORRUPT')) return undefined;
      throw error;
    }
  }

  private sealAll(operations: readonly BatchOperation<Uint8Array, Uint8Array>[]): BatchOperation<Uint8Array, Uint8Array>[] {
    return operations.map((op) => (op.type === 'put' ? { type: 'put', key: op.key, value: this.seal(op.key, op.value) } : op));
  }
}

/** Both absent, or equal bytes. */
export function sameBytes(a: Uint8Array | undefined, b: Uint8Array | undefined): boolean {
  if (a === undefined || b === undefined) return a === b;
  return a.length === b.length && Buffer.compare(a, b) === 0;
}
