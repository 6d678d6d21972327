import type { Database } from './database.js';
import type { Range } from './range.js';
import { isMemostrataError, type MemostrataError } from '../errors.js';

/** A stretch of keys that could not be read, found by {@link readableEntries}. */
export interface UnreadableRange {
  /** The last key read before it; `undefined` when it starts the keyspace. */
  after: Uint8Array | undefined;
  /** The first key read after it; `undefined` when nothing after it could be read. */
  before: Uint8Array | undefined;
  /** Why, from the backend (`Corruption: corrupted compressed block contents`). */
  reason: string;
  /**
   * Whether entries may have been lost there (`true`: a read across it
   * fails), or the stretch is damaged though every entry in it reads (`false`: a key out of order).
   */
  lost: boolean;
}

type Bytes = Uint8Array;
type Entry = [Bytes, Bytes];
type Probe = { kind: 'entry'; entry: Entry } | { kind: 'end' } | { kind: 'unreadable'; error: MemostrataError };

/** Entries read one by one after a failure before a bulk read is tried again (a backend reads pages of this order). */
const CAREFUL_STEPS = 2000;

/**
 * Key width (bytes) at which {@link firstReadableAfter} tells keys apart: longer than any key of
 * the store layout, so the resume point is exact, at 8 probes per byte (2,048 for a damaged block).
 */
const KEY_WIDTH = 256;

/**
 * Every entry of `db` that can be read, in key order, going on past the
 * parts that cannot, which it reports to `onUnreadable`. Other errors end
 * the iteration.
 *
 * LevelDB does not stop at a table block that does not decode: its
 * iterator skips the block and reports the Corruption only when the
 * iteration ends (as `CORRUPT` from the backend), and a read that seeks into
 * the block lands silently after it. So the scan goes on after a failure
 * (one entry at a time through the page that failed), and once it is done
 * finds where entries went missing by reading ever narrower ranges between
 * the keys it did read: a range fails exactly when it spans the damage.
 * Those stretches are reported with `lost: true` at the end, after the last entry.
 *
 * Without damage it is one plain iteration (one snapshot). Past damage it
 * reads with new iterations, so on a store that changes meanwhile it is not
 * one snapshot; maintenance runs alone on a store.
 */
export async function* readableEntries(db: Database<Bytes, Bytes>, onUnreadable: (range: UnreadableRange) => void): AsyncGenerator<Entry> {
  const keys: Bytes[] = [];
  let last: Bytes | undefined;
  let damagedFrom: number | undefined;
  let reason = '';
  // A damaged key can sort before the one read before it: reads go on, but LevelDB's next compaction
  // of that table aborts the process on a failed assertion. Only a rewrite of the store removes it.
  // Resuming goes on from the greatest key read, so an out-of-order key cannot send the scan back.
  const accept = (key: Bytes): void => {
    if (last !== undefined && Buffer.compare(key, last) <= 0) {
      onUnreadable({ after: last, before: key, reason: 'a key out of order: a damaged key', lost: false });
      return;
    }
    last = key;
    keys.push(key);
  };
  scan: while (true) {
    const startedAt = keys.length;
    try {
      for await (const entry of db.entries(after(last))) {
        accept(entry[0]);
        yield entry;
      }
      break;
    } catch (error) {
      if (!isMemostrataError(error, 'CORRUPT')) throw error;
      reason = reasonOf(error);
      // The damage lies anywhere this iteration passed: from the key before its start on.
      damagedFrom = Math.min(damagedFrom ?? Infinity, startedAt - 1);
    }
    // The failed page's entries were never delivered, and reading it whole fails again: one at a time.
    for (let steps = 0; steps < CAREFUL_STEPS; steps += 1) {
      const next = await probe(db, after(last));
      if (next.kind === 'end') break scan;
      if (next.kind === 'entry') {
        accept(next.entry[0]);
        yield next.entry;
        continue;
      }
      // A read that fails outright: jump to the first key after the damage that reads.
      const resume = await firstReadableAfter(db, last);
      onUnreadable({ after: last, before: resume?.[0], reason: reasonOf(next.error), lost: true });
      if (resume === undefined) break scan;
      accept(resume[0]);
      yield resume;
    }
  }
  if (damagedFrom !== undefined) {
    // A read that ends just before the damage still steps into it: merge touching stretches.
    const merged: [number, number][] = [];
    for (const [low, high] of await failingStretches(db, keys, damagedFrom, keys.length)) {
      const previous = merged.at(-1);
      if (previous !== undefined && previous[1] >= low) previous[1] = high;
      else merged.push([low, high]);
    }
    for (const [low, high] of merged) onUnreadable({ after: keys[low], before: keys[high], reason, lost: true });
  }
}

/**
 * The narrowest stretches `[low, high]` (indices into `keys`; `-1` is the
 * start of the keyspace and `keys.length` its end) whose reading fails,
 * within `[low, high]`: halves are read until a failing one has no key inside.
 */
async function failingStretches(db: Database<Bytes, Bytes>, keys: readonly Bytes[], low: number, high: number): Promise<[number, number][]> {
  if (!(await fails(db, keys, low, high))) return [];
  if (high - low <= 1) return [[low, high]];
  const middle = Math.floor((low + high) / 2);
  const found = [...(await failingStretches(db, keys, low, middle)), ...(await failingStretches(db, keys, middle, high))];
  // Damage can fail a read that spans it yet neither half (a block that both halves only touch).
  return found.length > 0 ? found : [[low, high]];
}

/** Whether reading every key between `keys[low]` and `keys[high]` (inclusive) fails with `CORRUPT`. */
async function fails(db: Database<Bytes, Bytes>, keys: readonly Bytes[], low: number, high: number): Promise<boolean> {
  const range: Range<Bytes> = {};
  if (low >= 0) range.gte = keys[low]!;
  if (high < keys.length) range.lte = keys[high]!;
  try {
    for await (const _ of db.keys(range)) continue;
    return false;
  } catch (error) {
    if (isMemostrataError(error, 'CORRUPT')) return true;
    throw error;
  }
}

/** The backend's own words (`Corruption: …`), without the advice wrapped around them. */
function reasonOf(error: MemostrataError): string {
  return error.cause instanceof Error ? error.cause.message : error.message;
}

function after(key: Bytes | undefined): Range<Bytes> {
  return key === undefined ? {} : { gt: key };
}

/** Reads the first entry of `range`. */
async function probe(db: Database<Bytes, Bytes>, range: Range<Bytes>): Promise<Probe> {
  try {
    for await (const entry of db.entries({ ...range, limit: 1 })) return { kind: 'entry', entry };
    return { kind: 'end' };
  } catch (error) {
    if (isMemostrataError(error, 'CORRUPT')) return { kind: 'unreadable', error };
    throw error;
  }
}

/**
 * The first readable entry after the damaged stretch that follows `last`,
 * or `undefined` when nothing after it can be read. Whether a read starting
 * at key X succeeds flips once, from no to yes, as X passes the end of the
 * damage, so a binary search over keys (as numbers of {@link KEY_WIDTH} bytes) finds where.
 */
async function firstReadableAfter(db: Database<Bytes, Bytes>, last: Bytes | undefined): Promise<Entry | undefined> {
  let low = last === undefined ? -1n : keyToNumber(last);
  let high = (1n << BigInt(KEY_WIDTH * 8)) - 1n;
  const atHigh = await probe(db, { gte: numberToKey(high) });
  if (atHigh.kind === 'unreadable') return undefined;
  while (high - low > 1n) {
    const middle = (low + high) / 2n;
    if ((await probe(db, { gte: numberToKey(middle) })).kind === 'unreadable') low = middle;
    else high = middle;
  }
  const found = await probe(db, { gte: numberToKey(high) });
  return found.kind === 'entry' ? found.entry : undefined;
}

function keyToNumber(key: Bytes): bigint {
  const padded = new Uint8Array(KEY_WIDTH);
  padded.set(key.subarray(0, KEY_WIDTH));
  return BigInt(`0x${Buffer.from(padded).toString('hex')}`);
}

/** The shortest key of that number: trailing zero bytes dropped (the store layout has no key ending in 0x00). */
function numberToKey(value: bigint): Bytes {
  const bytes = Buffer.from(value.toString(16).padStart(KEY_WIDTH * 2, '0'), 'hex');
  let end = bytes.length;
  while (end > 1 && bytes[end - 1] === 0) end -= 1;
  return new Uint8Array(bytes.subarray(0, end));
}
