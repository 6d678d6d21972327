import { randomBytes } from 'node:crypto';
import type { BatchOperation } from '../contract/database.js';
import { MemostrataError } from '../errors.js';
import { withHitCounters } from './hit-counters.js';
import { counterPrefix, keyText, memoKey, prefixRange, recordPrefix } from './keys.js';
import { recordProblem, sealRecord, type MemoRecord } from './memo-record.js';
import { PassThroughLayer, type LayerOptions } from './pass-through-layer.js';
import type { UUIDDatabase } from './uuid-database.js';

export type { MemoRecord, StoredError } from './memo-record.js';

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
  /**
   * Whose hit counters this process writes (see `counterKey`): `0` on a store
   * one process holds at a time, a random id per open on a shared store.
   */
  readonly writer: string;

  constructor(values: UUIDDatabase, options: LayerOptions = {}) {
    super(values, options);
    this.values = values;
    this.writer = values.manifest.shared === true ? randomBytes(8).toString('hex') : '0';
  }

  /** The record of a call, or `undefined` when it was never stored. */
  async lookup(module: string, call: string): Promise<MemoRecord | undefined> {
    const key = memoKey(module, call);
    const stored = await this.get(key);
    return stored === undefined ? undefined : this.#asRecord(stored, key, module, call);
  }

  /** The batch operation that stores `record`, sealed with its checksum. */
  recordOperation(record: MemoRecord): BatchOperation<Uint8Array, unknown> {
    return { type: 'put', key: memoKey(record.module, record.call), value: sealRecord(record, this.values.digester) };
  }

  /** The batch operation that removes the record of a call (its values stay until pruned). */
  deleteOperation(module: string, call: string): BatchOperation<Uint8Array, unknown> {
    return { type: 'del', key: memoKey(module, call) };
  }

  /** Every record of `module`, or of every module, in key order, with its hits summed from its counters. */
  records(module?: string): AsyncGenerator<MemoRecord> {
    return withHitCounters(this.#storedRecords(module), this.entries(prefixRange(counterPrefix(module))));
  }

  async *#storedRecords(module?: string): AsyncGenerator<MemoRecord> {
    for await (const [key, value] of this.entries(prefixRange(recordPrefix(module)))) {
      const [, recordModule = '', call = ''] = keyText(key).split('!');
      yield this.#asRecord(value, key, recordModule, call);
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

  /** Checks that a stored value is a sound memo record for its key, so damage or a foreign store is never served. */
  #asRecord(value: unknown, key: Uint8Array, module: string, call: string): MemoRecord {
    const problem = recordProblem(value, module, call, this.values.digester);
    if (problem !== undefined) {
      throw new MemostrataError('CORRUPT', `The record at ${keyText(key)} ${problem}; the store is damaged or was not written by memostrata. Run \`memostrata verify --fix\`.`);
    }
    return value as MemoRecord;
  }
}
