import { storedCall, type StoredCall } from './stored-call.js';
import { performance } from 'node:perf_hooks';
import { MemostrataError, isMemostrataError } from '../errors.js';
import { digestToHex, type Digester } from '../layers/digest.js';
import { stateKey } from '../layers/keys.js';
import type { CallRef, MemoRecord, StoredError } from '../layers/memo-record.js';
import { asSavedState, sealState, type SavedState } from '../layers/saved-state.js';
import type { LiveEntry, NewEntry, PerModuleObjectDatabase } from '../layers/per-module-object-database.js';
import { UUIDDatabase, type InternedValue } from '../layers/uuid-database.js';
import type { FlushPolicy } from './config.js';
import { runAsCall, type CurrentCall } from './current-call.js';
import { LineageCollector, noteUse, runningCollectors, type LineageModule } from './lineage.js';
import type { Lease, LeaseClaim, LeaseTable } from './leases.js';
import { warnOnce } from '../warnings.js';
import { describeCall, explainCall, missLine, type Explanation } from './explain.js';
import { isExpired } from './expiry.js';
import type { Store } from './store.js';

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
  /** Stored entries found damaged or unreadable, and recomputed. */
  corrupt: number;
  /** Results returned to their callers but not stored, because they cannot be (see the `MEMOSTRATA_UNSTORABLE` warning). */
  unstorable: number;
}

/** What a memoized module needs from the cache that owns it. */
export interface ModuleHost {
  /** The canonical digest, for call keys and the UUIDs of new values. */
  readonly digester: Digester;
  /**
   * Writes the module's dirty entries now, never rejecting: a failed write
   * keeps them, warns once, and is retried with backoff.
   */
  flushNow(module: MemoizedModule, sync: boolean): Promise<void>;
  /** Asks for a flush of the module within `everyMs`. */
  scheduleFlush(module: MemoizedModule, everyMs: number): void;
  /** Whether a flush of the module is overdue: its timer should have fired but timers are starved. */
  flushDue(module: MemoizedModule): boolean;
  /** Throws `CLOSED` (naming the cache) once the cache is closed. */
  assertOpen(): void;
  /** Whether `close()` has been called. */
  readonly closing: boolean;
  /** Runs `work` in the cache's write queue, after any flush under way: for deletes that a flush must not undo. */
  serialize<T>(work: () => Promise<T>): Promise<T>;
  /** A copy of a value, as storing and reading it back would give: what a miss computes on. */
  snapshot(value: unknown, path: string): unknown;
  /**
   * Durably stores a call's saved state; under a lease, only while this
   * process holds it.
   *
   * @throws MemostrataError `LEASE_LOST` when another process took the call over.
   */
  saveState(key: Uint8Array, state: SavedState, lease: Lease | undefined): Promise<void>;
  /** A call's saved state, or `undefined`. */
  restoreState(key: Uint8Array): Promise<unknown>;
  /** The store's leases, or `undefined` where there are none (a store one process holds, or leases turned off). */
  readonly leases: LeaseTable | undefined;
  /**
   * Writes a leased call's new entry (held in the module's memory under
   * `key`) durably and releases the lease in the same atomic step. Never
   * rejects: a lease taken over drops the entry; a store out of reach keeps
   * it for the next flush and lets the lease expire.
   */
  storeLeased(module: MemoizedModule, key: string, lease: Lease): Promise<void>;
  /** Removes `roots` and every call computed from them, in the write queue; resolves with the calls removed. */
  invalidate(roots: readonly CallRef[]): Promise<CallRef[]>;
  /** The store's layers, for explanations of misses (read only). */
  readonly store: Store;
  /** Whether each miss prints a line on stderr saying what differs from the nearest stored call. */
  readonly explainMisses: boolean;
}

/** How a shared run of a call ended, for its caller and every caller that joined it. */
type Outcome = { ok: true; value: unknown } | { ok: false; error: unknown };

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
  /** Whether misses claim a lease, where the store has them. */
  lease: boolean;
  /** Entries stored longer ago than this (ms) are misses; `undefined` for never. */
  maxAgeMs?: number;
  /** Whether the module's entries are kept out of `maxBytes` eviction. */
  pin?: boolean;
  /** Normalizes the arguments into the values that key the call (the `key` option); unset: the arguments key it. */
  key?: (...args: unknown[]) => readonly unknown[];
  /** Fingerprint (hex) of the key normalizer's source: part of the identity. */
  keyFingerprint?: string;
}

const encoder = new TextEncoder();

/**
 * One memoized function's runtime: keys calls, serves hits, de-duplicates
 * concurrent identical calls and stores new results in its
 * {@link PerModuleObjectDatabase}.
 */
export class MemoizedModule implements LineageModule {
  /** The checked settings. */
  readonly settings: ModuleSettings;
  /** The module's in-memory layer (shared by every memoize() of the same name). */
  readonly db: PerModuleObjectDatabase;
  /** This process's counters. */
  readonly stats: Omit<ModuleStats, 'entries'> = { hits: 0, misses: 0, computeMs: 0, savedMs: 0, corrupt: 0, unstorable: 0 };
  /**
   * Digest of name, version, dependency identities and ignored positions: the
   * prefix of every call key, so a change to any of them makes every call a miss.
   */
  readonly identity: Uint8Array;
  readonly #host: ModuleHost;
  readonly #fn: (...args: unknown[]) => unknown;
  readonly #inFlight = new Map<string, Promise<Outcome>>();

  constructor(host: ModuleHost, db: PerModuleObjectDatabase, settings: ModuleSettings, fn: (...args: unknown[]) => unknown) {
    this.#host = host;
    this.db = db;
    this.settings = settings;
    this.#fn = fn;
    // Length-prefixed parts: no name or version can be spelled to look like another's.
    const parts = [settings.name, settings.version, settings.depIdentities.join(','), [...settings.ignore].sort((a, b) => a - b).join(',')];
    // A fifth part only with a normalizer: the identities of modules without one stay as they were.
    if (settings.keyFingerprint !== undefined) parts.push(`key ${settings.keyFingerprint}`);
    this.identity = host.digester.digestParts(parts.map((part) => encoder.encode(part)));
  }

  /** The cache this module belongs to, for lineage: only calls of one cache are recorded together. */
  get owner(): object {
    return this.#host;
  }

  /** The stored identity of the call held under in-memory `key`. */
  refOf(key: string): CallRef {
    return { module: this.settings.name, call: this.#callDigest(key) };
  }

  /**
   * Removes one call and, transitively, every call whose computation used it
   * (from memory, unwritten entries too, and the store); resolves with the
   * calls removed. A run of the call that finishes after it is kept.
   */
  async invalidate(args: unknown[]): Promise<CallRef[]> {
    this.#host.assertOpen();
    return this.#host.invalidate([this.refOf(this.keyOf(args).key)]);
  }

  /** A memoized call: the hot path. A hit hashes nothing and writes nothing. */
  call(args: unknown[]): Promise<unknown> {
    let key: string;
    try {
      key = this.#host.digester.callKey(this.identity, args, this.settings.ignore);
    } catch (error) {
      return Promise.reject(error);
    }
    // Inside a running memoized call, this call is part of its lineage; outside one, a hit pays one size check.
    if (runningCollectors.size !== 0) noteUse(this, key);
    const entry = this.db.peek(key);
    if (entry !== undefined && this.#usable(entry)) return this.#hit(entry);
    return this.#slowCall(key, args);
  }

  /**
   * A memoized call of a module with a key normalizer: keyed by what the
   * normalizer returns, run on the original arguments. Apart from {@link
   * MemoizedModule.call} so that modules without one pay nothing for it.
   */
  normalizedCall(args: unknown[]): Promise<unknown> {
    let key: string;
    try {
      key = this.keyOf(args).key;
    } catch (error) {
      return Promise.reject(error);
    }
    // Inside a running memoized call, this call is part of its lineage; outside one, a hit pays one size check.
    if (runningCollectors.size !== 0) noteUse(this, key);
    const entry = this.db.peek(key);
    if (entry !== undefined && this.#usable(entry)) return this.#hit(entry);
    return this.#slowCall(key, args);
  }

  /**
   * The call's key, and the values it is keyed by: what the key normalizer
   * returns, or the arguments themselves (`ignore` applies to those).
   *
   * @throws the normalizer's error; MemostrataError `CONFIG` when it returns no array; `UNSERIALIZABLE` for a value that cannot key a call.
   */
  keyOf(args: unknown[]): { key: string; keyArgs: readonly unknown[] } {
    const normalize = this.settings.key;
    if (normalize === undefined) return { key: this.#host.digester.callKey(this.identity, args, this.settings.ignore), keyArgs: args };
    const keyArgs = normalize(...args);
    if (!Array.isArray(keyArgs)) {
      throw configError(this.settings.name, `the key normalizer must return an array of the values that key the call; it returned ${keyArgs === null ? 'null' : typeof keyArgs}.`);
    }
    return { key: this.#host.digester.callKey(this.identity, keyArgs, this.settings.ignore), keyArgs };
  }

  /** Whether the call is stored, computing nothing. */
  async has(args: unknown[]): Promise<boolean> {
    this.#host.assertOpen();
    const { key } = this.keyOf(args);
    const call = this.#callDigest(key);
    const { maxAgeMs } = this.settings;
    if (maxAgeMs === undefined) return this.db.contains(key, call);
    if (!(await this.db.contains(key, call))) return false;
    // An expired entry is as good as gone.
    const record = this.db.peek(key)?.record ?? (await this.#host.store.proxy.lookup(this.settings.name, call));
    return record !== undefined && !isExpired(record, maxAgeMs);
  }

  /**
   * The stored call of these arguments without loading its result, or
   * `undefined` when there is none (or it expired); computes nothing. An
   * entry held in memory, stored or not yet, counts.
   */
  async stored(args: unknown[]): Promise<StoredCall | undefined> {
    this.#host.assertOpen();
    const { key } = this.keyOf(args);
    const call = this.#callDigest(key);
    const store = this.#host.store;
    const live = this.db.peek(key);
    const record = live?.record ?? (await store.proxy.lookup(this.settings.name, call));
    if (record === undefined || (this.settings.maxAgeMs !== undefined && isExpired(record, this.settings.maxAgeMs))) return undefined;
    const error = live?.error ?? record.error;
    if (error !== undefined) return storedCall(store, record, { outline: undefined, segments: new Map(), value: () => Promise.reject(restoreError(error)) });
    if (live !== undefined) return storedCall(store, record, { outline: live.result, segments: new Map(), value: () => Promise.resolve(live.result) });
    const uuid = record.result!;
    const opened = await store.values.open(uuid);
    // A value stored whole was read to open it: its value is the outline itself.
    const value = opened.blob === undefined ? () => Promise.resolve(opened.outline) : () => store.values.load(uuid);
    return storedCall(store, record, { outline: opened.outline, segments: opened.segments, value });
  }

  /** Whether these arguments would hit, and on a miss the nearest stored call and what differs; computes nothing. */
  async explain(args: unknown[]): Promise<Explanation> {
    this.#host.assertOpen();
    // Explained by what keys the call: with a key normalizer, what it returns.
    const { key, keyArgs } = this.keyOf(args);
    const call = this.#callDigest(key);
    const live = this.db.peek(key)?.record;
    const own = live ?? (await this.#host.store.proxy.lookup(this.settings.name, call));
    return explainCall(this.#host.store, this.#explained(call, keyArgs), own, this.db.unwrittenEntries());
  }

  /** The call as an explanation compares it with stored ones. */
  #explained(call: string, args: readonly unknown[]) {
    const { name, version, deps, ignore, cacheErrors, maxAgeMs } = this.settings;
    return describeCall(this.#host.store, { module: name, version, deps, ignore, cacheErrors, maxAgeMs: maxAgeMs ?? Infinity }, call, args);
  }

  /**
   * Prints what differs from the nearest stored call (explainMisses); never
   * fails the call. `own`: this call's entry that could not be served (expired, or a stored error).
   */
  async #explainMiss(call: string, args: readonly unknown[], own: MemoRecord | undefined): Promise<void> {
    let line: string;
    try {
      line = missLine(this.settings.name, await explainCall(this.#host.store, this.#explained(call, args), own, this.db.unwrittenEntries()));
    } catch (error) {
      line = `memostrata: miss in '${this.settings.name}': not explained (${(error as Error).message})`;
    }
    process.stderr.write(`${line}\n`);
  }

  /**
   * Forgets one call (and any saved state of an unfinished run of it). It
   * applies to what was stored before it: a run that finishes after it is kept.
   */
  async delete(args: unknown[]): Promise<void> {
    this.#host.assertOpen();
    const { key } = this.keyOf(args);
    const call = this.#callDigest(key);
    this.db.forgetCall(key, call);
    await this.#host.serialize(() => this.db.deleteStoredCall(call));
    await this.#afterDelete();
  }

  /** Forgets every call of this module stored before it; a run that finishes after it is kept. */
  async clear(): Promise<void> {
    this.#host.assertOpen();
    this.db.forgetAll();
    await this.#host.serialize(() => this.db.deleteStoredCalls());
    await this.#afterDelete();
  }

  /** Results that finished after a delete began were written again by nobody yet: write them as their policy says. */
  async #afterDelete(): Promise<void> {
    if (this.db.dirtyCount === 0 || this.#host.closing) return;
    await this.#afterStore();
  }

  /** A stored error is replayed only by a module that caches errors; otherwise the call runs again. An expired entry is a miss. */
  #usable(entry: LiveEntry): boolean {
    // With no maxAge this costs a hit one comparison with undefined, and no clock read.
    return (entry.error === undefined || this.settings.cacheErrors) && (this.settings.maxAgeMs === undefined || !isExpired(entry.record, this.settings.maxAgeMs));
  }

  /** The call digest (hex) that addresses a call in the store. */
  #callDigest(key: string): string {
    return digestToHex(this.#host.digester.callDigest(key));
  }

  #hit(entry: LiveEntry): Promise<unknown> {
    this.#countHit(entry);
    return entry.error === undefined ? Promise.resolve(entry.result) : Promise.reject(restoreError(entry.error));
  }

  #countHit(entry: LiveEntry): void {
    this.db.countHit(entry);
    this.stats.hits += 1;
    this.stats.savedMs += entry.record.computeMs;
  }

  #slowCall(key: string, args: unknown[], rekeyed = false): Promise<unknown> {
    const running = this.#inFlight.get(key);
    if (running !== undefined) return running.then(settle);
    let callTimeArgs: unknown[];
    let keyArgs: readonly unknown[];
    try {
      // The caller may change its arguments as soon as this returns: key, stored inputs and
      // the run all use their content as it is now.
      callTimeArgs = this.#snapshot(args);
      // Reading an argument twice may not give the same content (a getter, a Proxy): the copy is
      // what the function sees, so it is what keys the call.
      const keyed = this.keyOf(callTimeArgs);
      const copyKey = keyed.key;
      keyArgs = keyed.keyArgs;
      if (copyKey !== key) {
        // A copy of the copy that still keys otherwise never settles: a registered type whose decode(encode(x)) drifts.
        if (rekeyed) throw unstableArguments(this.settings.name);
        return this.#slowCall(copyKey, callTimeArgs, true);
      }
    } catch (error) {
      return Promise.reject(error);
    }
    const run = this.#lookupOrCompute(key, callTimeArgs, keyArgs).finally(() => this.#inFlight.delete(key));
    this.#inFlight.set(key, run);
    return run.then(settle);
  }

  /** The arguments with every keyed, mutable one copied; ignored ones (callbacks, pools) are passed as they are. */
  #snapshot(args: unknown[]): unknown[] {
    const { ignore } = this.settings;
    return args.map((value, index) => (ignore.has(index) || isImmutable(value) ? value : this.#host.snapshot(value, `args[${index}]`)));
  }

  /** `keyArgs`: what keys the call and is stored as its inputs (the arguments, or what the key normalizer made of them). */
  async #lookupOrCompute(key: string, args: unknown[], keyArgs: readonly unknown[]): Promise<Outcome> {
    // After close() memory is empty, so every call ends up here: say which cache is closed.
    this.#host.assertOpen();
    const call = this.#callDigest(key);
    let stored: LiveEntry | undefined;
    let replacesStored = false;
    try {
      stored = await this.db.lookup(key, call);
    } catch (error) {
      // Damage, or a store out of reach, is never served and never fails the call: compute it.
      if (!isMemostrataError(error, 'CORRUPT') && !isMemostrataError(error, 'BACKEND')) throw error;
      this.#reportUnreadable(error);
      replacesStored = error.code === 'CORRUPT';
    }
    if (stored !== undefined && this.#usable(stored)) return this.#storedHit(stored);
    let lease: Lease | undefined;
    if (this.settings.lease && this.#host.leases !== undefined) {
      const claimed = await this.#claim(this.#host.leases, key, call);
      if (claimed.kind === 'done') return this.#storedHit(claimed.entry);
      lease = claimed.lease;
    }
    this.stats.misses += 1;
    if (this.#host.explainMisses) await this.#explainMiss(call, keyArgs, stored?.record);
    // UUIDs of the inputs before the run: the function may change its arguments in place.
    let inputs: InternedValue[];
    // A leased run may end in LEASE_LOST and run again: it runs on a copy, so the next run sees the call-time arguments.
    let runArgs = args;
    try {
      inputs = this.#inputs(keyArgs);
      if (lease !== undefined) runArgs = this.#snapshot(args);
    } catch (error) {
      await lease?.release();
      throw error;
    }
    const current = this.#currentCall(call, lease);
    const started = performance.now();
    let outcome: Outcome;
    runningCollectors.add(current.lineage);
    try {
      outcome = { ok: true, value: await runAsCall(current, () => this.#fn(...runArgs)) };
    } catch (caught) {
      outcome = { ok: false, error: caught };
    } finally {
      runningCollectors.delete(current.lineage);
    }
    const computeMs = performance.now() - started;
    this.stats.computeMs += computeMs;
    // Taken over by another process: its result is the one stored (this one's, if it has one, is as good to return).
    if (lease?.lost === true && !outcome.ok && isMemostrataError(outcome.error, 'LEASE_LOST')) return this.#lookupOrCompute(key, args, keyArgs);
    let entry: NewEntry | undefined;
    try {
      entry = this.#host.closing || (!outcome.ok && !this.settings.cacheErrors) ? undefined : this.#newEntry(call, inputs, outcome, current.earlierMs + computeMs);
    } catch (error) {
      // A result that throws while it is read (a getter): nobody may keep waiting on this lease.
      await lease?.release();
      throw error;
    }
    const uses = current.lineage.refs();
    if (entry !== undefined && uses !== undefined) entry.record.uses = uses;
    // A call that finishes after close(), or used a call invalidated while it ran, returns its result, but it is not stored.
    if (entry === undefined || current.lineage.tainted) {
      // Its result's blob, started when it was digested, will not be named: the caller may keep the result for long.
      if (entry !== undefined && outcome.ok) this.#host.store.values.abandonWriting(outcome.value);
      await lease?.release();
      return outcome;
    }
    // A call that used its saved state has it removed in the write that stores the result.
    if (current.used) entry.obsoleteKeys = [stateKey(this.settings.name, call)];
    const newEntry = { ...entry, replacesStored: replacesStored || stored !== undefined };
    if (lease === undefined) {
      this.db.store(key, newEntry);
      await this.#afterStore();
    } else {
      // A leased result is stored before the lease is released, so that every waiter finds it. It joins the
      // module's dirty entries in the write queue, right before its fenced write: a flush queued earlier must
      // not write it unfenced (over the result of a process that took the call over).
      const held = this.#host.serialize(async () => this.db.store(key, newEntry));
      await this.#host.storeLeased(this, key, lease);
      await held;
    }
    // The caller that ran the call gets the original error; later hits get an equivalent one.
    return outcome;
  }

  #storedHit(stored: LiveEntry): Outcome {
    this.#countHit(stored);
    return stored.error === undefined ? { ok: true, value: stored.result } : { ok: false, error: restoreError(stored.error) };
  }

  /**
   * Claims the call's lease, or waits for the process that holds it and
   * returns the entry it stored. A store that cannot be read answers with no
   * lease: the call is computed here, as every miss is while the store is away.
   */
  async #claim(leases: LeaseTable, key: string, call: string): Promise<{ kind: 'done'; entry: LiveEntry } | { kind: 'owner'; lease: Lease | undefined }> {
    let found: LiveEntry | undefined;
    const storedNow = async (): Promise<boolean> => {
      try {
        found = await this.db.lookup(key, call);
      } catch (error) {
        if (!isMemostrataError(error, 'CORRUPT') && !isMemostrataError(error, 'BACKEND')) throw error;
        this.#reportUnreadable(error);
        found = undefined;
      }
      return found !== undefined && this.#usable(found);
    };
    let claim: LeaseClaim;
    try {
      claim = await leases.claim(this.settings.name, call, storedNow);
    } catch (error) {
      // A call that began before close() computes, unleased: its result is returned, not stored.
      if (isMemostrataError(error, 'CLOSED') && this.#host.closing) return { kind: 'owner', lease: undefined };
      if (!isMemostrataError(error, 'BACKEND') && !isMemostrataError(error, 'CORRUPT')) throw error;
      this.#reportUnreadable(error);
      return { kind: 'owner', lease: undefined };
    }
    if (claim.kind === 'done') return { kind: 'done', entry: found! };
    // The owner before this claim may have stored the result just before releasing.
    if (await storedNow()) {
      await claim.lease.release();
      return { kind: 'done', entry: found! };
    }
    return { kind: 'owner', lease: claim.lease };
  }

  /** Says once per module and kind that stored entries could not be read, and counts each. */
  #reportUnreadable(error: MemostrataError): void {
    if (error.code === 'CORRUPT') this.stats.corrupt += 1;
    const what = error.code === 'CORRUPT' ? 'damaged entries in the store; they are recomputed and rewritten' : 'a store that cannot be reached; calls compute until it is back';
    warnOnce(
      `memostrata: module '${this.settings.name}' met ${what} (${error.message})`,
      error.code === 'CORRUPT' ? 'MEMOSTRATA_CORRUPT' : 'MEMOSTRATA_UNREACHABLE',
      this.settings.name,
    );
  }

  #inputs(args: readonly unknown[]): InternedValue[] {
    const inputs: InternedValue[] = [];
    const { ignore } = this.settings;
    args.forEach((value, index) => {
      if (!ignore.has(index)) inputs.push(interned(this.#host.digester.digest(value, `args[${index}]`), value));
    });
    return inputs;
  }

  /** The entry to store for a finished call, or `undefined` when its result cannot be stored (it is still returned). */
  #newEntry(call: string, values: InternedValue[], outcome: Outcome, computeMs: number): NewEntry | undefined {
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
    if (!outcome.ok) {
      record.error = storedError(outcome.error);
      return { record, result: undefined, values };
    }
    let value: InternedValue;
    try {
      // Digesting the result checks that it can be stored before anything is kept.
      value = this.#host.store.values.prepare(outcome.value, 'result');
    } catch (error) {
      if (!isMemostrataError(error, 'UNSERIALIZABLE')) throw error;
      this.stats.unstorable += 1;
      warnOnce(
        `memostrata: a result of module '${this.settings.name}' cannot be stored, so it was returned but will be computed again next time: ${error.message} Register its class with registerType(), or return plain data.`,
        'MEMOSTRATA_UNSTORABLE',
        this.settings.name,
      );
      return undefined;
    }
    record.result = value.uuid;
    record.size = approximateSize(outcome.value);
    values.push(value);
    return { record, result: outcome.value, values };
  }

  /**
   * Writes what the policy says now; a flush that is overdue, or memory over
   * budget with nothing evictable, forces one. A write that fails never fails
   * the call: its results stay in memory and the cache retries with backoff.
   */
  async #afterStore(): Promise<void> {
    const { flush } = this.settings;
    if (flush === 'write-through') return this.#host.flushNow(this, true);
    // Awaiting the write also lets the event loop turn, which a loop over synchronous hits never does.
    if (this.db.overBudget || this.#host.flushDue(this)) return this.#host.flushNow(this, false);
    if (flush !== 'manual') this.#host.scheduleFlush(this, flush.everyMs);
  }

  /** The call's {@link CurrentCall}; `used` tells whether it touched saved state, `earlierMs` what earlier runs computed. */
  #currentCall(call: string, lease: Lease | undefined): CurrentCall & { used: boolean; earlierMs: number; lineage: LineageCollector } {
    const key = stateKey(this.settings.name, call);
    const host = this.#host;
    const started = performance.now();
    const current = {
      module: this.settings.name,
      call,
      used: false,
      earlierMs: 0,
      lineage: new LineageCollector(this.#host),
      restore: async <T>() => {
        current.used = true;
        const saved = await host.restoreState(key);
        const state = this.#checkedState(saved);
        if (state === undefined) return undefined;
        current.earlierMs = state.computeMs;
        return state.state as T;
      },
      save: (state: unknown) => {
        current.used = true;
        return host.saveState(key, sealState(state, current.earlierMs + performance.now() - started, host.digester), lease);
      },
    };
    return current;
  }

  /** A saved state read back, or `undefined` (with a warning) when it is damaged. */
  #checkedState(saved: unknown): SavedState | undefined {
    if (saved === undefined) return undefined;
    const sound = asSavedState(saved, this.#host.digester);
    if (sound !== undefined) return sound;
    this.stats.corrupt += 1;
    warnOnce(`memostrata: the saved state of a call of module '${this.settings.name}' is damaged; the call starts over.`, 'MEMOSTRATA_CORRUPT', this.settings.name);
    return undefined;
  }
}

/** The `UNSERIALIZABLE` error for arguments whose every copy keys differently. */
function unstableArguments(module: string): MemostrataError {
  return new MemostrataError(
    'UNSERIALIZABLE',
    `memoize('${module}'): the arguments give a different key each time they are copied, so no call can be keyed by them; a registered type among them has a decode(encode(x)) that differs from x. Make its encode and decode exact inverses.`,
  );
}

/** Primitives cannot change after the call: no copy needed. */
function isImmutable(value: unknown): boolean {
  return value === null || (typeof value !== 'object' && typeof value !== 'function');
}

/** A shared run's outcome as one caller sees it. */
function settle(outcome: Outcome): unknown {
  if (outcome.ok) return outcome.value;
  throw outcome.error;
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
