import type { Store } from '../cache/store.js';
import { isMemostrataError, MemostrataError } from '../errors.js';
import { FORMAT_VERSION, formatKey, KeyPrefix, keyText, prefixRange } from '../layers/keys.js';
import { recordProblem, sealRecord, type MemoRecord } from '../layers/memo-record.js';
import { asSavedState, sealState, type SavedState } from '../layers/saved-state.js';
import { BatchWriter, parseKey, Progress, type ProgressOptions } from './common.js';

/*
 * Format 1 → 2: memo records gain their checksum (`check`), saved states are
 * wrapped as { state, check, computeMs }. Everything else is unchanged.
 *
 * Format 2 → 3: nothing to convert. Format 3 adds lineage (an optional `uses`
 * in records, covered by the checksum only when present, and `u!` keys), so a
 * format-2 record is a format-3 record with no lineage recorded. Only the
 * format key changes, which is what keeps memostrata versions that do not
 * record lineage from writing to the store (their calls would miss from it).
 *
 * Format 3 → 4: nothing to convert either. Format 4 may keep a large value as
 * a reference to a blob, which format-3 code would refuse as damage; values
 * stored whole stay valid. Again only the format key changes.
 *
 * Crash safety without a second copy of the store: every converted entry is
 * valid in both formats' keyspace, a converted entry is recognised as such
 * (a sealed record matches its checksum; a wrapped state matches its own),
 * so a re-run after a kill skips what is done; and the format key, which is
 * what makes readers accept the store, is written last, in its own synced
 * batch, after every converted entry is durable.
 */

/** The oldest format {@link migrateStore} converts from. */
export const MIGRATES_FROM = 1;

/** The format whose records and states need converting (sealing, wrapping); later ones are already sound. */
const UNSEALED_FORMAT = 1;

/** What {@link migrateStore} did. */
export interface MigrateResult {
  /** The format the store had. */
  from: number;
  /** The format the store has now. */
  to: number;
  /** Whether the store already had the current format (nothing was written). */
  upToDate: boolean;
  /** Memo records sealed with their checksum. */
  records: number;
  /** Saved states wrapped with their checksum. */
  states: number;
  /** Records and states a previous, interrupted run had already converted. */
  alreadyDone: number;
  /** Keys of records and states left as they were because they are damaged (`memostrata verify --fix` removes them). */
  damaged: string[];
}

/**
 * Converts a store of an older format (1 or 2) to the current format, in
 * place. Killed at any moment, the store is either still of its old format
 * (run it again: what was converted is skipped) or of the current format,
 * complete.
 *
 * Open the store without the format check (`openStore(config, types, {
 * checkFormat: false })`) and with no other writer on it.
 *
 * @returns what was converted; `upToDate` when the store already had the current format.
 * @throws MemostrataError `FORMAT_VERSION` for a format this memostrata does not
 *   know (newer); `NOT_A_STORE` for a keyspace without a format version;
 *   `UNKNOWN_TYPE` for a saved state of a type `store.types` lacks (the store
 *   stays of format 1; open it with the CLI's registry, which reads every type).
 */
export async function migrateStore(store: Store, options: ProgressOptions = {}): Promise<MigrateResult> {
  const from = await readVersion(store);
  const result: MigrateResult = { from, to: FORMAT_VERSION, upToDate: from === FORMAT_VERSION, records: 0, states: 0, alreadyDone: 0, damaged: [] };
  if (result.upToDate) return result;

  const codec = store.serialized.codec;
  const progress = new Progress(options.onProgress, from === UNSEALED_FORMAT ? await countKeys(store) : 0);
  const writer = new BatchWriter(store.backend);
  for (const prefix of from === UNSEALED_FORMAT ? [KeyPrefix.record, KeyPrefix.state] : []) {
    // LevelDB iterators read a snapshot: the writes below do not disturb them.
    for await (const [key, bytes] of store.backend.entries(prefixRange(prefix))) {
      progress.step();
      const text = keyText(key);
      const converted = convert(store, text, bytes);
      if (converted === 'done') result.alreadyDone += 1;
      else if (converted === 'damaged') result.damaged.push(text);
      else {
        await writer.put(key, codec.encode(converted.value, text));
        result[converted.kind] += 1;
      }
    }
  }
  // Every converted entry durable before the version that makes readers trust them.
  await writer.flush(true);
  await store.backend.batch([{ type: 'put', key: formatKey, value: codec.encode(FORMAT_VERSION, 'the format version') }], { sync: true });
  progress.finish();
  return result;
}

async function readVersion(store: Store): Promise<number> {
  let version: unknown;
  try {
    version = await store.serialized.get(formatKey);
  } catch (error) {
    throw new MemostrataError('NOT_A_STORE', `${store.location} is not a memostrata store: its format record does not decode.`, { cause: error });
  }
  if (version === undefined) throw new MemostrataError('NOT_A_STORE', `${store.location} holds no format version: it is not a memostrata store, so there is nothing to migrate.`);
  if (typeof version !== 'number' || !Number.isInteger(version) || version < MIGRATES_FROM || version > FORMAT_VERSION) {
    throw new MemostrataError(
      'FORMAT_VERSION',
      `The store at ${store.location} has format version ${JSON.stringify(version)}; this memostrata migrates versions ${MIGRATES_FROM} to ${FORMAT_VERSION - 1} into ${FORMAT_VERSION} only. Upgrade memostrata to read it.`,
    );
  }
  return version;
}

async function countKeys(store: Store): Promise<number> {
  let count = 0;
  for (const prefix of [KeyPrefix.record, KeyPrefix.state]) {
    for await (const _ of store.backend.keys(prefixRange(prefix))) count += 1;
  }
  return count;
}

type Conversion = 'done' | 'damaged' | { kind: 'records' | 'states'; value: MemoRecord | SavedState };

/** What one record or saved state becomes. Damage is left for `verify` to report: sealing it would make it look sound. */
function convert(store: Store, text: string, bytes: Uint8Array): Conversion {
  const parsed = parseKey(text);
  if (parsed.kind !== 'record' && parsed.kind !== 'state') return 'damaged';
  let value: unknown;
  try {
    value = store.serialized.codec.decode(bytes);
  } catch (error) {
    // Not damage: this registry lacks the type. Stop before the format key, so a re-run with the type resumes.
    if (isMemostrataError(error) && error.code === 'UNKNOWN_TYPE') {
      throw new MemostrataError('UNKNOWN_TYPE', `${text} holds a value of a type this program has not registered, so it cannot be migrated here; run \`memostrata migrate\` (it reads every type), or register the type first. The store is still of format ${UNSEALED_FORMAT}.`, { cause: error });
    }
    return 'damaged';
  }
  if (parsed.kind === 'record') {
    if (recordProblem(value, parsed.module, parsed.call, undefined) !== undefined) return 'damaged';
    const record = value as MemoRecord;
    if (record.check !== undefined) return recordProblem(record, parsed.module, parsed.call, store.digester) === undefined ? 'done' : 'damaged';
    return { kind: 'records', value: sealRecord(record, store.digester) };
  }
  // A format-1 state that happens to look wrapped and match its own 128-bit checksum is not a case to plan for.
  if (asSavedState(value, store.digester) !== undefined) return 'done';
  try {
    return { kind: 'states', value: sealState(value, 0, store.digester) };
  } catch {
    return 'damaged';
  }
}
