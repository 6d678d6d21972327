import { MemostrataError } from '../errors.js';
import { elementBytes } from '../layers/blob/blob-file.js';
import { withHitCounters } from '../layers/hit-counters.js';
import { counterPrefix, prefixRange } from '../layers/keys.js';
import type { MemoRecord } from '../layers/memo-record.js';
import type { StoredSegment } from '../layers/serialized-db.js';
import { isPlainObject } from '../layers/value-kind.js';
import { typedArrayClasses, type SupportedTypedArray, type TypedArrayName } from '../layers/typed-arrays.js';
import { entryInfo, type EntryInfo } from '../maintenance/inventory.js';
import type { Store } from './store.js';

/**
 * A typed array (or Buffer) inside a stored result, readable in part: a
 * large result's arrays stay in its blob file until read.
 *
 * @category Cache
 */
export interface StoredArray {
  /** Where it sits in the result: property names and indexes from the root (`['grid']`, `[0, 'energies']`); Map and Set steps as text (`'.get("a")'`). */
  readonly path: readonly (string | number)[];
  /** Its class: `'Float64Array'`, …, or `'Buffer'`. */
  readonly type: TypedArrayName | 'Buffer';
  /** Its number of elements. */
  readonly length: number;
  /**
   * Elements `[start, end)`, as a new array of its type (a Buffer for a
   * Buffer, which is a Uint8Array). Of a large result
   * only the bytes of those elements are read (and at most 64 KiB more on
   * each side), checked against their block checksums.
   *
   * @param start - first element. @default 0
   * @param end - one past the last element. @default length
   * @throws MemostrataError `INVALID_ARGUMENT` for a range outside `[0, length]`;
   *   `CORRUPT` when the bytes read are damaged (run `memostrata verify --fix`).
   */
  read(start?: number, end?: number): Promise<SupportedTypedArray>;
}

/**
 * A stored call, found without computing or loading its result (see
 * {@link Memoized.stored}): its metadata, the typed arrays of its result,
 * and the whole result on request.
 *
 * @category Cache
 */
export interface StoredCall<R = unknown> extends EntryInfo {
  /** Every typed array and Buffer in the result, in the order a walk of the result meets them (none for a cached error). */
  readonly arrays: readonly StoredArray[];
  /** The whole result, checked against its content digest; rejects with the cached error when the call's error was cached. */
  value(): Promise<Awaited<R>>;
}

/** How {@link storedCall} gets at a call's whole result and its parts. */
export interface StoredResult {
  /** The result with each array not read yet as an empty stand-in of its type (see `SerializedDB.open`), or the live result. */
  outline: unknown;
  /** The stored part behind each stand-in. */
  segments: ReadonlyMap<ArrayBufferView, StoredSegment>;
  /** The whole result. */
  value(): Promise<unknown>;
}

/** The {@link StoredCall} of `record`, with its hits counted from the store. */
export async function storedCall<R>(store: Store, record: MemoRecord, result: StoredResult): Promise<StoredCall<R>> {
  let counted = record;
  async function* one(): AsyncGenerator<MemoRecord> {
    yield record;
  }
  for await (const withHits of withHitCounters(one(), store.proxy.entries(prefixRange(counterPrefix(record.module, record.call))))) counted = withHits;
  return { ...entryInfo(counted), arrays: findArrays(result.outline, result.segments), value: result.value as () => Promise<Awaited<R>> };
}

/** The typed arrays and Buffers in `value`, walking arrays, plain objects, Maps and Sets (not registered types' insides). */
function findArrays(value: unknown, segments: ReadonlyMap<ArrayBufferView, StoredSegment>): StoredArray[] {
  const found: StoredArray[] = [];
  const visit = (item: unknown, path: (string | number)[], depth: number): void => {
    if (typeof item !== 'object' || item === null || depth > 512) return;
    if (ArrayBuffer.isView(item)) {
      const type = arrayType(item);
      if (type !== undefined) found.push(storedArray(item, type, path, segments.get(item)));
      return;
    }
    if (Array.isArray(item)) item.forEach((child, index) => visit(child, [...path, index], depth + 1));
    else if (item instanceof Map) [...item].forEach(([key, child]) => visit(child, [...path, `.get(${typeof key === 'string' ? JSON.stringify(key) : String(key)})`], depth + 1));
    else if (item instanceof Set) [...item].forEach((child, index) => visit(child, [...path, `.values()[${index}]`], depth + 1));
    else if (isPlainObject(item)) for (const key of Object.keys(item)) visit(item[key], [...path, key], depth + 1);
  };
  visit(value, [], 0);
  return found;
}

function storedArray(view: ArrayBufferView, type: TypedArrayName | 'Buffer', path: (string | number)[], segment: StoredSegment | undefined): StoredArray {
  const size = elementBytes(type);
  const length = segment === undefined ? view.byteLength / size : segment.bytes / size;
  return {
    path,
    type,
    length,
    async read(start = 0, end = length) {
      if (!Number.isSafeInteger(start) || !Number.isSafeInteger(end) || start < 0 || end < start || end > length) {
        throw new MemostrataError('INVALID_ARGUMENT', `read(${String(start)}, ${String(end)}) of ${type} at ${JSON.stringify(path)}: the range must be whole numbers with 0 <= start <= end <= ${length}.`);
      }
      const bytes = segment === undefined ? new Uint8Array(view.buffer, view.byteOffset + start * size, (end - start) * size).slice() : await segment.read(start * size, end * size);
      if (type === 'Buffer') return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
      return new typedArrayClasses[type](bytes.buffer as ArrayBuffer, bytes.byteOffset, end - start);
    },
  };
}

function arrayType(view: ArrayBufferView): TypedArrayName | 'Buffer' | undefined {
  if (Buffer.isBuffer(view)) return 'Buffer';
  const name = view.constructor.name;
  return Object.hasOwn(typedArrayClasses, name) && view.constructor === typedArrayClasses[name as TypedArrayName] ? (name as TypedArrayName) : undefined;
}
