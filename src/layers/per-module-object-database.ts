import type { BatchOperation } from '../contract/database.js';
import { warnOnce } from '../warnings.js';
import { counterKey, counterPrefix, memoKey, prefixRange, recordPrefix, stateKey, statePrefix } from './keys.js';
import { asHitCounters, lineageOperations, type HitCounters } from './memo-record.js';
import { emptyModuleMeta, moduleMetaOperation, readModuleMeta } from './module-meta.js';
import { PassThroughLayer } from './pass-through-layer.js';
import type { MemoRecord, ProxyObjectDatabase, StoredError } from './proxy-object-database.js';
import type { InternedValue } from './uuid-database.js';
import { UuidStrings } from './uuid-strings.js';

/** Compact UUID strings, shared by every module of the process. */
const uuidStrings = new UuidStrings();

/** Makes the record's UUID strings compact and shares equal ones (same text: the record is unchanged). */
function compactRecord(record: MemoRecord): void {
  const { inputs } = record;
  for (let index = 0; index < inputs.length; index++) inputs[index] = uuidStrings.intern(inputs[index]!);
  if (record.result !== undefined) record.result = uuidStrings.intern(record.result);
}

/**
 * What an entry held in memory costs besides its result, as
 * {@link PerModuleOptions.memoryBudget} counts it: its record and slot, the
 * in-memory call key, the UUID, digest and checksum strings, the inputs
 * array. Issue 15's heap snapshot itemises about 665 bytes of these per
 * entry; the scale-budget benchmark grew the heap by about 750 bytes per
 * small entry, result included. Counting results alone let a budget of
 * 256 MiB hold 4.6M entries of ~60-byte results: over 3 GB of heap.
 */
export const ENTRY_BYTES = 700;

/** Bytes an entry counts against the memory budget. */
function heldBytesOf(record: MemoRecord): number {
  return record.size + ENTRY_BYTES;
}

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
  /** Whether the store already holds a record of this call, which this entry replaces (for the module's entry count, and the old record's hits are dropped). */
  replacesStored?: boolean;
}

/** Options of a {@link PerModuleObjectDatabase}. */
export interface PerModuleOptions {
  /**
   * Bytes of entries to keep in memory: each counts its result's
   * approximate encoded size plus `ENTRY_BYTES` (700) for its record and
   * bookkeeping. Clean entries beyond it are evicted least recently used
   * first, and read back from the store on the next call.
   *
   * @default Infinity (unlimited)
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
  /** Whether writing this entry replaces a stored record, whose hit counters then go. */
  replaces: boolean;
  /** Bumped on every change, so a flush only cleans what it wrote. */
  revision: number;
  /** Revision last written to the store; -1 never. */
  flushedRevision: number;
  /** The call's hits not yet written, shared with {@link PerModuleObjectDatabase}'s pending hits while any are. */
  hits: PendingHits | undefined;
  /** The last flush that took this entry (see prepareFlushParts). */
  flushMark: number;
}

/** What one part of a flush writes, and what its commit marks done. */
class FlushPart {
  readonly written: { slot: Slot; revision: number; pending: InternedValue[] | undefined }[] = [];
  readonly values: InternedValue[] = [];
  readonly operations: BatchOperation<Uint8Array, unknown>[] = [];
  hits: [string, PendingHits][] = [];
}

/** The module metadata's change from one flush's new entries. */
interface MetaDelta {
  /** New entries written. */
  written: number;
  /** Those that add to the entry count, and their bytes. */
  added: number;
  bytes: number;
  /** The newest of them, whose version the module's metadata takes. */
  newest: MemoRecord | undefined;
}

/** Hits of a call not yet written to its counter key. */
interface PendingHits {
  /** How many. */
  hits: number;
  /** When the last one was served (ms since the epoch). */
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
  /**
   * Hits not yet written, by call digest: kept apart from the slots so that
   * an entry evicted, replaced or read back meanwhile neither loses nor
   * doubles them.
   */
  readonly #pendingHits = new Map<string, PendingHits>();
  /** Counter keys this database has written since it was opened. */
  #countersWritten = 0;
  /** Numbers the flushes, for Slot.flushMark. */
  #flushMark = 0;
  /** Bumped by every delete and clear, so a read-through that started before one does not bring an entry back. */
  #generation = 0;
  /** Clears forgotten in memory whose store deletion has not run yet: the store's calls of this module are as good as gone. */
  #clearsPending = 0;
  /** Likewise for single calls, by call digest (a count: deletes of one call can overlap). */
  readonly #deletesPending = new Map<string, number>();
  readonly #memoryBudget: number;
  /** Approximate bytes of the entries held in memory (see {@link heldBytesOf}). */
  #heldBytes = 0;
  /**
   * Where eviction goes on from, oldest first. A new iteration from the
   * map's start would step over every entry deleted since V8 last rehashed
   * the map (up to its capacity): 80 µs per evicted entry at 354k entries. A
   * live Map iterator survives deletions and sees entries moved to the young
   * end again, so LRU order holds; entries it passed while dirty are
   * reached on its next round.
   */
  #evictionCursor: Iterator<[string, Slot]> | undefined;

  constructor(proxy: ProxyObjectDatabase, module: string, options: PerModuleOptions = {}) {
    // Many modules share one proxy; the Cache closes it.
    super(proxy, { ownsBelow: false });
    this.#proxy = proxy;
    this.module = module;
    this.#memoryBudget = options.memoryBudget ?? Infinity;
  }

  /** Hit-counter keys written since this database was opened (one per call hit, per flush). */
  get countersWritten(): number {
    return this.#countersWritten;
  }

  /** Entries held in memory now. */
  get size(): number {
    return this.#slots.size;
  }

  /** Whether the results held in memory exceed the memory budget even with every stored entry evicted: only a flush can make room. */
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
   * The entry for a call if it is in memory. Synchronous: this is the hot
   * path of a memoized call. The caller counts the hit with
   * {@link PerModuleObjectDatabase.countHit} if it serves it.
   */
  peek(key: string): LiveEntry | undefined {
    const slot = this.#slots.get(key);
    if (slot === undefined) return undefined;
    if (this.#memoryBudget !== Infinity) {
      // Map order is the LRU order: move the hit entry to the young end.
      this.#slots.delete(key);
      this.#slots.set(key, slot);
    }
    return slot;
  }

  /** The new entries held in memory that the store does not have yet, with their values (what an explanation of a miss compares too). */
  *unwrittenEntries(): Generator<{ record: MemoRecord; values: readonly InternedValue[] }> {
    for (const slot of this.#slots.values()) if (slot.pending !== undefined) yield { record: slot.record, values: slot.pending };
  }

  /** The entries held in memory, by in-memory key: what an invalidation searches for the users of a call. Read only. */
  *liveEntries(): Generator<[string, LiveEntry]> {
    yield* this.#slots;
  }

  /**
   * Counts a hit served from `entry` (one this database returned); the next
   * flush adds it to the call's counter key. A hit never writes on its own,
   * and never rewrites the record.
   */
  countHit(entry: LiveEntry): void {
    const slot = entry as Slot;
    let pending = slot.hits;
    if (pending === undefined) {
      const call = slot.record.call;
      pending = this.#pendingHits.get(call) ?? { hits: 0, lastHitAt: 0 };
      slot.hits = pending;
    }
    // Written and taken off the map meanwhile: pending again from now on.
    if (pending.hits === 0) this.#pendingHits.set(slot.record.call, pending);
    pending.hits += 1;
    pending.lastHitAt = Date.now();
  }

  /**
   * The entry for a call: from memory, or else read through from the store
   * (and then kept in memory, clean). A call whose deletion is under way is
   * not read: what the store holds of it is as good as gone.
   */
  async lookup(key: string, call: string): Promise<LiveEntry | undefined> {
    const live = this.peek(key);
    if (live !== undefined) return live;
    if (this.#deletionPending(call)) return undefined;
    const generation = this.#generation;
    const record = await this.#proxy.lookup(this.module, call);
    if (record === undefined) return undefined;
    const result = await this.#proxy.loadResult(record);
    // Another lookup of the same call may have finished first.
    const raced = this.#slots.get(key);
    if (raced !== undefined) return raced;
    // Deleted while it was being read: answer this caller, but do not keep it.
    if (generation !== this.#generation) return record.error === undefined ? { record, result } : { record, result, error: record.error };
    compactRecord(record);
    const slot: Slot = { record, result, pending: undefined, obsoleteKeys: undefined, counts: false, replaces: false, revision: 0, flushedRevision: 0, hits: undefined, flushMark: 0 };
    if (record.error !== undefined) slot.error = record.error;
    this.#slots.set(key, slot);
    this.#heldBytes += heldBytesOf(record);
    this.#evict();
    return slot;
  }

  /** Whether the store or memory holds this call, without counting a hit. */
  async contains(key: string, call: string): Promise<boolean> {
    if (this.#slots.has(key)) return true;
    return !this.#deletionPending(call) && (await this.has(memoKey(this.module, call)));
  }

  /** Keeps a new call's result in memory under `key`, dirty until the next flush. */
  store(key: string, entry: NewEntry): void {
    compactRecord(entry.record);
    // The same strings go to the value layer's set of stored UUIDs at the flush: one copy for both.
    for (const value of entry.values) value.uuid = uuidStrings.intern(value.uuid);
    const previous = this.#slots.get(key);
    this.#heldBytes += heldBytesOf(entry.record) - (previous === undefined ? 0 : heldBytesOf(previous.record));
    const slot: Slot = {
      record: entry.record,
      result: entry.result,
      pending: entry.values,
      obsoleteKeys: entry.obsoleteKeys,
      counts: entry.replacesStored !== true && (previous === undefined || previous.counts),
      replaces: entry.replacesStored === true || previous?.replaces === true,
      revision: (previous?.revision ?? 0) + 1,
      flushedRevision: previous?.flushedRevision ?? -1,
      hits: undefined,
      flushMark: 0,
    };
    if (entry.record.error !== undefined) slot.error = entry.record.error;
    // A new computation of the call: hits of the entry it replaces are not its hits.
    if (slot.replaces) this.#pendingHits.delete(entry.record.call);
    // An unwritten entry replaced is never written (bar values the new one holds too).
    if (previous?.pending !== undefined) this.#abandonWriting(previous.pending, entry.values);
    this.#slots.delete(key);
    this.#slots.set(key, slot);
    // Make room from stored entries first: only new results beyond the budget call for a flush.
    this.#evict();
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
   *
   * With `only`, the operations that write that one entry (if it is dirty)
   * and nothing else: a leased call's result, written at once under its lease.
   */
  async prepareFlush(only?: string): Promise<PreparedFlush> {
    const parts: PreparedFlush[] = [];
    for await (const part of this.prepareFlushParts(Infinity, only)) parts.push(part);
    if (parts.length === 1) return parts[0]!;
    return {
      values: parts.flatMap((part) => part.values),
      operations: parts.flatMap((part) => part.operations),
      commit: () => {
        for (const part of parts) part.commit();
      },
    };
  }

  /**
   * {@link PerModuleObjectDatabase.prepareFlush} in parts of at most
   * `entriesPerPart` entries (and as many hit counters), so that a flush of
   * a million entries never holds every operation at once: written in order
   * into one staged batch, the parts are the same atomic write. Each part is
   * prepared once the one before it was taken; commit none of them until all
   * are written, then every one.
   */
  async *prepareFlushParts(entriesPerPart: number, only?: string): AsyncGenerator<PreparedFlush> {
    // Marks the slots this flush took: a hit moves its entry to the end of the Map, where the iteration would meet it again.
    const mark = (this.#flushMark += 1);
    /** Calls whose stored hit counters go: their record is replaced by a new computation. */
    const resetCounters = new Set<string>();
    const meta: MetaDelta = { written: 0, added: 0, bytes: 0, newest: undefined };
    let part = new FlushPart();
    const onlySlot = only === undefined ? undefined : this.#slots.get(only);
    const slots: Iterable<[string, Slot]> = only === undefined ? this.#slots : onlySlot === undefined ? [] : [[only, onlySlot]];
    for (const [key, slot] of slots) {
      if (slot.revision === slot.flushedRevision || slot.flushMark === mark) continue;
      slot.flushMark = mark;
      if (slot.pending !== undefined && !this.#unchanged(slot.pending)) {
        this.#drop(key, slot);
        this.#pendingHits.delete(slot.record.call);
        continue;
      }
      part.written.push({ slot, revision: slot.revision, pending: slot.pending });
      if (slot.pending !== undefined) {
        for (const value of slot.pending) part.values.push(value);
        meta.written += 1;
        if (meta.newest === undefined || slot.record.createdAt >= meta.newest.createdAt) meta.newest = slot.record;
        if (slot.counts) {
          meta.added += 1;
          meta.bytes += slot.record.size;
        }
      }
      // Its lineage keys go before it: see lineageOperations.
      for (const operation of lineageOperations(slot.record)) part.operations.push(operation);
      part.operations.push(this.#proxy.recordOperation(slot.record));
      for (const obsolete of slot.obsoleteKeys ?? []) part.operations.push({ type: 'del', key: obsolete });
      if (slot.replaces) resetCounters.add(slot.record.call);
      if (part.written.length >= entriesPerPart) {
        yield this.#finish(part);
        part = new FlushPart();
      }
    }
    // The replaced calls' stored counters go before any counter is written: a put later in the batch wins.
    for (const operation of await this.#counterDeletions(resetCounters)) part.operations.push(operation);
    if (only === undefined) {
      let hits: [string, PendingHits][] = [];
      for (const [call, pending] of this.#pendingHits) {
        hits.push([call, { ...pending }]);
        if (hits.length >= entriesPerPart) {
          for (const operation of await this.#counterOperations(hits, resetCounters)) part.operations.push(operation);
          part.hits = hits;
          yield this.#finish(part);
          part = new FlushPart();
          hits = [];
        }
      }
      for (const operation of await this.#counterOperations(hits, resetCounters)) part.operations.push(operation);
      part.hits = hits;
    }
    const metaOperation = await this.#metaOperation(meta);
    if (metaOperation !== undefined) part.operations.push(metaOperation);
    yield this.#finish(part);
  }

  /** The prepared flush of one part: its commit marks its entries clean and takes its hits off the pending ones. */
  #finish(part: FlushPart): PreparedFlush {
    const { written, hits } = part;
    return {
      values: part.values,
      operations: part.operations,
      commit: () => {
        for (const { slot, revision, pending } of written) {
          // The values are stored even if a hit moved the revision meanwhile; the newer counters wait for the next flush.
          if (slot.pending === pending) {
            slot.pending = undefined;
            slot.obsoleteKeys = undefined;
            slot.counts = false;
            slot.replaces = false;
          }
          if (slot.revision === revision) slot.flushedRevision = revision;
        }
        this.#countersWritten += hits.length;
        for (const [call, done] of hits) {
          // Hits served since the flush was prepared stay pending.
          const left = this.#pendingHits.get(call);
          if (left === undefined) continue;
          left.hits = Math.max(0, left.hits - done.hits);
          if (left.hits === 0) this.#pendingHits.delete(call);
        }
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
    this.forgetCall(key, call);
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

  /** Drops a call's entry from memory without touching the store: its write was refused (another process owns the call). */
  discard(key: string): void {
    const slot = this.#slots.get(key);
    if (slot !== undefined) this.#drop(key, slot);
  }

  /**
   * Drops one call from memory now, and keeps a read-through under way from
   * bringing it back; an entry stored after this is kept. The store keeps it
   * until {@link PerModuleObjectDatabase.deleteStoredCall}.
   */
  forgetCall(key: string, call: string): void {
    this.#generation += 1;
    this.#deletesPending.set(call, (this.#deletesPending.get(call) ?? 0) + 1);
    this.#pendingHits.delete(call);
    const slot = this.#slots.get(key);
    if (slot !== undefined) this.#drop(key, slot);
  }

  /** Drops every call from memory now, like {@link PerModuleObjectDatabase.forgetCall} for all. */
  forgetAll(): void {
    this.#generation += 1;
    this.#clearsPending += 1;
    for (const slot of this.#slots.values()) if (slot.pending !== undefined) this.#abandonWriting(slot.pending);
    this.#slots.clear();
    this.#pendingHits.clear();
    this.#heldBytes = 0;
    this.#evictionCursor = undefined;
  }

  /** Deletes one call's record, saved state and hit counters from the store, after {@link PerModuleObjectDatabase.forgetCall}. */
  async deleteStoredCall(call: string): Promise<void> {
    try {
      await this.#deleteStoredCall(call);
    } finally {
      const left = (this.#deletesPending.get(call) ?? 1) - 1;
      if (left > 0) this.#deletesPending.set(call, left);
      else this.#deletesPending.delete(call);
    }
  }

  /** Deletes every record, saved state and hit counter of this module from the store, after {@link PerModuleObjectDatabase.forgetAll}. */
  async deleteStoredCalls(): Promise<void> {
    try {
      await this.#deleteStoredCalls();
    } finally {
      this.#clearsPending = Math.max(0, this.#clearsPending - 1);
    }
  }

  #deletionPending(call: string): boolean {
    return this.#clearsPending > 0 || this.#deletesPending.has(call);
  }

  async #deleteStoredCall(call: string): Promise<void> {
    const stored = await this.#proxy.lookup(this.module, call).catch(() => undefined);
    const operations: BatchOperation<Uint8Array, unknown>[] = [
      { type: 'del', key: memoKey(this.module, call) },
      { type: 'del', key: stateKey(this.module, call) },
    ];
    for await (const key of this.keys(prefixRange(counterPrefix(this.module, call)))) operations.push({ type: 'del', key });
    if (stored !== undefined) {
      const meta = (await readModuleMeta(this, this.module)) ?? emptyModuleMeta(this.module);
      operations.push(moduleMetaOperation(meta, { entries: -1, bytes: -stored.size }));
    }
    // A slot here was stored since the forget (read-throughs wait for the deletion): a newer result, to be written again.
    for (const slot of this.#slots.values()) {
      if (slot.record.call !== call) continue;
      slot.flushedRevision = -1;
      slot.counts = true;
    }
    await this.batch(operations);
  }

  async #deleteStoredCalls(): Promise<void> {
    const operations: BatchOperation<Uint8Array, unknown>[] = [];
    for (const prefix of [recordPrefix(this.module), statePrefix(this.module), counterPrefix(this.module)]) {
      for await (const key of this.keys(prefixRange(prefix))) operations.push({ type: 'del', key });
    }
    const meta = (await readModuleMeta(this, this.module)) ?? emptyModuleMeta(this.module);
    operations.push(moduleMetaOperation(meta, { entries: -meta.entries, bytes: -meta.bytes }));
    // Slots here were stored since the forget (read-throughs wait for the clear): newer results, to be written again.
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
    this.#evictionCursor = undefined;
    await super._close();
  }

  /** Deletions of the stored hit counters of the calls in `reset`, whose record a new computation replaces. */
  async #counterDeletions(reset: ReadonlySet<string>): Promise<BatchOperation<Uint8Array, unknown>[]> {
    const operations: BatchOperation<Uint8Array, unknown>[] = [];
    for (const call of reset) {
      for await (const key of this.keys(prefixRange(counterPrefix(this.module, call)))) operations.push({ type: 'del', key });
    }
    return operations;
  }

  /**
   * Puts that add the pending hits to this writer's stored counters (read
   * first: they are totals); a call in `reset` counts from zero, its stored
   * counters deleted earlier in the same batch.
   */
  async #counterOperations(pending: readonly [string, PendingHits][], reset: ReadonlySet<string>): Promise<BatchOperation<Uint8Array, unknown>[]> {
    if (pending.length === 0) return [];
    const operations: BatchOperation<Uint8Array, unknown>[] = [];
    const keys = pending.map(([call]) => counterKey(this.module, call, this.#proxy.writer));
    const stored = await this.getMany(keys);
    pending.forEach(([call, { hits, lastHitAt }], index) => {
      // Damaged counters restart from zero rather than block the flush: they are statistics, not results.
      const base = reset.has(call) ? undefined : asHitCounters(stored[index]);
      const value: HitCounters = { hits: (base?.hits ?? 0) + hits, lastHitAt: Math.max(base?.lastHitAt ?? 0, lastHitAt) };
      operations.push({ type: 'put', key: keys[index]!, value });
    });
    return operations;
  }

  /**
   * Drops entries whose values are in the store, oldest use first, until the
   * held results fit the budget.
   */
  #evict(): void {
    let wrapped = false;
    while (this.#heldBytes > this.#memoryBudget) {
      this.#evictionCursor ??= this.#slots.entries();
      const next = this.#evictionCursor.next();
      if (next.done === true) {
        this.#evictionCursor = undefined;
        // Once round the whole map: everything left is dirty, and only a flush makes room.
        if (wrapped) return;
        wrapped = true;
        continue;
      }
      const [key, slot] = next.value;
      if (slot.pending !== undefined || slot.revision !== slot.flushedRevision) continue;
      // Its pending hits stay in #pendingHits for the next flush.
      this.#drop(key, slot);
    }
  }

  /** The metadata update for newly written entries: the ones that add a record count, and the newest sets the version. */
  async #metaOperation(delta: MetaDelta): Promise<BatchOperation<Uint8Array, unknown> | undefined> {
    if (delta.written === 0 || delta.newest === undefined) return undefined;
    const meta = (await readModuleMeta(this, this.module)) ?? emptyModuleMeta(this.module);
    return moduleMetaOperation(meta, { entries: delta.added, bytes: delta.bytes, version: delta.newest.version });
  }

  #drop(key: string, slot: Slot): void {
    this.#slots.delete(key);
    this.#heldBytes -= heldBytesOf(slot.record);
    // An unwritten entry that goes will not be written: a blob started for its values at the call would otherwise
    // stay in the blob directory for as long as the caller keeps the value (often until close).
    if (slot.pending !== undefined) this.#abandonWriting(slot.pending);
  }

  /** Drops the blob writes started at the call for `values` (see `UUIDDatabase.abandonWriting`), but for those in `kept`. */
  #abandonWriting(values: readonly InternedValue[], kept?: readonly InternedValue[]): void {
    for (const { value } of values) if (kept?.some((other) => other.value === value) !== true) this.#proxy.values.abandonWriting(value);
  }

  /** Whether every pending value still has the content its UUID was derived from. */
  #unchanged(pending: readonly InternedValue[]): boolean {
    for (const value of pending) {
      if (!this.#proxy.values.matches(value)) {
        warnOnce(
          `memostrata: a result or argument of module '${this.module}' was changed in place (by the caller, or by the function on its copy of the arguments) before it was stored; that call is not stored. Treat memoized arguments and results as read-only.`,
          'MEMOSTRATA_MUTATED',
          this.module,
        );
        return false;
      }
    }
    return true;
  }
}
