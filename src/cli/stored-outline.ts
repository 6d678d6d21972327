import type { Store } from '../cache/store.js';
import { elementBytes } from '../layers/blob/blob-file.js';
import type { StoredSegment } from '../layers/serialized-db.js';
import { typedArrayClasses } from '../layers/value-kind.js';
import { OpaqueValue } from './opaque-types.js';
import { NumberStats, SummarizedArray } from './summarize.js';

/** Bytes of a large array read at a time while summarising it: the array is never held whole. */
const WINDOW_BYTES = 8 * 1024 * 1024;

/**
 * The stored value `uuid` for showing: a value stored whole as it is; a
 * large one with each of its large arrays replaced by a
 * {@link SummarizedArray}, computed by reading the array a window at a time.
 */
export async function showableValue(store: Store, uuid: string): Promise<unknown> {
  const opened = await store.values.open(uuid);
  if (opened.segments.size === 0) return opened.outline;
  const summaries = new Map<ArrayBufferView, SummarizedArray>();
  for (const [standIn, segment] of opened.segments) summaries.set(standIn, new SummarizedArray(await summarizeSegment(segment)));
  return replaceStandIns(opened.outline, summaries);
}

/** Length, first values, min, max and mean of a stored segment, read in windows. */
export async function summarizeSegment(segment: StoredSegment): Promise<SummarizedArray['summary']> {
  const size = elementBytes(segment.type);
  const stats = new NumberStats(segment.type, segment.bytes / size);
  const window = Math.floor(WINDOW_BYTES / size) * size;
  for (let start = 0; start < segment.bytes; start += window) {
    const bytes = await segment.read(start, Math.min(start + window, segment.bytes));
    stats.add(segment.type === 'Buffer' ? bytes : new typedArrayClasses[segment.type](bytes.buffer as ArrayBuffer, bytes.byteOffset, bytes.byteLength / size));
  }
  return stats.summary();
}

/** `value` with each stand-in found in `replacements` swapped for its replacement (containers are rebuilt, stand-ins are never mutated). */
function replaceStandIns(value: unknown, replacements: ReadonlyMap<ArrayBufferView, unknown>, depth = 0): unknown {
  if (typeof value !== 'object' || value === null || depth > 512) return value;
  if (ArrayBuffer.isView(value)) return replacements.has(value) ? replacements.get(value) : value;
  const again = (item: unknown): unknown => replaceStandIns(item, replacements, depth + 1);
  if (Array.isArray(value)) return value.map(again);
  if (value instanceof Map) return new Map([...value].map(([key, item]) => [key, again(item)]));
  if (value instanceof Set) return new Set([...value].map(again));
  if (value instanceof OpaqueValue) return new OpaqueValue(value.typeName, again(value.plain));
  const prototype = Object.getPrototypeOf(value) as object | null;
  if (prototype !== Object.prototype && prototype !== null) return value;
  const copy: Record<string, unknown> = {};
  for (const key of Object.keys(value)) Object.defineProperty(copy, key, { value: again((value as Record<string, unknown>)[key]), enumerable: true, writable: true, configurable: true });
  return copy;
}
