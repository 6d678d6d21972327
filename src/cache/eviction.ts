import type { BatchOperation } from '../contract/database.js';
import { counterPrefix, KeyPrefix, memoKey, prefixRange, valueKey } from '../layers/keys.js';
import type { MemoRecord } from '../layers/memo-record.js';
import { emptyModuleMeta, moduleMetaOperation, readModuleMeta } from '../layers/module-meta.js';
import { blobReferenceOf } from '../maintenance/blobs.js';
import { readPins } from '../maintenance/pins.js';
import { warnOnce } from '../warnings.js';
import type { Store } from './store.js';

/*
 * Size limits by cost: when the store holds more than `maxBytes`, the
 * entries worth least per byte go first. An entry's worth is what computing
 * it cost, times how often it was used: compute time × (1 + hits); per byte,
 * divided by its result's size. So a large result that was cheap to compute
 * and never hit goes long before a small one that took an hour.
 */

/**
 * What an entry is worth per byte kept: compute ms × (1 + hits) / bytes
 * (a result of 0 bytes counts as 1).
 */
export function worthPerByte(record: Pick<MemoRecord, 'computeMs' | 'hits' | 'size'>): number {
  return (record.computeMs * (1 + record.hits)) / Math.max(record.size, 1);
}

/** The eviction order: least worth per byte first; among equals the larger first, so fewer go. */
export function byWorth(a: Pick<MemoRecord, 'computeMs' | 'hits' | 'size'>, b: Pick<MemoRecord, 'computeMs' | 'hits' | 'size'>): number {
  return worthPerByte(a) - worthPerByte(b) || b.size - a.size;
}

/**
 * The store's size as `maxBytes` measures it: the sum of the stored entries'
 * result sizes, from the module metadata (`meta!module!…`, kept by every
 * write), so that checking it reads no record.
 */
export async function storedBytes(store: Store): Promise<number> {
  let bytes = 0;
  for await (const [, meta] of store.proxy.entries(prefixRange(KeyPrefix.moduleMeta))) {
    const counted = (meta as { bytes?: unknown } | null)?.bytes;
    if (typeof counted === 'number' && Number.isFinite(counted) && counted > 0) bytes += counted;
  }
  return bytes;
}

/**
 * What one eviction pass removed.
 *
 * @category Cache
 */
export interface EvictionResult {
  /** Entries (memo records) evicted. */
  records: number;
  /** Their result sizes, summed (bytes, as `maxBytes` counts them). */
  bytes: number;
  /** Values deleted because no remaining entry used them. */
  values: number;
}

/** What the eviction of a {@link Cache} needs from it. */
export interface EvictionHost {
  readonly store: Store;
  readonly maxBytes: number;
  /** Whether the module's entries are kept out of eviction (`pin: true`); pins stored in the store are read besides. */
  pinned(module: string): boolean;
  /** Runs `work` in the cache's write queue, between flushes. */
  serialize<T>(work: () => Promise<T>): Promise<T>;
  /** Whether the cache is closing: a pass stops at its next step. */
  readonly closing: boolean;
  /**
   * Drops these calls of `module` (call digest → `createdAt` of the stored
   * record judged) from the cache's memory before their records are
   * deleted, so that this process stops serving them and writes no hit
   * counter for them. Returns the calls it may evict (not one whose memory
   * holds a newer computation) and a function to call once the records are
   * deleted.
   */
  forget(module: string, calls: ReadonlyMap<string, number>): { evictable: ReadonlySet<string>; done(): Promise<void> };
}

/** Records read between two turns of the event loop while a pass scans. */
const SCAN_STEP = 1000;
/** Entries deleted in one write: one step of a pass holds the write queue this long at most. */
const EVICT_STEP = 100;

interface Candidate {
  module: string;
  call: string;
  createdAt: number;
  size: number;
  uuids: string[];
}

/**
 * Keeps a cache's store under `maxBytes`: a pass runs in the background
 * after new entries are written, scans the records in steps, picks the
 * entries worth least per byte until the excess is covered, and deletes them
 * in steps of {@link EVICT_STEP} entries, each in the cache's write queue (a
 * flush waits for one step at most, never for the pass).
 *
 * A value goes with the last entry that uses it, unless a flush since the
 * scan wrote an entry that uses it. On a store that processes share (LMDB,
 * Redis) no value is deleted: another process may be writing an entry that
 * uses it; `memostrata prune` collects them when no job runs.
 */
export class Evictor {
  readonly #host: EvictionHost;
  #running: Promise<EvictionResult> | undefined;
  #again = false;
  #stopped = false;
  /** Values written by flushes since the running pass scanned: never deleted by it. */
  #written: Set<string> | undefined;

  constructor(host: EvictionHost) {
    this.#host = host;
  }

  /** Notes values that newly written entries use (called by the cache after each flush). */
  noteWritten(uuids: Iterable<string>): void {
    if (this.#written === undefined) return;
    for (const uuid of uuids) this.#written.add(uuid);
  }

  /** Starts a pass in the background, or asks the running one to look again when done. Never rejects. */
  schedule(): void {
    if (this.#stopped) return;
    if (this.#running !== undefined) {
      this.#again = true;
      return;
    }
    void this.run().catch((error: unknown) => {
      warnOnce(`memostrata: keeping the store at ${this.#host.store.location} under maxBytes failed (${(error as Error).message}); the next checkpoint tries again.`, 'MEMOSTRATA_EVICTION_FAILED', this.#host.store.location);
    });
  }

  /** Runs passes until the store is under `maxBytes` (or joins the one running); resolves with what they evicted. */
  run(): Promise<EvictionResult> {
    this.#running ??= this.#loop().finally(() => {
      this.#running = undefined;
    });
    return this.#running;
  }

  /** Stops: the running pass ends at its next step. */
  async stop(): Promise<void> {
    this.#stopped = true;
    await this.#running?.catch(() => undefined);
  }

  async #loop(): Promise<EvictionResult> {
    const total: EvictionResult = { records: 0, bytes: 0, values: 0 };
    do {
      this.#again = false;
      const pass = await this.#pass();
      total.records += pass.records;
      total.bytes += pass.bytes;
      total.values += pass.values;
    } while (this.#again && !this.#stopping);
    return total;
  }

  get #stopping(): boolean {
    return this.#stopped || this.#host.closing;
  }

  async #pass(): Promise<EvictionResult> {
    const result: EvictionResult = { records: 0, bytes: 0, values: 0 };
    const { store, maxBytes } = this.#host;
    if (this.#stopping || (await storedBytes(store)) <= maxBytes) return result;
    this.#written = new Set();
    try {
      const references = new Map<string, number>();
      const candidates: (Candidate & Pick<MemoRecord, 'computeMs' | 'hits'>)[] = [];
      // Pins stored by any process (the CLI, the inspector, f.pin), besides this cache's own `pin: true` modules.
      const pins = await readPins(store);
      let size = 0;
      let pinnedSize = 0;
      let scanned = 0;
      for await (const record of store.proxy.records()) {
        const uuids = [...new Set(record.result === undefined ? record.inputs : [...record.inputs, record.result])];
        for (const uuid of uuids) references.set(uuid, (references.get(uuid) ?? 0) + 1);
        size += record.size;
        if (this.#host.pinned(record.module) || pins.has(record.module, record.call)) pinnedSize += record.size;
        else candidates.push({ module: record.module, call: record.call, createdAt: record.createdAt, size: record.size, computeMs: record.computeMs, hits: record.hits, uuids });
        if (++scanned % SCAN_STEP === 0) {
          await turn();
          if (this.#stopping) return result;
        }
      }
      // The records themselves say how much is stored: metadata that drifted only decides when to look.
      let excess = size - maxBytes;
      if (excess <= 0) return result;
      if (pinnedSize > maxBytes) {
        warnOnce(
          `memostrata: the pinned entries of the store at ${store.location} alone take ${pinnedSize} bytes, more than maxBytes (${maxBytes}); they are kept, so the store stays over the limit. ` +
            'Unpin some (f.unpin(...args), memostrata unpin <module>) or raise maxBytes.',
          'MEMOSTRATA_PINNED_OVER_LIMIT',
          store.location,
        );
      }
      candidates.sort(byWorth);
      const victims: Candidate[] = [];
      for (const candidate of candidates) {
        if (excess <= 0) break;
        victims.push(candidate);
        excess -= candidate.size;
      }
      for (let start = 0; start < victims.length && !this.#stopping; start += EVICT_STEP) {
        const step = await this.#host.serialize(() => this.#evict(victims.slice(start, start + EVICT_STEP), references));
        result.records += step.records;
        result.bytes += step.bytes;
        result.values += step.values;
        await turn();
      }
      return result;
    } finally {
      this.#written = undefined;
    }
  }

  /** One step: deletes these entries (unless replaced since the scan), their counters, and the values nothing else uses. */
  async #evict(victims: readonly Candidate[], references: Map<string, number>): Promise<EvictionResult> {
    const { store } = this.#host;
    const operations: BatchOperation<Uint8Array, unknown>[] = [];
    const removed = new Map<string, { entries: number; bytes: number }>();
    const result: EvictionResult = { records: 0, bytes: 0, values: 0 };
    const freed: string[] = [];
    const current: Candidate[] = [];
    // Pinned since the scan (by another process, or f.pin in this one): kept.
    const pins = await readPins(store);
    for (const victim of victims) {
      if (pins.has(victim.module, victim.call)) continue;
      const stored = await store.proxy.lookup(victim.module, victim.call).catch(() => undefined);
      // Recomputed since the scan (or gone): the new entry is not the one judged.
      if (stored !== undefined && stored.createdAt === victim.createdAt) current.push(victim);
    }
    const byModule = new Map<string, Map<string, number>>();
    for (const victim of current) {
      const calls = byModule.get(victim.module) ?? new Map<string, number>();
      calls.set(victim.call, victim.createdAt);
      byModule.set(victim.module, calls);
    }
    const forgotten = [...byModule].map(([module, calls]) => ({ module, ...this.#host.forget(module, calls) }));
    const evictable = new Set(forgotten.flatMap(({ module, evictable: calls }) => [...calls].map((call) => `${module}!${call}`)));
    for (const victim of current) {
      if (!evictable.has(`${victim.module}!${victim.call}`)) continue;
      operations.push({ type: 'del', key: memoKey(victim.module, victim.call) });
      for await (const key of store.proxy.keys(prefixRange(counterPrefix(victim.module, victim.call)))) operations.push({ type: 'del', key });
      const count = removed.get(victim.module) ?? { entries: 0, bytes: 0 };
      count.entries += 1;
      count.bytes += victim.size;
      removed.set(victim.module, count);
      result.records += 1;
      result.bytes += victim.size;
      for (const uuid of victim.uuids) {
        const left = (references.get(uuid) ?? 1) - 1;
        references.set(uuid, left);
        if (left === 0) freed.push(uuid);
      }
    }
    for (const [module, count] of removed) {
      const meta = (await readModuleMeta(store.proxy, module)) ?? emptyModuleMeta(module);
      operations.push(moduleMetaOperation(meta, { entries: -count.entries, bytes: -count.bytes }));
    }
    const deleteValues = store.proxy.manifest.shared !== true;
    // The blobs of the large values deleted, freed once nothing names them (one process holds this store).
    const blobs: string[] = [];
    if (deleteValues) {
      for (const uuid of freed) {
        if (this.#written?.has(uuid) === true) continue;
        operations.push({ type: 'del', key: valueKey(uuid) });
        result.values += 1;
        const bytes = await store.bytes.get(valueKey(uuid)).catch(() => undefined);
        const reference = bytes === undefined ? undefined : blobReferenceOf(store, bytes);
        if (reference !== undefined) blobs.push(reference.id);
      }
    }
    try {
      if (operations.length > 0) await store.proxy.batch(operations);
    } finally {
      for (const { done } of forgotten) await done();
    }
    // After the batch: a blob goes only once no key names it. A failure leaves garbage for `prune`, nothing worse.
    if (blobs.length > 0) await store.serialized.largeValues.delete(blobs).catch(() => undefined);
    // The value layer remembers what is stored to skip rewriting it: a value deleted here must be written again.
    if (result.values > 0) store.values.forgetStored();
    return result;
  }
}

/** Lets the event loop turn: calls and flushes run between the steps of a pass. */
function turn(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}
