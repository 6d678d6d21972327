import { asLeaseRecord } from '../cache/leases.js';
import type { Store } from '../cache/store.js';
import { isMemostrataError } from '../errors.js';
import { FORMAT_VERSION, formatKey, KeyPrefix, keyText, memoKey, prefixRange } from '../layers/keys.js';
import { asPinRecord } from './pins.js';
import { asHitCounters } from '../layers/memo-record.js';
import { asSavedState } from '../layers/saved-state.js';
import type { MemoRecord } from '../layers/proxy-object-database.js';
import { recountModules } from './module-meta.js';
import { readableEntries, type UnreadableRange } from '../contract/readable.js';
import { blobProblem, blobReferenceOf, listBlobs } from './blobs.js';
import { BatchWriter, contentUuidOf, parseKey, Progress, recordProblem, referencedUuids, undefinedUuidOf, type ProgressOptions } from './common.js';

/** The kinds of problem {@link verify} reports. */
export type ProblemKind =
  /** A value, record, state or meta entry whose bytes do not decode. */
  | 'corrupt'
  /** A value whose content digest does not give the UUID it is stored under. */
  | 'digest-mismatch'
  /** A record that decodes but is not a well-formed memo record for its key. */
  | 'bad-record'
  /** A record that refers to a value the store does not have. */
  | 'missing-value'
  /** A record that refers to a value that is corrupt or does not match its digest. */
  | 'bad-value'
  /** A key whose value is kept as a blob that the store does not have. */
  | 'missing-blob'
  /**
   * A key whose value is kept as a blob that is damaged: a size, header or
   * block checksum that does not match, or bytes whose SHA-256 is not the blob's name.
   */
  | 'bad-blob'
  /** Hit counters of a call the store does not hold soundly (its record is missing, or broken and removed with them by `fix`). */
  | 'orphan-counter'
  /** `meta!format` is missing or is not this memostrata's format version. */
  | 'format'
  /**
   * A stretch of the store that the backend cannot read (a damaged LevelDB
   * table block); its key is `after <last key read before it>`.
   */
  | 'unreadable'
  /**
   * A key that is not part of the store layout. Under a prefix of the layout
   * (`v!`, `m!`, `s!`, `c!`, `l!`, `u!`, `p!`, `meta!module!`, `meta!pin!`), one bit off such a prefix, or given by
   * the store out of key order, it is a damaged key, removed by `fix`; others are left alone.
   */
  | 'unknown-key';

/** One problem found by {@link verify}. */
export interface Problem {
  /** The key, as text. */
  key: string;
  kind: ProblemKind;
  /** What is wrong, for people. */
  message: string;
  /** Whether `fix` removes this entry. */
  fixable: boolean;
}

/** Options of {@link verify}. */
export interface VerifyOptions extends ProgressOptions {
  /**
   * Remove what is broken: corrupt values, values that do not match their
   * digest, records and saved states that do not decode, malformed records,
   * and the records that refer to a missing or broken value. Nothing else.
   * When anything is broken and the backend can `repair()`, first salvage
   * the store with it (LevelDB: every readable entry is copied into a fresh
   * store; entries in unreadable blocks are lost, bar the format version,
   * which is written back), then check again and
   * remove what is still broken, and what the loss broke.
   * @default false
   */
  fix?: boolean;
}

/** What {@link verify} found (and, with `fix`, removed). */
export interface VerifyResult {
  /** Entries read. */
  checked: number;
  /** Values whose digest was not checked, because they use a registered type this process has not registered. */
  unverified: number;
  /** Problems, in key order (record problems found through their values last). */
  problems: Problem[];
  /** Keys removed by `fix` (empty without it). */
  removed: string[];
  /** Whether `fix` salvaged the store with the backend's `repair()` before removing what was broken. */
  repaired: boolean;
  /** The blobs (large values) checked, and those no key names. */
  blobs: BlobCheck;
}

/** What {@link verify} found among the store's blobs. */
export interface BlobCheck {
  /** Blobs named by a key and checked whole (size, header, block checksums, SHA-256). */
  checked: number;
  /** Their size (bytes). */
  bytes: number;
  /** Damaged or missing blobs that `fix` deleted, with the keys that named them (empty without it). */
  removed: string[];
  /**
   * Blobs no key names, and the remains of unfinished writes (`complete: false`):
   * garbage that `memostrata prune` (or `gc`) deletes. Not a problem: a
   * checkpoint killed before its batch committed leaves them, and on a shared
   * store a writer's batch may be about to name one.
   */
  orphans: { id: string; bytes: number; complete: boolean; modifiedMs: number }[];
}

/**
 * Reads every entry of the store from one snapshot and checks it: each value
 * decodes and its content digest gives the UUID it is stored under; each
 * record decodes, matches its key and refers only to values that exist and are
 * sound; saved states decode; `meta!format` is this format version.
 * With `fix`, removes the broken entries (see {@link VerifyOptions.fix}), records first.
 */
export async function verify(store: Store, options: VerifyOptions = {}): Promise<VerifyResult> {
  const found = await check(store, options);
  const result = ({ checked, unverified, problems, blobs }: Checked, removed: string[], repaired: boolean, blobsRemoved: string[] = []): VerifyResult => ({
    checked,
    unverified,
    problems,
    removed,
    repaired,
    blobs: { checked: blobs.checked, bytes: blobs.bytes, removed: blobsRemoved, orphans: blobs.orphans },
  });
  if (options.fix !== true) return result(found, [], false);
  // A damaged blob is damage outside the key-value store: removing its keys and it is the fix, and no salvage of the keys helps.
  const fixable = found.problems.some((problem) => problem.fixable && !found.blobOnly.has(problem));
  if (!fixable || store.backend.manifest.repair !== true) {
    const removed = await removeBroken(store, found);
    return result(found, removed, false, await removeDamagedBlobs(store, found, removed));
  }
  // Damage found means damage that reads cannot see may be there too: what cannot be read cannot be
  // deleted key by key, and a damaged internal key (LevelDB's sequence and type bytes) aborts the
  // process at LevelDB's next compaction of that table. Rewrite what can be read, then check and fix that.
  const hadFormat = (await storedFormat(store)) === FORMAT_VERSION;
  await store.backend.repair();
  // The salvage loses the format version with the block that held it, and then the store would no longer open:
  // it was this format when verify began, so it gets it back.
  if (hadFormat && (await storedFormat(store)) === undefined) await store.serialized.put(formatKey, FORMAT_VERSION, { sync: true });
  store.values.forgetStored();
  const after = await check(store, options);
  const removed = await removeBroken(store, after);
  const blobsRemoved = await removeDamagedBlobs(store, after, removed);
  // Records lost in the damaged blocks are gone from the module counts too.
  await recountModules(store, await storedModules(store));
  // The second pass finds the first's problems again, and those the salvage left (records whose values were lost).
  const seen = new Set(found.problems.map((problem) => `${problem.kind} ${problem.key}`));
  const left = after.problems.filter((problem) => !seen.has(`${problem.kind} ${problem.key}`));
  return result({ ...after, problems: [...found.problems, ...left] }, removed, true, blobsRemoved);
}

/** The store's format version as stored, or `undefined` when it is missing or does not read. */
async function storedFormat(store: Store): Promise<unknown> {
  try {
    return await store.serialized.get(formatKey);
  } catch (error) {
    if (isMemostrataError(error, 'CORRUPT')) return undefined;
    throw error;
  }
}

/** Deletes the damaged blobs whose every naming key `removed` holds (missing ones have nothing to delete); returns their ids. */
async function removeDamagedBlobs(store: Store, { damagedBlobs }: Checked, removed: readonly string[]): Promise<string[]> {
  const gone = new Set(removed);
  const ids = [...damagedBlobs].filter(([, keys]) => keys.every((key) => gone.has(key))).map(([id]) => id);
  if (ids.length > 0) await store.serialized.largeValues.delete(ids);
  return ids;
}

/** Removes the entries of the fixable problems, records first; returns their keys. */
async function removeBroken(store: Store, { problems, rawKeys }: Checked): Promise<string[]> {
  // Records first: a batch boundary must never leave a record whose value is already gone.
  const doomed = [...new Set(problems.filter((problem) => problem.fixable && problem.kind !== 'unreadable').map((problem) => problem.key))].sort(
    (a, b) => Number(b.startsWith('m!')) - Number(a.startsWith('m!')),
  );
  // Through the byte layers, so that an audit layer logs the deletes.
  const writer = new BatchWriter(store.bytes);
  const encoder = new TextEncoder();
  for (const key of doomed) await writer.del(rawKeys.get(key) ?? encoder.encode(key));
  await writer.flush(true);
  await recountModules(store, doomed.filter((key) => key.startsWith('m!')).map((key) => key.slice(2, key.lastIndexOf('!'))));
  if (doomed.some((key) => key.startsWith('v!'))) store.values.forgetStored();
  return doomed;
}

/** The modules the store has metadata or records for. */
async function storedModules(store: Store): Promise<Set<string>> {
  const modules = new Set<string>();
  for await (const key of store.backend.keys(prefixRange(KeyPrefix.moduleMeta))) modules.add(keyText(key).slice(KeyPrefix.moduleMeta.length));
  for await (const key of store.backend.keys(prefixRange(KeyPrefix.record))) {
    const parsed = parseKey(keyText(key));
    if (parsed.kind === 'record') modules.add(parsed.module);
  }
  return modules;
}

/**
 * The bytes the codec wrote at `key`, through the byte layers, or the
 * problem: a value that fails its authentication (`CORRUPT`), or one the
 * sign layer does not serve. A value of a key not given (`KEY`) throws.
 */
async function throughLayers(store: Store, key: Uint8Array): Promise<Uint8Array | { problem: string }> {
  try {
    return (await store.bytes.get(key)) ?? { problem: 'has a missing or wrong signature, so it is never served (written without the signing key, or damaged)' };
  } catch (error) {
    if (isMemostrataError(error, 'CORRUPT')) return { problem: error.message };
    throw error;
  }
}

/** One pass of {@link verify}: reads and checks every entry it can, changes nothing. */
/** What one pass found; `rawKeys` holds the bytes of keys that their text does not give back (damaged, not UTF-8). */
type Checked = Pick<VerifyResult, 'checked' | 'unverified' | 'problems'> & {
  rawKeys: Map<string, Uint8Array>;
  /** Damaged blobs (present but unsound), with the keys that name them. */
  damagedBlobs: Map<string, string[]>;
  /** The problems that a damaged or missing blob alone explains (the keys naming it, the records using those values). */
  blobOnly: Set<Problem>;
  blobs: Omit<BlobCheck, 'removed'>;
};

async function check(store: Store, options: VerifyOptions): Promise<Checked> {
  const progress = new Progress(options.onProgress);
  const undefinedUuid = undefinedUuidOf(store);
  const problems: Problem[] = [];
  const soundValues = new Set<string>();
  const brokenValues = new Set<string>();
  const records: { key: string; record: MemoRecord }[] = [];
  const counters: { key: string; record: Uint8Array }[] = [];
  let checked = 0;
  let unverified = 0;
  let formatSeen = false;
  const report = (key: string, kind: ProblemKind, message: string, fixable: boolean) => problems.push({ key, kind, message, fixable });
  const rawKeys = new Map<string, Uint8Array>();
  /** Blob id → its size as referenced, and the keys that name it (with the value UUID for `v!` keys). */
  const references = new Map<string, { bytes: number; keys: { key: string; uuid: string | undefined; fixable: boolean }[] }>();

  /** Keys the store gave out of key order (one of each such pair is damaged), and the foreign-looking keys reported so far. */
  const outOfOrder = new Set<string>();
  const foreign = new Map<string, Problem>();
  const unreadable = (range: UnreadableRange) => {
    if (!range.lost) {
      // A sound store gives its keys in order: an unknown key on either side of an inversion is a damaged one of ours
      // (LevelDB keeps keys as a shared prefix of the key before and the rest: damage there makes a key of neither).
      for (const key of [range.after, range.before]) {
        if (key === undefined) continue;
        const text = keyText(key);
        outOfOrder.add(text);
        const problem = foreign.get(text);
        if (problem !== undefined) Object.assign(problem, { message: DAMAGED_KEY, fixable: true });
      }
    }
    const after = range.after === undefined ? 'the start' : keyText(range.after);
    const before = range.before === undefined ? 'the end' : keyText(range.before);
    const what = range.lost ? `keys after ${after} and before ${before} cannot be read` : `the store is damaged between ${after} and ${before}`;
    report(`after ${after}`, 'unreadable', `${what} (${range.reason})`, store.backend.manifest.repair === true);
  };
  for await (const [rawKey, stored] of readableEntries(store.backend, unreadable)) {
    checked += 1;
    progress.step();
    const key = keyText(rawKey);
    // A damaged key may not be UTF-8: its text cannot be encoded back into it, so --fix deletes the bytes.
    if (!Buffer.from(key, 'utf8').equals(rawKey)) rawKeys.set(key, rawKey);
    const parsed = parseKey(key);
    if (parsed.kind === 'unknown') {
      // Under a prefix of the layout, or one of ours but for a flipped bit in its prefix, it is one of ours
      // with a damaged key (bit rot): nothing can reach it.
      const damaged = ourPrefixes.some((prefix) => key.startsWith(prefix)) || key.startsWith(KeyPrefix.modulePin) || key.startsWith(KeyPrefix.moduleMeta) || ourKeyButItsPrefix(key) || outOfOrder.has(key);
      report(key, 'unknown-key', damaged ? DAMAGED_KEY : 'is not a key of the memostrata store layout', damaged);
      if (!damaged) foreign.set(key, problems.at(-1)!);
      continue;
    }
    // A blob's head or chunk: the blob is checked whole, through the store's largeValues, below.
    if (parsed.kind === 'blob') continue;
    const fixable = parsed.kind === 'value' || parsed.kind === 'record' || parsed.kind === 'state' || parsed.kind === 'counter' || parsed.kind === 'lease' || parsed.kind === 'used-by' || parsed.kind === 'pin' || parsed.kind === 'module-pin';
    // The backend is read for its keys (and damage); values are checked as the byte layers (decrypt, signature) give them.
    const opened = store.bytes === store.backend ? stored : await throughLayers(store, rawKey);
    if (!(opened instanceof Uint8Array)) {
      report(key, 'corrupt', opened.problem, fixable);
      if (parsed.kind === 'value') brokenValues.add(parsed.uuid);
      if (parsed.kind === 'format') formatSeen = true;
      continue;
    }
    const bytes = opened;
    const reference = blobReferenceOf(store, bytes);
    if (reference !== undefined) {
      let named = references.get(reference.id);
      if (named === undefined) references.set(reference.id, (named = { bytes: reference.bytes, keys: [] }));
      named.keys.push({ key, uuid: parsed.kind === 'value' ? parsed.uuid : undefined, fixable });
      if (parsed.kind === 'format') formatSeen = true;
      continue;
    }
    let value: unknown;
    try {
      value = store.serialized.codec.decode(bytes);
    } catch (error) {
      if (parsed.kind === 'value' && isMemostrataError(error, 'UNKNOWN_TYPE')) {
        // Well-formed, but its digest needs the type's registration: count it sound, unchecked.
        unverified += 1;
        soundValues.add(parsed.uuid);
        continue;
      }
      report(key, 'corrupt', `does not decode: ${error instanceof Error ? error.message : String(error)}`, fixable);
      if (parsed.kind === 'value') brokenValues.add(parsed.uuid);
      if (parsed.kind === 'format') formatSeen = true;
      continue;
    }
    switch (parsed.kind) {
      case 'value': {
        const uuid = contentUuidOf(store, value);
        if (uuid === parsed.uuid) soundValues.add(uuid);
        else {
          brokenValues.add(parsed.uuid);
          if (uuid instanceof Error) report(key, 'corrupt', `decodes to a value that cannot be digested: ${uuid.message}`, true);
          else report(key, 'digest-mismatch', `holds a value whose content UUID is ${uuid}`, true);
        }
        break;
      }
      case 'record': {
        const problem = recordProblem(store, value, parsed.module, parsed.call);
        if (problem === undefined) records.push({ key, record: value as MemoRecord });
        else report(key, 'bad-record', problem, true);
        break;
      }
      case 'state':
        if (asSavedState(value, store.digester) === undefined) report(key, 'corrupt', 'is not a saved state that matches its checksum (damaged)', true);
        break;
      case 'lease':
        // A running call's claim: sound ones are left to their owners (and expire without them).
        if (asLeaseRecord(value) === undefined) report(key, 'corrupt', 'is not a lease { host, pid, token, startedAt, heartbeatAt, beat } (damaged)', true);
        break;
      case 'counter':
        if (asHitCounters(value) === undefined) report(key, 'corrupt', 'is not a pair of hit counters { hits, lastHitAt }', true);
        else counters.push({ key, record: memoKey(parsed.module, parsed.call) });
        break;
      case 'used-by':
        // A hint that its user call used the call it names; readers check it against the user's record, so one whose
        // user is gone or recomputed (stale) is no problem. Its value carries nothing: anything else is damage.
        if (value !== 0) report(key, 'corrupt', 'is a lineage key whose value is not 0 (damaged)', true);
        break;
      case 'pin':
      case 'module-pin':
        // A pin without its entry is sound: a call may be pinned before it is stored.
        if (asPinRecord(value) === undefined) report(key, 'corrupt', 'is a pin whose value is not { pinnedAt } (damaged)', true);
        break;
      case 'format':
        formatSeen = true;
        if (value !== FORMAT_VERSION) report(key, 'format', `is ${JSON.stringify(value)}, not ${FORMAT_VERSION}`, false);
        break;
      case 'types':
        if (!Array.isArray(value) || !value.every((name) => typeof name === 'string')) report(key, 'corrupt', 'is not a list of type names', false);
        break;
      default:
        break;
    }
  }
  if (!formatSeen) report('meta!format', 'format', 'is missing: the store has no format version', false);

  // A large value is checked through its blob: every block against its checksum and the checksums against the blob's
  // name, so a sound blob is the value that was written (it is not digested again, which would load it whole).
  const damagedBlobs = new Map<string, string[]>();
  const blobOnly = new Set<Problem>();
  const blobBroken = new Set<string>();
  const blobs: Checked['blobs'] = { checked: 0, bytes: 0, orphans: [] };
  for (const [id, { bytes, keys }] of references) {
    const problem = await blobProblem(store, { id, bytes }, keys.map((named) => named.key));
    blobs.checked += 1;
    blobs.bytes += bytes;
    progress.step();
    for (const { key, uuid, fixable } of keys) {
      if (problem === undefined) {
        if (uuid !== undefined) soundValues.add(uuid);
        continue;
      }
      if (uuid !== undefined) {
        brokenValues.add(uuid);
        blobBroken.add(uuid);
      }
      report(key, problem.kind === 'missing' ? 'missing-blob' : 'bad-blob', `names blob ${id}, which ${problem.message}`, fixable);
      blobOnly.add(problems.at(-1)!);
    }
    if (problem?.kind === 'damaged') damagedBlobs.set(id, keys.map(({ key }) => key));
  }
  for (const blob of await listBlobs(store)) {
    if (!blob.complete || !references.has(blob.id)) blobs.orphans.push({ id: blob.id, bytes: blob.bytes, complete: blob.complete, modifiedMs: blob.modifiedMs });
  }

  const recordKeys = new Set(records.map(({ key }) => key));
  for (const { key, record } of counters) {
    if (!recordKeys.has(keyText(record))) report(key, 'orphan-counter', `counts hits of ${keyText(record)}, which the store does not hold soundly (missing or broken)`, true);
  }

  for (const { key, record } of records) {
    for (const uuid of new Set(referencedUuids(record))) {
      if (uuid === undefinedUuid || soundValues.has(uuid)) continue;
      if (brokenValues.has(uuid)) {
        report(key, 'bad-value', `refers to value ${uuid}, which is broken`, true);
        if (blobBroken.has(uuid)) blobOnly.add(problems.at(-1)!);
      }
      else report(key, 'missing-value', `refers to value ${uuid}, which the store does not have`, true);
      break;
    }
  }

  progress.finish();
  return { checked, unverified, problems, rawKeys, damagedBlobs, blobOnly, blobs };
}

/** The message of an `unknown-key` problem that is one of the store's keys, damaged. */
const DAMAGED_KEY = 'is a malformed key of the store layout (damaged)';

/** The short prefixes of the store layout's keys (`meta!` keys are few and named in full). */
const ourPrefixes = [KeyPrefix.value, KeyPrefix.record, KeyPrefix.state, KeyPrefix.counter, KeyPrefix.lease, KeyPrefix.usedBy, KeyPrefix.pin];

/** Whether `key` becomes a key of the layout when its first two characters are one of the layout's prefixes: a bit flipped there. */
function ourKeyButItsPrefix(key: string): boolean {
  return key.length > 2 && ourPrefixes.some((prefix) => parseKey(prefix + key.slice(prefix.length)).kind !== 'unknown');
}
