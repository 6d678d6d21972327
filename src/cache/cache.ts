import { isBackendLimit, type BackendLimitError } from '../backends/backend-errors.js';
import type { BatchOperation, WriteStage } from '../contract/database.js';
import { MemostrataError, isMemostrataError } from '../errors.js';
import { digestToHex } from '../layers/digest.js';
import { assertModuleName, KeyPrefix, keyText, loneSurrogate, pinPrefix, prefixRange } from '../layers/keys.js';
import { pin, unpin } from '../maintenance/pins.js';
import { PerModuleObjectDatabase, type PreparedFlush } from '../layers/per-module-object-database.js';
import type { SavedState } from '../layers/saved-state.js';
import { copyValue } from '../layers/value-copy.js';
import { resolveCacheOptions, resolveFlushPolicy, type CacheOptions, type FlushPolicy, type ResolvedCacheOptions } from './config.js';
import { releaseOnExit, closeOnExit } from './exit-hooks.js';
import { didYouMean } from './closest-name.js';
import { configError, MemoizedModule, type ModuleHost, type ModuleSettings, type ModuleStats } from './memoized-module.js';
import { LeaseTable, leaseLostError, type Lease } from './leases.js';
import { SignLayer } from '../layers/bytes/sign-layer.js';
import { openStore, type Store } from './store.js';
import { openFlushStage, stageFlush, StagedPartError, type StagedFlush } from './staged-flush.js';
import { warnOnce } from '../warnings.js';
import { invalidateCalls } from './lineage.js';
import type { CallRef } from '../layers/memo-record.js';
import type { Explanation } from './explain.js';
import type { StoredCall } from './stored-call.js';
import { Evictor, type EvictionResult } from './eviction.js';
import { resolveMaxAge } from './expiry.js';
import { queryRecords, entryInfo, type EntryInfo, type EntryQuery } from '../maintenance/inventory.js';
import { AUTO_PREFIX, AUTO_VERSION, autoVersion, keyFingerprint } from './fingerprint.js';

/**
 * Options of {@link Cache.memoize}.
 *
 * @category Cache
 */
export interface MemoizeOptions<A extends unknown[] = never[]> {
  /**
   * The module's version: part of every key, so bumping it turns the old
   * entries into misses; entries of other versions stay in the store, and
   * going back to a version hits them again.
   *
   * `'auto'`: the version is a fingerprint of the code, `auto:` and 16 hex
   * digits, a digest of `fn`'s source tokenized (comments, whitespace and
   * formatting do not count), of what {@link MemoizeOptions.uses} lists and
   * of {@link MemoizeOptions.dependsOn}. Under a transpiler (tsx, esbuild)
   * it is the emitted JavaScript that counts. A bound or built-in `fn` has
   * no source: `CONFIG`. An explicit version may not start with `auto:`.
   *
   * @default '1'
   */
  version?: string | number;
  /**
   * With `version: 'auto'`: what else the function's result depends on, so
   * that changing it changes the version. Functions count by their
   * normalized source (not the functions *they* call: list those too),
   * memoized functions by their identity, plain values (constants, tables)
   * by their canonical digest; an array, plain object or module namespace
   * (`import * as helpers`) by its entries. Without `version: 'auto'` it is
   * a `CONFIG` error.
   *
   * @default []
   */
  uses?: readonly unknown[];
  /**
   * Normalizes the arguments into what keys the call: it returns an array of
   * the values that key the call (and are stored as its inputs), for example
   * floats rounded to a tolerance or an object without its irrelevant fields.
   * The function still receives the original arguments. It must be
   * deterministic and must not change its arguments; if it throws, the call
   * rejects with its error and nothing is stored. What it returns keys by the
   * digest rules: `-0` is not `0`, and `Math.round(-0.2)` is `-0` (add `+ 0`).
   * Its source is part of the module's identity (a changed normalizer never
   * reads another's keys).
   * Cannot be combined with {@link MemoizeOptions.ignore} (`CONFIG`): leave
   * out of the returned array what should not count.
   *
   * @default undefined (the arguments key the call as they are)
   */
  key?: (...args: A) => readonly unknown[];
  /** Argument positions that do not key the call (a log callback, a thread count). */
  ignore?: readonly number[];
  /** Memoized functions whose name and version key this one too. */
  dependsOn?: readonly MemoizedIdentity[];
  /**
   * Cache a rejected call: later calls reject with an equivalent error (same
   * name, message and `code`) without running. Default `false`.
   */
  cacheErrors?: boolean;
  /** When new results reach the store. Default: the cache's policy (`{ everyMs: 1000 }` unless set). */
  flush?: FlushPolicy;
  /**
   * Claim a lease on each miss, so that other processes wait for this one's
   * result instead of computing it too (see {@link CacheOptions.lease}).
   * `false` for a module whose calls are cheaper than a conditional write.
   * Ignored where the store has no leases (memory, LevelDB, or `lease: false` on the cache).
   *
   * @default true
   */
  lease?: boolean;
  /**
   * Entries of this module stored longer ago than this many milliseconds are
   * misses (recomputed and replaced); wins over the cache's `maxAge`.
   * `Infinity` keeps them forever whatever the cache says.
   *
   * @default the cache's `maxAge` (none unless set)
   */
  maxAge?: number;
  /**
   * Keep this module's entries out of `maxBytes` eviction and `memostrata
   * prune --max-size` (they still count towards the size). The pin is stored
   * (`meta!pin!<module>`), so every process and tool honours it; leaving the
   * option out later does not remove it: `memostrata unpin <module>` does.
   * To pin single calls, see {@link Memoized.pin}.
   *
   * @default false
   */
  pin?: boolean;
}

/** The options {@link Cache.memoize} knows; any other is a `CONFIG` error (a typo would silently keep the defaults). */
const MEMOIZE_OPTIONS: ReadonlySet<string> = new Set(['version', 'ignore', 'dependsOn', 'cacheErrors', 'flush', 'lease', 'uses', 'key', 'maxAge', 'pin']);

/** Hit-counter keys written by one cache after which close() compacts them (see `#compactCounters`). */
const COMPACT_AFTER_COUNTERS = 10_000;
/** The longest wait between retries of a failed background flush (ms). */
const MAX_RETRY_MS = 30_000;

/**
 * What identifies a memoized function to the functions that depend on it.
 *
 * @category Cache
 */
export interface MemoizedIdentity {
  /** The module name. */
  readonly moduleName: string;
  /** The module version. */
  readonly version: string;
  /** Name, version and dependencies, readable: `name@version[dep@version,…]`. */
  readonly fingerprint: string;
  /** Digest (hex) of name, version, dependencies and ignored positions: what keys dependents. */
  readonly identity: string;
}

/**
 * A memoized function: call it like the original (it always returns a
 * Promise). Equal arguments (by value, see the digest rules) hit the cache.
 *
 * @category Cache
 */
export interface Memoized<A extends unknown[] = never[], R = unknown> extends MemoizedIdentity {
  (...args: A): Promise<Awaited<R>>;
  /** Whether a result for these arguments is stored; computes nothing. */
  has(...args: A): Promise<boolean>;
  /** Forgets the result for these arguments, and its pin (see {@link Memoized.pin}). */
  delete(...args: A): Promise<void>;
  /**
   * Pins the entry of these arguments in the store: no process evicts it for
   * `maxBytes`, and `memostrata prune --max-size` keeps it (it still counts
   * towards the size). The call need not be stored yet: its result is pinned
   * once it is. The pin goes when the entry is removed on purpose
   * (`delete`, `invalidate`, `clear`, `memostrata rm`, `prune` by age or
   * version) or by {@link Memoized.unpin}.
   *
   * @returns `true` when the pin is new, `false` when the call was pinned already.
   */
  pin(...args: A): Promise<boolean>;
  /**
   * Removes the pin of the entry of these arguments; the entry stays. A call
   * of a module pinned whole (`pin: true`, `memostrata pin <module>`) stays pinned.
   *
   * @returns `true` when there was a pin to remove.
   */
  unpin(...args: A): Promise<boolean>;
  /**
   * Removes the result for these arguments and, transitively, every stored
   * call whose computation used it (its lineage: the memoized calls a call
   * made while it ran, recorded in the same cache): from memory, unwritten
   * entries included, and from the store. Calls of this cache still running
   * that used a removed call return their result but do not store it; a run
   * of this very call that finishes after it is stored, as with `delete`.
   *
   * Their pins go with them.
   *
   * @returns the calls removed (module name and call digest, as `memostrata ls` shows them),
   *   this one first when it was stored; empty when nothing was.
   */
  invalidate(...args: A): Promise<CallRef[]>;
  /** Forgets every result of this module (every version), the saved state of its unfinished calls and the pins of its calls (a pin of the whole module stays). */
  clear(): Promise<void>;
  /**
   * Why these arguments would hit or miss, computing nothing: on a miss, the
   * stored call of this module closest to this one (fewest differences,
   * comparing at most `EXPLAIN_SCAN_LIMIT` stored calls) and what differs.
   * Arguments compare by content digest, so no stored value is loaded to
   * tell them apart (small ones are read to show them).
   */
  explain(...args: A): Promise<Explanation>;
  /**
   * The stored call of these arguments, found without computing anything
   * or loading its result: its metadata, `value()` for the whole result,
   * and `arrays`, each typed array of the result readable in part
   * (`arrays[0].read(start, end)` reads only those elements of a large
   * result). `undefined` when the call is not stored (or has expired).
   */
  stored(...args: A): Promise<StoredCall<Awaited<R>> | undefined>;
}

/**
 * What {@link Cache.stats} returns.
 *
 * @category Cache
 */
export interface CacheStats {
  /** Per module name. */
  modules: Record<string, ModuleStats>;
  /**
   * With a `sign` layer: stored values it refused to serve since the cache
   * opened (signature missing or wrong; each read as a miss and recomputed).
   * @default undefined (no sign layer)
   */
  rejectedSignatures?: number;
}

/**
 * A persistent memoization cache over one store. Get one from
 * {@link openCache}; wrap functions with {@link Cache.memoize}; make progress
 * durable with {@link Cache.checkpoint}; finish with {@link Cache.close}.
 *
 * @category Cache
 */
export class Cache {
  readonly #store: Store;
  readonly #options: ResolvedCacheOptions;
  readonly #databases = new Map<string, PerModuleObjectDatabase>();
  readonly #modules = new Set<MemoizedModule>();
  /** Pending background flushes: the timer and when it is due (ms since the epoch). */
  readonly #timers = new Map<MemoizedModule, { timer: ReturnType<typeof setTimeout>; dueAt: number }>();
  /** Consecutive failed background flushes per module, for the retry backoff. */
  readonly #failures = new Map<MemoizedModule, number>();
  /** The settings each module name was memoized with: one name, one function. */
  readonly #settings = new Map<string, string>();
  readonly #host: ModuleHost;
  /** Every write to the store goes through this chain, one at a time. */
  #writes: Promise<unknown> = Promise.resolve();
  #closing: Promise<void> | undefined;
  /** Keeps the store under `maxBytes`; `undefined` without a limit. */
  readonly #evictor: Evictor | undefined;
  /** Modules memoized with `pin: true`: never evicted. */
  readonly #pinned = new Set<string>();

  /** Use {@link openCache}. */
  private constructor(store: Store, options: ResolvedCacheOptions) {
    this.#store = store;
    this.#options = options;
    const closing = (): boolean => this.#closing !== undefined;
    this.#host = {
      digester: store.digester,
      flushNow: (module, sync) => this.#flushOrRetry(module, sync, 0),
      scheduleFlush: (module, everyMs) => this.#scheduleFlush(module, everyMs),
      flushDue: (module) => {
        const pending = this.#timers.get(module);
        return pending !== undefined && Date.now() >= pending.dueAt;
      },
      serialize: (work) => this.#serialize(work),
      assertOpen: () => {
        this.#assertOpen();
      },
      get closing() {
        return closing();
      },
      snapshot: (value, path) => copyValue(value, path, store.types),
      saveState: (key, state, lease) => this.#saveState(key, state, lease),
      restoreState: (key) => this.#assertOpen().serialized.get(key),
      // One process holds a store that is not shared: nobody to share a computation with. A reader
      // (signed store, public keys only) stores nothing, so it has nothing to claim.
      // Leases compare the bytes the codec wrote: those above the byte layers (encrypt's nonces differ per write).
      leases: options.lease === false || store.backend.manifest.shared !== true || store.readOnly ? undefined : new LeaseTable(store.proxy, options.lease.ttlMs, store.bytes),
      storeLeased: (module, key, lease) => this.#storeLeased(module, key, lease),
      invalidate: (roots) => this.#serialize(() => invalidateCalls({ proxy: store.proxy, databases: this.#databases, owner: this.#host }, roots)),
      store,
      explainMisses: options.explainMisses,
    };
    if (options.maxBytes !== undefined) {
      const pinned = this.#pinned;
      this.#evictor = new Evictor({
        store,
        maxBytes: options.maxBytes,
        pinned: (module) => pinned.has(module),
        serialize: (work) => this.#serialize(work),
        get closing() {
          return closing();
        },
        forget: (module, calls) => this.#forgetEvicted(module, calls),
      });
    }
  }

  /** Opens a cache; {@link openCache} is the entry point users call. */
  static async open(options?: CacheOptions): Promise<Cache> {
    const resolved = resolveCacheOptions(options);
    const store = await openStore(resolved.backend, resolved.types, { layers: resolved.layers, largeValueBytes: resolved.largeValueBytes });
    const cache = new Cache(store, resolved);
    if (resolved.handleExit) closeOnExit(cache);
    return cache;
  }

  /** Where the store lives: its directory, or `memory`. */
  get location(): string {
    return this.#store.location;
  }

  /** The store's shared layers, for tools (the CLI) that inspect them. */
  get store(): Store {
    return this.#store;
  }

  /**
   * Wraps `fn` so that calls with equal arguments are computed once and then
   * served from the cache, in this process and every later one.
   *
   * @param name - the module name: stable across runs, unique per function,
   *   without `!` (for example `'scf.energy'`).
   * @throws MemostrataError `CONFIG` for a wrong option, `INVALID_ARGUMENT` for a bad name.
   */
  memoize<A extends unknown[], R>(name: string, fn: (...args: A) => R, options: MemoizeOptions<A> = {}): Memoized<A, R> {
    this.#assertOpen();
    assertModuleName(name);
    if (typeof fn !== 'function') throw configError(name, 'the second argument must be the function to memoize.');
    if (options === null || typeof options !== 'object') throw configError(name, 'options must be an object.');
    for (const option of Object.keys(options)) {
      if (!MEMOIZE_OPTIONS.has(option)) {
        throw configError(name, `unknown option '${option}'${didYouMean(option, MEMOIZE_OPTIONS)}; the options are ${[...MEMOIZE_OPTIONS].join(', ')}.`);
      }
    }
    const declared = options.version ?? '1';
    if (typeof declared !== 'string' && typeof declared !== 'number') throw configError(name, 'version must be a string or a number.');
    // Versions key the module as UTF-8: one with an unpaired surrogate would share entries with another.
    if (typeof declared === 'string' && loneSurrogate(declared) !== null) throw configError(name, `version ${JSON.stringify(declared)} has an unpaired surrogate; use valid Unicode.`);
    const ignore = options.ignore ?? [];
    if (!Array.isArray(ignore) || !ignore.every((index) => Number.isInteger(index) && index >= 0)) {
      throw configError(name, 'ignore must be an array of argument positions (integers >= 0).');
    }
    const dependsOn = options.dependsOn ?? [];
    if (!Array.isArray(dependsOn) || !dependsOn.every((dep) => typeof dep === 'function' && typeof dep.identity === 'string')) {
      throw configError(name, 'dependsOn must be an array of memoized functions (results of cache.memoize).');
    }
    if (options.cacheErrors !== undefined && typeof options.cacheErrors !== 'boolean') throw configError(name, 'cacheErrors must be true or false.');
    if (options.lease !== undefined && typeof options.lease !== 'boolean') throw configError(name, 'lease must be true or false.');
    const maxAge = resolveMaxAge(options.maxAge, `memoize('${name}')`) ?? this.#options.maxAge;
    if (options.pin !== undefined && typeof options.pin !== 'boolean') throw configError(name, 'pin must be true or false.');
    const flush = resolveFlushPolicy(options.flush, `memoize('${name}') option flush`) ?? this.#options.flush;
    const deps = dependsOn.map((dep) => dep.fingerprint).sort().join(',');
    const depIdentities = dependsOn.map((dep) => dep.identity).sort();
    const { version, keyNormalizer } = this.#codeIdentity(name, fn, declared, options, depIdentities);
    const settings: ModuleSettings = {
      name,
      version,
      deps,
      depIdentities,
      ignore: new Set(ignore),
      cacheErrors: options.cacheErrors ?? false,
      flush,
      lease: options.lease ?? true,
      ...keyNormalizer,
      // Infinity (never) costs nothing on a hit as no maxAge at all.
      maxAgeMs: maxAge === Infinity ? undefined : maxAge,
      pin: options.pin ?? false,
    };
    this.#claimName(settings);
    if (settings.pin === true) {
      this.#pinned.add(name);
      // Stored, so that prune and other processes keep the module too; this process keeps it meanwhile.
      void this.#serialize(() => pin(this.#store, { module: name })).catch((error: unknown) => {
        warnOnce(`memostrata: could not store the pin of module '${name}' (${(error as Error).message}); this process keeps its entries, others may not.`, 'MEMOSTRATA_PIN_FAILED', name);
      });
    }
    const module = new MemoizedModule(this.#host, this.#databaseOf(name), settings, fn as (...args: unknown[]) => unknown);
    this.#modules.add(module);
    // Chosen once here, so that a module without a key normalizer does not test for one on every hit.
    const memoized =
      settings.key === undefined
        ? (...args: A): Promise<Awaited<R>> => module.call(args) as Promise<Awaited<R>>
        : (...args: A): Promise<Awaited<R>> => module.normalizedCall(args) as Promise<Awaited<R>>;
    return Object.assign(memoized, {
      has: (...args: A) => module.has(args),
      delete: async (...args: A) => {
        const ref = module.refOf(module.keyOf(args).key);
        await module.delete(args);
        await this.#unpinCalls([ref]);
      },
      invalidate: async (...args: A) => {
        const removed = await module.invalidate(args);
        await this.#unpinCalls(removed);
        return removed;
      },
      clear: async () => {
        await module.clear();
        await this.#serialize(async () => {
          for await (const key of this.#store.backend.keys(prefixRange(pinPrefix(name)))) await this.#store.backend.delete(key);
        });
      },
      pin: (...args: A) => this.#pinCall(module, args, true),
      unpin: (...args: A) => this.#pinCall(module, args, false),
      explain: (...args: A) => module.explain(args),
      stored: (...args: A) => module.stored(args) as Promise<StoredCall<Awaited<R>> | undefined>,
      moduleName: name,
      version,
      fingerprint: `${name}@${version}${deps === '' ? '' : `[${deps}]`}`,
      identity: digestToHex(module.identity),
    });
  }

  /**
   * Writes every dirty entry of every module in one atomic batch and
   * resolves once it is durable (fsync). After a crash the store holds all of
   * a checkpoint or none of it; on a store that applies batches in chunks
   * (Redis: its manifest says `atomicBatches: false`), each entry whole or
   * not at all, its values always before its record.
   */
  async checkpoint(): Promise<void> {
    this.#assertOpen();
    await this.#flushModules([...this.#modules], true);
  }

  /** Hits, misses, entries in memory, compute time and time saved, per module. */
  stats(): CacheStats {
    const modules: Record<string, ModuleStats> = {};
    for (const module of this.#modules) {
      const name = module.settings.name;
      const sum = (modules[name] ??= { hits: 0, misses: 0, entries: module.db.size, computeMs: 0, savedMs: 0, corrupt: 0, unstorable: 0 });
      for (const counter of ['hits', 'misses', 'computeMs', 'savedMs', 'corrupt', 'unstorable'] as const) sum[counter] += module.stats[counter];
    }
    const signing = this.#store.byteLayers.filter((layer) => layer instanceof SignLayer);
    return signing.length === 0 ? { modules } : { modules, rejectedSignatures: signing.reduce((sum, layer) => sum + layer.rejected, 0) };
  }

  /** Entries (of every module) held in memory that the store does not have yet. */
  pendingWrites(): number {
    let pending = 0;
    for (const db of this.#databases.values()) pending += db.dirtyCount;
    return pending;
  }

  /**
   * The stored entries' metadata (module, call, version, created, last hit,
   * hits, compute time, bytes), filtered and sorted as `query` says, without
   * loading any result. It reads the store: entries and hits not written yet
   * show after the next checkpoint. Without `sortBy` entries come in key
   * order (by module, then call digest) as they are read; with it, the
   * matching entries' metadata is gathered first (about 200 bytes each).
   *
   * @throws MemostrataError `INVALID_ARGUMENT` for a wrong query field; `CORRUPT` for a damaged record.
   */
  entries(query: EntryQuery = {}): AsyncIterableIterator<EntryInfo> {
    this.#assertOpen();
    const records = queryRecords(this.#store, query);
    return (async function* () {
      for await (const record of records) yield entryInfo(record);
    })();
  }

  /**
   * Keeps the store under `maxBytes` now (what the cache does in the
   * background after each write of new entries), joining a pass under way;
   * resolves with what it evicted. Without `maxBytes` it evicts nothing.
   */
  async evict(): Promise<EvictionResult> {
    this.#assertOpen();
    return this.#evictor === undefined ? { records: 0, bytes: 0, values: 0 } : this.#evictor.run();
  }

  /**
   * Checkpoints, then closes the store. Closing twice is fine; later use
   * rejects with `CLOSED`. Calls still computing when close() is called
   * return their results to their callers, but are not stored.
   */
  async close(): Promise<void> {
    this.#closing ??= this.#close();
    return this.#closing;
  }

  async #close(): Promise<void> {
    try {
      await this.#evictor?.stop();
      // Calls still running are not stored: let other processes have them now.
      await this.#host.leases?.releaseAll();
      await this.#finalFlush();
      await this.#compactCounters();
    } finally {
      for (const { timer } of this.#timers.values()) clearTimeout(timer);
      this.#timers.clear();
      releaseOnExit(this);
      // A background flush may have queued behind the final one: let it settle before the layers close.
      await this.#writes.catch(() => undefined);
      for (const db of this.#databases.values()) await db.close();
      await this.#store.proxy.close();
    }
  }

  /**
   * The flush of close(): a store that fails to answer (a server restarting)
   * is retried for a bounded time, then close() rejects with `BACKEND` saying
   * how many results were not written.
   */
  async #finalFlush(): Promise<void> {
    const deadline = Date.now() + this.#options.closeRetryMs;
    for (let wait = 100; ; wait = Math.min(wait * 2, 2000)) {
      try {
        return await this.#flushModules([...this.#modules], true);
      } catch (error) {
        if (!isMemostrataError(error, 'BACKEND')) throw error;
        if (Date.now() + wait > deadline) {
          throw new MemostrataError('BACKEND', `Closing the cache at ${this.location}: ${this.pendingWrites()} results could not be written (${error.message}).`, { cause: error });
        }
        await new Promise((resolve) => setTimeout(resolve, wait));
      }
    }
  }

  /**
   * After a process wrote many hit counters (it read much of a large store),
   * compacts their range: that moves them out of the store's log, which the
   * next process would otherwise replay on open (180 ms after 100k hits).
   */
  async #compactCounters(): Promise<void> {
    let written = 0;
    for (const db of this.#databases.values()) written += db.countersWritten;
    if (written >= COMPACT_AFTER_COUNTERS) await this.#store.proxy.compact(prefixRange(KeyPrefix.counter));
  }

  /**
   * The module's version (`'auto'` fingerprints the code, see
   * {@link MemoizeOptions.version}) and its key normalizer with the
   * fingerprint of its source; checks `uses` and `key`.
   */
  #codeIdentity<A extends unknown[]>(
    name: string,
    fn: (...args: A) => unknown,
    declared: string | number,
    options: MemoizeOptions<A>,
    depIdentities: readonly string[],
  ): { version: string; keyNormalizer: Pick<ModuleSettings, 'key' | 'keyFingerprint'> } {
    const { uses, key } = options;
    if (uses !== undefined && !Array.isArray(uses)) throw configError(name, 'uses must be an array of the functions and values the function relies on.');
    if (uses !== undefined && declared !== AUTO_VERSION) {
      throw configError(name, "uses lists what version 'auto' fingerprints; with an explicit version it changes nothing. Remove it, or set version: 'auto'.");
    }
    if (typeof declared === 'string' && declared !== AUTO_VERSION && declared.startsWith(AUTO_PREFIX)) {
      throw configError(name, `version ${JSON.stringify(declared)} starts with '${AUTO_PREFIX}', which marks fingerprints of code; use version: 'auto' or another version.`);
    }
    if (key !== undefined && typeof key !== 'function') throw configError(name, 'key must be a function that returns the values that key the call, as an array.');
    if (key !== undefined && options.ignore !== undefined) {
      throw configError(name, 'key and ignore cannot be combined: the key normalizer decides what keys the call; leave out of the array it returns what ignore would skip.');
    }
    const digester = this.#store.digester;
    const version = declared === AUTO_VERSION ? autoVersion(digester, { module: name, fn: fn as (...args: never[]) => unknown, uses: uses ?? [], depIdentities }) : String(declared);
    const keyNormalizer = key === undefined ? {} : { key: key as (...args: unknown[]) => readonly unknown[], keyFingerprint: keyFingerprint(digester, name, key as (...args: never[]) => unknown) };
    return { version, keyNormalizer };
  }

  /**
   * Drops calls that eviction removes from the module's memory, as an
   * invalidation does (forgetCall, then deleteStoredCall once the records
   * are gone), except one whose memory holds another computation than the
   * stored record judged (`createdAt` differs): that one is not evicted.
   */
  #forgetEvicted(module: string, calls: ReadonlyMap<string, number>): { evictable: ReadonlySet<string>; done(): Promise<void> } {
    const db = this.#databases.get(module);
    if (db === undefined) return { evictable: new Set(calls.keys()), done: async () => undefined };
    const keys = new Map<string, string>();
    const evictable = new Set(calls.keys());
    for (const [key, entry] of db.liveEntries()) {
      const createdAt = calls.get(entry.record.call);
      if (createdAt === undefined) continue;
      if (entry.record.createdAt === createdAt) keys.set(entry.record.call, key);
      else evictable.delete(entry.record.call);
    }
    for (const call of evictable) db.forgetCall(keys.get(call) ?? '', call);
    return {
      evictable,
      // Ends the deletions forgetCall began (the records are gone by then) and lets read-throughs resume.
      done: async () => {
        for (const call of evictable) await db.deleteStoredCall(call);
      },
    };
  }

  /** Remembers the settings a module name is memoized with; the same name again with other settings is a `CONFIG` error. */
  #claimName(settings: ModuleSettings): void {
    const described = JSON.stringify({
      version: settings.version,
      deps: settings.depIdentities,
      ignore: [...settings.ignore].sort((a, b) => a - b),
      cacheErrors: settings.cacheErrors,
      flush: settings.flush,
      lease: settings.lease,
      ...(settings.keyFingerprint === undefined ? {} : { key: settings.keyFingerprint }),
      maxAgeMs: settings.maxAgeMs,
      pin: settings.pin,
    });
    const earlier = this.#settings.get(settings.name);
    if (earlier !== undefined && earlier !== described) {
      throw configError(
        settings.name,
        `this cache already memoizes '${settings.name}' with other settings (${earlier}; now ${described}). Two functions under one name would share entries: give each its own name.`,
      );
    }
    this.#settings.set(settings.name, described);
  }

  /** Stores or removes the pin of one call ({@link Memoized.pin}, {@link Memoized.unpin}). */
  async #pinCall(module: MemoizedModule, args: unknown[], on: boolean): Promise<boolean> {
    this.#assertOpen();
    const target = module.refOf(module.keyOf(args).key);
    return this.#serialize(() => (on ? pin(this.#store, target) : unpin(this.#store, target)));
  }

  /** Removes the pins of calls removed on purpose: a pin goes with its entry. */
  async #unpinCalls(calls: readonly CallRef[]): Promise<void> {
    if (calls.length === 0) return;
    await this.#serialize(async () => {
      for (const call of calls) await unpin(this.#store, call);
    });
  }

  #assertOpen(): Store {
    if (this.#closing !== undefined) throw new MemostrataError('CLOSED', `The cache at ${this.location} is closed; open it again with openCache().`);
    return this.#store;
  }

  #databaseOf(name: string): PerModuleObjectDatabase {
    let db = this.#databases.get(name);
    if (db === undefined) {
      db = new PerModuleObjectDatabase(this.#store.proxy, name, { memoryBudget: this.#options.memoryBudget });
      this.#databases.set(name, db);
    }
    return db;
  }

  /** Writes the dirty entries of `modules` in one batch, after any write already under way. */
  #flushModules(modules: MemoizedModule[], sync: boolean): Promise<void> {
    const databases = new Set(modules.map((module) => module.db));
    for (const module of modules) {
      // This flush writes what the module's timer was waiting for; later entries schedule their own.
      clearTimeout(this.#timers.get(module)?.timer);
      this.#timers.delete(module);
    }
    return this.#serialize(async () => {
      for (;;) {
        // Staged where the backend can: the batch is built and handed down in parts, not held whole.
        const stage = openFlushStage(this.#store);
        const staged = stage === undefined ? 'unstaged' : await this.#flushStaged(stage, databases, sync);
        if (staged === 'retry') continue;
        if (staged === 'done') return;
        const prepared: PreparedFlush[] = [];
        for (const db of databases) prepared.push(await db.prepareFlush());
        // Every module's values in one call: a value two modules share is written once.
        const values = await this.#store.values.internOperations(prepared.flatMap((flush) => flush.values));
        const records = prepared.flatMap((flush) => flush.operations);
        const operations = [...values.operations, ...records];
        try {
          if (this.#store.proxy.manifest.atomicBatches === false && values.operations.length > 0 && records.length > 0) {
            // A batch applied chunk by chunk may stop anywhere: values are written, and acknowledged,
            // before any record that names them.
            await this.#store.proxy.batch(values.operations, { sync });
            await this.#store.proxy.batch(records, { sync });
          } else if (operations.length > 0) {
            await this.#store.proxy.batch(operations, { sync });
          }
        } catch (error) {
          // One value that cannot be stored must not block every later flush: drop its entries, write the rest.
          if (isMemostrataError(error, 'UNSERIALIZABLE') && this.#dropEntriesHolding(this.#unencodable(operations), databases) > 0) continue;
          if (isBackendLimit(error) && this.#dropEntriesHolding(overLimit(error), databases) > 0) continue;
          throw error;
        }
        values.commit();
        for (const flush of prepared) flush.commit();
        if (this.#evictor !== undefined && records.length > 0) {
          this.#evictor.noteWritten(prepared.flatMap((flush) => flush.values.map((value) => value.uuid)));
          this.#evictor.schedule();
        }
        return;
      }
    });
  }

  /**
   * Writes a flush as one staged batch (see staged-flush.ts): `done`, `retry`
   * after dropping entries that cannot be stored, or `unstaged` when it must
   * be written as one batch instead.
   */
  async #flushStaged(stage: WriteStage, databases: ReadonlySet<PerModuleObjectDatabase>, sync: boolean): Promise<'done' | 'retry' | 'unstaged'> {
    let flush: StagedFlush | undefined;
    try {
      flush = await stageFlush(this.#store, databases, stage, sync);
      if (flush !== undefined) await stage.commit({ sync });
    } catch (error) {
      await stage.discard();
      const cause = error instanceof StagedPartError ? error.cause : error;
      if (error instanceof StagedPartError && isMemostrataError(cause, 'UNSERIALIZABLE') && this.#dropEntriesHolding(this.#unencodable(error.operations), databases) > 0) return 'retry';
      if (isBackendLimit(cause) && this.#dropEntriesHolding(overLimit(cause), databases) > 0) return 'retry';
      throw cause;
    }
    if (flush === undefined) {
      await stage.discard();
      return 'unstaged';
    }
    flush.commit();
    if (this.#evictor !== undefined && flush.wroteRecords) {
      this.#evictor.noteWritten(flush.uuids);
      this.#evictor.schedule();
    }
    return 'done';
  }

  /** The values of a refused batch that do not encode: UUID → why. */
  #unencodable(operations: readonly BatchOperation<Uint8Array, unknown>[]): Map<string, string> {
    const unencodable = new Map<string, string>();
    for (const operation of operations) {
      if (operation.type !== 'put') continue;
      try {
        this.#store.serialized.codec.encode(operation.value);
      } catch (error) {
        const uuid = valueUuidOf(operation.key);
        if (uuid !== undefined) unencodable.set(uuid, (error as Error).message);
      }
    }
    return unencodable;
  }

  /**
   * Drops, with a warning, the unwritten entries that hold any of the values
   * `unstorable` names (UUID → why it cannot be stored). Returns how many.
   */
  #dropEntriesHolding(unstorable: ReadonlyMap<string, string>, databases: ReadonlySet<PerModuleObjectDatabase>): number {
    if (unstorable.size === 0) return 0;
    let dropped = 0;
    for (const db of databases) {
      const count = db.dropEntriesHolding(new Set(unstorable.keys()));
      if (count === 0) continue;
      dropped += count;
      for (const module of this.#modules) if (module.db === db) module.stats.unstorable += count;
      warnOnce(
        `memostrata: ${count} result(s) of module '${db.module}' could not be written, so they were not stored: ${[...unstorable.values()][0]}`,
        'MEMOSTRATA_UNSTORABLE',
        `${db.module}:flush`,
      );
    }
    return dropped;
  }

  /** Runs `work` after every write already queued, so that a flush and a delete never interleave. */
  #serialize<T>(work: () => Promise<T>): Promise<T> {
    const run = this.#writes.then(work);
    this.#writes = run.catch(() => undefined);
    return run;
  }

  #scheduleFlush(module: MemoizedModule, everyMs: number): void {
    // A call that finishes after close() returns its result, but it is not stored.
    if (this.#closing !== undefined || this.#timers.has(module)) return;
    const timer = setTimeout(() => {
      this.#timers.delete(module);
      void this.#flushOrRetry(module, false, everyMs);
    }, everyMs);
    // Background flushes never keep a finished process alive; exit hooks flush instead.
    timer.unref();
    this.#timers.set(module, { timer, dueAt: Date.now() + everyMs });
  }

  /**
   * Flushes one module; when that fails its entries stay dirty, a warning
   * says so once, and another try is scheduled, backing off while the store
   * is away. Never rejects.
   */
  async #flushOrRetry(module: MemoizedModule, sync: boolean, everyMs: number): Promise<void> {
    try {
      await this.#flushModules([module], sync);
      this.#failures.delete(module);
    } catch (error) {
      const failures = (this.#failures.get(module) ?? 0) + 1;
      this.#failures.set(module, failures);
      warnOnce(
        `memostrata: results of module '${module.settings.name}' could not be written to ${this.location} (${(error as Error).message}); they are kept in memory and retried.`,
        'MEMOSTRATA_FLUSH_FAILED',
        module.settings.name,
      );
      this.#scheduleFlush(module, Math.min(Math.max(everyMs, 100) * 2 ** failures, MAX_RETRY_MS));
    }
  }

  async #saveState(key: Uint8Array, state: SavedState, lease: Lease | undefined): Promise<void> {
    const store = this.#assertOpen();
    if (lease === undefined) return store.serialized.put(key, state, { sync: true });
    if (!(await lease.write([{ type: 'put', key, value: state }], false))) throw leaseLostError(lease.module);
  }

  /** See {@link ModuleHost.storeLeased}. */
  async #storeLeased(module: MemoizedModule, key: string, lease: Lease): Promise<void> {
    try {
      await this.#serialize(async () => {
        const prepared = await module.db.prepareFlush(key);
        const values = await this.#store.values.internOperations(prepared.values);
        if (await lease.write([...values.operations, ...prepared.operations], true)) {
          values.commit();
          prepared.commit();
        } else {
          // Taken over: the new owner's result is the one the store keeps.
          module.db.discard(key);
        }
      });
    } catch (error) {
      if (isMemostrataError(error, 'UNSERIALIZABLE') || isBackendLimit(error)) {
        // Cannot be stored anywhere: return it, let a waiter compute its own.
        module.db.discard(key);
        module.stats.unstorable += 1;
        warnOnce(`memostrata: a result of module '${module.settings.name}' could not be written, so it was not stored: ${(error as Error).message}`, 'MEMOSTRATA_UNSTORABLE', `${module.settings.name}:flush`);
        await lease.release();
        return;
      }
      // The store is out of reach: the entry stays for the next flush, and the lease, unrenewed, expires.
      lease.abandon();
      await this.#flushOrRetry(module, false, 0);
    }
  }
}

/** The UUID of a value key (`v!<uuid>`), or `undefined` for any other key. */
function valueUuidOf(key: Uint8Array): string | undefined {
  const text = keyText(key);
  return text.startsWith(KeyPrefix.value) ? text.slice(KeyPrefix.value.length) : undefined;
}

/** The value a backend refused as too large, UUID → why (empty when the batch as a whole was too large). */
function overLimit(error: MemostrataError & { cause: BackendLimitError }): Map<string, string> {
  const uuid = error.cause.key === undefined ? undefined : valueUuidOf(error.cause.key);
  return uuid === undefined ? new Map() : new Map([[uuid, error.message]]);
}

/**
 * Opens a cache. With no options: the JSON config file named by
 * `MEMOSTRATA_CONFIG` if set, else LevelDB in `./.memostrata`.
 *
 * @example
 * ```ts
 * const cache = await openCache({ path: 'runs/cache' });
 * const energy = cache.memoize('scf.energy', computeEnergy, { version: '2' });
 * await energy(molecule, 'sto-3g');
 * await cache.close();
 * ```
 * @throws MemostrataError `CONFIG` for a wrong option (naming it), `LOCKED`
 *   when another process holds the store, `NOT_A_STORE`, `FORMAT_VERSION`.
 *
 * @category Cache
 */
export function openCache(options?: CacheOptions): Promise<Cache> {
  return Cache.open(options);
}
