import { Database, type BatchCondition, type BatchOperation, type Manifest, type WriteOptions } from '../contract/database.js';
import type { NormalizedRange } from '../contract/range.js';
import { assertBytes } from '../backends/bytes.js';

/** Options of a {@link PassThroughLayer}. */
export interface LayerOptions {
  /**
   * Whether closing this layer closes the layer below. Default `true`; `false`
   * where several layers share one below (one per module over one proxy).
   */
  ownsBelow?: boolean;
}

/**
 * A layer that speaks the storage contract by handing every operation to the
 * layer below, so layers stack on any backend or layer. Subclasses add their
 * own typed API on top and override only the hooks they change.
 */
export abstract class PassThroughLayer<V> extends Database<Uint8Array, V> {
  /** The layer or backend this one is stacked on. */
  protected readonly below: Database<Uint8Array, V>;
  readonly #ownsBelow: boolean;

  constructor(below: Database<Uint8Array, V>, options: LayerOptions = {}) {
    super();
    this.below = below;
    this.#ownsBelow = options.ownsBelow ?? true;
  }

  get manifest(): Manifest {
    return this.below.manifest;
  }

  protected checkKey(key: Uint8Array): void {
    assertBytes(key, 'key');
  }

  protected _get(key: Uint8Array): Promise<V | undefined> {
    return this.below.get(key);
  }

  protected _getMany(keys: readonly Uint8Array[]): Promise<(V | undefined)[]> {
    return this.below.getMany(keys);
  }

  protected _has(key: Uint8Array): Promise<boolean> {
    return this.below.has(key);
  }

  protected _put(key: Uint8Array, value: V, options: WriteOptions): Promise<void> {
    return this.below.put(key, value, options);
  }

  protected _delete(key: Uint8Array, options: WriteOptions): Promise<void> {
    return this.below.delete(key, options);
  }

  protected _batch(operations: readonly BatchOperation<Uint8Array, V>[], options: WriteOptions): Promise<void> {
    return this.below.batch(operations, options);
  }

  protected _batchIf(condition: BatchCondition<Uint8Array, V>, operations: readonly BatchOperation<Uint8Array, V>[], options: WriteOptions): Promise<boolean> {
    return this.below.batchIf(condition, operations, options);
  }

  protected _changed(key: Uint8Array, timeoutMs: number): Promise<void> {
    return this.below.changed(key, timeoutMs);
  }

  protected _entries(range: NormalizedRange<Uint8Array>): AsyncGenerator<[Uint8Array, V]> {
    return this.below.entries(range);
  }

  protected _keys(range: NormalizedRange<Uint8Array>): AsyncGenerator<Uint8Array> {
    return this.below.keys(range);
  }

  protected _flush(): Promise<void> {
    return this.below.flush();
  }

  protected _compact(range: NormalizedRange<Uint8Array>): Promise<void> {
    return this.below.compact(range);
  }

  protected async _close(): Promise<void> {
    if (this.#ownsBelow) await this.below.close();
  }
}
