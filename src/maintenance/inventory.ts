import { LevelBackend } from '../backends/level-backend.js';
import { LmdbBackend } from '../backends/lmdb-backend.js';
import { RedisBackend } from '../backends/redis-backend.js';
import type { Store } from '../cache/store.js';
import { MemostrataError } from '../errors.js';
import { withHitCounters } from '../layers/hit-counters.js';
import { assertModuleName, counterPrefix, formatKey, keyText, prefixRange, recordPrefix } from '../layers/keys.js';
import type { MemoRecord } from '../layers/proxy-object-database.js';
import { blobTotals } from './blobs.js';
import { decodeRecord, parseKey, Progress, rawRecords, type ProgressOptions } from './common.js';

/** What the store holds for one module (memoized function). */
export interface ModuleSummary {
  /** The module name. */
  name: string;
  /** Every version with at least one record, sorted. */
  versions: string[];
  /** The version of the most recently created record. */
  latestVersion: string;
  /** Number of records (memoized calls). */
  entries: number;
  /** Sum of the records' approximate result sizes (bytes). */
  bytes: number;
  /** Hits counted in the store (as of each record's last flush). */
  hits: number;
  /** Compute time the hits saved: Σ hits × computeMs (ms). */
  savedMs: number;
  /** Σ computeMs of the records: what computing everything once cost (ms). */
  computeMs: number;
  /** Records that hold a cached error instead of a result. */
  errors: number;
  /** When the newest record was created (ms since the epoch). */
  lastCreatedAt: number;
  /** When any record was last used, created or hit (ms since the epoch). */
  lastUsedAt: number;
}

/** What {@link storeSummary} returns. */
export interface StoreSummary {
  /** The store's format version (`meta!format`), `undefined` if missing. */
  formatVersion: number | undefined;
  /** The backend kind. */
  backend: 'level' | 'lmdb' | 'redis' | 'memory' | 'other';
  /** Where the store lives: a directory, a Redis URL and prefix, or `memory`. */
  location: string;
  /** Σ of the sizes of the store's files (bytes); `undefined` for a store that is not on disk. */
  sizeOnDisk: number | undefined;
  /** Stored values (`v!` entries): how many, and Σ of their encoded sizes (bytes). */
  values: { count: number; bytes: number };
  /** Number of memo records (`m!` entries), all modules. */
  records: number;
  /** Saved states of unfinished calls (`s!` entries): how many, and Σ of their encoded sizes. */
  states: { count: number; bytes: number };
  /**
   * Blobs, where large values live (files beside the store, or `b!` chunks):
   * how many and Σ of their sizes, and the remains of unfinished writes
   * (garbage that `prune` deletes). A large value counts its small reference
   * in `values.bytes` and its bytes here.
   */
  blobs: { count: number; bytes: number; unfinished: number; unfinishedBytes: number };
  /** Registered type names the store's values use (`meta!types`). */
  types: string[];
  /** Per module, sorted by name. */
  modules: ModuleSummary[];
}

/** Every memo record of `module`, or of every module, in key order. @throws MemostrataError `CORRUPT` for a record that does not decode. */
export async function listRecords(store: Store, module?: string, options: ProgressOptions = {}): Promise<MemoRecord[]> {
  if (module !== undefined) assertModuleName(module);
  const progress = new Progress(options.onProgress);
  const records: MemoRecord[] = [];
  for await (const record of rawRecords(store, module)) {
    records.push(record);
    progress.step();
  }
  progress.finish();
  return records;
}

/** Per module: versions, entries, sizes, hits and time saved, sorted by name. */
export async function moduleSummaries(store: Store, options: ProgressOptions = {}): Promise<ModuleSummary[]> {
  const progress = new Progress(options.onProgress);
  const summaries = new Map<string, ModuleSummary & { versionSet: Set<string> }>();
  for await (const record of rawRecords(store)) {
    let summary = summaries.get(record.module);
    if (summary === undefined) {
      summary = {
        name: record.module,
        versions: [],
        versionSet: new Set(),
        latestVersion: record.version,
        entries: 0,
        bytes: 0,
        hits: 0,
        savedMs: 0,
        computeMs: 0,
        errors: 0,
        lastCreatedAt: -Infinity,
        lastUsedAt: -Infinity,
      };
      summaries.set(record.module, summary);
    }
    summary.versionSet.add(record.version);
    if (record.createdAt > summary.lastCreatedAt) {
      summary.lastCreatedAt = record.createdAt;
      summary.latestVersion = record.version;
    }
    summary.lastUsedAt = Math.max(summary.lastUsedAt, record.createdAt, record.lastHitAt);
    summary.entries += 1;
    summary.bytes += record.size;
    summary.hits += record.hits;
    summary.savedMs += record.hits * record.computeMs;
    summary.computeMs += record.computeMs;
    if (record.error !== undefined) summary.errors += 1;
    progress.step();
  }
  progress.finish();
  return [...summaries.values()]
    .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))
    .map(({ versionSet, ...summary }) => ({ ...summary, versions: [...versionSet].sort() }));
}

/** The whole store at a glance: format, location, size on disk, values, records, states and modules. */
export async function storeSummary(store: Store, options: ProgressOptions = {}): Promise<StoreSummary> {
  const progress = new Progress(options.onProgress);
  const values = { count: 0, bytes: 0 };
  const states = { count: 0, bytes: 0 };
  let records = 0;
  for await (const [key, bytes] of store.backend.entries()) {
    const kind = parseKey(keyText(key)).kind;
    if (kind === 'value') {
      values.count += 1;
      values.bytes += bytes.length;
    } else if (kind === 'state') {
      states.count += 1;
      states.bytes += bytes.length;
    } else if (kind === 'record') {
      records += 1;
    }
    progress.step();
  }
  progress.finish();
  const format = await store.serialized.get(formatKey).catch(() => undefined);
  const backend =
    store.backend instanceof LevelBackend
      ? 'level'
      : store.backend instanceof LmdbBackend
        ? 'lmdb'
        : store.backend instanceof RedisBackend
          ? 'redis'
          : store.location === 'memory'
            ? 'memory'
            : 'other';
  return {
    formatVersion: typeof format === 'number' ? format : undefined,
    backend,
    location: store.location,
    sizeOnDisk: await store.backend.sizeOnDisk(),
    values,
    records,
    states,
    blobs: await blobTotals(store),
    types: await store.serialized.storedTypeNames(),
    modules: await moduleSummaries(store),
  };
}

/**
 * The records of `module` whose call digest starts with `digestPrefix`
 * (lowercase hex); every one of them when the prefix is empty.
 *
 * @throws MemostrataError `INVALID_ARGUMENT` when the prefix is not hex.
 */
export async function findRecords(store: Store, module: string, digestPrefix: string): Promise<MemoRecord[]> {
  assertModuleName(module);
  const prefix = digestPrefix.toLowerCase();
  if (!/^[0-9a-f]{0,32}$/.test(prefix)) {
    throw new MemostrataError('INVALID_ARGUMENT', `A call digest is up to 32 hex digits; got ${JSON.stringify(digestPrefix)}.`);
  }
  const found: MemoRecord[] = [];
  // Keys sort by call digest within a module, so the prefix is a key range, of records and of their hit counters.
  const records = async function* () {
    for await (const [key, bytes] of store.bytes.entries(prefixRange(`${recordPrefix(module)}${prefix}`))) yield decodeRecord(store, key, bytes);
  };
  for await (const record of withHitCounters(records(), store.serialized.entries(prefixRange(`${counterPrefix(module)}${prefix}`)))) found.push(record);
  return found;
}

/**
 * The one record of `module` whose call digest starts with `digestPrefix`.
 *
 * @throws MemostrataError `INVALID_ARGUMENT` when none or several match (the message lists them).
 */
export async function findRecord(store: Store, module: string, digestPrefix: string): Promise<MemoRecord> {
  const found = await findRecords(store, module, digestPrefix);
  if (found.length === 1) return found[0]!;
  if (found.length === 0) throw new MemostrataError('INVALID_ARGUMENT', `No record of ${module} has a call digest starting with ${JSON.stringify(digestPrefix)}.`);
  const shown = found.slice(0, 10).map((record) => record.call);
  const more = found.length > shown.length ? ` and ${found.length - shown.length} more` : '';
  throw new MemostrataError(
    'INVALID_ARGUMENT',
    `${found.length} records of ${module} have a call digest starting with ${JSON.stringify(digestPrefix)}: ${shown.join(', ')}${more}. Give more digits.`,
  );
}

/**
 * The metadata of one stored entry, as {@link Cache.entries} yields it.
 *
 * @category Cache
 */
export interface EntryInfo {
  /** The module name. */
  module: string;
  /** The call digest (hex), as `memostrata ls` and `show` name it. */
  call: string;
  /** The module version it was computed with (`auto:…` for a code fingerprint). */
  version: string;
  /** When it was stored (ms since the epoch). */
  createdAt: number;
  /** When it was last hit (ms since the epoch), 0 if never. */
  lastHitAt: number;
  /** Hits counted in the store. */
  hits: number;
  /** What computing it took (ms). */
  computeMs: number;
  /** Approximate encoded size of its result (bytes). */
  bytes: number;
  /** Whether it holds a cached error instead of a result. */
  error: boolean;
}

/**
 * The orders {@link EntryQuery.sortBy} knows, each largest (newest, most) first.
 *
 * @category Cache
 */
export const ENTRY_SORT_KEYS = ['createdAt', 'lastHitAt', 'hits', 'computeMs', 'bytes', 'savedMs'] as const;

/** An order of {@link EntryQuery.sortBy}. @category Cache */
export type EntrySortKey = (typeof ENTRY_SORT_KEYS)[number];

/**
 * Which stored entries {@link Cache.entries} (and `memostrata ls`) yields;
 * every field is optional and they combine.
 *
 * @category Cache
 */
export interface EntryQuery {
  /** Only this module. @default every module */
  module?: string;
  /** Only entries stored at or after this time (ms since the epoch, or a Date). @default no bound */
  since?: number | Date;
  /** Only entries stored before this time (ms since the epoch, or a Date). @default no bound */
  before?: number | Date;
  /** Only entries whose computation took at least this long (ms). @default 0 */
  minComputeMs?: number;
  /**
   * Largest first by this field: `createdAt` (newest), `lastHitAt`, `hits`,
   * `computeMs`, `bytes`, or `savedMs` (hits × compute time).
   *
   * @default key order (by module, then call digest)
   */
  sortBy?: EntrySortKey;
  /** At most this many entries. @default no limit */
  limit?: number;
}

const entryOrders: Record<EntrySortKey, (a: MemoRecord, b: MemoRecord) => number> = {
  createdAt: (a, b) => b.createdAt - a.createdAt,
  lastHitAt: (a, b) => b.lastHitAt - a.lastHitAt,
  hits: (a, b) => b.hits - a.hits,
  computeMs: (a, b) => b.computeMs - a.computeMs,
  bytes: (a, b) => b.size - a.size,
  savedMs: (a, b) => b.hits * b.computeMs - a.hits * a.computeMs,
};

/** A record's metadata, without its inputs and result. */
export function entryInfo(record: MemoRecord): EntryInfo {
  return {
    module: record.module,
    call: record.call,
    version: record.version,
    createdAt: record.createdAt,
    lastHitAt: record.lastHitAt,
    hits: record.hits,
    computeMs: record.computeMs,
    bytes: record.size,
    error: record.error !== undefined,
  };
}

/**
 * The stored records that `query` selects, in its order; loads no value.
 * Checks the query before reading anything.
 *
 * @throws MemostrataError `INVALID_ARGUMENT` naming a wrong field; `CORRUPT` for a damaged record.
 */
export function queryRecords(store: Store, query: EntryQuery): AsyncGenerator<MemoRecord> {
  const { module, sortBy } = checkQuery(query);
  const since = time(query.since) ?? -Infinity;
  const before = time(query.before) ?? Infinity;
  const minComputeMs = query.minComputeMs ?? 0;
  const limit = query.limit ?? Infinity;
  const selected = (record: MemoRecord): boolean => record.createdAt >= since && record.createdAt < before && record.computeMs >= minComputeMs;
  return (async function* () {
    if (limit === 0) return;
    if (sortBy === undefined) {
      let count = 0;
      for await (const record of rawRecords(store, module)) {
        if (!selected(record)) continue;
        yield record;
        if (++count >= limit) return;
      }
      return;
    }
    const matching: MemoRecord[] = [];
    for await (const record of rawRecords(store, module)) if (selected(record)) matching.push(record);
    matching.sort(entryOrders[sortBy]);
    yield* matching.slice(0, limit);
  })();
}

function time(value: number | Date | undefined): number | undefined {
  return value instanceof Date ? value.getTime() : value;
}

function checkQuery(query: EntryQuery): EntryQuery {
  const wrong = (field: string, expected: string, got: unknown): never => {
    throw new MemostrataError('INVALID_ARGUMENT', `entries(): ${field} must be ${expected}; got ${JSON.stringify(got) ?? String(got)}.`);
  };
  if (query === null || typeof query !== 'object') wrong('the query', 'an object such as { module, since, limit }', query);
  const known = new Set(['module', 'since', 'before', 'minComputeMs', 'sortBy', 'limit']);
  for (const field of Object.keys(query)) if (!known.has(field)) wrong(`option '${field}'`, `one of ${[...known].join(', ')}`, field);
  if (query.module !== undefined) assertModuleName(query.module);
  for (const field of ['since', 'before'] as const) {
    const value = query[field];
    if (value !== undefined && !(value instanceof Date ? !Number.isNaN(value.getTime()) : typeof value === 'number' && !Number.isNaN(value))) wrong(field, 'a time (ms since the epoch, or a valid Date)', value);
  }
  if (query.minComputeMs !== undefined && !(typeof query.minComputeMs === 'number' && query.minComputeMs >= 0)) wrong('minComputeMs', 'a number of milliseconds >= 0', query.minComputeMs);
  if (query.limit !== undefined && !(Number.isInteger(query.limit) && query.limit >= 0)) wrong('limit', 'a whole number >= 0', query.limit);
  if (query.sortBy !== undefined && !(ENTRY_SORT_KEYS as readonly string[]).includes(query.sortBy)) wrong('sortBy', `one of ${ENTRY_SORT_KEYS.join(', ')}`, query.sortBy);
  return query;
}
