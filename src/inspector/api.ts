import { hostname } from 'node:os';
import type { Store } from '../cache/store.js';
import { isMemostrataError } from '../errors.js';
import { assertModuleName, statePrefix } from '../layers/keys.js';
import type { MemoRecord } from '../layers/memo-record.js';
import { readModuleMeta } from '../layers/module-meta.js';
import { findRecords, moduleSummaries, type ModuleSummary } from '../maintenance/inventory.js';
import { runningCalls } from '../maintenance/leases.js';
import { rawRecords } from '../maintenance/common.js';
import { dependentsOf, lineageOf, type LineageNode } from '../maintenance/lineage.js';
import { neighboursOf } from '../maintenance/neighbours.js';
import { pin, readPins, unpin, type StoredPins } from '../maintenance/pins.js';
import { removeRecords, type Removed } from '../maintenance/remove.js';
import { verify } from '../maintenance/verify.js';
import { LevelBackend } from '../backends/level-backend.js';
import { LmdbBackend } from '../backends/lmdb-backend.js';
import { RedisBackend } from '../backends/redis-backend.js';
import { isoTime } from '../cli/format.js';
import { recordJson, runningCallJson } from '../cli/record-json.js';
import type { EntryRow } from './entry-index.js';
import { EntryIndexes } from './entry-indexes.js';
import { HttpError } from './http.js';
import { previewEntry, type EntryPreview } from './preview.js';
import { badRequest, type ListingQuery } from './query.js';

/*
 * What the JSON API answers (docs/inspector.md documents every shape). Every
 * answer comes from the maintenance library over the open store's layers,
 * so the inspector works on every backend and layer stack the CLI opens.
 */

/** Options of an {@link InspectorApi}. */
export interface ApiOptions {
  /** Whether the actions that change the store are enabled. */
  allowWrite: boolean;
  /** Encoded size above which a value stored whole is not loaded for a preview (bytes). */
  maxValueBytes: number;
  /** Size above which a large stored array is previewed from a sample of windows unless asked in full (bytes). */
  fullReadBytes: number;
}

/** A module's figures in the overview: those of `memostrata stats --json`, and more of its summary. */
export interface OverviewModule {
  name: string;
  entries: number;
  hits: number;
  /** Calls computed: one per stored entry, as `stats` counts them. */
  misses: number;
  hitRate: number | null;
  computeMs: number;
  savedMs: number;
  bytes: number;
  errors: number;
  versions: string[];
  latestVersion: string;
  lastCreatedAt: number;
  lastUsedAt: number;
  /** Whether the module is pinned whole (`memostrata pin <module>`, `pin: true`). */
  pinned: boolean;
}

/** The answers of the JSON API, over one open store. */
export class InspectorApi {
  readonly #store: Store;
  readonly #options: ApiOptions;
  readonly #indexes: EntryIndexes;

  constructor(store: Store, options: ApiOptions) {
    this.#store = store;
    this.#options = options;
    this.#indexes = new EntryIndexes(store);
  }

  /** `GET /api/overview`: the store and every module with its figures; totals as `stats --json` gives them. */
  async overview() {
    const store = this.#store;
    const pins = await readPins(store);
    const modules = (await moduleSummaries(store)).map((summary) => overviewModule(summary, pins.modules.has(summary.name)));
    const total = modules.reduce(
      (sum, module) => ({ hits: sum.hits + module.hits, misses: sum.misses + module.misses, computeMs: sum.computeMs + module.computeMs, savedMs: sum.savedMs + module.savedMs, bytes: sum.bytes + module.bytes }),
      { hits: 0, misses: 0, computeMs: 0, savedMs: 0, bytes: 0 },
    );
    return {
      store: {
        location: store.location,
        backend: backendKind(store),
        sizeOnDisk: (await store.backend.sizeOnDisk()) ?? null,
        records: total.misses,
        types: await store.serialized.storedTypeNames(),
      },
      readOnly: !this.#options.allowWrite,
      modules,
      total: { ...total, hitRate: total.hits + total.misses === 0 ? null : total.hits / (total.hits + total.misses) },
    };
  }

  /** `GET /api/verify`: the `verify` summary (nothing is fixed from the inspector). */
  async verify() {
    const result = await verify(this.#store, { fix: false });
    return { ok: result.problems.length === 0, checked: result.checked, unverified: result.unverified, problemCount: result.problems.length, problems: result.problems.slice(0, 100) };
  }

  /**
   * `GET /api/modules/:module/entries`: one page of a module's entries, from
   * its index. The default view (key order, no filter) of a module whose
   * index is not built yet is read from the store's key range instead, up
   * to the page's end, while the index builds for the next request: the
   * first look at a module of a million entries does not wait for the build.
   */
  async entries(module: string, query: ListingQuery) {
    const name = this.#moduleName(module);
    const plain = query.sort === 'call' && !query.descending && query.callPrefix === undefined && query.version === undefined && query.status === undefined;
    if (plain && !query.refresh && query.offset + query.limit <= KEY_ORDER_WINDOW) {
      const status = await this.#indexes.status(name);
      if (!status.ready && status.entries !== undefined) {
        // Errors of the build surface on the request that waits for it.
        this.#indexes.get(name).catch(() => undefined);
        const rows = await keyOrderWindow(this.#store, name, query.offset, query.limit);
        const pins = await readPins(this.#store, name);
        return { ...listingHead(name, query, pins), total: status.entries, matched: status.entries, versions: [...new Set(rows.map((row) => row.version))], indexedAt: null, entries: rows.map((row) => rowJson(row, name, pins)) };
      }
    }
    const index = await this.#indexes.get(name, query.refresh);
    // A module cleared of its entries keeps its metadata, and an empty table; a name never stored is not found.
    if (index.size === 0 && (await readModuleMeta(this.#store.serialized, name).catch(() => undefined)) === undefined) {
      throw new HttpError(404, 'NOT_FOUND', `No module ${module} in the store.`);
    }
    const page = index.page(query);
    // Pins are read afresh for each page (they are few): the index holds the records, not their pins.
    const pins = await readPins(this.#store, name);
    return { ...listingHead(name, query, pins), total: page.total, matched: page.matched, versions: index.versions, indexedAt: new Date(index.builtAt).toISOString(), entries: page.rows.map((row) => rowJson(row, name, pins)) };
  }

  /**
   * `GET /api/modules/:module/entries/:call`: the record, read afresh, and
   * previews of its values; `full` reads every large array whole, however
   * large, instead of a sample of windows of those over `fullReadBytes`.
   */
  async entry(module: string, call: string, full = false) {
    const record = await this.#record(module, call);
    let preview: EntryPreview | { error: string };
    try {
      preview = await previewEntry(this.#store, record, { maxBytes: this.#options.maxValueBytes, fullReadBytes: this.#options.fullReadBytes, full });
    } catch (error) {
      // A damaged or missing value is worth showing next to its record, not a failed page.
      if (!isMemostrataError(error, 'CORRUPT')) throw error;
      preview = { error: error.message };
    }
    const pins = await readPins(this.#store, record.module);
    return { record: recordJson(record), pinned: { entry: pins.hasOwn(record.module, record.call), module: pins.modules.has(record.module) }, ...preview, readOnly: !this.#options.allowWrite };
  }

  /** `GET /api/leases`: the calls running now, as `memostrata leases --json` lists them. */
  async leases() {
    const leases = [];
    for await (const running of runningCalls(this.#store)) leases.push(runningCallJson(running));
    return { now: new Date().toISOString(), host: hostname(), leases };
  }

  /** `POST /api/modules/:module/entries/:call/delete`: removes one entry, its saved state, and the values nothing else uses. */
  async deleteEntry(module: string, call: string): Promise<{ removed: Removed }> {
    this.#assertWritable();
    const record = await this.#record(module, call);
    const removed = await removeRecords(this.#store, [record], { statePrefix: `${statePrefix(module)}${call}` });
    this.#indexes.forget(module);
    return { removed };
  }

  /**
   * `GET /api/modules/:module/entries/:call/lineage`: the calls the entry was
   * computed from (`uses`) and those computed from it (`usedBy`), each tree
   * `depth` levels deep at most, as `memostrata lineage` finds them.
   */
  async lineage(module: string, call: string, depth: number) {
    const record = await this.#record(module, call);
    const [lineage] = await lineageOf(this.#store, record.module, record.call, { depth });
    if (lineage === undefined) throw new HttpError(404, 'NOT_FOUND', `No entry ${call} of module ${module} in the store (removed since?).`);
    return { depth, call: nodeJson(lineage.call), uses: lineage.uses.map(nodeJson), usedBy: lineage.usedBy.map(nodeJson) };
  }

  /** `GET /api/modules/:module/entries/:call/neighbours`: the nearest stored calls of the module and how each differs. */
  async neighbours(module: string, call: string, limit: number) {
    const record = await this.#record(module, call);
    const found = await neighboursOf(this.#store, record, { limit });
    return { ...found, neighbours: found.neighbours.map((neighbour) => ({ ...neighbour, createdAt: isoTime(neighbour.createdAt) })) };
  }

  /**
   * `GET /api/modules/:module/entries/:call/cascade`: what invalidating the
   * entry with its dependents would remove (a dry run: nothing changes).
   */
  async cascadePlan(module: string, call: string) {
    const doomed = await this.#cascade(module, call);
    return { calls: doomed.map(callJson) };
  }

  /** `POST /api/modules/:module/entries/:call/cascade`: removes the entry and every stored call computed from it, as `memostrata rm --cascade` does. */
  async cascade(module: string, call: string) {
    this.#assertWritable();
    const doomed = await this.#cascade(module, call);
    const removed = await removeRecords(this.#store, doomed, { statePrefix: `${statePrefix(module)}${call}`, cascade: true });
    for (const name of new Set(doomed.map((record) => record.module))) this.#indexes.forget(name);
    return { removed, calls: doomed.map(callJson) };
  }

  async #cascade(module: string, call: string): Promise<MemoRecord[]> {
    const record = await this.#record(module, call);
    return [record, ...(await dependentsOf(this.#store, [record]))];
  }

  /** `POST /api/modules/:module/clear`: removes every entry of a module, as `memostrata rm <module>` does. */
  async clearModule(module: string): Promise<{ removed: Removed }> {
    this.#assertWritable();
    const records = await findRecords(this.#store, this.#moduleName(module), '');
    if (records.length === 0) throw new HttpError(404, 'NOT_FOUND', `No entries of module ${module} in the store.`);
    const removed = await removeRecords(this.#store, records, { statePrefix: statePrefix(module) });
    this.#indexes.forget(module);
    return { removed };
  }

  /**
   * `POST /api/modules/:module/entries/:call/pin` and `…/unpin`: stores or
   * removes the entry's own pin (`memostrata pin <module> --call <digest>`).
   */
  async pinEntry(module: string, call: string, pinned: boolean) {
    this.#assertWritable();
    const record = await this.#record(module, call);
    const target = { module: record.module, call: record.call };
    const changed = pinned ? await pin(this.#store, target) : await unpin(this.#store, target);
    const pins = await readPins(this.#store, record.module);
    return { changed, pinned: { entry: pins.hasOwn(record.module, record.call), module: pins.modules.has(record.module) } };
  }

  /** `POST /api/modules/:module/pin` and `…/unpin`: stores or removes the pin of the whole module (`memostrata pin <module>`). */
  async pinModule(module: string, pinned: boolean) {
    this.#assertWritable();
    const name = this.#moduleName(module);
    if ((await readModuleMeta(this.#store.serialized, name).catch(() => undefined)) === undefined && (await findRecords(this.#store, name, '')).length === 0) {
      throw new HttpError(404, 'NOT_FOUND', `No module ${module} in the store.`);
    }
    const changed = pinned ? await pin(this.#store, { module: name }) : await unpin(this.#store, { module: name });
    return { changed, pinned: (await readPins(this.#store, name)).modules.has(name) };
  }

  #assertWritable(): void {
    if (!this.#options.allowWrite) throw new HttpError(403, 'READ_ONLY', 'The inspector is read-only; start it with `memostrata serve --allow-write` to change the store.');
  }

  #moduleName(module: string): string {
    try {
      assertModuleName(module);
    } catch (error) {
      if (isMemostrataError(error, 'INVALID_ARGUMENT')) throw badRequest(error.message);
      throw error;
    }
    return module;
  }

  async #record(module: string, call: string): Promise<MemoRecord> {
    const [record] = await findRecords(this.#store, this.#moduleName(module), call);
    if (record === undefined) throw new HttpError(404, 'NOT_FOUND', `No entry ${call} of module ${module} in the store (removed since?).`);
    return record;
  }
}

function overviewModule(summary: ModuleSummary, pinned: boolean): OverviewModule {
  const misses = summary.entries;
  return {
    name: summary.name,
    entries: summary.entries,
    hits: summary.hits,
    misses,
    hitRate: summary.hits + misses === 0 ? null : summary.hits / (summary.hits + misses),
    computeMs: summary.computeMs,
    savedMs: summary.savedMs,
    bytes: summary.bytes,
    errors: summary.errors,
    versions: summary.versions,
    latestVersion: summary.latestVersion,
    lastCreatedAt: summary.lastCreatedAt,
    lastUsedAt: summary.lastUsedAt,
    pinned,
  };
}

interface LineageNodeJson {
  module: string;
  call: string;
  state: LineageNode['state'];
  version: string | null;
  createdAt: string | null;
  cut: LineageNode['cut'] | null;
  children: LineageNodeJson[];
}

function nodeJson(node: LineageNode): LineageNodeJson {
  return {
    module: node.module,
    call: node.call,
    state: node.state,
    version: node.version ?? null,
    createdAt: node.createdAt === undefined ? null : isoTime(node.createdAt),
    cut: node.cut ?? null,
    children: node.children.map(nodeJson),
  };
}

function callJson({ module, call, version }: MemoRecord) {
  return { module, call, version };
}

function backendKind(store: Store): 'level' | 'lmdb' | 'redis' | 'other' {
  const backend = store.backend;
  return backend instanceof LevelBackend ? 'level' : backend instanceof LmdbBackend ? 'lmdb' : backend instanceof RedisBackend ? 'redis' : 'other';
}

/** How far into a module's key order a page is read from the store rather than from its index. */
const KEY_ORDER_WINDOW = 10_000;

function listingHead(module: string, query: ListingQuery, pins: StoredPins) {
  return { module, pinned: pins.modules.has(module), offset: query.offset, limit: query.limit, sort: query.sort, order: query.descending ? 'desc' : 'asc' };
}

/** The rows `offset` to `offset + limit` of a module in key order, read up to there and no further. */
async function keyOrderWindow(store: Store, module: string, offset: number, limit: number): Promise<EntryRow[]> {
  const rows: EntryRow[] = [];
  let position = 0;
  for await (const record of rawRecords(store, module)) {
    if (position >= offset) rows.push(rowOf(record));
    position += 1;
    if (position >= offset + limit) break;
  }
  return rows;
}

function rowOf(record: MemoRecord): EntryRow {
  return {
    call: record.call,
    version: record.version,
    createdAt: record.createdAt,
    lastHitAt: record.lastHitAt,
    hits: record.hits,
    size: record.size,
    computeMs: record.computeMs,
    savedMs: record.hits * record.computeMs,
    error: record.error !== undefined,
  };
}

/** A row of a module's listing; `pinned` by its own pin or its module's. */
function rowJson(row: EntryRow, module: string, pins: StoredPins) {
  return { ...row, createdAt: isoTime(row.createdAt), lastHitAt: isoTime(row.lastHitAt), pinned: pins.has(module, row.call) };
}
