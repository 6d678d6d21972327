import { createHash, hash } from 'node:crypto';
import { parse as parseUuid } from 'uuid';
import type { BatchOperation, Database } from '../contract/database.js';
import { MemostrataError, isMemostrataError } from '../errors.js';
import type { DigestStream, Digester } from './digest.js';
import { valueKey } from './keys.js';
import { PassThroughLayer, type LayerOptions } from './pass-through-layer.js';
import { SerializedDB, type OpenedValue } from './serialized-db.js';
import { isLarger } from './value-size.js';

/**
 * The namespace of memostrata's name-based (v5) UUIDs. Fixed forever: every
 * process and machine derives the same UUID for the same value from it.
 */
export const UUID_NAMESPACE = '863f9951-6cea-4059-a0ce-573175660787';
/** The namespace as bytes, parsed once: v5() would parse the string on every call. */
const namespaceBytes = parseUuid(UUID_NAMESPACE);
/** The namespace followed by room for a digest: the name a UUID hashes. */
const nameBuffer = new Uint8Array(namespaceBytes.length + 64);
nameBuffer.set(namespaceBytes);
/** SHA-1 as a Buffer: `crypto.hash` where this Node has it (20.12+), else a Hash object. */
const sha1: (data: Uint8Array) => Buffer =
  typeof hash === 'function' ? (data) => hash('sha1', data, 'buffer') as unknown as Buffer : (data) => createHash('sha1').update(data).digest();

/**
 * Values whose stored form is at most about this many bytes are written
 * without first asking whether the store has them: rewriting a small
 * content-addressed value is harmless and costs less than the read.
 */
const CHECK_BEFORE_WRITE_BYTES = 16 * 1024;

/**
 * The UUID of `undefined` (an argument left out, a function that returns
 * nothing). The storage contract cannot hold `undefined` (a missing key reads
 * as `undefined`), and it needs no storing: every process knows its UUID.
 */
let undefinedUuid: string | undefined;

/** How many UUIDs of values known to be stored are remembered, to skip existence checks. */
const KNOWN_STORED_LIMIT = 200_000;

/** A value together with its content UUID, ready to be written. */
export interface InternedValue {
  /** The content UUID of `value`. */
  uuid: string;
  /** The value. */
  value: unknown;
  /** The content digest the UUID was derived from, when known: lets a check of the content skip the UUID derivation. */
  digest?: Uint8Array;
}

/** Value writes prepared by {@link UUIDDatabase.internOperations}: write the operations, then commit. */
export interface PreparedValues {
  /** The puts of the values to write, for the batch. */
  operations: BatchOperation<Uint8Array, unknown>[];
  /** Remembers the written values as stored, so later flushes skip them. */
  commit(): void;
}

/**
 * Values ↔ UUIDs. A value's UUID is derived from its canonical digest, so
 * equal values get one UUID in every process and are stored once, under
 * `v!<uuid>`, whichever module or argument they came from.
 */
export class UUIDDatabase extends PassThroughLayer<unknown> {
  /** The canonical digest that derives UUIDs (and record checksums above this layer). */
  readonly digester: Digester;
  readonly #knownStored = new Set<string>();
  /** UUIDs whose stored copy was found missing or damaged: the next intern of an equal value rewrites it. */
  readonly #damaged = new Set<string>();

  /** Values being written, by identity: a large one is checked against its UUID once its blob is written. */
  readonly #writing = new WeakMap<object, InternedValue>();
  /** The layer below when it lays values out as bytes itself: it can start a large value's blob early. */
  readonly #below: SerializedDB | undefined;

  constructor(below: Database<Uint8Array, unknown>, digester: Digester, options: LayerOptions = {}) {
    super(below, options);
    this.digester = digester;
    undefinedUuid ??= UUIDDatabase.uuidOfDigest(digester.digest(undefined));
    this.#below = below instanceof SerializedDB ? below : undefined;
    this.#below?.checkLargeValuesWith((value) => this.#checkWritten(value));
  }

  /**
   * The content UUID and digest of `value`, a new value to store (a call's
   * result). A large one's blob starts on its way to the disk first, so that
   * the disk writes it while the digest is taken; the write that stores the
   * value under its UUID then finishes that blob (see
   * `SerializedDB.startWriting`).
   *
   * @throws MemostrataError `UNSERIALIZABLE` naming `path` for a value that cannot be stored.
   */
  prepare(value: unknown, path = 'value'): InternedValue {
    const started = this.#below?.startWriting(value);
    let digest: Uint8Array;
    try {
      digest = this.digester.digest(value, path);
    } catch (error) {
      started?.abandon();
      throw error;
    }
    const uuid = UUIDDatabase.uuidOfDigest(digest);
    if (started !== undefined) {
      // A value this process stored already will not be written (see internOperations): a module returning a value
      // stored before should not cost a blob's writes and fsyncs until the checkpoint. (A shared store checks then.)
      if (this.manifest.shared !== true && this.#knownStored.has(uuid)) started.abandon();
      else started.bind(valueKey(uuid));
    }
    return { uuid, digest, value };
  }

  /**
   * Drops the blob write {@link UUIDDatabase.prepare} started for `value`, if
   * any and not yet finished: the entry that held it was dropped unwritten
   * (changed in place, deleted, replaced). A store of it after this writes
   * its blob the usual way.
   */
  abandonWriting(value: unknown): void {
    this.#below?.abandonWriting(value);
  }

  /**
   * Refuses the write of a value changed in place since it got its UUID: its
   * blob would hold the changed bytes, self-consistent, under the original
   * UUID, and a read in part would serve them.
   */
  #checkWritten(value: unknown): void {
    const interned = typeof value === 'object' && value !== null ? this.#writing.get(value) : undefined;
    if (interned === undefined || this.matches(interned)) return;
    throw new MemostrataError(
      'UNSERIALIZABLE',
      `The value ${interned.uuid} was changed in place while it was being stored, so nothing of this write was stored. Treat memoized results and arguments as read-only; checkpoint again to store the rest (the changed call is dropped then).`,
    );
  }

  /** The UUID of a 128-bit content digest. */
  static uuidOfDigest(digest: Uint8Array): string {
    // RFC 9562 version 5 (SHA-1 of namespace and name), done here with one-shot hashing: on every
    // read of a value (its check) the uuid package's v5 cost twice as much.
    nameBuffer.set(digest, namespaceBytes.length);
    const bytes = sha1(nameBuffer.subarray(0, namespaceBytes.length + digest.length));
    bytes[6] = (bytes[6]! & 0x0f) | 0x50;
    bytes[8] = (bytes[8]! & 0x3f) | 0x80;
    const hex = bytes.toString('hex', 0, 16);
    return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20, 32)}`;
  }

  /**
   * The content UUID of `value`, computing nothing in the store.
   *
   * @throws MemostrataError `UNSERIALIZABLE` naming `path` for a value that cannot be stored.
   */
  uuidOf(value: unknown, path = 'value'): string {
    return UUIDDatabase.uuidOfDigest(this.digester.digest(value, path));
  }

  /** Whether `value` still has the content its UUID (and digest, if given) was derived from. */
  matches(interned: InternedValue): boolean {
    try {
      // With the digest at hand, half of it tells a changed value (this runs on every value a checkpoint writes).
      if (interned.digest !== undefined) return this.digester.hasDigest(interned.value, interned.digest);
      return UUIDDatabase.uuidOfDigest(this.digester.digest(interned.value)) === interned.uuid;
    } catch {
      return false; // changed into something that cannot even be keyed
    }
  }

  /** Stores `value` unless an equal value is stored already, and returns its UUID. */
  async intern(value: unknown, path = 'value'): Promise<string> {
    const uuid = this.uuidOf(value, path);
    const prepared = await this.internOperations([{ uuid, value }]);
    if (prepared.operations.length > 0) await this.batch(prepared.operations);
    prepared.commit();
    return uuid;
  }

  /**
   * The batch operations that store those of `values` not stored yet: each
   * UUID at most once, none this process knows to be stored, and no large
   * value the store already holds. Commit them once they are written.
   */
  async internOperations(values: readonly InternedValue[]): Promise<PreparedValues> {
    const candidates = new Map<string, unknown>();
    // A shared store may have lost what this process saw stored (a server restarted empty): check every time.
    const trustMemory = this.manifest.shared !== true;
    for (const interned of values) {
      const { uuid, value } = interned;
      if (uuid !== undefinedUuid && !(trustMemory && this.#knownStored.has(uuid))) {
        candidates.set(uuid, value);
        if (typeof value === 'object' && value !== null) this.#writing.set(value, interned);
      }
    }
    const operations: BatchOperation<Uint8Array, unknown>[] = [];
    const large: [string, unknown][] = [];
    for (const [uuid, value] of candidates) {
      // A damaged copy is there to be overwritten: never trust an existence check for it.
      if (this.#damaged.has(uuid)) operations.push({ type: 'put', key: valueKey(uuid), value });
      else if (isLarger(value, CHECK_BEFORE_WRITE_BYTES)) large.push([uuid, value]);
      else operations.push({ type: 'put', key: valueKey(uuid), value });
    }
    // has(), not getMany(): an existence check must not read an 8 MB value.
    const stored = await Promise.all(large.map(([uuid]) => this.has(valueKey(uuid))));
    large.forEach(([uuid, value], index) => {
      if (stored[index]) this.#remember(uuid);
      else operations.push({ type: 'put', key: valueKey(uuid), value });
    });
    // A value not written here (stored already, or an equal one is written) has no use for a blob started for it.
    if (this.#below?.startedWrites === true) {
      const written = new Set(operations.map((op) => (op.type === 'put' ? op.value : undefined)));
      for (const { value } of values) if (!written.has(value)) this.#below.abandonWriting(value);
    }
    return {
      operations,
      commit: () => {
        for (const [uuid, value] of candidates) {
          this.#damaged.delete(uuid);
          this.#remember(uuid);
          if (typeof value === 'object' && value !== null) this.#writing.delete(value);
        }
      },
    };
  }

  /** Forgets what is known to be stored, after values were deleted below this layer's back (pruning). */
  forgetStored(): void {
    this.#knownStored.clear();
  }

  /**
   * The value with this UUID, checked against it: a value whose content no
   * longer derives its UUID (bit rot, a foreign write) is never returned.
   *
   * @throws MemostrataError `CORRUPT` when the store has no such value (a
   *   record refers to a value that is gone), or its content does not match
   *   its UUID. Either way the next store of an equal value rewrites it.
   */
  async load(uuid: string): Promise<unknown> {
    if (uuid === undefinedUuid) return undefined;
    const key = valueKey(uuid);
    this.assertOpen();
    // Checked against its digest here: a large value's block checksums need not be checked too.
    // A large value that is one typed array is digested slice by slice while the next slice is read.
    let streamed: { array: ArrayBufferView; stream: DigestStream } | undefined;
    const watch = (array: ArrayBufferView): ((slice: Uint8Array) => void) | undefined => {
      const stream = this.digester.typedArrayStream(array);
      if (stream === undefined) return undefined;
      streamed = { array, stream };
      return (slice) => stream.update(slice);
    };
    const read = () => (this.below instanceof SerializedDB ? this.below.getForContentCheck(key, watch) : this.get(key));
    // Only the very array whose bytes were streamed, returned as the whole value, has the streamed digest.
    const stored = await this.#readChecked(uuid, read, (value) => (streamed !== undefined && value === streamed.array ? { digest: streamed.stream.digest() } : { value }));
    this.#remember(uuid);
    return stored;
  }

  /**
   * The value with this UUID, opened without reading its large typed arrays
   * (see {@link SerializedDB.open}). A value stored whole is checked against
   * its UUID as {@link UUIDDatabase.load} checks it; the parts of a large
   * one are checked against their block checksums as they are read.
   *
   * @throws MemostrataError `CORRUPT` as {@link UUIDDatabase.load}.
   */
  async open(uuid: string): Promise<OpenedValue> {
    if (uuid === undefinedUuid) return { outline: undefined, segments: new Map(), blob: undefined };
    const serialized = this.#serializedBelow();
    // A large value's outline holds stand-ins: it cannot be digested, and its parts are checked as they are read.
    return this.#readChecked(uuid, () => serialized.open(valueKey(uuid)), (opened) => (opened.blob === undefined ? { value: opened.outline } : undefined));
  }

  /**
   * What `read` finds for `uuid`, checked: missing, unreadable (`CORRUPT`) or,
   * where `content` names the value (or its digest, taken while it was read),
   * not of this UUID, it is damage. The UUID is then marked damaged (the next
   * store of an equal value rewrites it) and `CORRUPT` thrown.
   */
  async #readChecked<T>(uuid: string, read: () => Promise<T | undefined>, content: (found: T) => { value: unknown } | { digest: Uint8Array } | undefined): Promise<T> {
    let found: T | undefined;
    try {
      found = await read();
    } catch (error) {
      if (isMemostrataError(error, 'CORRUPT')) this.#markDamaged(uuid);
      throw error;
    }
    if (found === undefined) {
      this.#markDamaged(uuid);
      throw new MemostrataError('CORRUPT', `The store has no value ${uuid}, though a record refers to it; run \`memostrata verify --fix\`.`);
    }
    const checked = content(found);
    if (checked !== undefined && ('digest' in checked ? UUIDDatabase.uuidOfDigest(checked.digest) : this.#contentUuid(checked.value)) !== uuid) {
      this.#markDamaged(uuid);
      throw new MemostrataError(
        'CORRUPT',
        `The value ${uuid} in the store does not match its content digest: it is damaged (or a registered type's decode(encode(x)) differs from x). Run \`memostrata verify --fix\`.`,
      );
    }
    return found;
  }

  /** The SerializedDB under this layer: opening a value in part is its job. */
  #serializedBelow(): SerializedDB {
    if (this.#below === undefined) throw new MemostrataError('INVALID_ARGUMENT', 'UUIDDatabase.open() needs a SerializedDB right below it.');
    return this.#below;
  }

  /** The UUID a decoded value derives, or `undefined` when it cannot be digested (so it cannot match). */
  #contentUuid(value: unknown): string | undefined {
    try {
      return this.uuidOf(value);
    } catch {
      return undefined;
    }
  }

  #markDamaged(uuid: string): void {
    this.#knownStored.delete(uuid);
    this.#damaged.add(uuid);
  }

  #remember(uuid: string): void {
    // A bounded memory of what is stored: forgetting only costs an existence check.
    if (this.#knownStored.size >= KNOWN_STORED_LIMIT) this.#knownStored.clear();
    this.#knownStored.add(uuid);
  }
}
