import { v5 as uuidV5 } from 'uuid';
import type { BatchOperation, Database } from '../contract/database.js';
import { MemostrataError } from '../errors.js';
import type { Digester } from './digest.js';
import { keyText, valueKey } from './keys.js';
import { PassThroughLayer, type LayerOptions } from './pass-through-layer.js';

/**
 * The namespace of memostrata's name-based (v5) UUIDs. Fixed forever: every
 * process and machine derives the same UUID for the same value from it.
 */
export const UUID_NAMESPACE = '863f9951-6cea-4059-a0ce-573175660787';

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
  uuid: string;
  value: unknown;
}

/**
 * Values ↔ UUIDs. A value's UUID is derived from its canonical digest, so
 * equal values get one UUID in every process and are stored once, under
 * `v!<uuid>`, whichever module or argument they came from.
 */
export class UUIDDatabase extends PassThroughLayer<unknown> {
  readonly #digester: Digester;
  readonly #knownStored = new Set<string>();

  constructor(below: Database<Uint8Array, unknown>, digester: Digester, options: LayerOptions = {}) {
    super(below, options);
    this.#digester = digester;
    undefinedUuid ??= UUIDDatabase.uuidOfDigest(digester.digest(undefined));
  }

  /** The UUID of a 128-bit content digest. */
  static uuidOfDigest(digest: Uint8Array): string {
    return uuidV5(digest, UUID_NAMESPACE);
  }

  /**
   * The content UUID of `value`, computing nothing in the store.
   *
   * @throws MemostrataError `UNSERIALIZABLE` naming `path` for a value that cannot be stored.
   */
  uuidOf(value: unknown, path = 'value'): string {
    return UUIDDatabase.uuidOfDigest(this.#digester.digest(value, path));
  }

  /** Stores `value` unless an equal value is stored already, and returns its UUID. */
  async intern(value: unknown, path = 'value'): Promise<string> {
    const uuid = this.uuidOf(value, path);
    const operations = await this.internOperations([{ uuid, value }]);
    if (operations.length > 0) {
      await this.batch(operations);
      this.markStored(operations);
    }
    return uuid;
  }

  /**
   * The batch operations that store those of `values` not stored yet: each
   * UUID at most once, and none that the store already holds. Pass the batch
   * to {@link UUIDDatabase.markStored} once it has been written.
   */
  async internOperations(values: readonly InternedValue[]): Promise<BatchOperation<Uint8Array, unknown>[]> {
    const candidates = new Map<string, unknown>();
    for (const { uuid, value } of values) {
      if (uuid !== undefinedUuid && !this.#knownStored.has(uuid)) candidates.set(uuid, value);
    }
    const entries = [...candidates];
    // has(), not getMany(): an existence check must not read an 8 MB value.
    const stored = await Promise.all(entries.map(([uuid]) => this.has(valueKey(uuid))));
    const operations: BatchOperation<Uint8Array, unknown>[] = [];
    entries.forEach(([uuid, value], index) => {
      if (stored[index]) this.#remember(uuid);
      else operations.push({ type: 'put', key: valueKey(uuid), value });
    });
    return operations;
  }

  /** Remembers that the value puts of a written batch are in the store now. */
  markStored(operations: readonly BatchOperation<Uint8Array, unknown>[]): void {
    for (const op of operations) {
      const text = keyText(op.key);
      if (op.type === 'put' && text.startsWith('v!')) this.#remember(text.slice(2));
    }
  }

  /** Forgets what is known to be stored, after values were deleted below this layer's back (pruning). */
  forgetStored(): void {
    this.#knownStored.clear();
  }

  /**
   * The value with this UUID.
   *
   * @throws MemostrataError `CORRUPT` when the store has no such value: a
   *   record refers to a value that is gone.
   */
  async load(uuid: string): Promise<unknown> {
    if (uuid === undefinedUuid) return undefined;
    const stored = await this.get(valueKey(uuid));
    if (stored === undefined) {
      throw new MemostrataError('CORRUPT', `The store has no value ${uuid}, though a record refers to it; run \`memostrata verify --fix\`.`);
    }
    this.#remember(uuid);
    return stored;
  }

  #remember(uuid: string): void {
    // A bounded memory of what is stored: forgetting only costs an existence check.
    if (this.#knownStored.size >= KNOWN_STORED_LIMIT) this.#knownStored.clear();
    this.#knownStored.add(uuid);
  }
}
