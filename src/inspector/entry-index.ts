import type { MemoRecord } from '../layers/memo-record.js';

/*
 * One module's entries as columns, for paging, sorting and filtering a
 * module of a million entries without reading a million records per page.
 * Built by one streaming pass over the module's records (never all records
 * in memory as objects: about 60 bytes per entry here); each sort order is
 * a permutation computed once, on first use. A page request walks a
 * permutation with the filter and keeps only the page's window.
 */

/** The columns an entry table sorts by. */
export const SORT_KEYS = ['call', 'version', 'created', 'lastHit', 'hits', 'size', 'compute', 'saved'] as const;

/** A column an entry table sorts by. */
export type SortKey = (typeof SORT_KEYS)[number];

/** Which entries a page shows. */
export interface EntryFilter {
  /** Only calls whose digest starts with these lowercase hex digits. */
  callPrefix?: string;
  /** Only entries of this module version. */
  version?: string;
  /** Only entries with a result (`ok`) or with a cached error (`error`). */
  status?: 'ok' | 'error';
}

/** One page request. */
export interface PageQuery extends EntryFilter {
  sort: SortKey;
  descending: boolean;
  offset: number;
  limit: number;
}

/** An entry's row, from the index. */
export interface EntryRow {
  call: string;
  version: string;
  createdAt: number;
  lastHitAt: number;
  hits: number;
  size: number;
  computeMs: number;
  savedMs: number;
  error: boolean;
}

/** What {@link EntryIndex.page} returns. */
export interface Page {
  /** Entries of the module in the index. */
  total: number;
  /** Entries that pass the filter. */
  matched: number;
  /** The page's rows, in order. */
  rows: EntryRow[];
}

const CALL_BYTES = 16;

/** The columns of one module's entries, as of when it was built. */
export class EntryIndex {
  /** When the index was built (ms since the epoch). */
  readonly builtAt: number;
  /** The versions, in first-seen order; entries refer to them by position. */
  readonly versions: string[];
  readonly #count: number;
  readonly #calls: Uint8Array;
  readonly #version: Uint32Array;
  readonly #createdAt: Float64Array;
  readonly #lastHitAt: Float64Array;
  readonly #hits: Float64Array;
  readonly #size: Float64Array;
  readonly #computeMs: Float64Array;
  readonly #error: Uint8Array;
  readonly #orders = new Map<SortKey, Uint32Array>();

  private constructor(columns: Columns, builtAt: number) {
    this.builtAt = builtAt;
    this.versions = columns.versions;
    this.#count = columns.count;
    this.#calls = columns.calls;
    this.#version = columns.version;
    this.#createdAt = columns.createdAt;
    this.#lastHitAt = columns.lastHitAt;
    this.#hits = columns.hits;
    this.#size = columns.size;
    this.#computeMs = columns.computeMs;
    this.#error = columns.error;
  }

  /** Builds the index from a module's records, in key order (by call digest). */
  static async build(records: AsyncIterable<MemoRecord>, sizeHint = 1024, now = Date.now()): Promise<EntryIndex> {
    const builder = new ColumnsBuilder(Math.max(16, sizeHint));
    for await (const record of records) builder.add(record);
    return new EntryIndex(builder.finish(), now);
  }

  /** Number of entries. */
  get size(): number {
    return this.#count;
  }

  /** The rows of one page: filtered, sorted (ties in call digest order, reversed with the rest when descending), then the window `offset`, `limit`. */
  page(query: PageQuery): Page {
    const order = this.#order(query.sort);
    const accepts = this.#filter(query);
    const rows: EntryRow[] = [];
    const end = query.offset + query.limit;
    let matched = 0;
    for (let step = 0; step < this.#count; step += 1) {
      const entry = order === undefined ? (query.descending ? this.#count - 1 - step : step) : order[query.descending ? this.#count - 1 - step : step]!;
      if (accepts !== undefined && !accepts(entry)) continue;
      if (matched >= query.offset && matched < end) rows.push(this.#row(entry));
      matched += 1;
      // Without a filter the count is known: stop once the window is full.
      if (accepts === undefined && matched >= end) {
        matched = this.#count;
        break;
      }
    }
    return { total: this.#count, matched, rows };
  }

  #row(entry: number): EntryRow {
    const hits = this.#hits[entry]!;
    const computeMs = this.#computeMs[entry]!;
    return {
      call: Buffer.from(this.#calls.subarray(entry * CALL_BYTES, (entry + 1) * CALL_BYTES)).toString('hex'),
      version: this.versions[this.#version[entry]!]!,
      createdAt: this.#createdAt[entry]!,
      lastHitAt: this.#lastHitAt[entry]!,
      hits,
      size: this.#size[entry]!,
      computeMs,
      savedMs: hits * computeMs,
      error: this.#error[entry] === 1,
    };
  }

  /** The permutation of a sort key, ascending; `undefined` for key order (the call digest), which needs none. */
  #order(key: SortKey): Uint32Array | undefined {
    if (key === 'call') return undefined;
    let order = this.#orders.get(key);
    if (order === undefined) {
      order = new Uint32Array(this.#count);
      for (let index = 0; index < this.#count; index += 1) order[index] = index;
      const compare = this.#comparator(key);
      // Ties keep key order: typed-array sort is stable.
      order.sort(compare);
      this.#orders.set(key, order);
    }
    return order;
  }

  #comparator(key: Exclude<SortKey, 'call'>): (a: number, b: number) => number {
    if (key === 'version') {
      const names = this.versions;
      const version = this.#version;
      return (a, b) => {
        const x = names[version[a]!]!;
        const y = names[version[b]!]!;
        return x < y ? -1 : x > y ? 1 : 0;
      };
    }
    if (key === 'saved') {
      const hits = this.#hits;
      const compute = this.#computeMs;
      return (a, b) => hits[a]! * compute[a]! - hits[b]! * compute[b]!;
    }
    const column = { created: this.#createdAt, lastHit: this.#lastHitAt, hits: this.#hits, size: this.#size, compute: this.#computeMs }[key];
    return (a, b) => column[a]! - column[b]!;
  }

  #filter(filter: EntryFilter): ((entry: number) => boolean) | undefined {
    const tests: ((entry: number) => boolean)[] = [];
    if (filter.callPrefix !== undefined && filter.callPrefix !== '') tests.push(this.#callTest(filter.callPrefix));
    if (filter.version !== undefined) {
      const wanted = this.versions.indexOf(filter.version);
      const version = this.#version;
      tests.push((entry) => version[entry] === wanted);
    }
    if (filter.status !== undefined) {
      const flag = filter.status === 'error' ? 1 : 0;
      const error = this.#error;
      tests.push((entry) => error[entry] === flag);
    }
    if (tests.length === 0) return undefined;
    return (entry) => tests.every((test) => test(entry));
  }

  /** A test of the call digest's leading hex digits, on its bytes. */
  #callTest(prefix: string): (entry: number) => boolean {
    const whole = Buffer.from(prefix.slice(0, prefix.length - (prefix.length % 2)), 'hex');
    const half = prefix.length % 2 === 1 ? Number.parseInt(prefix[prefix.length - 1]!, 16) : undefined;
    const calls = this.#calls;
    return (entry) => {
      const start = entry * CALL_BYTES;
      for (let index = 0; index < whole.length; index += 1) if (calls[start + index] !== whole[index]) return false;
      return half === undefined || calls[start + whole.length]! >> 4 === half;
    };
  }
}

interface Columns {
  count: number;
  versions: string[];
  calls: Uint8Array;
  version: Uint32Array;
  createdAt: Float64Array;
  lastHitAt: Float64Array;
  hits: Float64Array;
  size: Float64Array;
  computeMs: Float64Array;
  error: Uint8Array;
}

/** Growable columns: capacity doubles as records arrive. */
class ColumnsBuilder {
  #columns: Columns;
  #capacity: number;
  readonly #versionIds = new Map<string, number>();

  constructor(capacity: number) {
    this.#capacity = capacity;
    this.#columns = allocate(capacity, { count: 0, versions: [] });
  }

  add(record: MemoRecord): void {
    if (this.#columns.count === this.#capacity) this.#grow();
    const columns = this.#columns;
    const entry = columns.count;
    columns.calls.set(Buffer.from(record.call, 'hex'), entry * CALL_BYTES);
    let version = this.#versionIds.get(record.version);
    if (version === undefined) {
      version = columns.versions.length;
      columns.versions.push(record.version);
      this.#versionIds.set(record.version, version);
    }
    columns.version[entry] = version;
    columns.createdAt[entry] = record.createdAt;
    columns.lastHitAt[entry] = record.lastHitAt;
    columns.hits[entry] = record.hits;
    columns.size[entry] = record.size;
    columns.computeMs[entry] = record.computeMs;
    columns.error[entry] = record.error === undefined ? 0 : 1;
    columns.count += 1;
  }

  finish(): Columns {
    const { count } = this.#columns;
    const trimmed = allocate(count, this.#columns);
    copyColumns(this.#columns, trimmed, count);
    return trimmed;
  }

  #grow(): void {
    this.#capacity *= 2;
    const bigger = allocate(this.#capacity, this.#columns);
    copyColumns(this.#columns, bigger, this.#columns.count);
    this.#columns = bigger;
  }
}

function allocate(capacity: number, from: Pick<Columns, 'count' | 'versions'>): Columns {
  return {
    count: from.count,
    versions: from.versions,
    calls: new Uint8Array(capacity * CALL_BYTES),
    version: new Uint32Array(capacity),
    createdAt: new Float64Array(capacity),
    lastHitAt: new Float64Array(capacity),
    hits: new Float64Array(capacity),
    size: new Float64Array(capacity),
    computeMs: new Float64Array(capacity),
    error: new Uint8Array(capacity),
  };
}

function copyColumns(from: Columns, to: Columns, count: number): void {
  to.calls.set(from.calls.subarray(0, count * CALL_BYTES));
  to.version.set(from.version.subarray(0, count));
  to.createdAt.set(from.createdAt.subarray(0, count));
  to.lastHitAt.set(from.lastHitAt.subarray(0, count));
  to.hits.set(from.hits.subarray(0, count));
  to.size.set(from.size.subarray(0, count));
  to.computeMs.set(from.computeMs.subarray(0, count));
  to.error.set(from.error.subarray(0, count));
}
