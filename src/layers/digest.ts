/**
 * The canonical digest: the identity of a value as a memoization key.
 *
 * A value is walked through `classify` (the one definition of the supported
 * value space) and streamed, as a type-tagged, length-prefixed canonical form,
 * into two xxhash64 passes with two fixed seeds; the two 64-bit results,
 * big-endian, make the 16-byte digest. cbor-x output is never hashed: it has
 * no canonical form.
 *
 * The rules (equal digest ⇔ equal key):
 * - **Numbers** key on their exact IEEE-754 bits, so `-0` and `0` are
 *   different keys (`1 / x` tells them apart). All `NaN`s are one key: plain JS
 *   numbers cannot carry a NaN payload reliably. Inside typed arrays the raw
 *   bytes count, NaN payloads included.
 * - **No coercion across types**: `1`, `1n`, `'1'`, `true` all differ.
 *   Bigints key on their value.
 * - **Strings** key on their UTF-16 code units (well-formed strings are
 *   hashed as UTF-8, strings with an unpaired surrogate as UTF-16; the two
 *   forms are tagged apart).
 * - **`undefined`** is a value: `{ a: undefined }` differs from `{}`; an array
 *   hole keys like `undefined`.
 * - **Objects** key on their own enumerable string keys and values; key order
 *   does not matter. A null-prototype object keys like a plain object.
 *   An own property named `__proto__` is an ordinary key.
 * - **Map and Set** order does not matter: each entry is digested on its own,
 *   and the sorted entry digests are hashed. Keys may be any supported value.
 *   (JS itself stores a `-0` Map key or Set element as `0`.)
 * - **Typed arrays** key on their class + length + the bytes of the view,
 *   little-endian (a `Float32Array` and a `Uint8Array` of the same bytes
 *   differ). **Buffer** is its own kind, apart from `Uint8Array`. **DataView**,
 *   **Buffer** and **ArrayBuffer** key on their bytes. A view keys only on its
 *   own bytes, never on the rest of its backing buffer.
 * - **Date** keys on its time value; every invalid Date is one key.
 * - **Registered types** key on their registered name + the canonical form of
 *   `definition.encode(value)`: two instances with equal encoded forms are one key.
 * - **Shared references** (a DAG) are fine and key like copies. A **cycle**,
 *   a function, a symbol, an object with symbol keys or an instance of an
 *   unregistered class throws `UNSERIALIZABLE` naming the path, such as
 *   `args[1].mesh.nodes`.
 * - **Nothing unseen**: an array or other built-in with an own enumerable
 *   named property or a symbol-keyed one (`Object.assign([1, 2], { extra })`,
 *   a RegExp match array) throws `UNSERIALIZABLE` naming it (`args[0].extra`);
 *   so do subclasses of built-ins and detached buffers (see `classify`).
 * - **Limits** (src/layers/limits.ts) are the codec's: a value the digest
 *   accepts can be stored and read back.
 *
 * @module
 */
import xxhash, { type XXHashAPI } from 'xxhash-wasm';
import { CanonicalEncoder, TypedArrayDigestStream } from './digest/canonical-encoder.js';
import { LITTLE_ENDIAN_HOST } from './digest/hash-sink.js';
import { classify } from './value-kind.js';
import { defaultTypes, type TypeRegistry } from './type-registry.js';

/** Length of a digest in bytes (128 bits). */
export const DIGEST_BYTES = 16;

/**
 * Version of the canonical form. It changes whenever any digest would change;
 * a store keyed under another version must not be read as if it were this one.
 */
export const DIGEST_FORMAT_VERSION = 1;

/** Computes canonical digests. Not safe to share across worker threads (each loads its own). */
export interface Digester {
  /**
   * The 128-bit digest of `value`'s canonical form. Throws `UNSERIALIZABLE`
   * naming the path (`path` is the root's name, default `'value'`), e.g. `args[1].mesh.nodes`.
   */
  digest(value: unknown, path?: string): Uint8Array;
  /**
   * Whether `value` still has the content that `digest` is the digest of,
   * comparing only the first of its two 64-bit hashes (half the work of a
   * digest): for checking that a value was not changed in place, never for
   * keying one. Throws as {@link Digester.digest} does.
   */
  hasDigest(value: unknown, digest: Uint8Array): boolean;
  /**
   * A digest of `array` as a whole value that takes its bytes as they arrive
   * (`update` with whole elements, in order; then `digest()`, equal to
   * {@link Digester.digest} of the filled array): so a restore hashes one
   * slice while it reads the next. `undefined` when `array` is not digested
   * as a plain typed array (a Buffer, a registered type, a DataView) or the
   * host is big-endian: digest the value whole then.
   */
  typedArrayStream(array: ArrayBufferView): DigestStream | undefined;
  /** One digest per argument of a call, with paths `args[0]`, `args[1]`, … */
  digestArgs(args: readonly unknown[]): Uint8Array[];
  /** The 128-bit digest of raw byte parts, each length-prefixed so that parts cannot run together. */
  digestParts(parts: readonly Uint8Array[]): Uint8Array;
  /**
   * The in-memory key of a call of the module whose 16-byte `identity` is
   * given, over the arguments not in `ignore`: for short arguments their exact
   * canonical bytes (no hashing: the hot path of a memoized hit), else `#` and
   * the digest's hex. Throws `UNSERIALIZABLE` naming `args[i]…`.
   */
  callKey(identity: Uint8Array, args: readonly unknown[], ignore: ReadonlySet<number>): string;
  /** The 128-bit call digest of a {@link Digester.callKey}: the digest of the call's canonical form, whichever way it was keyed. */
  callDigest(key: string): Uint8Array;
  /**
   * A 64-bit checksum of `text`'s UTF-8 bytes, as 16 hex digits: for telling
   * damaged data from sound data, never for identity (use a digest for that).
   */
  checksum(text: string): string;
}

/** A digest fed its bytes piece by piece: see {@link Digester.typedArrayStream}. */
export interface DigestStream {
  update(bytes: Uint8Array): void;
  digest(): Uint8Array;
}

let hashApi: Promise<XXHashAPI> | undefined;

/**
 * A {@link Digester} for values whose registered types come from `types`
 * (default: the process-wide registry). The xxhash wasm module is loaded once
 * per process.
 */
export async function loadDigester(types: TypeRegistry = defaultTypes): Promise<Digester> {
  return new CanonicalDigester(await loadXxhash(), types);
}

/** The xxhash wasm module, loaded once per process (digests and blob block checksums share it). */
export function loadXxhash(): Promise<XXHashAPI> {
  hashApi ??= xxhash().catch((error: unknown) => {
    hashApi = undefined; // let a later call retry
    throw error;
  });
  return hashApi;
}

/** The digest as 32 lowercase hex digits. */
export function digestToHex(digest: Uint8Array): string {
  return Buffer.from(digest.buffer, digest.byteOffset, digest.byteLength).toString('hex');
}

class CanonicalDigester implements Digester {
  readonly #hash: XXHashAPI;
  readonly #types: TypeRegistry;
  readonly #encoder: CanonicalEncoder;
  readonly #out = new Uint8Array(DIGEST_BYTES);
  readonly #outView = new DataView(this.#out.buffer);

  constructor(hash: XXHashAPI, types: TypeRegistry) {
    this.#hash = hash;
    this.#types = types;
    this.#encoder = new CanonicalEncoder(hash, types);
  }

  digest(value: unknown, path = 'value'): Uint8Array {
    const encoder = this.#acquire();
    try {
      encoder.digestInto(value, path, this.#outView, 0);
      return this.#out.slice();
    } finally {
      encoder.busy = false;
    }
  }

  hasDigest(value: unknown, digest: Uint8Array): boolean {
    if (digest.length !== DIGEST_BYTES) return false;
    const encoder = this.#acquire();
    try {
      return encoder.firstHashOf(value, 'value') === new DataView(digest.buffer, digest.byteOffset, DIGEST_BYTES).getBigUint64(0);
    } finally {
      encoder.busy = false;
    }
  }

  typedArrayStream(array: ArrayBufferView): DigestStream | undefined {
    const kind = classify(array, 'value', this.#types);
    if (kind.kind !== 'typed-array') return undefined;
    const elementSize = kind.value.BYTES_PER_ELEMENT;
    if (!LITTLE_ENDIAN_HOST && elementSize !== 1) return undefined;
    return new TypedArrayDigestStream(this.#hash, kind.name, array.byteLength, elementSize);
  }

  digestArgs(args: readonly unknown[]): Uint8Array[] {
    const encoder = this.#acquire();
    try {
      const digests: Uint8Array[] = [];
      for (let i = 0; i < args.length; i++) {
        encoder.digestInto(args[i], argumentPath(i), this.#outView, 0);
        digests.push(this.#out.slice());
      }
      return digests;
    } finally {
      encoder.busy = false;
    }
  }

  digestParts(parts: readonly Uint8Array[]): Uint8Array {
    const encoder = this.#acquire();
    try {
      encoder.partsInto(parts, this.#outView, 0);
      return this.#out.slice();
    } finally {
      encoder.busy = false;
    }
  }

  callKey(identity: Uint8Array, args: readonly unknown[], ignore: ReadonlySet<number>): string {
    const encoder = this.#acquire();
    try {
      return encoder.callKey(identity, args, ignore, argumentPath);
    } finally {
      encoder.busy = false;
    }
  }

  callDigest(key: string): Uint8Array {
    const encoder = this.#acquire();
    try {
      encoder.callDigestInto(key, this.#outView, 0);
      return this.#out.slice();
    } finally {
      encoder.busy = false;
    }
  }

  checksum(text: string): string {
    return this.#hash.h64ToString(text);
  }

  /** The reusable encoder, or a fresh one when a registered type's `encode` digests from inside a digest. */
  #acquire(): CanonicalEncoder {
    const shared = this.#encoder;
    const encoder = shared.busy ? new CanonicalEncoder(this.#hash, this.#types) : shared;
    encoder.busy = true;
    return encoder;
  }
}

const argumentPaths = Array.from({ length: 16 }, (_, i) => `args[${i}]`);

function argumentPath(index: number): string {
  return argumentPaths[index] ?? `args[${index}]`;
}
