import type { BatchOperation } from '../contract/database.js';
import { warnOnce } from '../warnings.js';
import { counterKey, counterPrefix, memoKey, prefixRange, recordPrefix, stateKey, statePrefix } from './keys.js';
import { asHitCounters, type HitCounters } from './memo-record.js';
import { emptyModuleMeta, moduleMetaOperation, readModuleMeta } from './module-meta.js';
import { PassThroughLayer } from './pass-through-layer.js';
import type { MemoRecord, ProxyObjectDatabase, StoredError } from './proxy-object-database.js';
import type { InternedValue } from './uuid-database.js';

/** A memoized call held in memory. */
export interface LiveEntry {
  /** The stored form (references and metadata). */
  record: MemoRecord;
  /** The live result; `undefined` for a cached error. */
  result: unknown;
  /** The cached error, when the call rejected and errors are cached. */
  error?: StoredError;
}

/** What a new call brings to be stored. */
export interface NewEntry {
  /** The stored form of the call. */
  record: MemoRecord;
  /** The live result, returned to later hits. */
  result: unknown;
  /** The values to intern at the next flush: inputs and result with their UUIDs. */
  values: InternedValue[];
  /** Keys to delete in the same flush, such as the saved state of the finished call. */
  obsoleteKeys?: Uint8Array[];
  /** Whether the store already holds a record of this call, which this entry replaces (for the module's entry count). */
  replacesStored?: boolean;
}

/** Options of a {@link PerModuleObjectDatabase}. */
export interface PerModuleOptions {
  /**
   * Bytes of (approximate encoded) results to keep in memory; clean entries
   * beyond it are evicted least recently used first, and read back from the
   * store on the next call. Default: unlimited.
   */
  memoryBudget?: number;
}

/**
 * A flush prepared but not yet written. Its values go through
 * `UUIDDatabase.internOperations` (together with other modules' values, so a
 * value they share is written once), then its operations go into the same
 * batch, then it is committed.
 */
export interface PreparedFlush {
  /** The new values of the written entries. */
  values: InternedValue[];
  /** Records, their metadata, hit counters and deletions. */
  operations: BatchOperation<Uint8Array, unknown>[];
  /** Marks the written entries clean (unless they changed meanwhile). */
  commit(): void;
}

interface Slot extends LiveEntry {
  /** Values not yet in the store: set while the entry is new and unflushed. */
  pending: InternedValue[] | undefined;
  /** Keys the flush that writes this entry deletes. */
  obsoleteKeys: Uint8Array[] | undefined;
  /** Whether writing this entry adds to the module's entry count. */
  counts: boolean;
  /** Bumped on every change, so a flush only cleans what it wrote. */
  revision: number;
  /** Revision last written to the store; -1 never. */
  flushedRevision: number;
  /** Hits served since the counters were last written. */
  unflushedHits: number;
  /** When the last of those hits was served (ms since the epoch). */
  lastHitAt: number;
}

/** Hits of a call not yet written to its counters. */
interface PendingHits {
  /** The call digest (hex). */
  call: string;
  /** How many. */
  hits: number;
  /** When the last one was served. */
  lastHitAt: number;
}

/**
 * One module's memoized calls in memory: call key → live result, with dirty
 * tracking. A miss reads through to the store, which is what makes a
 * restarted process hit. {@link PerModuleObjectDatabase.flush} writes every
 * dirty entry of the module in one atomic batch.
 *
 * Calls are held under their in-memory key (see `Digester.callKey`: the
 * call's canonical bytes when short, so a hit hashes nothing) and stored
 * under their call digest (`record.call`, hex).
 */
export class PerModuleObjectDatabase extends PassThroughLayer<unknown> {
  /** The module this database serves. */
  readonly module: string;
  readonly #proxy: ProxyObjectDatabase;
  readonly #slots = new Map<string, Slot>();
  /** Slots with hits not yet written to their counters. */
  readonly #hitSlots = new Set<Slot>();
  /** Hits of entries evicted before their counters were written, by call digest. */
  readonly #evictedHits = new Map<string, PendingHits>();
  /** Bumped by every delete and clear, so a read-through that started before one does not bring an entry back. */
  #generation = 0;
  readonly #memoryBudget: number;
  /** Approximate bytes of the results held in memory. */
  #heldBytes = 0;

  constructor(proxy: ProxyObjectDatabase, module: string, options: PerModuleOptions = {}) {
    // Many modules share one proxy; the Cache closes it.
    super(proxy, { ownsBelow: false });
    this.#proxy = proxy;
    this.module = module;
    this.#memoryBudget = options.memoryBudget ?? Infinity;
  }

  /** Entries held in memory now. */
  get size(): number {
    return this.#slots.size;
  }

  /** Whether the results held in memory exceed the memory budget (then only a flush can make room). */
  get overBudget(): boolean {
    return this.#heldBytes > this.#memoryBudget;
  }

  /** Entries in memory that the store does not have yet (or has an older form of). */
  get dirtyCount(): number {
    let dirty = 0;
    for (const slot of this.#slots.values()) if (slot.revision !== slot.flushedRevision) dirty += 1;
    return dirty;
  }

  /**
   * The entry for a call if it is in memory, counting a hit. Synchronous: this
   * is the hot path of a memoized call.
   */
  peek(key: string): LiveEntry | undefined {
    const slot = this.#slots.get(key);
    if (slot === undefined) return undefined;
    this.#countHit(slot);
    if (this.#memoryBudget !== Infinity) {
      // Map order is the LRU order: move the hit entry to the young end.
      this.#slots.delete(key);
      this.#slots.set(key, slot);
    }
    return slot;
  }

  /**
   * The entry for a call: from memory, or else read through from the store
   * (and then kept in memory, clean). Counts a hit when found.
   */
  async lookup(key: string, call: string): Promise<LiveEntry | undefined> {
    const live = this.peek(key);
    if (live !== undefined) return live;
    const generation = this.#generation;
    const record = await this.#proxy.lookup(this.module, call);
    if (record === undefined) return undefined;
    const result = await this.#proxy.loadResult(record);
    // Another lookup of the same call may have finished first.
    const raced = this.#slots.get(key);
    if (raced !== undefined) return raced;
    // Deleted while it was being read: answer this caller, but do not keep it.
    if (generation !== this.#generation) return record.error === undefined ? { record, result } : { record, result, error: record.error };
    const slot: Slot = { record, result, pending: undefined, obsoleteKeys: undefined, counts: false, revision: 0, flushedRevision: 0, unflushedHits: 0, lastHitAt: 0 };
    if (record.error !== undefined) slot.error = record.error;
    // Hits it served before it was evicted are still to be written: they travel with it again.
    const evicted = this.#evictedHits.get(call);
    if (evicted !== undefined) {
      this.#evictedHits.delete(call);
      slot.unflushedHits = evicted.hits;
      slot.lastHitAt = evicted.lastHitAt;
      this.#hitSlots.add(slot);
    }
    this.#slots.set(key, slot);
    this.#countHit(slot);
    this.#heldBytes += record.size;
    this.#evict();
    return slot;
  }

  /** Whether the store or memory holds this call, without counting a hit. */
  async contains(key: string, call: string): Promise<boolean> {
    return this.#slots.has(key) || (await this.has(memoKey(this.module, call)));
  }

  /** Keeps a new call's result in memory under `key`, dirty until the next flush. */
  store(key: string, entry: NewEntry): void {
    const previous = this.#slots.get(key);
    this.#heldBytes += entry.record.size - (previous?.record.size ?? 0);
    const slot: Slot = {
      record: entry.record,
      result: entry.result,
      pending: entry.values,
      obsoleteKeys: entry.obsoleteKeys,
      counts: entry.replacesStored !== true && (previous === undefined || previous.counts),
      revision: (previous?.revision ?? 0) + 1,
      flushedRevision: previous?.flushedRevision ?? -1,
      unflushedHits: previous?.unflushedHits ?? 0,
      lastHitAt: previous?.lastHitAt ?? 0,
    };
    if (entry.record.error !== undefined) slot.error = entry.record.error;
    if (previous !== undefined) this.#hitSlots.delete(previous);
    if (slot.unflushedHits > 0) this.#hitSlots.add(slot);
    this.#slots.delete(key);
    this.#slots.set(key, slot);
  }

  /**
   * The operations that write every dirty entry: new values (each stored
   * once), records, and the counters of entries hit since the last flush.
   * Nothing is marked clean until {@link PreparedFlush.commit}.
   *
   * A new entry whose argument or result was changed in place since the call
   * (its content no longer matches its UUID) is not written but dropped, with
   * a process warning: storing it would put wrong content under a UUID that
   * other modules share. The next equal call computes again.
   */
  async prepareFlush(): Promise<PreparedFlush> {
    const written: { slot: Slot; revision: number; pending: InternedValue[] | undefined }[] = [];
    const values: InternedValue[] = [];
    const records: BatchOperation<Uint8Array, unknown>[] = [];
    for (const [key, slot] of this.#slots) {
      if (slot.revision === slot.flushedRevision) continue;
      if (slot.pending !== undefined && !this.#unchanged(slot.pending)) {
        this.#drop(key, slot);
        continue;
      }
      written.push({ slot, revision: slot.revision, pending: slot.pending });
      if (slot.pending !== undefined) values.push(...slot.pending);
      records.push(this.#proxy.recordOperation(slot.record));
      for (const obsolete of slot.obsoleteKeys ?? []) records.push({ type: 'del', key: obsolete });
    }
    const hits = this.#pendingHits();
    records.push(...(await this.#counterOperations(hits.map(([, pending]) => pending))));
    const metaOperation = await this.#metaOperation(written.filter((entry) => entry.pending !== undefined).map((entry) => entry.slot));
    if (metaOperation !== undefined) records.push(metaOperation);
    return {
      values,
      operations: records,
      commit: () => {
        for (const { slot, revision, pending } of written) {
          // The values are stored even if a hit moved the revision meanwhile; the newer counters wait for the next flush.
          if (slot.pending === pending) {
            slot.pending = undefined;
            slot.obsoleteKeys = undefined;
            slot.counts = false;
          }
          if (slot.revision === revision) slot.flushedRevision = revision;
        }
        for (const [owner, written] of hits) this.#hitsWritten(owner, written);
        this.#evict();
      },
    };
  }

  /**
   * Removes one call, and any saved state of an unfinished run of it, from
   * memory and the store (its values stay until pruned). Not to be run while
   * a flush of this module is under way: the Cache runs both in one queue.
   */
  async deleteCall(key: string, call: string): Promise<void> {
    this.forgetCall(key);
    await this.deleteStoredCall(call);
  }

  /** Removes every call of this module, and its saved states, from memory and the store. Same caveat as {@link PerModuleObjectDatabase.deleteCall}. */
  async clear(): Promise<void> {
    this.forgetAll();
    await this.deleteStoredCalls();
  }

  /** Drops the unwritten entries that hold any of these value UUIDs (they cannot be stored); returns how many. */
  dropEntriesHolding(uuids: ReadonlySet<string>): number {
    let dropped = 0;
    for (const [key, slot] of this.#slots) {
      if (slot.pending?.some((value) => uuids.has(value.uuid)) !== true) continue;
      this.#drop(key, slot);
      dropped += 1;
    }
    return dropped;
  }

  /**
   * Drops one call from memory now, and keeps a read-through under way from
   * bringing it back; an entry stored after this is kept. The store keeps it
   * until {@link PerModuleObjectDatabase.deleteStoredCall}.
   */
  forgetCall(key: string): void {
    this.#generation += 1;
    const slot = this.#slots.get(key);
    if (slot === undefined) return;
    this.#drop(key, slot);
    this.#evictedHits.delete(slot.record.call);
  }

  /** Drops every call from memory now, like {@link PerModuleObjectDatabase.forgetCall} for all. */
  forgetAll(): void {
    this.#generation += 1;
    this.#slots.clear();
    this.#hitSlots.clear();
    this.#evictedHits.clear();
    this.#heldBytes = 0;
  }

  /** Deletes one call's record and saved state from the store, adjusting the module's counts. */
  async deleteStoredCall(call: string): Promise<void> {
    const stored = await this.#proxy.lookup(this.module, call).catch(() => undefined);
    const operations: BatchOperation<Uint8Array, unknown>[] = [
      { type: 'del', key: memoKey(this.module, call) },
      { type: 'del', key: stateKey(this.module, call) },
    ];
    for await (const key of this.keys(prefixRange(counterPrefix(this.module, call)))) operations.push({ type: 'del', key });
    this.#evictedHits.delete(call);
    if (stored !== undefined) {
      const meta = (await readModuleMeta(this, this.module)) ?? emptyModuleMeta(this.module);
      operations.push(moduleMetaOperation(meta, { entries: -1, bytes: -stored.size }));
    }
    // A slot stored since the forget is a newer result: write it again later, do not lose it.
    for (const slot of this.#slots.values()) {
      if (slot.record.call !== call) continue;
      slot.flushedRevision = -1;
      slot.counts = true;
    }
    await this.batch(operations);
  }

  /** Deletes every record and saved state of this module from the store. */
  async deleteStoredCalls(): Promise<void> {
    const operations: BatchOperation<Uint8Array, unknown>[] = [];
    for (const prefix of [recordPrefix(this.module), statePrefix(this.module), counterPrefix(this.module)]) {
      for await (const key of this.keys(prefixRange(prefix))) operations.push({ type: 'del', key });
    }
    const meta = (await readModuleMeta(this, this.module)) ?? emptyModuleMeta(this.module);
    operations.push(moduleMetaOperation(meta, { entries: -meta.entries, bytes: -meta.bytes }));
    // Entries stored since the forget are newer results: mark them to be written again.
    for (const slot of this.#slots.values()) {
      slot.flushedRevision = -1;
      slot.counts = true;
    }
    await this.batch(operations);
  }

  /**
   * Writes every dirty entry down, like {@link PerModuleObjectDatabase.flush}
   * (PluginPlay's `backup`), and then releases the memory: later calls read
   * through from the store (PluginPlay's `dump`).
   */
  async dump(): Promise<void> {
    await this.flush();
    for (const [key, slot] of this.#slots) {
      // Only what the flush wrote can go: an entry stored meanwhile is still dirty.
      if (slot.revision === slot.flushedRevision) this.#drop(key, slot);
    }
  }

  /** Writes every dirty entry of this module down in one atomic batch (PluginPlay's `backup`). */
  protected async _flush(): Promise<void> {
    const prepared = await this.prepareFlush();
    const values = await this.#proxy.values.internOperations(prepared.values);
    const operations = [...values.operations, ...prepared.operations];
    if (operations.length > 0) await this.batch(operations);
    values.commit();
    prepared.commit();
  }

  protected async _close(): Promise<void> {
    this.#slots.clear();
    await super._close();
  }

  #countHit(slot: Slot): void {
    // Counted in memory; the next flush adds them to the call's counter key. A hit never
    // writes on its own, and never rewrites the record.
    if (slot.unflushedHits === 0) this.#hitSlots.add(slot);
    slot.unflushedHits += 1;
    slot.lastHitAt = Date.now();
  }

  /** The hits to write, each with what owns it (a slot, or an evicted call). */
  #pendingHits(): [Slot | string, PendingHits][] {
    const pending: [Slot | string, PendingHits][] = [];
    for (const slot of this.#hitSlots) pending.push([slot, { call: slot.record.call, hits: slot.unflushedHits, lastHitAt: slot.lastHitAt }]);
    for (const [call, hits] of this.#evictedHits) pending.push([call, { ...hits }]);
    return pending;
  }

  /** Puts that add `pending` to this writer's stored counters (read first: they are totals). */
  async #counterOperations(pending: readonly PendingHits[]): Promise<BatchOperation<Uint8Array, unknown>[]> {
    if (pending.length === 0) return [];
    const keys = pending.map(({ call }) => counterKey(this.module, call, this.#proxy.writer));
    const stored = await this.getMany(keys);
    return pending.map(({ hits, lastHitAt }, index): BatchOperation<Uint8Array, unknown> => {
      // Damaged counters restart from zero rather than block the flush: they are statistics, not results.
      const base = asHitCounters(stored[index]) ?? { hits: 0, lastHitAt: 0 };
      const value: HitCounters = { hits: base.hits + hits, lastHitAt: Math.max(base.lastHitAt, lastHitAt) };
      return { type: 'put', key: keys[index]!, value };
    });
  }

  /** Takes written hits off what is pending; hits served since the flush was prepared stay. */
  #hitsWritten(owner: Slot | string, written: PendingHits): void {
    if (typeof owner === 'string') {
      const left = this.#evictedHits.get(owner);
      if (left === undefined) return;
      left.hits -= written.hits;
      if (left.hits <= 0) this.#evictedHits.delete(owner);
      return;
    }
    owner.unflushedHits = Math.max(0, owner.unflushedHits - written.hits);
    if (owner.unflushedHits === 0) this.#hitSlots.delete(owner);
  }

  /**
   * Drops entries whose values are in the store, oldest use first, until the
   * held results fit the budget. An entry whose counters changed since the
   * last flush leaves its small record behind for that flush.
   */
  #evict(): void {
    if (this.#heldBytes <= this.#memoryBudget) return;
    for (const [key, slot] of this.#slots) {
      if (this.#heldBytes <= this.#memoryBudget) return;
      if (slot.pending !== undefined || slot.revision !== slot.flushedRevision) continue;
      if (slot.unflushedHits > 0) {
        const earlier = this.#evictedHits.get(slot.record.call);
        this.#evictedHits.set(slot.record.call, {
          call: slot.record.call,
          hits: slot.unflushedHits + (earlier?.hits ?? 0),
          lastHitAt: Math.max(slot.lastHitAt, earlier?.lastHitAt ?? 0),
        });
      }
      this.#drop(key, slot);
    }
  }

  /** The metadata update for newly written entries: the ones that add a record count, and the newest sets the version. */
  async #metaOperation(slots: readonly Slot[]): Promise<BatchOperation<Uint8Array, unknown> | undefined> {
    if (slots.length === 0) return undefined;
    const added = slots.filter((slot) => slot.counts);
    const meta = (await readModuleMeta(this, this.module)) ?? emptyModuleMeta(this.module);
    const newest = slots.reduce((latest, slot) => (slot.record.createdAt >= latest.record.createdAt ? slot : latest));
    return moduleMetaOperation(meta, {
      entries: added.length,
      bytes: added.reduce((sum, slot) => sum + slot.record.size, 0),
      version: newest.record.version,
    });
  }

  #drop(key: string, slot: Slot): void {
    this.#slots.delete(key);
    this.#hitSlots.delete(slot);
    this.#heldBytes -= slot.record.size;
  }

  /** Whether every pending value still has the content its UUID was derived from. */
  #unchanged(pending: readonly InternedValue[]): boolean {
    for (const value of pending) {
      if (!this.#proxy.values.matches(value)) {
        warnOnce(
          `memostrata: a result or argument of module '${this.module}' was changed in place after the call; that entry is not stored. Treat memoized arguments and results as read-only.`,
          'MEMOSTRATA_MUTATED',
          this.module,
        );
        return false;
      }
    }
    return true;
  }
}
