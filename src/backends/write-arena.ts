/** Bytes of one slab: small writes share slabs, a larger one gets a slab of its own. */
const SLAB_BYTES = 1 << 20;
/** The value-length word of a delete (a put's word is its length + 1). */
const DELETE = 0;

/**
 * Writes (key and value bytes, or a delete) copied into a few large buffers
 * instead of one pair of small buffers per write: copying a small on-heap
 * `Uint8Array` and then wrapping it in a `Buffer` makes V8 move each one off
 * the heap, which cost lmdb-js checkpoints most of their time. The copies
 * also decouple the writes from buffers the caller may reuse before a
 * backend reads them (LmdbBackend puts them once lmdb-js's write thread holds the lock).
 */
export class WriteArena {
  readonly #slabs: Buffer[] = [];
  /** Bytes used of each full slab (the last one's is #used). */
  readonly #ends: number[] = [];
  #slab: Buffer | undefined;
  #used = 0;
  #count = 0;
  readonly #slabBytes: number;

  /** @param slabBytes - bytes of a new slab (more for a write that needs more); the whole batch's size when known. @default 1 MiB */
  constructor(slabBytes = SLAB_BYTES) {
    this.#slabBytes = slabBytes;
  }

  /** Bytes that `add(key, value)` takes in an arena. */
  static bytesOf(key: Uint8Array, value: Uint8Array | undefined): number {
    return 8 + key.length + (value?.length ?? 0);
  }

  /** Writes held. */
  get size(): number {
    return this.#count;
  }

  /** Copies a put (`value` given) or a delete of `key`. */
  add(key: Uint8Array, value: Uint8Array | undefined): void {
    const length = WriteArena.bytesOf(key, value);
    let slab = this.#slab;
    if (slab === undefined || this.#used + length > slab.length) {
      if (slab !== undefined) this.#ends.push(this.#used);
      slab = Buffer.allocUnsafeSlow(Math.max(this.#slabBytes, length));
      this.#slabs.push(slab);
      this.#slab = slab;
      this.#used = 0;
    }
    let at = this.#used;
    slab.writeUInt32LE(key.length, at);
    slab.writeUInt32LE(value === undefined ? DELETE : value.length + 1, at + 4);
    at += 8;
    slab.set(key, at);
    at += key.length;
    if (value !== undefined) {
      slab.set(value, at);
      at += value.length;
    }
    this.#used = at;
    this.#count += 1;
  }

  /** The writes in the order they were added, as views into the slabs (valid while this arena is kept). */
  *writes(): Generator<[key: Buffer, value: Buffer | undefined]> {
    for (const [index, slab] of this.#slabs.entries()) {
      const end = this.#ends[index] ?? this.#used;
      let at = 0;
      while (at < end) {
        const keyLength = slab.readUInt32LE(at);
        const valueWord = slab.readUInt32LE(at + 4);
        at += 8;
        const key = slab.subarray(at, at + keyLength);
        at += keyLength;
        if (valueWord === DELETE) {
          yield [key, undefined];
          continue;
        }
        const value = slab.subarray(at, at + valueWord - 1);
        at += valueWord - 1;
        yield [key, value];
      }
    }
  }
}
