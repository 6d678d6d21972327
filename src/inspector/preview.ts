import type { Store } from '../cache/store.js';
import { valueKey } from '../layers/keys.js';
import type { MemoRecord } from '../layers/memo-record.js';
import { OpaqueValue } from '../cli/opaque-types.js';
import { showableOpened } from '../cli/stored-outline.js';
import { Downsampler, numericSummary, SummarizedArray, summarizeValue, type Downsample, type JsonValue } from '../cli/summarize.js';

/*
 * What the entry page shows of a call's inputs and result: the JSON summary
 * `memostrata show --json` prints (large arrays summarised, never dumped),
 * and for each large numeric array a small plot of a downsample. A value
 * is opened with `store.values.open`: one stored whole is decoded as it is
 * (unless over the cap), while the large arrays of one stored as a blob are
 * read where they lie, a window at a time, in one pass that gathers both the
 * summary and the downsample (a sample of windows for a very large array,
 * unless the whole is asked for).
 */

/** Numeric arrays longer than this get a plot. */
const PLOT_MIN_LENGTH = 32;
/** Plots per value at most. */
const MAX_PLOTS = 8;
/** How deep the search for arrays to plot goes. */
const MAX_PLOT_DEPTH = 6;

/** A downsampled numeric array, for a small plot. */
export interface ArrayPlot {
  /** Where the array sits in the value, e.g. `.grid` or `[0].field`; `''` for the value itself. */
  path: string;
  /** The class (`Float64Array`, `Array`, …). */
  type: string;
  /** Element count. */
  length: number;
  min: number | null;
  max: number | null;
  mean: number | null;
  /** Element index of each bucket's first element (see {@link Downsample}). */
  x: number[];
  /** Each bucket's mean (NaN left out; `null` for a bucket of NaN only, or of nothing read). */
  y: (number | null)[];
  /** Each bucket's smallest value, so a spike shows however many elements share its bucket. */
  yMin: (number | null)[];
  /** Each bucket's largest value. */
  yMax: (number | null)[];
  /** How the array was read: `null` when its value was loaded whole; else the windows read from its blob, and whether they were a sample. */
  read: { windows: number; bytesRead: number; bytes: number; sampled: boolean } | null;
}

/** One input or the result, as the entry page shows it. */
export type ValuePreview =
  | { loaded: true; summary: JsonValue; plots: ArrayPlot[] }
  | { loaded: false; bytes: number; reason: string };

/** An entry's values, previewed. */
export interface EntryPreview {
  inputs: ValuePreview[];
  /** `null` for a cached error. */
  result: ValuePreview | null;
  /** Whether large arrays were read whole however large (`?full=1`). */
  full: boolean;
}

/** How values are previewed. */
export interface PreviewOptions {
  /** A value stored whole (not as a blob) of more bytes than this is not loaded. */
  maxBytes: number;
  /** A large array of more bytes than this is summarised from a sample of windows, unless `full`. */
  fullReadBytes: number;
  /** Read every large array whole, however large. */
  full: boolean;
}

/**
 * Previews of a record's inputs and result.
 *
 * @throws MemostrataError `CORRUPT` when a value is missing or damaged.
 */
export async function previewEntry(store: Store, record: MemoRecord, options: PreviewOptions): Promise<EntryPreview> {
  const inputs: ValuePreview[] = [];
  for (const uuid of record.inputs) inputs.push(await previewValue(store, uuid, undefined, options));
  const result = record.result === undefined ? null : await previewValue(store, record.result, record.size, options);
  return { inputs, result, full: options.full };
}

async function previewValue(store: Store, uuid: string, knownBytes: number | undefined, options: PreviewOptions): Promise<ValuePreview> {
  // The record knows its result's size; when that is over the cap, the stored bytes tell a value
  // stored whole (too large to decode) from a blob's small reference (read in part below).
  const bytes = knownBytes !== undefined && knownBytes <= options.maxBytes ? knownBytes : ((await store.backend.get(valueKey(uuid)))?.length ?? 0);
  if (bytes > options.maxBytes) {
    return {
      loaded: false,
      bytes,
      reason: `${bytes} bytes stored whole (not as a blob) is over the inspector's limit of ${options.maxBytes} (--max-value-bytes): it is not loaded.`,
    };
  }
  const opened = await store.values.open(uuid);
  const value = await showableOpened(opened, { downsample: true, fullReadBytes: options.full ? Infinity : options.fullReadBytes });
  return { loaded: true, summary: summarizeValue(value), plots: arrayPlots(value) };
}

/** Plots of the large numeric arrays in `value` (itself, or within objects, arrays, maps), at most {@link MAX_PLOTS}. */
export function arrayPlots(value: unknown): ArrayPlot[] {
  const plots: ArrayPlot[] = [];
  const visit = (item: unknown, path: string, depth: number): void => {
    if (plots.length >= MAX_PLOTS || depth > MAX_PLOT_DEPTH || item === null || typeof item !== 'object') return;
    const plot = plotOf(item, path);
    if (plot !== undefined) {
      plots.push(plot);
      return;
    }
    if (item instanceof OpaqueValue) visit(item.plain, path, depth + 1);
    else if (Array.isArray(item)) item.slice(0, 50).forEach((child, index) => visit(child, `${path}[${index}]`, depth + 1));
    else if (item instanceof Map) [...item.entries()].slice(0, 50).forEach(([key, child]) => visit(child, `${path}.get(${String(key)})`, depth + 1));
    else if (!ArrayBuffer.isView(item) && !(item instanceof ArrayBuffer) && !(item instanceof SummarizedArray)) Object.entries(item).slice(0, 50).forEach(([key, child]) => visit(child, `${path}.${key}`, depth + 1));
  };
  visit(value, '', 0);
  return plots;
}

function plotOf(value: object, path: string): ArrayPlot | undefined {
  const summary = numericSummary(value);
  if (summary === undefined || summary.length < PLOT_MIN_LENGTH || summary.shape !== undefined) return undefined;
  let downsample: Downsample | undefined;
  let read: ArrayPlot['read'] = null;
  if (value instanceof SummarizedArray) {
    downsample = value.downsample;
    if (value.reading !== undefined) read = { ...value.reading, sampled: summary.sampled !== undefined };
  } else {
    const elements = ArrayBuffer.isView(value) ? (value instanceof DataView ? new Uint8Array(value.buffer, value.byteOffset, value.byteLength) : (value as unknown as ArrayLike<number | bigint>)) : value instanceof ArrayBuffer ? new Uint8Array(value) : (value as number[]);
    const downsampler = new Downsampler(elements.length);
    downsampler.add(elements, 0);
    downsample = downsampler.result();
  }
  if (downsample === undefined) return undefined;
  return { path, type: summary.type, length: summary.length, min: summary.min ?? null, max: summary.max ?? null, mean: summary.mean ?? null, x: downsample.x, y: downsample.mean, yMin: downsample.min, yMax: downsample.max, read };
}
