import { unserializable } from './value-kind.js';

/*
 * The limits of a value that memostrata keys and stores: one set, enforced by
 * the digest at call time and by the codec when it writes, so that nothing the
 * digest accepted is refused later by the encoder (where it would block a
 * checkpoint) or by the decoder (where a stored value would be lost).
 *
 * They come from cbor-x 1.6 (node_modules/cbor-x/encode.js, decode.js):
 * - it recurses per level and overflows the stack near 1,500 levels: depth;
 * - its decoder refuses arrays over `maxArraySize` and objects over
 *   `objectSizeLimit` entries;
 * - it decodes a bignum (tags 2 and 3) one byte at a time, quadratic in its
 *   length (100 KB take over a second): bigint size;
 * - its output buffer is at most 4 GiB (`MAX_BUFFER_SIZE`, and Node 20's
 *   largest Buffer): value size, with room for its over-reservation.
 * Limits it has that JS values cannot reach are not checked: Maps (its
 * `maxMapSize`, 16,810,000) and Sets hold at most 2^24 entries in V8; strings
 * hold at most 2^29 - 24 UTF-16 units, under its 2^32-byte string length.
 */

/** Containers (arrays, objects, Maps, Sets, registered values) nested deeper than this are refused. */
export const MAX_NESTING_DEPTH = 512;

/** The longest array that cbor-x decodes (its `maxArraySize`). */
export const MAX_ARRAY_LENGTH = 112_810_000;

/** The most keys of a plain object that cbor-x decodes (its `objectSizeLimit`). */
export const MAX_OBJECT_KEYS = 16_710_000;

/**
 * The largest bigint magnitude, in bytes of its CBOR bignum: bigints `b` with
 * `-(2n ** 65536n) <= b < 2n ** 65536n` are stored. cbor-x decodes a bignum in
 * time quadratic in its length (8 KiB take about 10 ms, 100 KB over a second).
 */
export const MAX_BIGINT_BYTES = 8192;

/**
 * The largest stored form of one value (an argument or a result), in bytes.
 * cbor-x writes at most 4 GiB and reserves up to three times a string's length
 * ahead of writing it, so half of that is always safe. The digest refuses a
 * value whose stored form could exceed it (an upper bound of the encoded size).
 */
export const MAX_VALUE_BYTES = 2 ** 31;

const BIGINT_BOUND = 1n << BigInt(MAX_BIGINT_BYTES * 8);

/** Throws `UNSERIALIZABLE` for a bigint over {@link MAX_BIGINT_BYTES}. */
export function checkBigint(value: bigint, path: string): void {
  if (value < BIGINT_BOUND && value >= -BIGINT_BOUND) return;
  throw unserializable(
    path,
    `a bigint of ${value.toString(16).replace('-', '').length * 4} bits, over the limit of ${MAX_BIGINT_BYTES} bytes (MAX_BIGINT_BYTES) that memostrata stores; ` +
      `store it as a string (x.toString(16)) or in a registered type`,
  );
}

/** Throws `UNSERIALIZABLE` for an array over {@link MAX_ARRAY_LENGTH}. */
export function checkArrayLength(length: number, path: string): void {
  if (length <= MAX_ARRAY_LENGTH) return;
  throw unserializable(path, `an array of ${length} elements, over the limit of ${MAX_ARRAY_LENGTH} (MAX_ARRAY_LENGTH) that can be read back; split it or use a typed array`);
}

/** Throws `UNSERIALIZABLE` for an object over {@link MAX_OBJECT_KEYS}. */
export function checkObjectKeys(count: number, path: string): void {
  if (count <= MAX_OBJECT_KEYS) return;
  throw unserializable(path, `an object with ${count} keys, over the limit of ${MAX_OBJECT_KEYS} (MAX_OBJECT_KEYS) that can be read back; use a Map or split it`);
}

/** The `UNSERIALIZABLE` error for containers nested deeper than {@link MAX_NESTING_DEPTH}. */
export function tooDeep(path: string): Error {
  return unserializable(path, `nested more than ${MAX_NESTING_DEPTH} containers deep (MAX_NESTING_DEPTH); flatten it`);
}

/** Throws `UNSERIALIZABLE` when a value's stored form is (or could be) over {@link MAX_VALUE_BYTES}. */
export function checkValueBytes(bytes: number, path: string): void {
  if (bytes <= MAX_VALUE_BYTES) return;
  throw unserializable(path, `about ${bytes} bytes once stored, over the limit of ${MAX_VALUE_BYTES} bytes (MAX_VALUE_BYTES) for one value; split it into parts`);
}
