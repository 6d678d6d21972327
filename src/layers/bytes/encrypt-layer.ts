import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import type { Database } from '../../contract/database.js';
import type { BatchOperation } from '../../contract/database.js';
import { MemostrataError, isMemostrataError } from '../../errors.js';
import type { LayerOptions } from '../pass-through-layer.js';
import { formatRecordMismatch, isFormatRecord } from './format-record.js';
import { KEY_BYTES, KEY_ID_BYTES, keyId } from './key-file.js';
import { describeKey, keyAsText } from './key-text.js';
import { ValueTransformLayer } from './value-transform-layer.js';

/** Marks an encrypted value and its layout version (see stored-form.ts): a value without it was not written by this layer. */
const MAGIC = Buffer.from('mse1', 'latin1');
const NONCE_BYTES = 12;
const TAG_BYTES = 16;
const HEADER_BYTES = MAGIC.length + KEY_ID_BYTES + NONCE_BYTES;

/** Options of an {@link EncryptLayer}. */
export interface EncryptLayerOptions extends LayerOptions {
  /** The 256-bit key every value is written with (and read with). */
  key: Uint8Array;
  /**
   * Older keys, only to read values written before a rotation; never written
   * with. `memostrata rekey` rewrites those values with `key`.
   * @default []
   */
  previousKeys?: readonly Uint8Array[];
}

/**
 * Encrypts every value with AES-256-GCM: a random 96-bit nonce per write,
 * and the id of the key stored with the value so that a rotated store can be
 * read with old and new keys at once. The value's key is the associated
 * data: a value moved to another key does not open.
 *
 * Stored value: `mse1` · key id (8 bytes) · nonce (12) · ciphertext · tag (16).
 * Keys stay in the clear (module names, call digests), as do sizes and counts.
 */
export class EncryptLayer extends ValueTransformLayer {
  readonly #key: Buffer;
  readonly #keyId: Buffer;
  /** Every key this layer reads with, by hex key id. */
  readonly #keys = new Map<string, Buffer>();

  constructor(below: Database<Uint8Array, Uint8Array>, options: EncryptLayerOptions) {
    super(below, options);
    this.#key = checkKey(options.key, 'key');
    this.#keyId = Buffer.from(keyId(this.#key));
    for (const [index, key] of (options.previousKeys ?? []).entries()) {
      const checked = checkKey(key, `previousKeys[${index}]`);
      this.#keys.set(Buffer.from(keyId(checked)).toString('hex'), checked);
    }
    this.#keys.set(this.#keyId.toString('hex'), this.#key);
  }

  /** The id of the key values are written with, as hex. */
  get keyId(): string {
    return this.#keyId.toString('hex');
  }

  /**
   * Whether `stored` (a value as it is below this layer) is encrypted with
   * the current key: what `memostrata rekey` skips.
   */
  isCurrent(stored: Uint8Array): boolean {
    return stored.length >= HEADER_BYTES && hasMagic(stored) && Buffer.compare(stored.subarray(MAGIC.length, MAGIC.length + KEY_ID_BYTES), this.#keyId) === 0;
  }

  /**
   * Rewrites every value encrypted with a previous key with the current key,
   * `batchSize` keys per atomic batch, so a crash loses nothing and a rerun
   * skips what is done. A value read, then changed by another writer before
   * its batch is written, is left to that writer. Values that fail their
   * authentication are left as they are and counted (`memostrata verify
   * --fix` removes them).
   *
   * @throws MemostrataError `KEY` for a value of a key this layer does not hold (nothing of its batch is written).
   */
  async reencrypt(options: ReencryptOptions = {}): Promise<ReencryptResult> {
    this.assertOpen();
    const batchSize = options.batchSize ?? 256;
    const result: ReencryptResult = { rewritten: 0, current: 0, damaged: [] };
    let total = 0;
    for await (const _ of this.below.keys()) total += 1;
    let done = 0;
    let pending: [Uint8Array, Uint8Array][] = [];
    const writePending = async (): Promise<void> => {
      if (pending.length === 0) return;
      const batch = pending;
      pending = [];
      const now = await this.below.getMany(batch.map(([key]) => key));
      const operations: BatchOperation<Uint8Array, Uint8Array>[] = [];
      for (const [index, [key, stored]] of batch.entries()) {
        const still = now[index];
        if (still === undefined || Buffer.compare(still, stored) !== 0) continue;
        let value: Uint8Array;
        try {
          value = this.open(key, stored);
        } catch (error) {
          if (!isMemostrataError(error, 'CORRUPT')) throw error;
          result.damaged.push(keyAsText(key));
          continue;
        }
        operations.push({ type: 'put', key, value: this.seal(key, value) });
      }
      if (operations.length > 0) await this.below.batch(operations, { sync: true });
      result.rewritten += operations.length;
    };
    for await (const [key, stored] of this.below.entries()) {
      done += 1;
      if (this.isCurrent(stored)) result.current += 1;
      else pending.push([key, stored]);
      if (pending.length >= batchSize) await writePending();
      if (done % 1000 === 0) options.onProgress?.(done, total);
    }
    await writePending();
    options.onProgress?.(done, Math.max(total, done));
    return result;
  }

  protected seal(key: Uint8Array, value: Uint8Array): Uint8Array {
    const nonce = randomBytes(NONCE_BYTES);
    const cipher = createCipheriv('aes-256-gcm', this.#key, nonce, { authTagLength: TAG_BYTES });
    cipher.setAAD(key);
    const body = cipher.update(value);
    const last = cipher.final();
    return Buffer.concat([MAGIC, this.#keyId, nonce, body, last, cipher.getAuthTag()]);
  }

  protected open(key: Uint8Array, stored: Uint8Array): Uint8Array {
    if (stored.length < HEADER_BYTES + TAG_BYTES || !hasMagic(stored)) {
      if (isFormatRecord(key)) throw formatRecordMismatch('encrypt', stored);
      throw new MemostrataError('CORRUPT', `The value at ${describeKey(key)} is not encrypted (it was written without the encrypt layer, or is damaged). Run \`memostrata verify --fix\` with this configuration to remove it.`);
    }
    const bytes = Buffer.from(stored.buffer, stored.byteOffset, stored.byteLength);
    const id = bytes.subarray(MAGIC.length, MAGIC.length + KEY_ID_BYTES).toString('hex');
    const secret = this.#keys.get(id);
    if (secret === undefined) {
      throw new MemostrataError(
        'KEY',
        `The value at ${describeKey(key)} is encrypted with key ${id}, which this configuration does not hold (it writes with key ${this.keyId}). Give that key file as keyFile or in previousKeyFiles; nothing was changed.`,
      );
    }
    const nonce = bytes.subarray(MAGIC.length + KEY_ID_BYTES, HEADER_BYTES);
    const decipher = createDecipheriv('aes-256-gcm', secret, nonce, { authTagLength: TAG_BYTES });
    decipher.setAAD(key);
    decipher.setAuthTag(bytes.subarray(bytes.length - TAG_BYTES));
    try {
      return Buffer.concat([decipher.update(bytes.subarray(HEADER_BYTES, bytes.length - TAG_BYTES)), decipher.final()]);
    } catch (error) {
      throw new MemostrataError('CORRUPT', `The value at ${describeKey(key)} fails its authentication (key ${id}): it was damaged or changed after it was written. It is not served; its call is recomputed.`, { cause: error });
    }
  }
}

/** Options of {@link EncryptLayer.reencrypt}. */
export interface ReencryptOptions {
  /** Keys per atomic batch. @default 256 */
  batchSize?: number;
  /** Called with (keys looked at, keys in the store) as work proceeds. @default undefined */
  onProgress?: (done: number, total: number | undefined) => void;
}

/** What {@link EncryptLayer.reencrypt} did. */
export interface ReencryptResult {
  /** Values rewritten with the current key. */
  rewritten: number;
  /** Values already under the current key, left as they were. */
  current: number;
  /** Keys (as text) whose values fail their authentication: left as they were. */
  damaged: string[];
}

function checkKey(key: Uint8Array, field: string): Buffer {
  if (!(key instanceof Uint8Array) || key.length !== KEY_BYTES) {
    throw new MemostrataError('CONFIG', `EncryptLayer: ${field} must be ${KEY_BYTES} bytes (a 256-bit key); read one with readKeyFile().`);
  }
  return Buffer.from(key);
}

function hasMagic(stored: Uint8Array): boolean {
  return Buffer.compare(stored.subarray(0, MAGIC.length), MAGIC) === 0;
}
