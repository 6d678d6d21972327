/*
 * The typed arrays memostrata keys and stores, in a file of their own: the
 * published types of the API that names them (StoredArray, blob segments)
 * then need nothing else, such as Node's Buffer type.
 */

/** The typed-array classes memostrata supports, by name. */
export const typedArrayClasses = {
  Int8Array,
  Uint8Array,
  Uint8ClampedArray,
  Int16Array,
  Uint16Array,
  Int32Array,
  Uint32Array,
  Float32Array,
  Float64Array,
  BigInt64Array,
  BigUint64Array,
} as const satisfies Record<TypedArrayName, unknown>; // every name, and nothing else

/** Name of a supported typed-array class. */
export type TypedArrayName =
  | 'Int8Array'
  | 'Uint8Array'
  | 'Uint8ClampedArray'
  | 'Int16Array'
  | 'Uint16Array'
  | 'Int32Array'
  | 'Uint32Array'
  | 'Float32Array'
  | 'Float64Array'
  | 'BigInt64Array'
  | 'BigUint64Array';

/** Any supported typed array. */
export type SupportedTypedArray =
  | Int8Array
  | Uint8Array
  | Uint8ClampedArray
  | Int16Array
  | Uint16Array
  | Int32Array
  | Uint32Array
  | Float32Array
  | Float64Array
  | BigInt64Array
  | BigUint64Array;

/**
 * Offered each segment's array of a large value as it is allocated, before
 * its bytes are read; the function it may return sees the bytes slice by
 * slice, in order, as they arrive (a restore digests one slice while the next
 * is read).
 */
export type SegmentWatch = (array: ArrayBufferView) => ((slice: Uint8Array) => void) | undefined;
