import type { BatchOperation } from '../contract/database.js';
import type { Digester } from './digest.js';
import { usedByKey } from './keys.js';

/*
 * The memo record: its shape, and the one check of a stored record (used by
 * the proxy layer on every read and by the maintenance tools).
 */

/** A rejected call, as stored when a module caches errors. */
export interface StoredError {
  /** The error's `name` (`Error`, `RangeError`, …). */
  name: string;
  /** The error's message. */
  message: string;
  /** The error's `code` property, when it had a string or number one. */
  code?: string | number;
}

/**
 * One memoized call, by module name and call digest (hex): what a record's
 * lineage lists.
 *
 * @category Cache
 */
export interface CallRef {
  /** The module (memoized function) name. */
  module: string;
  /** The call digest (hex). */
  call: string;
}

/**
 * One memoized call as the store keeps it: the call's identity (module,
 * version, dependency fingerprint, input UUIDs), the UUID of its result, and
 * the metadata the CLI shows.
 */
export interface MemoRecord {
  /** The module (memoized function) name. */
  module: string;
  /** The module's version when the call ran. */
  version: string;
  /** Fingerprint of the modules it depends on (names and versions), `''` for none. */
  deps: string;
  /** The call digest (hex): what the record is addressed by. */
  call: string;
  /** UUIDs of the keyed arguments, in order. */
  inputs: string[];
  /** UUID of the result; absent when the call's error was cached instead. */
  result?: string;
  /** The cached error of a rejected call. */
  error?: StoredError;
  /**
   * The memoized calls (of any module of the cache) this call made while it
   * ran, hits and misses alike, each once, in the order of first use: its
   * lineage. Absent when it made none (and in records stored before format 3,
   * whose lineage was not recorded).
   */
  uses?: CallRef[];
  /** When the call was first stored (ms since the epoch). */
  createdAt: number;
  /** How long the original call took (ms), over every resumed run of it. */
  computeMs: number;
  /** Approximate encoded size of the result (bytes). */
  size: number;
  /**
   * Hits served since the entry was created. Stored as 0: the hits live in
   * the call’s counter keys (`c!` keys, one per writer), and listings fill in their sums.
   */
  hits: number;
  /** When it was last hit (ms since the epoch), 0 if never; filled in from the counters like `hits`. */
  lastHitAt: number;
  /**
   * Checksum (hex digest) of every field above but the hit counters, written
   * with the record: a record that does not match it is damaged and never
   * served. Set when the record is written (`sealRecord`).
   */
  check?: string;
}

/**
 * One writer's hit counters of a call, kept apart from its record so that a
 * hit never rewrites the record; the call's totals are the sums over writers.
 */
export interface HitCounters {
  /** Hits this writer served. */
  hits: number;
  /** When this writer last served one (ms since the epoch). */
  lastHitAt: number;
}

/** `value` as hit counters, or `undefined` when it is not a sound counter record. */
export function asHitCounters(value: unknown): HitCounters | undefined {
  if (value === null || typeof value !== 'object') return undefined;
  const { hits, lastHitAt } = value as Partial<HitCounters>;
  const count = (n: unknown): n is number => typeof n === 'number' && Number.isSafeInteger(n) && n >= 0;
  return count(hits) && count(lastHitAt) ? { hits, lastHitAt } : undefined;
}

const UUID_PATTERN = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** Whether `text` is a UUID as memostrata writes them (lowercase). */
export function isUuid(text: unknown): text is string {
  return typeof text === 'string' && UUID_PATTERN.test(text);
}

/**
 * The checksum of a record's identity and metadata: everything but `hits`,
 * `lastHitAt` and `check`, written as one JSON array (unambiguous for these
 * strings and numbers). It guards against damage, not forgery, and is
 * computed on every read of a record: a 64-bit hash of text is enough and
 * costs a fraction of a canonical digest.
 */
export function recordChecksum(record: MemoRecord, digester: Digester): string {
  const error = record.error === undefined ? null : [record.error.name, record.error.message, record.error.code ?? null];
  const fields: unknown[] = [record.module, record.version, record.deps, record.call, record.inputs, record.result ?? null, error, record.createdAt, record.computeMs, record.size];
  // Appended only when present, so a record without lineage keeps the checksum it had in format 2.
  if (record.uses !== undefined) fields.push(record.uses.map((used) => [used.module, used.call]));
  return digester.checksum(JSON.stringify(fields));
}

/** Sets `record.check` from its fields; returns the record. */
export function sealRecord(record: MemoRecord, digester: Digester): MemoRecord {
  record.check = recordChecksum(record, digester);
  return record;
}

/**
 * Why `value` is not a sound memo record for `module` and `call` (what its
 * key says), or `undefined` when it is one: every field present and of its
 * type, and its checksum matching. Pass `digester: undefined` to check the
 * shape only.
 */
export function recordProblem(value: unknown, module: string, call: string, digester: Digester | undefined): string | undefined {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return 'is not a map';
  const record = value as Record<string, unknown>;
  if (record.module !== module) return `names module ${JSON.stringify(record.module)}, not ${JSON.stringify(module)} as its key does`;
  if (record.call !== call) return `names call ${JSON.stringify(record.call)}, not ${call} as its key does`;
  if (typeof record.version !== 'string') return 'has no text version';
  if (typeof record.deps !== 'string') return 'has no text deps';
  if (!Array.isArray(record.inputs) || !record.inputs.every(isUuid)) return 'has inputs that are not a list of UUIDs';
  if (record.result !== undefined && !isUuid(record.result)) return 'has a result that is not a UUID';
  if (record.result === undefined) {
    const error = record.error as Record<string, unknown> | null | undefined;
    if (error === null || typeof error !== 'object' || typeof error.name !== 'string' || typeof error.message !== 'string') return 'has neither a result UUID nor an error { name, message }';
  }
  if (record.uses !== undefined && !isCallRefList(record.uses)) return 'has uses that are not a list of { module, call }';
  for (const field of ['createdAt', 'computeMs', 'size', 'hits', 'lastHitAt'] as const) {
    if (typeof record[field] !== 'number' || !Number.isFinite(record[field])) return `has no numeric ${field}`;
  }
  if (digester === undefined) return undefined;
  if (typeof record.check !== 'string') return 'has no checksum';
  let checksum: string;
  try {
    checksum = recordChecksum(record as unknown as MemoRecord, digester);
  } catch {
    return 'has fields that cannot be checksummed';
  }
  return record.check === checksum ? undefined : 'does not match its checksum (damaged)';
}

const CALL_HEX = /^[0-9a-f]{32}$/;
const MODULE_NAME = /^[^!\u0000-\u001f\u007f]{1,200}$/;

/** Whether `value` is a list of call references as records store them. */
function isCallRefList(value: unknown): value is CallRef[] {
  if (!Array.isArray(value)) return false;
  return value.every((item: unknown) => {
    if (item === null || typeof item !== 'object') return false;
    const { module, call } = item as Partial<CallRef>;
    return typeof module === 'string' && MODULE_NAME.test(module) && typeof call === 'string' && CALL_HEX.test(call);
  });
}

/**
 * The reverse lineage keys a record is written with (`u!<used>!<user>`, one
 * per call it used), put before the record in the same batch: a store that
 * applies a batch in pieces may keep a key without its record (a stale hint,
 * which readers check against the record), never a record without its keys.
 */
export function lineageOperations(record: MemoRecord): BatchOperation<Uint8Array, unknown>[] {
  if (record.uses === undefined) return [];
  return record.uses.map((used) => ({ type: 'put', key: usedByKey(used.module, used.call, record.module, record.call), value: 0 }));
}

/** Whether `record` lists `used` among the calls it used. */
export function recordUses(record: MemoRecord, used: CallRef): boolean {
  return record.uses?.some((ref) => ref.module === used.module && ref.call === used.call) === true;
}
