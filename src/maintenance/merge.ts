import { createHash } from 'node:crypto';
import { LevelBackend } from '../backends/level-backend.js';
import { canonicalLocation } from '../backends/level-files.js';
import { LmdbBackend } from '../backends/lmdb-backend.js';
import type { Store } from '../cache/store.js';
import { MemostrataError } from '../errors.js';
import { counterKey, KeyPrefix, keyText, prefixRange, usedByKey, valueKey } from '../layers/keys.js';
import { asHitCounters, type MemoRecord } from '../layers/memo-record.js';
import { typesKey } from '../layers/serialized-db.js';
import { BatchWriter, decodeRecord, parseKey, Progress, referencedUuids, undefinedUuidOf, type ProgressOptions } from './common.js';
import { sameOutcome } from './diff.js';
import type { MergeCount } from './export.js';
import { recountModules } from './module-meta.js';
import { verify } from './verify.js';
import { blobReferenceOf, copyBlob } from './blobs.js';

/*
 * Merging shards (one store per MPI rank, per array task) into one. What makes
 * it safe to run again, and to run on shards that overlap:
 *
 * - values are content-addressed: one the target has is equal, and skipped;
 * - a call's record is the same key in every store: the first one the target
 *   gets is kept (the target's own, else the earliest source's), and a later
 *   one with another outcome is a conflict, reported and not written;
 * - hit counters are one key per writer. Writers of a shared store (LMDB,
 *   Redis) have random ids and keep them; the one writer of a LevelDB store,
 *   `0` in every shard, gets an id derived from the shard's path, so shards
 *   add up, and merging one shard again rewrites its own counters only;
 * - values are written (durably) before the records that name them, so a
 *   merge cut short leaves a target that opens and serves; run it again.
 *   Records are read after the values, from a later snapshot: a call a job
 *   stored in between brings its own values along.
 */

/** A call that two stores hold with different outcomes (results or cached errors). */
export interface MergeConflict {
  /** The module. */
  module: string;
  /** The call digest (hex). */
  call: string;
  /** The source whose record was not taken: the target already held the call (its own record, or an earlier source's). */
  source: string;
}

/** Hit counters merged: new writer keys, keys that grew, keys already up to date. */
export interface CounterCount {
  added: number;
  updated: number;
  skipped: number;
}

/** What one source brought. */
export interface MergeSourceResult {
  /** Where the source lives. */
  location: string;
  /** Values (`v!`): added, or skipped because the target has them (content-addressed, so equal). */
  values: MergeCount;
  /** Memo records (`m!`): added, or skipped because the target holds the call (with the same outcome, or a conflict). */
  records: MergeCount;
  /** Saved states of unfinished calls (`s!`): added, or skipped because the target has one for the call. */
  states: MergeCount;
  /** Blobs (large values) of the values and states merged: copied, or skipped because the target has them. */
  blobs: MergeCount;
  /** Hit counters (`c!`). */
  counters: CounterCount;
  /** Calls skipped because the target holds them with another outcome. */
  conflicts: number;
}

/** What {@link merge} did. */
export interface MergeResult {
  /** Where the target lives. */
  target: string;
  /** Per source, in the order given. */
  sources: MergeSourceResult[];
  /** Totals over the sources. */
  values: MergeCount;
  records: MergeCount;
  states: MergeCount;
  blobs: MergeCount;
  counters: CounterCount;
  /** Calls held with different outcomes, in the order met; each source's record listed is the one not taken. */
  conflicts: MergeConflict[];
  /** Registered type names added to the target's `meta!types`. */
  typesAdded: string[];
}

/**
 * Merges every source store into `target`, after checking each source with
 * {@link verify}: a source with any problem is refused, and nothing is written.
 *
 * Rules: a value the target has is skipped; a call the target holds keeps the
 * target's record (so, over the sources, the earliest one given wins) and a
 * source record of it with another result or cached error is reported in
 * `conflicts`; saved states are added where the target has none; hit counters
 * add up over the sources (see the comment above for the writer ids);
 * `meta!types` becomes the union and module metadata is recounted. Merging
 * the same sources again writes nothing. Do not merge a store back into one of
 * its own sources: the counters it took from that source would count twice.
 *
 * A Cache may use the target meanwhile, and jobs may still write the
 * sources: each source is verified from one snapshot, and what a later read
 * finds is merged as long as it is whole (a call's values are written before
 * its record; a call whose values are gone again waits for the next merge).
 *
 * @throws MemostrataError `CONFIG` when a source is given twice or is the
 *   target; `CORRUPT` naming the first damaged source and `memostrata verify --fix`.
 */
export async function merge(sources: readonly Store[], target: Store, options: ProgressOptions = {}): Promise<MergeResult> {
  const targetId = identity(target);
  const seen = new Set<string>();
  for (const source of sources) {
    const id = identity(source);
    if (id === targetId) throw new MemostrataError('CONFIG', `Cannot merge ${source.location} into itself; leave the target out of the sources.`);
    if (seen.has(id)) throw new MemostrataError('CONFIG', `${source.location} is given twice as a source; give each source once.`);
    seen.add(id);
  }
  // One bar over both passes: verifying every source, then merging it.
  const report = options.onProgress;
  let verified = 0;
  for (const source of sources) {
    const before = verified;
    const checked = await verify(source, { ...(report === undefined ? {} : { onProgress: (done: number) => report(before + done, undefined) }) });
    verified += checked.checked;
    if (checked.problems.length > 0) throw damaged(source, checked.problems.length, checked.problems[0]!);
  }
  const progress = new Progress(report === undefined ? undefined : (done) => report(verified + done, 2 * verified));

  const result: MergeResult = {
    target: target.location,
    sources: [],
    values: count(),
    records: count(),
    states: count(),
    blobs: count(),
    counters: { added: 0, updated: 0, skipped: 0 },
    conflicts: [],
    typesAdded: [],
  };
  const touched = new Set<string>();
  for (const source of sources) {
    const merged = await mergeOne(source, target, result.conflicts, touched, progress);
    result.sources.push(merged);
    for (const kind of ['values', 'records', 'states', 'blobs'] as const) {
      result[kind].added += merged[kind].added;
      result[kind].skipped += merged[kind].skipped;
    }
    result.counters.added += merged.counters.added;
    result.counters.updated += merged.counters.updated;
    result.counters.skipped += merged.counters.skipped;
  }
  target.values.forgetStored();
  await recountModules(target, touched);
  const stored = await target.serialized.storedTypeNames();
  const wanted = new Set<string>();
  for (const source of sources) for (const name of await source.serialized.storedTypeNames()) wanted.add(name);
  result.typesAdded = [...wanted].filter((name) => !stored.includes(name)).sort();
  if (result.typesAdded.length > 0) await target.serialized.put(typesKey, [...stored, ...result.typesAdded].sort(), { sync: true });
  report?.(2 * verified, 2 * verified);
  return result;
}

async function mergeOne(source: Store, target: Store, conflicts: MergeConflict[], touched: Set<string>, progress: Progress): Promise<MergeSourceResult> {
  const merged: MergeSourceResult = { location: source.location, values: count(), records: count(), states: count(), blobs: count(), counters: { added: 0, updated: 0, skipped: 0 }, conflicts: 0 };
  const writer = new BatchWriter(target.bytes);
  // A large value's blob goes into the target (durably, through its largeValues) before the batch that names it.
  const withBlob = async (key: Uint8Array, bytes: Uint8Array): Promise<void> => {
    const reference = blobReferenceOf(source, bytes);
    if (reference === undefined) return;
    if (await copyBlob(source, target, reference, keyText(key))) merged.blobs.added += 1;
    else merged.blobs.skipped += 1;
  };
  // Values first, durably: no record written below can name a value that is not there yet.
  for await (const [key, bytes] of source.bytes.entries(prefixRange(KeyPrefix.value))) {
    progress.step();
    if (await target.bytes.has(key)) merged.values.skipped += 1;
    else {
      await withBlob(key, bytes);
      await writer.put(key, bytes);
      merged.values.added += 1;
    }
  }
  await writer.flush(true);

  // The records are read from a later snapshot than the values: a job still writing the source may
  // have stored a call meanwhile. Its values go first (earlier in the same ordered batches), or the
  // call is left for the next merge if they are gone again.
  const undefinedUuid = undefinedUuidOf(source);
  const queued = new Set<string>();
  const valuesOf = async (record: MemoRecord): Promise<[Uint8Array, Uint8Array][] | undefined> => {
    const missing: [Uint8Array, Uint8Array][] = [];
    for (const uuid of new Set(referencedUuids(record))) {
      if (uuid === undefinedUuid || queued.has(uuid)) continue;
      const key = valueKey(uuid);
      if (await target.bytes.has(key)) continue;
      const bytes = await source.bytes.get(key);
      if (bytes === undefined) return undefined;
      missing.push([key, bytes]);
    }
    return missing;
  };
  for await (const [key, bytes] of source.bytes.entries(prefixRange(KeyPrefix.record))) {
    progress.step();
    const theirs = decodeRecord(source, key, bytes);
    const held = await target.bytes.get(key);
    if (held === undefined) {
      const values = await valuesOf(theirs);
      if (values === undefined) continue;
      for (const [valueKeyBytes, valueBytes] of values) {
        await withBlob(valueKeyBytes, valueBytes);
        await writer.put(valueKeyBytes, valueBytes);
        queued.add(keyText(valueKeyBytes).slice(KeyPrefix.value.length));
        merged.values.added += 1;
      }
      // Its lineage keys before it, as a checkpoint writes them.
      for (const used of theirs.uses ?? []) await writer.put(usedByKey(used.module, used.call, theirs.module, theirs.call), target.serialized.codec.encode(0, 'a lineage key'));
      await writer.put(key, bytes);
      merged.records.added += 1;
      touched.add(theirs.module);
      continue;
    }
    merged.records.skipped += 1;
    if (!sameOutcome(decodeRecord(target, key, held), theirs)) {
      merged.conflicts += 1;
      conflicts.push({ module: theirs.module, call: theirs.call, source: source.location });
    }
  }

  for await (const [key, bytes] of source.bytes.entries(prefixRange(KeyPrefix.state))) {
    progress.step();
    if (await target.bytes.has(key)) merged.states.skipped += 1;
    else {
      await withBlob(key, bytes);
      await writer.put(key, bytes);
      merged.states.added += 1;
    }
  }

  // Pins travel with the calls they keep (a pin of a call not stored yet too); one the target has stays as it is.
  for (const prefix of [KeyPrefix.pin, KeyPrefix.modulePin]) {
    for await (const [key, bytes] of source.bytes.entries(prefixRange(prefix))) {
      progress.step();
      if (!(await target.bytes.has(key))) await writer.put(key, bytes);
    }
  }

  const shard = identity(source);
  for await (const [key, bytes] of source.bytes.entries(prefixRange(KeyPrefix.counter))) {
    progress.step();
    const parsed = parseKey(keyText(key));
    // verify() refused any counter that is not sound.
    if (parsed.kind !== 'counter') continue;
    const theirs = asHitCounters(source.serialized.codec.decode(bytes))!;
    const ourKey = counterKey(parsed.module, parsed.call, parsed.writer === '0' ? shardWriter(shard) : parsed.writer);
    const heldBytes = await target.bytes.get(ourKey);
    const held = heldBytes === undefined ? undefined : asHitCounters(safeDecode(target, heldBytes));
    // One writer's counters only grow: the larger pair is the later one.
    if (held !== undefined && (held.hits > theirs.hits || (held.hits === theirs.hits && held.lastHitAt >= theirs.lastHitAt))) {
      merged.counters.skipped += 1;
      continue;
    }
    await writer.put(ourKey, bytes);
    if (heldBytes === undefined) merged.counters.added += 1;
    else merged.counters.updated += 1;
  }
  await writer.flush(true);
  return merged;
}

/**
 * The writer id under which the hits of a LevelDB shard's one writer (`0`)
 * are kept in the target: derived from the shard's path, so that two shards
 * differ and the same shard merged again gives the same id.
 */
export function shardWriter(shard: string): string {
  return createHash('sha256').update(`memostrata shard\0${shard}`).digest('hex').slice(0, 16);
}

/** What tells two stores apart: the real path of a store in files, else its location. */
function identity(store: Store): string {
  return store.backend instanceof LevelBackend || store.backend instanceof LmdbBackend ? canonicalLocation(store.backend.path) : store.location;
}

function safeDecode(store: Store, bytes: Uint8Array): unknown {
  try {
    return store.serialized.codec.decode(bytes);
  } catch {
    // A damaged counter of the target is replaced by the source's.
    return undefined;
  }
}

function damaged(source: Store, problems: number, first: { key: string; kind: string; message: string }): MemostrataError {
  const where = source.backend instanceof LevelBackend || source.backend instanceof LmdbBackend ? `--store ${source.backend.path}` : '--config <its config file>';
  return new MemostrataError(
    'CORRUPT',
    `The source store ${source.location} has ${problems === 1 ? '1 problem' : `${problems} problems`} (first: ${first.kind} ${first.key} ${first.message}); nothing was merged. ` +
      `Run \`memostrata verify --fix ${where}\`, then merge again.`,
  );
}

function count(): MergeCount {
  return { added: 0, skipped: 0 };
}
