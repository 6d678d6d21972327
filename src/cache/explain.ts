import type { Store } from './store.js';
import { recordProblem, type MemoRecord } from '../layers/memo-record.js';
import { keyText, prefixRange, recordPrefix, valueKey } from '../layers/keys.js';
import { UUIDDatabase } from '../layers/uuid-database.js';
import { isExpired } from './expiry.js';

/*
 * Why a call misses: the stored call of the same module that is closest to
 * it, and what differs. Inputs compare by their content UUIDs (what the
 * record holds), so telling equal from different loads no value.
 */

/**
 * How many stored calls of a module {@link Memoized.explain} compares at
 * most. Past it the scan stops: `nearest` is the closest of those compared
 * and `truncated` says so. It keeps an explanation (and every
 * `explainMisses` line) to one bounded read of records, never of results.
 *
 * @category Cache
 */
export const EXPLAIN_SCAN_LIMIT = 10_000;

/**
 * One way a stored call differs from the call being explained.
 *
 * - `'argument'`: the keyed argument at `position` has other content.
 * - `'version'`: the module's version differs (an explicit `version`).
 * - `'code'`: both versions are code fingerprints (`version: 'auto'`) and the code changed.
 * - `'dependency'`: a module in `dependsOn` has another name, version or code.
 * - `'expired'`: the stored call is older than the module's `maxAge`.
 *
 * @category Cache
 */
export interface Difference {
  /** What differs. */
  kind: 'argument' | 'version' | 'code' | 'dependency' | 'expired';
  /** The argument position, for `'argument'`. */
  position?: number;
  /** The difference, briefly, for people: both values when they are small. */
  detail: string;
}

/**
 * The stored call closest to an explained one.
 *
 * @category Cache
 */
export interface NearestCall {
  /** Its call digest (hex), as `memostrata ls` and `show` name it. */
  call: string;
  /** The module version it was computed with. */
  version: string;
  /** When it was stored (ms since the epoch). */
  createdAt: number;
  /** What differs from the explained call; empty only when they differ in settings no record keeps (ignored positions, key normalizer). */
  differences: Difference[];
}

/**
 * What {@link Memoized.explain} returns.
 *
 * @category Cache
 */
export interface Explanation {
  /** Whether a call with these arguments would be answered from the cache now. */
  hit: boolean;
  /** Why, in one sentence. */
  reason: string;
  /** On a miss, the closest stored call of the module; `undefined` on a hit or when the module has no stored call. */
  nearest: NearestCall | undefined;
  /** Stored calls compared. */
  scanned: number;
  /** Whether the scan stopped at {@link EXPLAIN_SCAN_LIMIT} before the module's last stored call. */
  truncated: boolean;
}

/** What an explanation compares a stored call with: the call as the module would key it now. */
export interface ExplainedCall {
  /** The module name. */
  module: string;
  /** The module version now. */
  version: string;
  /** The dependency fingerprint now. */
  deps: string;
  /** The call digest (hex) of these arguments. */
  call: string;
  /** The keyed arguments' values, by position (ignored positions are absent). */
  args: ReadonlyMap<number, unknown>;
  /** Their content UUIDs, in the order records keep them. */
  inputs: readonly string[];
  /** Their positions, in the same order. */
  positions: readonly number[];
  /** Argument positions that do not key the call. */
  ignore: ReadonlySet<number>;
  /** The module's `maxAge` (ms); `Infinity` for none. */
  maxAgeMs: number;
  /** Whether a stored error answers the call. */
  cacheErrors: boolean;
}

/** An entry held in memory, not stored yet, with its values. */
export interface UnwrittenEntry {
  record: MemoRecord;
  values: readonly { uuid: string; value: unknown }[];
}

/** The call as records keep it: keyed arguments' UUIDs and positions. */
export function describeCall(
  store: Pick<Store, 'digester'>,
  settings: Omit<ExplainedCall, 'args' | 'inputs' | 'positions' | 'call'>,
  call: string,
  args: readonly unknown[],
): ExplainedCall {
  const inputs: string[] = [];
  const positions: number[] = [];
  const values = new Map<number, unknown>();
  args.forEach((value, position) => {
    if (settings.ignore.has(position)) return;
    inputs.push(UUIDDatabase.uuidOfDigest(store.digester.digest(value, `args[${position}]`)));
    positions.push(position);
    values.set(position, value);
  });
  return { ...settings, call, args: values, inputs, positions };
}

/**
 * Explains a call: a hit, or the closest of `unwritten` (records held in
 * memory, not stored yet) and of the module's stored records (at most
 * {@link EXPLAIN_SCAN_LIMIT} of those), and what differs. Computes nothing;
 * loads no result, only small stored arguments of the nearest call, for `detail`.
 */
export async function explainCall(store: Store, current: ExplainedCall, own: MemoRecord | undefined, unwritten: Iterable<UnwrittenEntry>, now = Date.now()): Promise<Explanation> {
  if (own !== undefined) {
    if (own.error !== undefined && !current.cacheErrors) {
      return { hit: false, reason: 'the stored call rejected, and this module does not cache errors (cacheErrors: false), so it runs again', nearest: nearestOf(own, []), scanned: 1, truncated: false };
    }
    if (!isExpired(own, current.maxAgeMs, now)) return { hit: true, reason: 'a call with these arguments is stored', nearest: undefined, scanned: 1, truncated: false };
    return { hit: false, reason: 'a call with these arguments is stored but expired (older than maxAge)', nearest: nearestOf(own, [expiredDifference(own, current.maxAgeMs, now)]), scanned: 1, truncated: false };
  }
  let best: { record: MemoRecord; differences: Difference[]; values?: UnwrittenEntry['values'] } | undefined;
  const consider = (record: MemoRecord, values?: UnwrittenEntry['values']): boolean => {
    if (record.call === current.call) return false;
    const differences = differencesOf(record, current, now);
    if (best === undefined || differences.length < best.differences.length || (differences.length === best.differences.length && record.createdAt > best.record.createdAt)) {
      best = values === undefined ? { record, differences } : { record, differences, values };
    }
    // One difference cannot be beaten: none would have been this very call.
    return best.differences.length <= 1;
  };
  let scanned = 0;
  let truncated = false;
  let done = false;
  for (const { record, values } of unwritten) {
    scanned += 1;
    if (consider(record, values)) {
      done = true;
      break;
    }
  }
  if (!done) {
    for await (const record of storedRecords(store, current.module)) {
      if (scanned >= EXPLAIN_SCAN_LIMIT) {
        truncated = true;
        break;
      }
      scanned += 1;
      if (consider(record)) break;
    }
  }
  if (best === undefined) return { hit: false, reason: 'no call of this module is stored', nearest: undefined, scanned, truncated };
  const found: { record: MemoRecord; differences: Difference[]; values?: UnwrittenEntry['values'] } = best;
  await describeStoredArguments(store, found.record, found.differences, current, found.values);
  const limit = truncated ? ` (compared the first ${EXPLAIN_SCAN_LIMIT.toLocaleString('en-US')} stored calls only)` : '';
  const reason =
    found.differences.length === 0
      ? `the nearest stored call has the same version, dependencies and arguments but was keyed with other settings (ignored positions or key normalizer)${limit}`
      : `no stored call has these arguments; the nearest differs in ${found.differences.map(summary).join(', ')}${limit}`;
  return { hit: false, reason, nearest: nearestOf(found.record, found.differences), scanned, truncated };
}

/**
 * The module's stored records in key order, read for comparison only: no
 * hit counters and no checksum (nothing read here is served), and a record
 * that is not one is skipped (damage is reported where records are served).
 */
export async function* storedRecords(store: Store, module: string): AsyncGenerator<MemoRecord> {
  const prefix = recordPrefix(module);
  for await (const [key, value] of store.proxy.entries(prefixRange(prefix))) {
    if (recordProblem(value, module, keyText(key).slice(prefix.length), undefined) === undefined) yield value as MemoRecord;
  }
}

/** One line for `explainMisses`: the module and what differs from the nearest stored call. */
export function missLine(module: string, explanation: Explanation): string {
  const nearest = explanation.nearest;
  if (nearest === undefined) return `memostrata: miss in '${module}': ${explanation.reason}`;
  const details = nearest.differences.map((difference) => `${summary(difference)} (${difference.detail})`).join('; ');
  const what = details === '' ? explanation.reason : details;
  return `memostrata: miss in '${module}': ${what} vs stored call ${nearest.call.slice(0, 12)}${explanation.truncated ? ` (nearest of the first ${explanation.scanned} compared)` : ''}`;
}

function summary(difference: Difference): string {
  return difference.kind === 'argument' ? `argument ${difference.position}` : difference.kind;
}

function nearestOf(record: MemoRecord, differences: Difference[]): NearestCall {
  return { call: record.call, version: record.version, createdAt: record.createdAt, differences };
}

/** What differs between a stored record and the current call, comparing UUIDs only. */
export function differencesOf(record: MemoRecord, current: ExplainedCall, now: number): Difference[] {
  const differences: Difference[] = [];
  if (record.version !== current.version) {
    const code = record.version.startsWith('auto:') && current.version.startsWith('auto:');
    differences.push({ kind: code ? 'code' : 'version', detail: `stored ${JSON.stringify(record.version)}, now ${JSON.stringify(current.version)}` });
  }
  if (record.deps !== current.deps) {
    differences.push({ kind: 'dependency', detail: `stored ${JSON.stringify(record.deps)}, now ${JSON.stringify(current.deps)}` });
  }
  const count = Math.max(record.inputs.length, current.inputs.length);
  const positions = positionsOf(current, count);
  for (let index = 0; index < count; index++) {
    if (record.inputs[index] === current.inputs[index]) continue;
    const position = positions[index]!;
    const detail = index >= record.inputs.length ? 'the stored call has no such argument' : index >= current.inputs.length ? 'this call has no such argument' : 'other content';
    differences.push({ kind: 'argument', position, detail });
  }
  if (isExpired(record, current.maxAgeMs, now)) differences.push(expiredDifference(record, current.maxAgeMs, now));
  return differences;
}

/** The argument positions of the first `count` keyed inputs: the current call's, then onwards past its last argument, skipping ignored ones. */
function positionsOf(current: ExplainedCall, count: number): number[] {
  const positions = [...current.positions];
  let next = (positions.at(-1) ?? -1) + 1;
  while (positions.length < count) {
    if (!current.ignore.has(next)) positions.push(next);
    next += 1;
  }
  return positions;
}

function expiredDifference(record: MemoRecord, maxAgeMs: number, now: number): Difference {
  return { kind: 'expired', detail: `stored ${formatAge(now - record.createdAt)} ago, maxAge ${formatAge(maxAgeMs)}` };
}

function formatAge(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 120_000) return `${(ms / 1000).toFixed(1)} s`;
  if (ms < 7_200_000) return `${Math.round(ms / 60_000)} min`;
  if (ms < 172_800_000) return `${Math.round(ms / 3_600_000)} h`;
  return `${Math.round(ms / 86_400_000)} d`;
}

/** Stored arguments this size or smaller are read to show them in `detail`; larger ones are not read at all. */
const PREVIEW_READ_BYTES = 256;
/** Longest preview of a value. */
const PREVIEW_CHARS = 40;

/** Sets `detail` of each differing argument to both values when they are small. */
async function describeStoredArguments(store: Store, record: MemoRecord, differences: Difference[], current: ExplainedCall, held: UnwrittenEntry['values'] | undefined): Promise<void> {
  for (const difference of differences) {
    if (difference.kind !== 'argument' || difference.position === undefined) continue;
    const index = current.positions.indexOf(difference.position);
    const storedIndex = index >= 0 ? index : positionsOf(current, record.inputs.length).indexOf(difference.position);
    const now = current.args.has(difference.position) ? preview(current.args.get(difference.position)) : undefined;
    const uuid = record.inputs[storedIndex];
    const inMemory = held?.find((value) => value.uuid === uuid);
    const stored = uuid === undefined ? undefined : inMemory !== undefined ? preview(inMemory.value) : await storedPreview(store, uuid);
    if (now !== undefined && stored !== undefined) difference.detail = `now ${now}, stored ${stored}`;
    else if (now !== undefined) difference.detail = `now ${now}; ${difference.detail}`;
  }
}

/** A preview of a small stored value, reading at most its bytes (never decoding a large one); `undefined` when it is large or unreadable. */
async function storedPreview(store: Store, uuid: string): Promise<string | undefined> {
  if (uuid === undefinedUuid(store)) return 'undefined';
  try {
    const bytes = await store.bytes.get(valueKey(uuid));
    if (bytes === undefined || bytes.length > PREVIEW_READ_BYTES) return undefined;
    return preview(store.serialized.codec.decode(bytes));
  } catch {
    return undefined;
  }
}

function undefinedUuid(store: Store): string {
  return UUIDDatabase.uuidOfDigest(store.digester.digest(undefined));
}

/** A short text of a value when it is small: JSON-like for plain data, else its kind and size; `undefined` for a large value. */
function preview(value: unknown): string | undefined {
  if (value === undefined) return 'undefined';
  if (typeof value === 'bigint') return `${value}n`;
  if (typeof value === 'number') return Object.is(value, -0) ? '-0' : String(value);
  if (ArrayBuffer.isView(value)) return `${value.constructor.name}(${(value as { length?: number }).length ?? value.byteLength})`;
  let text: string | undefined;
  try {
    text = JSON.stringify(value);
  } catch {
    text = undefined;
  }
  if (text === undefined || text.length > PREVIEW_CHARS) return undefined;
  return text;
}
