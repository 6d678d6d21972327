import type { Store } from '../cache/store.js';
import { memoKey, prefixRange } from '../layers/keys.js';
import type { MemoRecord } from '../layers/proxy-object-database.js';
import { BatchWriter, type ProgressOptions } from '../maintenance/common.js';
import { collectGarbage } from '../maintenance/garbage.js';

/** What a removal freed. */
export interface Removed {
  /** Memo records removed. */
  records: number;
  /** Saved states of unfinished calls removed. */
  states: number;
  /** Values no remaining record refers to, deleted. */
  values: number;
  /** Their encoded size (bytes). */
  bytes: number;
}

/**
 * Removes `records`, the saved states under `statePrefix` (`s!<module>!<digest prefix>`),
 * then every value no remaining record refers to.
 */
export async function removeRecords(store: Store, records: readonly MemoRecord[], statePrefix: string, options: ProgressOptions = {}): Promise<Removed> {
  const writer = new BatchWriter(store.backend);
  for (const record of records) await writer.del(memoKey(record.module, record.call));
  let states = 0;
  for await (const key of store.backend.keys(prefixRange(statePrefix))) {
    await writer.del(key);
    states += 1;
  }
  await writer.flush(true);
  const freed = await collectGarbage(store, options);
  return { records: records.length, states, ...freed };
}

/** Removes every record, saved state, value and module metadata; the format version and type names stay. */
export async function clearStore(store: Store): Promise<Removed> {
  const removed: Removed = { records: 0, states: 0, values: 0, bytes: 0 };
  const writer = new BatchWriter(store.backend);
  for (const prefix of ['m!', 's!', 'v!', 'meta!module!']) {
    for await (const [key, bytes] of store.backend.entries(prefixRange(prefix))) {
      if (prefix === 'm!') removed.records += 1;
      else if (prefix === 's!') removed.states += 1;
      else if (prefix === 'v!') {
        removed.values += 1;
        removed.bytes += bytes.length;
      }
      await writer.del(key);
    }
  }
  await writer.flush(true);
  store.values.forgetStored();
  return removed;
}
