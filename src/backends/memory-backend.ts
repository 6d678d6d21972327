import { Database, type BatchOperation, type Manifest } from '../contract/database.js';
import type { NormalizedRange } from '../contract/range.js';
import { assertBytes, copyBytes } from './bytes.js';

/**
 * A backend that keeps bytes in process memory: for tests, and for caches that
 * need not outlive the process. Keys order by unsigned bytes, as in LevelDB.
 * It copies what it is given and what it returns, so no caller can change a
 * stored value through a buffer it still holds.
 */
export class MemoryBackend extends Database<Uint8Array, Uint8Array> {
  readonly manifest: Manifest = { persistent: false, snapshots: true };

  // Keys are held as latin1 strings: one char per byte, so string order is byte order.
  readonly #entries = new Map<string, Uint8Array>();
  #sortedKeys: string[] | undefined = [];

  /** Number of stored entries. */
  get size(): number {
    return this.#entries.size;
  }

  protected checkKey(key: Uint8Array): void {
    assertBytes(key, 'key');
  }

  protected checkValue(value: Uint8Array): void {
    assertBytes(value, 'value');
  }

  protected async _get(key: Uint8Array): Promise<Uint8Array | undefined> {
    const value = this.#entries.get(toKey(key));
    return value === undefined ? undefined : copyBytes(value);
  }

  protected async _has(key: Uint8Array): Promise<boolean> {
    return this.#entries.has(toKey(key));
  }

  protected async _put(key: Uint8Array, value: Uint8Array): Promise<void> {
    this.#set(toKey(key), copyBytes(value));
  }

  protected async _delete(key: Uint8Array): Promise<void> {
    this.#remove(toKey(key));
  }

  protected async _batch(operations: readonly BatchOperation<Uint8Array, Uint8Array>[]): Promise<void> {
    // Copy everything first: nothing below can throw once writing starts.
    const prepared = operations.map((op) => ({ type: op.type, key: toKey(op.key), value: op.type === 'put' ? copyBytes(op.value) : undefined }));
    for (const op of prepared) {
      if (op.value === undefined) this.#remove(op.key);
      else this.#set(op.key, op.value);
    }
  }

  protected async *_entries(range: NormalizedRange<Uint8Array>): AsyncGenerator<[Uint8Array, Uint8Array]> {
    // Resolve the whole selection now: that is the snapshot later writes cannot change.
    const selected = this.#select(range).map((key) => [key, this.#entries.get(key)!] as const);
    for (const [key, value] of selected) yield [fromKey(key), copyBytes(value)];
  }

  protected async _close(): Promise<void> {
    this.#entries.clear();
    this.#sortedKeys = [];
  }

  #set(key: string, value: Uint8Array): void {
    if (!this.#entries.has(key)) this.#sortedKeys = undefined;
    this.#entries.set(key, value);
  }

  #remove(key: string): void {
    if (this.#entries.delete(key)) this.#sortedKeys = undefined;
  }

  #select(range: NormalizedRange<Uint8Array>): string[] {
    const sorted = (this.#sortedKeys ??= [...this.#entries.keys()].sort());
    let start = 0;
    let end = sorted.length;
    if (range.gt !== undefined) start = upperBound(sorted, toKey(range.gt));
    else if (range.gte !== undefined) start = lowerBound(sorted, toKey(range.gte));
    if (range.lt !== undefined) end = lowerBound(sorted, toKey(range.lt));
    else if (range.lte !== undefined) end = upperBound(sorted, toKey(range.lte));
    if (end <= start) return [];
    const count = Math.min(end - start, range.limit);
    return range.reverse ? sorted.slice(end - count, end).reverse() : sorted.slice(start, start + count);
  }
}

function toKey(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('latin1');
}

function fromKey(key: string): Uint8Array {
  return new Uint8Array(Buffer.from(key, 'latin1'));
}

/** First index whose key is >= `key`. */
function lowerBound(sorted: readonly string[], key: string): number {
  let low = 0;
  let high = sorted.length;
  while (low < high) {
    const mid = (low + high) >>> 1;
    if (sorted[mid]! < key) low = mid + 1;
    else high = mid;
  }
  return low;
}

/** First index whose key is > `key`. */
function upperBound(sorted: readonly string[], key: string): number {
  let low = 0;
  let high = sorted.length;
  while (low < high) {
    const mid = (low + high) >>> 1;
    if (sorted[mid]! <= key) low = mid + 1;
    else high = mid;
  }
  return low;
}
