import { OpaqueValue } from './opaque-types.js';

/*
 * Readable renderings of stored values for `memostrata show`: small values in
 * full, large arrays as a summary (type, shape or length, first values,
 * min/max/mean), never dumped whole. `renderValue` gives indented text;
 * `summarizeValue` gives the same information as JSON for `--json`.
 */

/** Typed arrays and non-numeric arrays longer than this are summarised (or shown as a block). */
const MAX_ITEMS = 8;
/** Numeric arrays (flat or nested) with more numbers than this are always summarised. */
const MAX_NUMBERS_IN_FULL = 32;
/** How many leading values a summary shows. */
const FIRST_VALUES = 5;
/** Object keys / list items shown in a block before `… N more`. */
const MAX_BLOCK_ENTRIES = 20;
/** Strings longer than this are cut. */
const MAX_STRING = 120;
/** An object or array prints on one line when it fits in this many characters. */
const INLINE_WIDTH = 72;
/** Deeper containers are elided. */
const MAX_DEPTH = 12;

type NumericArray = ArrayLike<number> | ArrayLike<bigint>;

/** Statistics of the numbers in a large array. */
export interface NumericSummary {
  /** The class (`Float64Array`, `Array`, `Buffer`, …). */
  type: string;
  /** Element count (all dimensions). */
  length: number;
  /** Dimensions of a rectangular nested numeric array, outermost first. */
  shape?: number[];
  /** The first few values (bigints as decimal strings). */
  first: (number | string)[];
  /** Smallest, largest and mean of the values that are not NaN; absent for bigints or when every value is NaN. */
  min?: number;
  max?: number;
  mean?: number;
  /** How many values are NaN, when any are. */
  nanCount?: number;
  /**
   * Present when the figures come from a sample of the array rather than all
   * of it: how many windows were read and how many elements they held.
   */
  sampled?: { windows: number; elements: number };
}

/**
 * Renders a value as text (no trailing newline) after `label`: on the same
 * line when it fits on one, else the container's kind and size on the label's
 * line and its contents below, indented two spaces more than `indent`.
 */
export function renderValue(label: string, value: unknown, indent = ''): string {
  const line = inline(value, 0);
  if (line !== undefined) return `${indent}${label}${line}`;
  return [`${indent}${label}${headerOf(value)}`, ...block(value, indent, 0)].join('\n');
}

/** Renders `value` on one line when it is small enough, else `undefined`. */
function inline(value: unknown, depth: number): string | undefined {
  const scalar = scalarText(value);
  if (scalar !== undefined) return scalar;
  const numeric = numericSummary(value);
  if (numeric !== undefined && !(Array.isArray(value) && numeric.length <= MAX_NUMBERS_IN_FULL)) return numericText(numeric);
  if (depth >= MAX_DEPTH) return '…';
  let text: string | undefined;
  if (value instanceof OpaqueValue) {
    const inner = inline(value.plain, depth + 1);
    text = inner === undefined ? undefined : `${value.typeName} ${inner}`;
  } else if (Array.isArray(value)) {
    text = value.length > MAX_ITEMS && numeric === undefined ? undefined : joinInline('[', value.map((item) => inline(item, depth + 1)), ']');
    // A small numeric array prints whole when it fits on the line, else as a summary.
    if (numeric !== undefined && (text === undefined || text.length > INLINE_WIDTH)) return numericText(numeric);
  } else if (value instanceof Map) {
    if (value.size > MAX_ITEMS) return undefined;
    const parts = [...value].map(([key, item]) => {
      const k = inline(key, depth + 1);
      const v = inline(item, depth + 1);
      return k === undefined || v === undefined ? undefined : `${k} => ${v}`;
    });
    text = joinInline(`Map(${value.size}) {`, parts, '}');
  } else if (value instanceof Set) {
    if (value.size > MAX_ITEMS) return undefined;
    text = joinInline(`Set(${value.size}) {`, [...value].map((item) => inline(item, depth + 1)), '}');
  } else if (typeof value === 'object' && value !== null) {
    const entries = Object.entries(value);
    if (entries.length > MAX_ITEMS) return undefined;
    if (entries.length === 0) return '{}';
    text = joinInline('{', entries.map(([key, item]) => prefixed(`${keyText(key)}: `, inline(item, depth + 1))), '}');
  }
  return text !== undefined && text.length <= INLINE_WIDTH ? text : undefined;
}

function prefixed(prefix: string, text: string | undefined): string | undefined {
  return text === undefined ? undefined : prefix + text;
}

function joinInline(open: string, parts: (string | undefined)[], close: string): string | undefined {
  if (parts.some((part) => part === undefined)) return undefined;
  // Arrays print as [1, 2]; braces get inner spaces: { a: 1 }.
  const pad = open.endsWith('[') || parts.length === 0 ? '' : ' ';
  return `${open}${pad}${parts.join(', ')}${pad}${close}`;
}

/** A multi-line rendering of a container. */
function block(value: unknown, indent: string, depth: number): string[] {
  const inner = `${indent}  `;
  const child = (label: string, item: unknown): string[] => {
    const line = inline(item, depth + 1);
    if (line !== undefined) return [`${inner}${label}${line}`];
    return [`${inner}${label}${headerOf(item)}`, ...block(item, inner, depth + 1)];
  };
  const limited = <T>(items: T[], total: number, render: (item: T) => string[]): string[] => {
    const lines = items.slice(0, MAX_BLOCK_ENTRIES).flatMap(render);
    if (total > MAX_BLOCK_ENTRIES) lines.push(`${inner}… ${total - MAX_BLOCK_ENTRIES} more`);
    return lines;
  };
  if (value instanceof OpaqueValue) return block(value.plain, indent, depth);
  if (Array.isArray(value)) {
    return limited(
      value.map((item, index) => [index, item] as const),
      value.length,
      ([index, item]) => child(`[${index}] `, item),
    );
  }
  if (value instanceof Map) {
    return limited([...value], value.size, ([key, item]) => child(`${inline(key, depth + 1) ?? headerOf(key)} => `, item));
  }
  if (value instanceof Set) return limited([...value], value.size, (item) => child('- ', item));
  if (typeof value === 'object' && value !== null) {
    const entries = Object.entries(value);
    return limited(entries, entries.length, ([key, item]) => child(`${keyText(key)}: `, item));
  }
  return [`${inner}${String(value)}`];
}

/** What a block starts with: the container's kind and size. */
function headerOf(value: unknown): string {
  if (value instanceof OpaqueValue) return `${value.typeName} ${headerOf(value.plain)}`;
  if (Array.isArray(value)) return `Array(${value.length})`;
  if (value instanceof Map) return `Map(${value.size})`;
  if (value instanceof Set) return `Set(${value.size})`;
  if (typeof value === 'object' && value !== null) return `{${Object.keys(value).length} keys}`;
  return '';
}

function keyText(key: string): string {
  return /^[A-Za-z_$][\w$]*$/.test(key) ? key : JSON.stringify(key);
}

function scalarText(value: unknown): string | undefined {
  switch (typeof value) {
    case 'number':
      return numberText(value);
    case 'bigint':
      return `${value}n`;
    case 'string':
      return value.length > MAX_STRING ? `${JSON.stringify(value.slice(0, MAX_STRING))}… (${value.length} chars)` : JSON.stringify(value);
    case 'boolean':
      return String(value);
    case 'undefined':
      return 'undefined';
    default:
      break;
  }
  if (value === null) return 'null';
  if (value instanceof Date) return Number.isNaN(value.getTime()) ? 'Date(invalid)' : `Date(${value.toISOString()})`;
  return undefined;
}

function numberText(value: number): string {
  return Object.is(value, -0) ? '-0' : String(value);
}

function numericText(summary: NumericSummary): string {
  const head = summary.shape === undefined ? `${summary.type}(${summary.length})` : `${summary.type}(${summary.shape.join('×')})`;
  const values = summary.first.map((item) => (typeof item === 'string' ? `${item}n` : Object.is(item, -0) ? '-0' : round(item)));
  if (summary.first.length === summary.length) return `${head} [${values.join(', ')}]`;
  const stats = [
    summary.min === undefined ? '' : ` min ${round(summary.min)} max ${round(summary.max!)} mean ${round(summary.mean!)}`,
    summary.nanCount === undefined ? '' : ` NaN×${summary.nanCount}`,
  ].join('');
  return `${head} [${values.join(', ')}, …]${stats}`;
}

function round(value: number): string {
  return Number.isInteger(value) ? String(value) : String(Number(value.toPrecision(6)));
}

/**
 * A summary of a typed array, a `Buffer`, `DataView`, `ArrayBuffer`, or a
 * numeric array (flat, or nested and rectangular) that is too long to show
 * whole; short ones list every value. `undefined` for anything else.
 */
export function numericSummary(value: unknown): NumericSummary | undefined {
  if (value instanceof SummarizedArray) return value.summary;
  if (ArrayBuffer.isView(value)) {
    const type = Buffer.isBuffer(value) ? 'Buffer' : value.constructor.name;
    const elements: NumericArray = value instanceof DataView ? new Uint8Array(value.buffer, value.byteOffset, value.byteLength) : (value as unknown as NumericArray);
    return summarizeNumbers(type, elements);
  }
  if (value instanceof ArrayBuffer) return summarizeNumbers('ArrayBuffer', new Uint8Array(value));
  if (Array.isArray(value)) {
    const shape = numericShape(value);
    if (shape === undefined) return undefined;
    const flat = value.flat(shape.length - 1) as number[];
    const summary = summarizeNumbers('Array', flat);
    return shape.length > 1 ? { ...summary, shape } : summary;
  }
  return undefined;
}

/** The dimensions of a non-empty rectangular array of numbers, or `undefined`. */
function numericShape(value: unknown[]): number[] | undefined {
  if (value.length === 0) return undefined;
  if (value.every((item) => typeof item === 'number')) return [value.length];
  if (!value.every(Array.isArray)) return undefined;
  const inner = (value as unknown[][]).map(numericShape);
  const first = inner[0];
  if (first === undefined || !inner.every((shape) => shape !== undefined && shape.join() === first.join())) return undefined;
  return [value.length, ...first];
}

function summarizeNumbers(type: string, elements: NumericArray): NumericSummary {
  const stats = new NumberStats(type, elements.length);
  stats.add(elements);
  return stats.summary();
}

/**
 * A {@link NumericSummary} built from an array's elements given in order, in
 * parts: so an array read from the store a window at a time is summarised
 * without being held whole.
 */
export class NumberStats {
  readonly #type: string;
  readonly #length: number;
  readonly #first: (number | string)[] = [];
  #bigint = false;
  #min = Infinity;
  #max = -Infinity;
  #sum = 0;
  #counted = 0;
  #nanCount = 0;

  /** @param length - the array's whole length. */
  constructor(type: string, length: number) {
    this.#type = type;
    this.#length = length;
  }

  /** The next elements of the array. */
  add(elements: NumericArray): void {
    const shown = this.#length <= MAX_ITEMS ? this.#length : FIRST_VALUES;
    for (let index = 0; index < elements.length && this.#first.length < shown; index += 1) {
      const item = elements[index]!;
      this.#first.push(typeof item === 'bigint' ? item.toString() : item);
    }
    if (elements.length > 0 && typeof elements[0] === 'bigint') this.#bigint = true;
    if (this.#length <= MAX_ITEMS || this.#bigint) return;
    for (let index = 0; index < elements.length; index += 1) {
      const item = elements[index] as number;
      if (Number.isNaN(item)) {
        this.#nanCount += 1;
        continue;
      }
      if (item < this.#min) this.#min = item;
      if (item > this.#max) this.#max = item;
      this.#sum += item;
      this.#counted += 1;
    }
  }

  summary(): NumericSummary {
    const summary: NumericSummary = { type: this.#type, length: this.#length, first: this.#first };
    if (this.#length <= MAX_ITEMS || this.#bigint) return summary;
    if (this.#counted > 0) Object.assign(summary, { min: this.#min, max: this.#max, mean: this.#sum / this.#counted });
    if (this.#nanCount > 0) summary.nanCount = this.#nanCount;
    return summary;
  }
}

/** Buckets a {@link Downsampler} makes by default: enough for a plot a few hundred pixels wide. */
export const DOWNSAMPLE_BUCKETS = 400;

/**
 * An array cut into consecutive buckets, each given by its smallest, largest
 * and mean value: the min and max keep a one-element spike visible however
 * many elements share its bucket (a mean alone would flatten it), and the
 * mean shows where the mass lies. Bucket `b` of an array of `length` holds
 * elements `floor(b * length / buckets)` up to the next bucket's start.
 */
export interface Downsample {
  /** The index of each bucket's first element. */
  x: number[];
  /** Each bucket's smallest, largest and mean value; NaN is left out, and a bucket with no other value (or none read) is `null`. */
  min: (number | null)[];
  max: (number | null)[];
  mean: (number | null)[];
}

/**
 * A {@link Downsample} built from parts of an array given with their
 * position, in any order and possibly with gaps (a sample of windows): so a
 * stored array is downsampled a window at a time, never held whole.
 */
export class Downsampler {
  readonly #length: number;
  readonly #buckets: number;
  readonly #min: Float64Array;
  readonly #max: Float64Array;
  readonly #sum: Float64Array;
  readonly #count: Float64Array;

  /**
   * @param length - the array's whole length.
   * @param buckets - how many buckets at most (fewer for a shorter array). @default {@link DOWNSAMPLE_BUCKETS}
   */
  constructor(length: number, buckets: number = DOWNSAMPLE_BUCKETS) {
    this.#length = length;
    this.#buckets = Math.max(0, Math.min(buckets, length));
    this.#min = new Float64Array(this.#buckets).fill(Infinity);
    this.#max = new Float64Array(this.#buckets).fill(-Infinity);
    this.#sum = new Float64Array(this.#buckets);
    this.#count = new Float64Array(this.#buckets);
  }

  /** The index of bucket `bucket`'s first element. */
  bucketStart(bucket: number): number {
    return Math.floor((bucket * this.#length) / this.#buckets);
  }

  /** How many buckets there are. */
  get buckets(): number {
    return this.#buckets;
  }

  /** Elements `offset` to `offset + elements.length` of the array. */
  add(elements: ArrayLike<number | bigint>, offset: number): void {
    const end = offset + elements.length;
    // The bucket holding `offset`, by estimate then exact against the integer bucket starts.
    let bucket = Math.min(this.#buckets - 1, Math.floor((offset * this.#buckets) / this.#length));
    while (bucket > 0 && this.bucketStart(bucket) > offset) bucket -= 1;
    while (bucket + 1 < this.#buckets && this.bucketStart(bucket + 1) <= offset) bucket += 1;
    for (let start = offset; start < end && bucket < this.#buckets; bucket += 1) {
      const stop = Math.min(end, bucket + 1 < this.#buckets ? this.bucketStart(bucket + 1) : this.#length);
      let min = this.#min[bucket]!;
      let max = this.#max[bucket]!;
      let sum = 0;
      let count = 0;
      for (let index = start; index < stop; index += 1) {
        const item = Number(elements[index - offset]);
        if (Number.isNaN(item)) continue;
        if (item < min) min = item;
        if (item > max) max = item;
        sum += item;
        count += 1;
      }
      this.#min[bucket] = min;
      this.#max[bucket] = max;
      this.#sum[bucket] = this.#sum[bucket]! + sum;
      this.#count[bucket] = this.#count[bucket]! + count;
      start = stop;
    }
  }

  result(): Downsample {
    const result: Downsample = { x: [], min: [], max: [], mean: [] };
    for (let bucket = 0; bucket < this.#buckets; bucket += 1) {
      const counted = this.#count[bucket]! > 0;
      result.x.push(this.bucketStart(bucket));
      result.min.push(counted ? this.#min[bucket]! : null);
      result.max.push(counted ? this.#max[bucket]! : null);
      result.mean.push(counted ? this.#sum[bucket]! / this.#count[bucket]! : null);
    }
    return result;
  }
}

/** How much of a stored array was read to summarise it. */
export interface ArrayReading {
  /** Reads made, each of one window. */
  windows: number;
  /** Bytes those reads held. */
  bytesRead: number;
  /** The array's stored size in bytes. */
  bytes: number;
}

/** An array summarised where it is stored, standing in the value for the array itself (see stored-outline.ts). */
export class SummarizedArray {
  /**
   * @param downsample - its downsample, when the summary was asked for one (the inspector's plots).
   * @param reading - how much of it was read.
   */
  constructor(
    readonly summary: NumericSummary,
    readonly downsample?: Downsample,
    readonly reading?: ArrayReading,
  ) {}
}

/** A JSON-safe value for `--json` output. Encodings are documented in docs/cli.md. */
export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };

/**
 * The JSON form of a stored value for `show --json`: plain JSON where JSON
 * can say it, `{ "$type": … }` objects for everything else, and summaries
 * (never whole contents) for large arrays and long strings.
 */
export function summarizeValue(value: unknown, depth = 0): JsonValue {
  switch (typeof value) {
    case 'number':
      return Number.isFinite(value) && !Object.is(value, -0) ? value : { $type: 'number', value: numberText(value) };
    case 'bigint':
      return { $type: 'bigint', value: value.toString() };
    case 'string':
      return value.length > MAX_STRING ? { $type: 'string', length: value.length, first: value.slice(0, MAX_STRING) } : value;
    case 'boolean':
      return value;
    case 'undefined':
      return { $type: 'undefined' };
    default:
      break;
  }
  if (value === null) return null;
  if (depth >= MAX_DEPTH) return { $type: 'elided' };
  if (value instanceof Date) return { $type: 'Date', value: Number.isNaN(value.getTime()) ? null : value.toISOString() };
  if (value instanceof OpaqueValue) return { $type: 'registered', name: value.typeName, value: summarizeValue(value.plain, depth + 1) };
  const numeric = numericSummary(value);
  if (numeric !== undefined && !(Array.isArray(value) && numeric.length <= MAX_NUMBERS_IN_FULL)) {
    const { type, length, shape, first, ...stats } = numeric;
    const values = first.map((item) => summarizeValue(item));
    if (first.length === length && !Array.isArray(value)) return { $type: type, length, values };
    return { $type: type, length, ...(shape === undefined ? {} : { shape }), first: values, ...(stats as { [key: string]: JsonValue }), truncated: first.length < length };
  }
  if (Array.isArray(value)) {
    const items = value.slice(0, MAX_BLOCK_ENTRIES).map((item) => summarizeValue(item, depth + 1));
    return value.length > MAX_BLOCK_ENTRIES ? { $type: 'Array', length: value.length, first: items, truncated: true } : items;
  }
  if (value instanceof Map) {
    const entries = [...value].slice(0, MAX_BLOCK_ENTRIES).map(([key, item]) => [summarizeValue(key, depth + 1), summarizeValue(item, depth + 1)]);
    return { $type: 'Map', size: value.size, entries, truncated: value.size > MAX_BLOCK_ENTRIES };
  }
  if (value instanceof Set) {
    const values = [...value].slice(0, MAX_BLOCK_ENTRIES).map((item) => summarizeValue(item, depth + 1));
    return { $type: 'Set', size: value.size, values, truncated: value.size > MAX_BLOCK_ENTRIES };
  }
  if (typeof value === 'object') {
    // A user key named `$type` is kept distinguishable from our encodings. fromEntries defines
    // own properties, so a stored `__proto__` key is shown rather than setting the prototype.
    return Object.fromEntries(Object.entries(value).map(([key, item]) => [key === '$type' ? '$$type' : key, summarizeValue(item, depth + 1)]));
  }
  return { $type: typeof value };
}
