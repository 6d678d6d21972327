import type { Store } from '../cache/store.js';
import { valueKey } from '../layers/keys.js';
import type { MemoRecord } from '../layers/memo-record.js';
import { OpaqueValue } from '../cli/opaque-types.js';
import { numericSummary, summarizeValue, type JsonValue } from '../cli/summarize.js';

/*
 * What the entry page shows of a call's inputs and result: the JSON summary
 * `memostrata show --json` prints (large arrays summarised, never dumped),
 * and for each large numeric array a small plot of a downsample. A value
 * larger than the cap is not loaded at all: until stored arrays can be read
 * in part (issue 11), the only way to summarise one is to load it whole.
 */

/** Numeric arrays longer than this get a plot. */
const PLOT_MIN_LENGTH = 32;
/** Points a plot's downsample has at most. */
export const PLOT_POINTS = 200;
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
  /** Element indices of the points (the first element of each bucket). */
  x: number[];
  /** The mean of each bucket of consecutive elements (NaN left out; `null` for a bucket of NaN only). */
  y: (number | null)[];
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
}

/**
 * Previews of a record's inputs and result; values over `maxBytes` (encoded)
 * are not loaded.
 *
 * @throws MemostrataError `CORRUPT` when a value is missing or damaged.
 */
export async function previewEntry(store: Store, record: MemoRecord, maxBytes: number): Promise<EntryPreview> {
  const inputs: ValuePreview[] = [];
  for (const uuid of record.inputs) inputs.push(await previewValue(store, uuid, undefined, maxBytes));
  const result = record.result === undefined ? null : await previewValue(store, record.result, record.size, maxBytes);
  return { inputs, result };
}

async function previewValue(store: Store, uuid: string, knownBytes: number | undefined, maxBytes: number): Promise<ValuePreview> {
  // The record knows its result's size; an input's is read from its stored bytes before anything is decoded.
  const bytes = knownBytes ?? (await store.backend.get(valueKey(uuid)))?.length ?? 0;
  if (bytes > maxBytes) {
    return {
      loaded: false,
      bytes,
      reason: `${bytes} bytes is over the inspector's limit of ${maxBytes} (--max-value-bytes): it is not loaded. Reading stored arrays in part comes with issue 11.`,
    };
  }
  const value = await store.values.load(uuid);
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
    else if (!ArrayBuffer.isView(item) && !(item instanceof ArrayBuffer)) Object.entries(item).slice(0, 50).forEach(([key, child]) => visit(child, `${path}.${key}`, depth + 1));
  };
  visit(value, '', 0);
  return plots;
}

function plotOf(value: object, path: string): ArrayPlot | undefined {
  const summary = numericSummary(value);
  if (summary === undefined || summary.length < PLOT_MIN_LENGTH || summary.shape !== undefined) return undefined;
  const elements = ArrayBuffer.isView(value) ? (value instanceof DataView ? new Uint8Array(value.buffer, value.byteOffset, value.byteLength) : (value as unknown as ArrayLike<number | bigint>)) : value instanceof ArrayBuffer ? new Uint8Array(value) : (value as number[]);
  const { x, y } = downsample(elements, PLOT_POINTS);
  return { path, type: summary.type, length: summary.length, min: summary.min ?? null, max: summary.max ?? null, mean: summary.mean ?? null, x, y };
}

/** Bucket means of `elements`: at most `points` buckets of consecutive elements. */
export function downsample(elements: ArrayLike<number | bigint>, points: number): { x: number[]; y: (number | null)[] } {
  const length = elements.length;
  const buckets = Math.min(points, length);
  const x: number[] = [];
  const y: (number | null)[] = [];
  for (let bucket = 0; bucket < buckets; bucket += 1) {
    const start = Math.floor((bucket * length) / buckets);
    const end = Math.floor(((bucket + 1) * length) / buckets);
    let sum = 0;
    let counted = 0;
    for (let index = start; index < end; index += 1) {
      const item = Number(elements[index]);
      if (Number.isNaN(item)) continue;
      sum += item;
      counted += 1;
    }
    x.push(start);
    y.push(counted === 0 ? null : sum / counted);
  }
  return { x, y };
}
