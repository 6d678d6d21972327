import type { Store } from '../cache/store.js';
import { elementBytes } from '../layers/blob/blob-file.js';
import type { OpenedValue, StoredSegment } from '../layers/serialized-db.js';
import { typedArrayClasses } from '../layers/typed-arrays.js';
import { isPlainObject } from '../layers/value-kind.js';
import { OpaqueValue } from './opaque-types.js';
import { DOWNSAMPLE_BUCKETS, Downsampler, NumberStats, SummarizedArray, type Downsample, type NumericSummary } from './summarize.js';

/** Bytes of a large array read at a time while summarising it: the array is never held whole. */
const WINDOW_BYTES = 8 * 1024 * 1024;

/** How a stored segment is read for its summary. */
export interface SegmentReadOptions {
  /**
   * Whether to downsample it too ({@link SummarizedArray.downsample}), into
   * {@link DOWNSAMPLE_BUCKETS} buckets.
   *
   * @default false
   */
  downsample?: boolean;
  /**
   * A segment of more bytes than this is summarised from a sample: a window
   * at the start of each of its {@link DOWNSAMPLE_BUCKETS} buckets, of
   * `fullReadBytes / (2 × buckets)` bytes, so a sample reads at most half of
   * what a segment just under the limit costs, and every bucket of the
   * downsample gets values. Smaller segments are read whole, 8 MiB at a time.
   *
   * @default Infinity (every segment is read whole)
   */
  fullReadBytes?: number;
}

/** A segment's summary and how much of it was read for it. */
export interface SegmentSummary {
  /** Its figures; `summary.sampled` says when they come from a sample. */
  summary: NumericSummary;
  /** Present when asked for. */
  downsample?: Downsample;
  /** Reads made, each of one window. */
  windows: number;
  /** Bytes those reads held. */
  bytesRead: number;
}

/**
 * The stored value `uuid` for showing: a value stored whole as it is; a
 * large one with each of its large arrays replaced by a
 * {@link SummarizedArray}, computed by reading the array a window at a time
 * (or a sample of windows, as `options` says).
 */
export async function showableValue(store: Store, uuid: string, options: SegmentReadOptions = {}): Promise<unknown> {
  return showableOpened(await store.values.open(uuid), options);
}

/** {@link showableValue} of a value already opened. */
export async function showableOpened(opened: OpenedValue, options: SegmentReadOptions = {}): Promise<unknown> {
  if (opened.segments.size === 0) return opened.outline;
  const summaries = new Map<ArrayBufferView, SummarizedArray>();
  for (const [standIn, segment] of opened.segments) {
    const read = await summarizeStoredSegment(segment, options);
    summaries.set(standIn, new SummarizedArray(read.summary, read.downsample, { windows: read.windows, bytesRead: read.bytesRead, bytes: segment.bytes }));
  }
  return replaceStandIns(opened.outline, summaries);
}

/**
 * One pass over a stored segment, a window at a time, that gathers its
 * summary and (when asked) its downsample: read whole, or from a sample of
 * windows when it is over `options.fullReadBytes`.
 */
export async function summarizeStoredSegment(segment: StoredSegment, options: SegmentReadOptions = {}): Promise<SegmentSummary> {
  const size = elementBytes(segment.type);
  const length = segment.bytes / size;
  const stats = new NumberStats(segment.type, length);
  const sampling = segment.bytes > (options.fullReadBytes ?? Infinity);
  const downsampler = options.downsample === true || sampling ? new Downsampler(length) : undefined;
  let windows = 0;
  let bytesRead = 0;
  const readElements = async (start: number, end: number): Promise<void> => {
    const bytes = await segment.read(start * size, end * size);
    const elements = segment.type === 'Buffer' ? bytes : new typedArrayClasses[segment.type](bytes.buffer as ArrayBuffer, bytes.byteOffset, bytes.byteLength / size);
    stats.add(elements);
    downsampler?.add(elements, start);
    windows += 1;
    bytesRead += bytes.byteLength;
  };
  if (sampling) {
    // Buckets in order, each from its start: the first values shown are the array's first.
    const most = Math.max(1, Math.floor(options.fullReadBytes! / (2 * downsampler!.buckets) / size));
    for (let bucket = 0; bucket < downsampler!.buckets; bucket += 1) {
      const start = downsampler!.bucketStart(bucket);
      const next = bucket + 1 < downsampler!.buckets ? downsampler!.bucketStart(bucket + 1) : length;
      await readElements(start, Math.min(next, start + most));
    }
  } else {
    const window = Math.max(1, Math.floor(WINDOW_BYTES / size));
    for (let start = 0; start < length; start += window) await readElements(start, Math.min(start + window, length));
  }
  const summary = stats.summary();
  if (sampling) summary.sampled = { windows, elements: bytesRead / size };
  return { summary, ...(options.downsample === true ? { downsample: downsampler!.result() } : {}), windows, bytesRead };
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
  if (!isPlainObject(value)) return value;
  const copy: Record<string, unknown> = {};
  for (const key of Object.keys(value)) Object.defineProperty(copy, key, { value: again((value as Record<string, unknown>)[key]), enumerable: true, writable: true, configurable: true });
  return copy;
}
