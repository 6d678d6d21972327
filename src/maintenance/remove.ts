import type { Store } from '../cache/store.js';
import { counterPrefix, KeyPrefix, memoKey, pinKey, prefixRange, stateKey, usedByKey, usedByPrefix } from '../layers/keys.js';
import type { MemoRecord } from '../layers/proxy-object-database.js';
import { BatchWriter, type ProgressOptions } from './common.js';
import { sweepBlobs } from './blobs.js';
import { collectGarbage, type GarbageOptions } from './garbage.js';
import { recountModules } from './module-meta.js';

/** What {@link removeRecords} or {@link clearStore} removed. */
export interface Removed {
  /** Memo records removed. */
  records: number;
  /** Saved states of unfinished calls removed. */
  states: number;
  /** Values no remaining record refers to, deleted. */
  values: number;
  /** Their encoded size (bytes). */
  bytes: number;
  /** Blobs (large values) no key names any more, and unfinished writes, deleted. */
  blobs: number;
  /** Their size (bytes). */
  blobBytes: number;
}

/** Options of {@link removeRecords}. */
export interface RemoveOptions extends ProgressOptions {
  /** Also remove the saved states whose key starts with this (`s!<module>!<digest prefix>`). */
  statePrefix?: string;
  /**
   * The records are a whole cascade (calls and every call computed from
   * them, see `dependentsOf`): their saved states go too, and so do the
   * lineage keys naming them as used, whose users are all among them.
   * Otherwise those keys stay: the calls that used a removed call still
   * depend on it if it is computed again.
   * @default false
   */
  cascade?: boolean;
  /**
   * The grace period of blobs no key names on a store other processes write
   * (see {@link GarbageOptions.orphanGraceMs}).
   * @default 900000 (15 minutes)
   */
  orphanGraceMs?: number;
}

/**
 * Removes `records` (and the saved states under `statePrefix`), recounts the
 * `meta!module` metadata of their modules, then deletes every value no
 * remaining record refers to. Records go first and in durable batches, so an
 * interrupted removal never leaves a record without its values. The removed
 * ranges are compacted, so the disk space comes back.
 */
export async function removeRecords(store: Store, records: Iterable<MemoRecord>, options: RemoveOptions = {}): Promise<Removed> {
  // Through the byte layers, so that an audit layer logs the deletes.
  const writer = new BatchWriter(store.bytes);
  const modules = new Set<string>();
  // Lineage keys go after the records, so that no batch boundary leaves a record without them.
  const lineageKeys: Uint8Array[] = [];
  let count = 0;
  for (const record of records) {
    await writer.del(memoKey(record.module, record.call));
    // A pin goes with its entry: removing a pinned entry on purpose is what unpins it.
    await writer.del(pinKey(record.module, record.call));
    // Its hit counters go with it: a later call of the same inputs starts counting afresh.
    for await (const key of store.backend.keys(prefixRange(counterPrefix(record.module, record.call)))) await writer.del(key);
    for (const used of record.uses ?? []) lineageKeys.push(usedByKey(used.module, used.call, record.module, record.call));
    if (options.cascade === true) {
      await writer.del(stateKey(record.module, record.call));
      for await (const key of store.backend.keys(prefixRange(usedByPrefix(record.module, record.call)))) lineageKeys.push(key);
    }
    modules.add(record.module);
    count += 1;
  }
  for (const key of lineageKeys) await writer.del(key);
  let states = 0;
  if (options.statePrefix !== undefined) {
    for await (const key of store.backend.keys(prefixRange(options.statePrefix))) {
      await writer.del(key);
      states += 1;
    }
  }
  await writer.flush(true);
  await writer.compactDeleted();
  // The Cache keeps these counts incrementally; removing records behind its back must recount them.
  await recountModules(store, modules);
  const freed = await collectGarbage(store, {
    ...(options.onProgress === undefined ? {} : { onProgress: options.onProgress }),
    ...(options.orphanGraceMs === undefined ? {} : { orphanGraceMs: options.orphanGraceMs }),
  });
  return { records: count, states, ...freed };
}

/** Removes every record, saved state, value, pin and module metadata; the format version and type names stay. */
export async function clearStore(store: Store): Promise<Removed> {
  const removed: Removed = { records: 0, states: 0, values: 0, bytes: 0, blobs: 0, blobBytes: 0 };
  // Through the byte layers, so that an audit layer logs the deletes.
  const writer = new BatchWriter(store.bytes);
  // Records before values, so that an interrupted clear never leaves a record without its values.
  for (const prefix of [KeyPrefix.record, KeyPrefix.state, KeyPrefix.counter, KeyPrefix.usedBy, KeyPrefix.pin, KeyPrefix.value, KeyPrefix.moduleMeta, KeyPrefix.modulePin]) {
    for await (const [key, bytes] of store.backend.entries(prefixRange(prefix))) {
      if (prefix === KeyPrefix.record) removed.records += 1;
      else if (prefix === KeyPrefix.state) removed.states += 1;
      else if (prefix === KeyPrefix.value) {
        removed.values += 1;
        removed.bytes += bytes.length;
      }
      await writer.del(key);
    }
  }
  await writer.flush(true);
  await writer.compactDeleted();
  store.values.forgetStored();
  const blobs = await sweepBlobs(store);
  removed.blobs = blobs.blobs;
  removed.blobBytes = blobs.blobBytes;
  return removed;
}
