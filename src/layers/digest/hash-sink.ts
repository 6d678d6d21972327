import type { XXHash, XXHashAPI } from 'xxhash-wasm';

/** The two fixed seeds of the two xxhash64 passes ('memostra', 'ta-diges' in ASCII). Never change them: every stored key depends on them. */
export const SEED_A = 0x6d656d6f73747261n;
export const SEED_B = 0x74612d6469676573n;

/** Views up to this long are copied byte by byte. */
const SHORT_RAW = 32;
/** Views longer than this are streamed to the hashers rather than copied into the scratch buffer. */
const COPY_LIMIT = 16 * 1024;
/**
 * Large views are fed to the hashers in chunks of this size: each `update`
 * copies its input into the wasm memory, and whole 64 MB views would grow that
 * memory (for the life of the process) and fall out of the CPU cache.
 */
const STREAM_CHUNK = 256 * 1024;

/** Whether this host stores typed-array elements little-endian (the canonical order). */
export const LITTLE_ENDIAN_HOST = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/**
 * Where canonical bytes go: a reusable scratch buffer, hashed with two seeded
 * one-shot `h64Raw` calls when the input fits, or streamed to two `create64`
 * hashers once a large view comes or the scratch fills up. Both routes give the
 * same hash (xxhash64 streaming equals one-shot). After {@link finish} the
 * 128-bit result is in {@link first} and {@link second} and the sink is empty again.
 */
export class HashSink {
  /** The scratch buffer. */
  readonly bytes: Uint8Array;
  /** The same memory as a Buffer, for its fast native UTF-8 `write` (Buffer's own `subarray` is slow). */
  readonly text: Buffer;
  readonly view: DataView;
  /** Next free byte of {@link bytes}. */
  pos = 0;
  /**
   * Bytes that left the scratch buffer (flushed, streamed or finished), ever:
   * with {@link pos}, how many were written. The encoder bounds the size of a
   * value's stored form with its growth.
   */
  counted = 0;
  /** Results of the last {@link finish} (`second` is 0 when only the first hash was asked for). */
  first = 0n;
  second = 0n;
  /**
   * Whether only the first of the two hashes is computed (half the work): for
   * checking that a value still has the content of a digest, never for a key.
   * Set before the first byte of a value, unset after its {@link finish}.
   */
  firstOnly = false;
  readonly #hash: XXHashAPI;
  #streamA: XXHash<bigint> | undefined;
  #streamB: XXHash<bigint> | undefined;

  /** @param nesting - how many Map/Set entry digests enclose this sink (0 for a top-level digest). */
  constructor(
    hash: XXHashAPI,
    readonly nesting: number,
    size: number,
  ) {
    this.#hash = hash;
    this.bytes = new Uint8Array(size);
    this.text = Buffer.from(this.bytes.buffer, this.bytes.byteOffset, this.bytes.byteLength);
    this.view = new DataView(this.bytes.buffer, this.bytes.byteOffset, this.bytes.byteLength);
  }

  /** Whether the bytes written since the last finish went on to the streaming hashers. */
  get streaming(): boolean {
    return this.#streamA !== undefined;
  }

  /** Forgets whatever was written (after an error part-way through a value). */
  reset(): void {
    this.pos = 0;
    this.#streamA = undefined;
    this.#streamB = undefined;
  }

  /** Makes room for `count` bytes (at most the scratch size) at {@link pos}. */
  reserve(count: number): void {
    if (this.pos + count > this.bytes.length) this.flush();
  }

  /** Moves the scratch contents into the streaming hashers, starting them if needed. */
  flush(): void {
    if (this.#streamA === undefined) {
      this.#streamA = this.#hash.create64(SEED_A);
      if (!this.firstOnly) this.#streamB = this.#hash.create64(SEED_B);
    }
    if (this.pos > 0) {
      this.counted += this.pos;
      const pending = this.bytes.subarray(0, this.pos);
      this.#streamA.update(pending);
      this.#streamB?.update(pending);
      this.pos = 0;
    }
  }

  u8(value: number): void {
    this.reserve(1);
    this.bytes[this.pos++] = value;
  }

  u32(value: number): void {
    this.reserve(4);
    this.view.setUint32(this.pos, value, true);
    this.pos += 4;
  }

  /** A byte length, which may exceed 32 bits: 8 bytes little-endian. */
  length64(value: number): void {
    this.reserve(8);
    this.view.setUint32(this.pos, value >>> 0, true);
    this.view.setUint32(this.pos + 4, Math.floor(value / 0x1_0000_0000), true);
    this.pos += 8;
  }

  /** A float64 by its exact bits, except that every NaN is written as the one canonical NaN. */
  f64(value: number): void {
    this.reserve(8);
    if (value !== value) {
      this.view.setUint32(this.pos, 0, true);
      this.view.setUint32(this.pos + 4, 0x7ff80000, true);
    } else {
      this.view.setFloat64(this.pos, value, true);
    }
    this.pos += 8;
  }

  i64(value: bigint): void {
    this.reserve(8);
    this.view.setBigInt64(this.pos, value, true);
    this.pos += 8;
  }

  u64(value: bigint): void {
    this.reserve(8);
    this.view.setBigUint64(this.pos, value, true);
    this.pos += 8;
  }

  /** Raw bytes: copied when small, otherwise streamed straight from the caller's view. */
  raw(source: Uint8Array): void {
    const length = source.length;
    if (length <= SHORT_RAW) {
      // A module identity on every call key: a loop beats set()'s call overhead at this size.
      this.reserve(length);
      const bytes = this.bytes;
      const pos = this.pos;
      for (let i = 0; i < length; i++) bytes[pos + i] = source[i] as number;
      this.pos = pos + length;
      return;
    }
    // Only what fits the scratch buffer is copied: a Map or Set entry's sink has less room than COPY_LIMIT.
    if (length <= COPY_LIMIT && length <= this.bytes.length) {
      this.reserve(length);
      this.bytes.set(source, this.pos);
      this.pos += length;
      return;
    }
    this.flush();
    this.counted += length;
    const streamA = this.#streamA as XXHash<bigint>;
    const streamB = this.#streamB;
    for (let offset = 0; offset < length; offset += STREAM_CHUNK) {
      const chunk = source.subarray(offset, Math.min(offset + STREAM_CHUNK, length));
      streamA.update(chunk);
      streamB?.update(chunk);
    }
  }

  /** Raw elements of `elementSize` bytes each, byte-swapped (for typed arrays on a big-endian host). */
  rawSwapped(source: Uint8Array, elementSize: number): void {
    for (let start = 0; start < source.length; start += elementSize) {
      this.reserve(elementSize);
      for (let j = 0; j < elementSize; j++) this.bytes[this.pos + j] = source[start + elementSize - 1 - j] as number;
      this.pos += elementSize;
    }
  }

  /** Hashes everything written since the last finish into {@link first} and {@link second}; empties the sink. */
  finish(): void {
    if (this.#streamA === undefined) {
      const input = this.bytes.subarray(0, this.pos);
      this.counted += this.pos;
      this.first = this.#hash.h64Raw(input, SEED_A);
      this.second = this.firstOnly ? 0n : this.#hash.h64Raw(input, SEED_B);
    } else {
      this.flush();
      this.first = this.#streamA.digest();
      this.second = this.#streamB?.digest() ?? 0n;
    }
    this.reset();
  }
}
