import { performance } from 'node:perf_hooks';
import { MemostrataError } from '../errors.js';
import { digestToHex, type Digester } from '../layers/digest.js';
import { stateKey } from '../layers/keys.js';
import type { LiveEntry, NewEntry, PerModuleObjectDatabase } from '../layers/per-module-object-database.js';
import type { MemoRecord, StoredError } from '../layers/proxy-object-database.js';
import { UUIDDatabase, type InternedValue } from '../layers/uuid-database.js';
import type { FlushPolicy } from './config.js';
import { runAsCall, type CurrentCall } from './current-call.js';

/**
 * Counters of one module, as {@link Cache.stats} reports them.
 *
 * @category Cache
 */
export interface ModuleStats {
  /** Calls answered from the cache (memory or store). */
  hits: number;
  /** Calls that ran the function. */
  misses: number;
  /** Entries of this module held in memory now. */
  entries: number;
  /** Time spent running the function on misses in this process (ms). */
  computeMs: number;
  /** Compute time the hits saved: the original compute time of each hit entry (ms). */
  savedMs: number;
}

/** What a memoized module needs from the cache that owns it. */
export interface ModuleHost {
  /** The canonical digest, for call keys and the UUIDs of new values. */
  readonly digester: Digester;
  /** Writes the module's dirty entries; `sync` for durability. */
  flushModule(module: MemoizedModule, sync: boolean): Promise<void>;
  /** Asks for a flush of the module within `everyMs`. */
  scheduleFlush(module: MemoizedModule, everyMs: number): void;
  /** Throws `CLOSED` (naming the cache) once the cache is closed. */
  assertOpen(): void;
  /** Runs `work` in the cache's write queue, after any flush under way: for deletes that a flush must not undo. */
  serialize<T>(work: () => Promise<T>): Promise<T>;
  /** Durably stores a call's saved state. */
  saveState(key: Uint8Array, state: unknown): Promise<void>;
  /** A call's saved state, or `undefined`. */
  restoreState(key: Uint8Array): Promise<unknown>;
}

/** A module's settings, checked. */
export interface ModuleSettings {
  /** The module name. */
  name: string;
  /** The module version. */
  version: string;
  /** Readable fingerprints of the dependencies (`name@version…`, comma-joined; '' for none), as records show them. */
  deps: string;
  /** Identities (hex) of the dependencies, sorted: what keys this module to them. */
  depIdentities: readonly string[];
  /** Argument positions that do not key the call. */
  ignore: ReadonlySet<number>;
  /** Whether a rejected call is stored and replayed. */
  cacheErrors: boolean;
  /** When new results are written. */
  flush: FlushPolicy;
}

const encoder = new TextEncoder();

/**
 * One memoized function's runtime: keys calls, serves hits, de-duplicates
 * concurrent identical calls and stores new results in its
 * {@link PerModuleObjectDatabase}.
 */
export class MemoizedModule {
  /** The checked settings. */
  readonly settings: ModuleSettings;
  /** The module's in-memory layer (shared by every memoize() of the same name). */
  readonly db: PerModuleObjectDatabase;
  /** This process's counters. */
  readonly stats: Omit<ModuleStats, 'entries'> = { hits: 0, misses: 0, computeMs: 0, savedMs: 0 };
  /**
   * Digest of name, version, dependency identities and ignored positions: the
   * prefix of every call key, so a change to any of them makes every call a miss.
   */
  readonly identity: Uint8Array;
  readonly #host: ModuleHost;
  readonly #fn: (...args: unknown[]) => unknown;
  readonly #inFlight = new Map<string, Promise<unknown>>();

  constructor(host: ModuleHost, db: PerModuleObjectDatabase, settings: ModuleSettings, fn: (...args: unknown[]) => unknown) {
    this.#host = host;
    this.db = db;
    this.settings = settings;
    this.#fn = fn;
    // Length-prefixed parts: no name or version can be spelled to look like another's.
    const parts = [settings.name, settings.version, settings.depIdentities.join(','), [...settings.ignore].sort((a, b) => a - b).join(',')];
    this.identity = host.digester.digestParts(parts.map((part) => encoder.encode(part)));
  }

  /** A memoized call: the hot path. A hit hashes nothing and writes nothing. */
  call(args: unknown[]): Promise<unknown> {
    let key: string;
    try {
      key = this.#host.digester.callKey(this.identity, args, this.settings.ignore);
    } catch (error) {
      return Promise.reject(error);
    }
    const entry = this.db.peek(key);
    if (entry !== undefined && this.#usable(entry)) return this.#hit(entry);
    return this.#slowCall(key, args);
  }

  /** Whether the call is stored, computing nothing. */
  async has(args: unknown[]): Promise<boolean> {
    const key = this.#host.digester.callKey(this.identity, args, this.settings.ignore);
    return this.db.contains(key, this.#callDigest(key));
  }

  /** Forgets one call (and any saved state of an unfinished run of it). */
  async delete(args: unknown[]): Promise<void> {
    const key = this.#host.digester.callKey(this.identity, args, this.settings.ignore);
    const call = this.#callDigest(key);
    await this.#host.serialize(() => this.db.deleteCall(key, call));
  }

  /** Forgets every call of this module. */
  async clear(): Promise<void> {
    await this.#host.serialize(() => this.db.clear());
  }

  /** A stored error is replayed only by a module that caches errors; otherwise the call runs again. */
  #usable(entry: LiveEntry): boolean {
    return entry.error === undefined || this.settings.cacheErrors;
  }

  /** The call digest (hex) that addresses a call in the store. */
  #callDigest(key: string): string {
    return digestToHex(this.#host.digester.callDigest(key));
  }

  #hit(entry: LiveEntry): Promise<unknown> {
    this.stats.hits += 1;
    this.stats.savedMs += entry.record.computeMs;
    return entry.error === undefined ? Promise.resolve(entry.result) : Promise.reject(restoreError(entry.error));
  }

  #slowCall(key: string, args: unknown[]): Promise<unknown> {
    const running = this.#inFlight.get(key);
    if (running !== undefined) return running;
    const promise = this.#lookupOrCompute(key, this.#callDigest(key), args).finally(() => this.#inFlight.delete(key));
    this.#inFlight.set(key, promise);
    return promise;
  }

  async #lookupOrCompute(key: string, call: string, args: unknown[]): Promise<unknown> {
    // After close() memory is empty, so every call ends up here: say which cache is closed.
    this.#host.assertOpen();
    const stored = await this.db.lookup(key, call);
    if (stored !== undefined && this.#usable(stored)) return this.#hit(stored);
    this.stats.misses += 1;
    // UUIDs of the inputs as they are now: the function may change its arguments in place.
    const inputs = this.#inputs(args);
    const started = performance.now();
    let result: unknown;
    let thrown: unknown;
    let error: StoredError | undefined;
    const current = this.#currentCall(call);
    try {
      result = await runAsCall(current, () => this.#fn(...args));
    } catch (caught) {
      if (!this.settings.cacheErrors) throw caught;
      thrown = caught;
      error = storedError(caught);
    }
    const computeMs = performance.now() - started;
    this.stats.computeMs += computeMs;
    const entry = this.#newEntry(call, inputs, result, error, computeMs);
    // A call that used its saved state has it removed in the flush that stores the result.
    if (current.used) entry.obsoleteKeys = [stateKey(this.settings.name, call)];
    this.db.store(key, { ...entry, replacesStored: stored !== undefined });
    await this.#afterStore();
    // The caller that ran the call gets the original error; later hits get an equivalent one.
    if (error !== undefined) throw thrown;
    return result;
  }

  #inputs(args: unknown[]): InternedValue[] {
    const inputs: InternedValue[] = [];
    const { ignore } = this.settings;
    args.forEach((value, index) => {
      if (!ignore.has(index)) inputs.push(interned(this.#host.digester.digest(value, `args[${index}]`), value));
    });
    return inputs;
  }

  #newEntry(call: string, values: InternedValue[], result: unknown, error: StoredError | undefined, computeMs: number): NewEntry {
    const inputs = values.map((value) => value.uuid);
    const record: MemoRecord = {
      module: this.settings.name,
      version: this.settings.version,
      deps: this.settings.deps,
      call,
      inputs,
      createdAt: Date.now(),
      computeMs,
      size: 0,
      hits: 0,
      lastHitAt: 0,
    };
    if (error === undefined) {
      // Digesting the result checks that it can be stored before anything is kept.
      const value = interned(this.#host.digester.digest(result, 'result'), result);
      record.result = value.uuid;
      record.size = approximateSize(result);
      values.push(value);
    } else {
      record.error = error;
    }
    return { record, result, values };
  }

  async #afterStore(): Promise<void> {
    const { flush } = this.settings;
    if (flush === 'write-through') await this.#host.flushModule(this, true);
    else if (flush !== 'manual') this.#host.scheduleFlush(this, flush.everyMs);
  }

  /** The call's {@link CurrentCall}; `used` tells whether it touched saved state. */
  #currentCall(call: string): CurrentCall & { used: boolean } {
    const key = stateKey(this.settings.name, call);
    const host = this.#host;
    const current = {
      module: this.settings.name,
      call,
      used: false,
      restore: async <T>() => {
        current.used = true;
        return (await host.restoreState(key)) as T | undefined;
      },
      save: (state: unknown) => {
        current.used = true;
        return host.saveState(key, state);
      },
    };
    return current;
  }
}

function interned(digest: Uint8Array, value: unknown): InternedValue {
  return { uuid: UUIDDatabase.uuidOfDigest(digest), digest, value };
}

function storedError(thrown: unknown): StoredError {
  if (thrown instanceof Error) {
    const stored: StoredError = { name: thrown.name, message: thrown.message };
    const code = (thrown as { code?: unknown }).code;
    if (typeof code === 'string' || typeof code === 'number') stored.code = code;
    return stored;
  }
  return { name: 'Error', message: String(thrown) };
}

/** An error equivalent to a stored one: same name, message and code. */
export function restoreError(stored: StoredError): Error {
  const error = new Error(stored.message) as Error & { code?: string | number };
  error.name = stored.name;
  if (stored.code !== undefined) error.code = stored.code;
  return error;
}

/**
 * Approximate encoded size of a value in bytes, for memory budgets and
 * listings: exact for typed arrays and strings of ASCII, close for the rest.
 */
export function approximateSize(value: unknown, seen = new Set<object>()): number {
  switch (typeof value) {
    case 'string':
      return value.length + 5;
    case 'number':
    case 'bigint':
      return 9;
    case 'object':
      break;
    default:
      return 1;
  }
  if (value === null) return 1;
  if (ArrayBuffer.isView(value)) return value.byteLength + 5;
  if (value instanceof ArrayBuffer) return value.byteLength + 5;
  if (seen.has(value)) return 0;
  seen.add(value);
  let size = 5;
  if (value instanceof Map) for (const [k, v] of value) size += approximateSize(k, seen) + approximateSize(v, seen);
  else if (value instanceof Set || Array.isArray(value)) for (const item of value) size += approximateSize(item, seen);
  else for (const [k, v] of Object.entries(value)) size += k.length + 1 + approximateSize(v, seen);
  return size;
}

/** The `CONFIG` error for a wrong setting of module `module`, for the caller to throw. */
export function configError(module: string, message: string): MemostrataError {
  return new MemostrataError('CONFIG', `memoize('${module}'): ${message}`);
}
