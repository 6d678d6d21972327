import { createHmac, createPublicKey, KeyObject, sign, timingSafeEqual, verify } from 'node:crypto';
import type { BatchCondition, BatchOperation, Database, WriteOptions } from '../../contract/database.js';
import { MemostrataError } from '../../errors.js';
import { warnOnce } from '../../warnings.js';
import type { LayerOptions } from '../pass-through-layer.js';
import { formatRecordMismatch, isFormatRecord } from './format-record.js';
import { KEY_BYTES } from './key-file.js';
import { describeKey } from './key-text.js';
import { ValueTransformLayer } from './value-transform-layer.js';

/** Marks a signed value and its layout version (see stored-form.ts). */
const MAGIC = Buffer.from('mss1', 'latin1');
const HMAC_SHA256 = 1;
const ED25519 = 2;
const SIGNATURE_BYTES: Record<number, number> = { [HMAC_SHA256]: 32, [ED25519]: 64 };
/** Keeps a signature made here from meaning anything to another protocol that signs with the same key. */
const DOMAIN = Buffer.from('memostrata sign\0', 'latin1');

/** Options of a {@link SignLayer}: a shared secret, or Ed25519 keys. */
export type SignLayerOptions = LayerOptions &
  (
    | {
        /** HMAC-SHA256 with this 256-bit secret, which every reader and writer holds. */
        secret: Uint8Array;
      }
    | {
        /**
         * The Ed25519 private key this process signs its writes with; its own
         * public key is trusted too. Without it the layer is a reader: it
         * reads values signed by `publicKeys` and writes nothing.
         * @default undefined (a reader)
         */
        privateKey?: Ed25519Key;
        /** The Ed25519 public keys of the writers whose values are trusted. */
        publicKeys: readonly Ed25519Key[];
      }
  );

/**
 * An Ed25519 key: a `KeyObject` of `node:crypto` (from
 * `crypto.generateKeyPairSync('ed25519')`, `createPrivateKey` or
 * `createPublicKey`), described by the fields checked here so that the
 * published types do not need `@types/node`.
 */
export interface Ed25519Key {
  /** `'private'` or `'public'`. */
  readonly type: string;
  /** `'ed25519'`. */
  readonly asymmetricKeyType?: string | undefined;
}

/**
 * Signs every value with its key (HMAC-SHA256 or Ed25519) and serves only
 * values whose signature checks: a value planted in a shared store by
 * someone without the secret or a trusted private key reads as missing, so
 * its call is a miss and is recomputed. Each such value is counted
 * ({@link SignLayer.rejected}) and reported with one process warning
 * (`MEMOSTRATA_SIGNATURE`).
 *
 * Stored value: `mss1` · scheme (1 byte: 1 HMAC-SHA256, 2 Ed25519) · signature · value.
 * The signature covers the key and the value, so a signed value moved to another key does not check.
 */
export class SignLayer extends ValueTransformLayer {
  readonly #scheme: number;
  readonly #secret: Buffer | undefined;
  readonly #privateKey: KeyObject | undefined;
  readonly #publicKeys: readonly KeyObject[];
  #rejected = 0;

  constructor(below: Database<Uint8Array, Uint8Array>, options: SignLayerOptions) {
    super(below, options);
    if ('secret' in options) {
      if (!(options.secret instanceof Uint8Array) || options.secret.length !== KEY_BYTES) {
        throw new MemostrataError('CONFIG', `SignLayer: secret must be ${KEY_BYTES} bytes (a 256-bit key); read one with readKeyFile().`);
      }
      this.#scheme = HMAC_SHA256;
      this.#secret = Buffer.from(options.secret);
      this.#publicKeys = [];
      return;
    }
    this.#scheme = ED25519;
    const privateKey = options.privateKey as KeyObject | undefined;
    if (privateKey !== undefined) checkEd25519(privateKey, 'private', 'privateKey');
    const publicKeys = [...(options.publicKeys ?? [])] as KeyObject[];
    publicKeys.forEach((key, index) => checkEd25519(key, 'public', `publicKeys[${index}]`));
    if (privateKey !== undefined) publicKeys.push(createPublicKey(privateKey));
    if (publicKeys.length === 0) throw new MemostrataError('CONFIG', 'SignLayer: give a secret, or Ed25519 publicKeys (and a privateKey to write).');
    this.#privateKey = privateKey;
    this.#publicKeys = publicKeys;
  }

  /** Values this layer refused to serve (signature missing or wrong) since it was opened. */
  get rejected(): number {
    return this.#rejected;
  }

  /** Whether this layer only reads (Ed25519 public keys, no private key): every write is dropped. */
  get readOnly(): boolean {
    return this.#scheme === ED25519 && this.#privateKey === undefined;
  }

  protected seal(key: Uint8Array, value: Uint8Array): Uint8Array {
    const message = signedMessage(key, value);
    const signature = this.#secret !== undefined ? createHmac('sha256', this.#secret).update(message).digest() : sign(null, message, this.#privateKey!);
    return Buffer.concat([MAGIC, Buffer.of(this.#scheme), signature, value]);
  }

  protected open(key: Uint8Array, stored: Uint8Array): Uint8Array | undefined {
    const bytes = Buffer.from(stored.buffer, stored.byteOffset, stored.byteLength);
    const length = SIGNATURE_BYTES[this.#scheme]!;
    const start = MAGIC.length + 1 + length;
    if (bytes.length < start || Buffer.compare(bytes.subarray(0, MAGIC.length), MAGIC) !== 0) {
      if (isFormatRecord(key)) throw formatRecordMismatch('sign', bytes);
      return this.#reject(key, 'has no signature of this store');
    }
    if (bytes[MAGIC.length] !== this.#scheme) {
      if (isFormatRecord(key)) throw this.#untrustedStore(bytes[MAGIC.length] === ED25519 ? 'with Ed25519' : 'with a shared secret');
      return this.#reject(key, 'has no signature of this store');
    }
    const signature = bytes.subarray(MAGIC.length + 1, start);
    const value = bytes.subarray(start);
    const message = signedMessage(key, value);
    const valid =
      this.#secret !== undefined
        ? timingSafeEqual(createHmac('sha256', this.#secret).update(message).digest(), signature)
        : this.#publicKeys.some((publicKey) => verify(null, message, publicKey, signature));
    if (!valid && isFormatRecord(key)) throw this.#untrustedStore('by a writer this configuration does not trust');
    return valid ? Buffer.from(value) : this.#reject(key, 'has a wrong signature');
  }

  /**
   * The store's format record, the first value an open reads, does not check:
   * the whole store is of writers this configuration does not trust. Said at
   * once, rather than read as an empty store that "holds data memostrata did
   * not write".
   */
  #untrustedStore(how: string): MemostrataError {
    const give = this.#secret !== undefined ? 'the secretFile the store was made with' : 'the publicKeyFiles of the writers that made it';
    return new MemostrataError('KEY', `The store's format record is signed ${how}, so this configuration trusts none of the store: give ${give} (a shared secret store takes secretFile, an Ed25519 one privateKeyFile and publicKeyFiles); nothing was changed.`);
  }

  protected async _put(key: Uint8Array, value: Uint8Array, options: WriteOptions): Promise<void> {
    if (this.#dropWrite()) return;
    return super._put(key, value, options);
  }

  protected async _delete(key: Uint8Array, options: WriteOptions): Promise<void> {
    if (this.#dropWrite()) return;
    return super._delete(key, options);
  }

  protected async _batch(operations: readonly BatchOperation<Uint8Array, Uint8Array>[], options: WriteOptions): Promise<void> {
    if (this.#dropWrite()) return;
    return super._batch(operations, options);
  }

  protected async _batchIf(condition: BatchCondition<Uint8Array, Uint8Array>, operations: readonly BatchOperation<Uint8Array, Uint8Array>[], options: WriteOptions): Promise<boolean> {
    // A reader applies nothing, so it cannot say a condition held and a batch was applied.
    if (this.#dropWrite()) return false;
    return super._batchIf(condition, operations, options);
  }

  #dropWrite(): boolean {
    if (!this.readOnly) return false;
    warnOnce(
      'memostrata: the store is signed and this cache has only public keys (no privateKeyFile): it reads signed results and computes misses, but stores nothing.',
      'MEMOSTRATA_READ_ONLY',
    );
    return true;
  }

  #reject(key: Uint8Array, problem: string): undefined {
    this.#rejected += 1;
    warnOnce(
      `memostrata: the value at ${describeKey(key)} ${problem}; it is never served (read as missing: its call is recomputed). Someone without the signing key wrote to the store; \`memostrata verify\` lists such values.`,
      'MEMOSTRATA_SIGNATURE',
    );
    return undefined;
  }
}

function signedMessage(key: Uint8Array, value: Uint8Array): Buffer {
  const length = Buffer.alloc(4);
  length.writeUInt32BE(key.length);
  return Buffer.concat([DOMAIN, length, key, value]);
}

function checkEd25519(key: KeyObject, type: 'private' | 'public', field: string): void {
  if (!(key instanceof KeyObject) || key.type !== type || key.asymmetricKeyType !== 'ed25519') {
    throw new MemostrataError('CONFIG', `SignLayer: ${field} must be an Ed25519 ${type} KeyObject (crypto.generateKeyPairSync('ed25519'), or a PEM file read with createPrivateKey/createPublicKey).`);
  }
}
