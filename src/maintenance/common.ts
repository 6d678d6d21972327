import type { Store } from '../cache/store.js';
import { MemostrataError } from '../errors.js';
import { withHitCounters } from '../layers/hit-counters.js';
import { counterPrefix, KeyPrefix, keyText, prefixRange, recordPrefix } from '../layers/keys.js';
import { isUuid, recordProblem as checkRecord, type CallRef, type MemoRecord } from '../layers/memo-record.js';
import { UUIDDatabase } from '../layers/uuid-database.js';

/**
 * Reports progress to the CLI's progress bar: `done` units of work out of
 * `total`, or of an unknown total (`undefined`) while it is still being counted.
 */
export type ProgressCallback = (done: number, total: number | undefined) => void;

/** The option every maintenance operation takes. */
export interface ProgressOptions {
  /** Called as work proceeds; at most every {@link PROGRESS_EVERY} units, and once at the end. */
  onProgress?: ProgressCallback;
}

/** How many units of work pass between two progress reports. */
export const PROGRESS_EVERY = 1000;

/** How many operations a maintenance batch holds at most. */
export const BATCH_OPERATIONS = 1000;

/** How many value bytes a maintenance batch holds at most (LevelDB writes a batch through its log in one piece). */
export const BATCH_BYTES = 8 << 20;

/** Counts work and calls a {@link ProgressCallback} now and then. */
export class Progress {
  #done = 0;
  #total: number | undefined;
  readonly #callback: ProgressCallback | undefined;

  constructor(callback: ProgressCallback | undefined, total?: number) {
    this.#callback = callback;
    this.#total = total;
  }

  set total(total: number | undefined) {
    this.#total = total;
  }

  /** Counts `units` more done. */
  step(units = 1): void {
    const before = this.#done;
    this.#done += units;
    if (this.#callback !== undefined && Math.floor(before / PROGRESS_EVERY) !== Math.floor(this.#done / PROGRESS_EVERY)) {
      this.#callback(this.#done, this.#total);
    }
  }

  /** Reports the final count. */
  finish(): void {
    this.#callback?.(this.#done, this.#total ?? this.#done);
  }
}

/** What a key of the store is, from its text. */
export type ParsedKey =
  | { kind: 'value'; uuid: string }
  | { kind: 'record'; module: string; call: string }
  | { kind: 'state'; module: string; call: string }
  | { kind: 'counter'; module: string; call: string; writer: string }
  | { kind: 'lease'; module: string; call: string }
  | { kind: 'used-by'; used: CallRef; user: CallRef }
  | { kind: 'pin'; module: string; call: string }
  | { kind: 'module-pin'; module: string }
  /** A blob kept as chunks (`b!<id>`, its head) or one of its chunks (`b!<id>!<index>`): read through `largeValues`, never as a value. */
  | { kind: 'blob'; id: string; chunk: number | undefined }
  | { kind: 'format' }
  | { kind: 'types' }
  | { kind: 'module-meta'; module: string }
  | { kind: 'unknown' };

const CALL_PATTERN = /^[0-9a-f]{32}$/;
const WRITER_PATTERN = /^[0-9a-f]{1,32}$/;
const MODULE_PATTERN = /^[^!\u0000-\u001f\u007f]{1,200}$/;

/** Parses the text of a store key (see docs/store-format.md). */
export function parseKey(text: string): ParsedKey {
  if (text.startsWith('v!')) {
    const uuid = text.slice(2);
    return isUuid(uuid) ? { kind: 'value', uuid } : { kind: 'unknown' };
  }
  if (text.startsWith('m!') || text.startsWith('s!') || text.startsWith(KeyPrefix.lease) || text.startsWith(KeyPrefix.pin)) {
    const rest = text.slice(2);
    const bang = rest.lastIndexOf('!');
    const module = rest.slice(0, bang);
    const call = rest.slice(bang + 1);
    if (bang < 0 || !MODULE_PATTERN.test(module) || !CALL_PATTERN.test(call)) return { kind: 'unknown' };
    return { kind: text.startsWith('m!') ? 'record' : text.startsWith('s!') ? 'state' : text.startsWith(KeyPrefix.pin) ? 'pin' : 'lease', module, call };
  }
  if (text.startsWith(KeyPrefix.counter)) {
    const [module = '', call = '', writer = '', ...rest] = text.slice(KeyPrefix.counter.length).split('!');
    if (rest.length > 0 || !MODULE_PATTERN.test(module) || !CALL_PATTERN.test(call) || !WRITER_PATTERN.test(writer)) return { kind: 'unknown' };
    return { kind: 'counter', module, call, writer };
  }
  if (text.startsWith(KeyPrefix.usedBy)) {
    const [usedModule = '', usedCall = '', userModule = '', userCall = '', ...rest] = text.slice(KeyPrefix.usedBy.length).split('!');
    const sound = rest.length === 0 && MODULE_PATTERN.test(usedModule) && CALL_PATTERN.test(usedCall) && MODULE_PATTERN.test(userModule) && CALL_PATTERN.test(userCall);
    return sound ? { kind: 'used-by', used: { module: usedModule, call: usedCall }, user: { module: userModule, call: userCall } } : { kind: 'unknown' };
  }
  if (text.startsWith(KeyPrefix.blob)) {
    const match = /^b!([0-9a-f]{64})(?:!([0-9a-f]{8}))?$/.exec(text);
    return match === null ? { kind: 'unknown' } : { kind: 'blob', id: match[1]!, chunk: match[2] === undefined ? undefined : Number.parseInt(match[2], 16) };
  }
  if (text === 'meta!format') return { kind: 'format' };
  if (text === 'meta!types') return { kind: 'types' };
  if (text.startsWith(KeyPrefix.modulePin)) {
    const module = text.slice(KeyPrefix.modulePin.length);
    return MODULE_PATTERN.test(module) ? { kind: 'module-pin', module } : { kind: 'unknown' };
  }
  if (text.startsWith('meta!module!')) {
    const module = text.slice('meta!module!'.length);
    return MODULE_PATTERN.test(module) ? { kind: 'module-meta', module } : { kind: 'unknown' };
  }
  return { kind: 'unknown' };
}

/** The UUID of `undefined`: records may refer to it, but it is never stored. */
export function undefinedUuidOf(store: Store): string {
  return UUIDDatabase.uuidOfDigest(store.digester.digest(undefined));
}

/**
 * The content UUID of a decoded stored value, which its `v!<uuid>` key must
 * name; or the error that keeps the value from having one.
 */
export function contentUuidOf(store: Store, value: unknown): string | Error {
  try {
    return UUIDDatabase.uuidOfDigest(store.digester.digest(value));
  } catch (error) {
    return error instanceof Error ? error : new Error(String(error));
  }
}

/** Why `value` is not a sound memo record for `module` and `call` (checksum included), or `undefined`. */
export function recordProblem(store: Store, value: unknown, module: string, call: string): string | undefined {
  return checkRecord(value, module, call, store.digester);
}

/** The UUIDs of the values a record refers to: its inputs and its result. */
export function referencedUuids(record: MemoRecord): string[] {
  return record.result === undefined ? record.inputs : [...record.inputs, record.result];
}

/** When a record was last used: created or hit, whichever is later (ms since the epoch). */
export function lastUsedAt(record: MemoRecord): number {
  return Math.max(record.createdAt, record.lastHitAt);
}

/**
 * Every memo record of the store (or of one module), decoded from the raw
 * bytes. A record that does not decode, or is not a record, throws `CORRUPT`
 * naming its key and `memostrata verify --fix`.
 */
export function rawRecords(store: Store, module?: string): AsyncGenerator<MemoRecord> {
  return withHitCounters(decodedRecords(store, module), store.serialized.entries(prefixRange(counterPrefix(module))));
}

async function* decodedRecords(store: Store, module?: string): AsyncGenerator<MemoRecord> {
  // Through the byte layers: what the codec wrote (decrypted, signature checked).
  for await (const [key, bytes] of store.bytes.entries(prefixRange(recordPrefix(module)))) {
    yield decodeRecord(store, key, bytes);
  }
}

/** Decodes and checks one record. @throws MemostrataError `CORRUPT`. */
export function decodeRecord(store: Store, key: Uint8Array, bytes: Uint8Array): MemoRecord {
  const text = keyText(key);
  const parsed = parseKey(text);
  let value: unknown;
  try {
    value = store.serialized.codec.decode(bytes);
  } catch (error) {
    throw new MemostrataError('CORRUPT', `The record at ${text} does not decode; run \`memostrata verify --fix\`.`, { cause: error });
  }
  const problem = parsed.kind === 'record' ? recordProblem(store, value, parsed.module, parsed.call) : 'has a malformed key';
  if (problem !== undefined) throw new MemostrataError('CORRUPT', `The record at ${text} ${problem}; run \`memostrata verify --fix\`.`);
  return value as MemoRecord;
}

/**
 * Writes operations in batches bounded by count and bytes. A batch is written
 * when the next operation would overflow it, so the last batch is never empty:
 * {@link BatchWriter.flush} with `sync` then makes every batch before it durable too.
 */
export class BatchWriter {
  readonly #target: Store['backend'];
  #operations: ({ type: 'put'; key: Uint8Array; value: Uint8Array } | { type: 'del'; key: Uint8Array })[] = [];
  #bytes = 0;
  #deletedLow: Uint8Array | undefined;
  #deletedHigh: Uint8Array | undefined;
  /** Operations written so far. */
  written = 0;

  constructor(target: Store['backend']) {
    this.#target = target;
  }

  async put(key: Uint8Array, value: Uint8Array): Promise<void> {
    await this.#makeRoom(key.length + value.length);
    this.#operations.push({ type: 'put', key, value });
    this.#bytes += key.length + value.length;
  }

  async del(key: Uint8Array): Promise<void> {
    await this.#makeRoom(key.length);
    if (this.#deletedLow === undefined || Buffer.compare(key, this.#deletedLow) < 0) this.#deletedLow = key;
    if (this.#deletedHigh === undefined || Buffer.compare(key, this.#deletedHigh) > 0) this.#deletedHigh = key;
    this.#operations.push({ type: 'del', key });
    this.#bytes += key.length;
  }

  /** Writes what is pending; `sync` makes it, and every batch written before it, durable. */
  async flush(sync = false): Promise<void> {
    const operations = this.#operations;
    this.#operations = [];
    this.#bytes = 0;
    if (operations.length > 0) await this.#target.batch(operations, { sync });
    this.written += operations.length;
  }

  /**
   * Gives the disk space of what this writer deleted back to the file system
   * (the backend's `compact` over the deleted keys' range; a no-op where the
   * backend has nothing to give back). Call after the last {@link BatchWriter.flush}.
   */
  async compactDeleted(): Promise<void> {
    if (this.#deletedLow === undefined || this.#deletedHigh === undefined) return;
    await this.#target.compact({ gte: this.#deletedLow, lte: this.#deletedHigh });
  }

  async #makeRoom(bytes: number): Promise<void> {
    if (this.#operations.length > 0 && (this.#operations.length >= BATCH_OPERATIONS || this.#bytes + bytes > BATCH_BYTES)) await this.flush();
  }
}
