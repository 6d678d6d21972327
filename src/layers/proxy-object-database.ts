import type { BatchOperation } from '../contract/database.js';
import { MemostrataError } from '../errors.js';
import { keyText, memoKey, prefixRange, recordPrefix } from './keys.js';
import { PassThroughLayer, type LayerOptions } from './pass-through-layer.js';
import type { UUIDDatabase } from './uuid-database.js';

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
  /** When the call was first stored (ms since the epoch). */
  createdAt: number;
  /** How long the original call took (ms). */
  computeMs: number;
  /** Approximate encoded size of the result (bytes). */
  size: number;
  /** Hits served since the entry was created, as of the record's last write (refreshed at most hourly, see `HIT_REFRESH_MS`). */
  hits: number;
  /** When it was last hit (ms since the epoch), 0 if never; at most an hour old while it is being hit. */
  lastHitAt: number;
}

/** A record's values: what {@link ProxyObjectDatabase.unproxy} returns. */
export interface UnproxiedRecord {
  /** The keyed arguments, in order. */
  inputs: unknown[];
  /** The result (`undefined` for a cached error). */
  result: unknown;
}

/**
 * Memoized calls by reference: (module, version, dependency fingerprint,
 * input UUIDs) → result UUID, under `m!<module>!<call digest>`. Values live
 * once in the {@link UUIDDatabase} below; this layer only holds references,
 * and can turn them back into values for inspection.
 */
export class ProxyObjectDatabase extends PassThroughLayer<unknown> {
  /** The value layer below. */
  readonly values: UUIDDatabase;

  constructor(values: UUIDDatabase, options: LayerOptions = {}) {
    super(values, options);
    this.values = values;
  }

  /** The record of a call, or `undefined` when it was never stored. */
  async lookup(module: string, call: string): Promise<MemoRecord | undefined> {
    const key = memoKey(module, call);
    const stored = await this.get(key);
    return stored === undefined ? undefined : asRecord(stored, key);
  }

  /** The batch operation that stores `record`. */
  recordOperation(record: MemoRecord): BatchOperation<Uint8Array, unknown> {
    return { type: 'put', key: memoKey(record.module, record.call), value: record };
  }

  /** The batch operation that removes the record of a call (its values stay until pruned). */
  deleteOperation(module: string, call: string): BatchOperation<Uint8Array, unknown> {
    return { type: 'del', key: memoKey(module, call) };
  }

  /** Every record of `module`, or of every module, in key order. */
  async *records(module?: string): AsyncGenerator<MemoRecord> {
    for await (const [key, value] of this.entries(prefixRange(recordPrefix(module)))) {
      yield asRecord(value, key);
    }
  }

  /** The result a record refers to; `undefined` for a cached error (the Cache turns that into a rejection). */
  async loadResult(record: MemoRecord): Promise<unknown> {
    return record.result === undefined ? undefined : this.values.load(record.result);
  }

  /** The actual input and result values of a record, for inspection. */
  async unproxy(record: MemoRecord): Promise<UnproxiedRecord> {
    const inputs = await Promise.all(record.inputs.map((uuid) => this.values.load(uuid)));
    return { inputs, result: await this.loadResult(record) };
  }
}

/** Checks that a stored value is a memo record, so a foreign store fails clearly. */
function asRecord(value: unknown, key: Uint8Array): MemoRecord {
  const record = value as Partial<MemoRecord> | null;
  const isNumber = (field: unknown): boolean => typeof field === 'number' && Number.isFinite(field);
  if (
    record === null ||
    typeof record !== 'object' ||
    typeof record.module !== 'string' ||
    typeof record.version !== 'string' ||
    typeof record.deps !== 'string' ||
    typeof record.call !== 'string' ||
    !Array.isArray(record.inputs) ||
    !record.inputs.every((uuid) => typeof uuid === 'string') ||
    !(typeof record.result === 'string' || (record.result === undefined && typeof record.error === 'object' && record.error !== null)) ||
    ![record.createdAt, record.computeMs, record.size, record.hits, record.lastHitAt].every(isNumber)
  ) {
    throw new MemostrataError('CORRUPT', `The record at ${keyText(key)} is not a memo record; the store is damaged or was not written by memostrata.`);
  }
  return record as MemoRecord;
}
