import { asHitCounters, type MemoRecord } from './memo-record.js';
import type { HitCounters } from './memo-record.js';

/*
 * A call's hits are kept in counter keys apart from its record (one per
 * writer, `c!<module>!<call>!<writer>`), so that serving a hit never rewrites
 * a record and processes sharing a store add up. Listings join the two: the
 * counter keys sort exactly like the records they count, so one ordered pass
 * over each is enough, whatever the size of the store.
 */

/** Records as `records` yields them, with `hits` and `lastHitAt` set to the sums of their counters from `counters` (same module range, key order). */
export async function* withHitCounters(
  records: AsyncIterable<MemoRecord>,
  counters: AsyncIterable<[Uint8Array, unknown]>,
): AsyncGenerator<MemoRecord> {
  const pending = counters[Symbol.asyncIterator]();
  // The counters are rarely read to their end: close them, or a LevelDB iterator stays open and
  // pins a snapshot (no compaction can then drop deleted data, and its old files stay on disk).
  try {
    let next = await nextCounter(pending);
    for await (const record of records) {
      const id = callId(record);
      // Counters of calls before this one have no record (removed meanwhile): skip them.
      while (next !== undefined && Buffer.compare(next.id, id) < 0) next = await nextCounter(pending);
      let hits = 0;
      let lastHitAt = 0;
      while (next !== undefined && Buffer.compare(next.id, id) === 0) {
        hits += next.counters.hits;
        lastHitAt = Math.max(lastHitAt, next.counters.lastHitAt);
        next = await nextCounter(pending);
      }
      yield { ...record, hits: record.hits + hits, lastHitAt: Math.max(record.lastHitAt, lastHitAt) };
    }
  } finally {
    await pending.return?.(undefined);
  }
}

/** `<module>!<call>` as bytes: what a record key and its counter keys share after their prefixes. */
function callId(record: MemoRecord): Buffer {
  return Buffer.from(`${record.module}!${record.call}`);
}

/** The next sound counter and the call it counts; damaged counters are skipped (they are statistics, never results). */
async function nextCounter(counters: AsyncIterator<[Uint8Array, unknown]>): Promise<{ id: Buffer; counters: HitCounters } | undefined> {
  for (;;) {
    const step = await counters.next();
    if (step.done === true) return undefined;
    const [key, value] = step.value;
    const counted = asHitCounters(value);
    const writerBang = key.lastIndexOf(0x21); // '!' before the writer id
    if (counted === undefined || writerBang <= 2) continue;
    return { id: Buffer.from(key.buffer, key.byteOffset + 2, writerBang - 2), counters: counted };
  }
}
