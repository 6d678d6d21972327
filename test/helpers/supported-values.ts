/**
 * Test helpers over the supported value space (see `src/layers/value-kind.ts`):
 * a fast-check arbitrary that generates any supported value, and the reference
 * deep equality that the digest and the codec are checked against.
 *
 * Deliberate gaps in the generator:
 * - no own property named `__proto__`: assigning it calls the prototype setter,
 *   so it cannot be built (or rebuilt by a decoder) with plain assignment;
 * - no registered types (they need a registry; test them with their own arbitraries);
 * - no cycles (they are unsupported by design); shared references (a DAG) are generated.
 */
import fc from 'fast-check';
import { typedArrayClasses, type TypedArrayName } from '../../src/layers/value-kind.js';

/** Options of {@link supportedValue}. */
export interface SupportedValueOptions {
  /** Maximum nesting depth of containers. Default 3. */
  maxDepth?: number;
  /** Maximum number of elements or entries per container. Default 5. */
  maxLength?: number;
  /**
   * Generate strings with unpaired UTF-16 surrogates ('\uD800'). They are
   * supported JS strings, but they have no UTF-8 form (cbor-x replaces them with
   * U+FFFD). Default true.
   */
  loneSurrogates?: boolean;
}

const typedArrayNames = Object.keys(typedArrayClasses) as TypedArrayName[];

/** Object keys: short strings and tricky names, never `__proto__`. */
const objectKey = (): fc.Arbitrary<string> =>
  fc
    .oneof(
      fc.string({ maxLength: 4 }),
      fc.constantFrom('a', 'b', 'x', 'constructor', 'toString', 'hasOwnProperty', '0', '1', '10', '-1', '', 'ünï', '\u{1F600}'),
    )
    .filter((key) => key !== '__proto__');

const numberValue = (): fc.Arbitrary<number> =>
  fc.oneof(
    fc.constantFrom(0, -0, 1, -1, NaN, Infinity, -Infinity, Number.MIN_VALUE, Number.MAX_VALUE, Number.EPSILON, 2 ** 53, 0.1),
    fc.integer(),
    fc.double(),
    // NaN with an arbitrary payload: JS may or may not keep it, either way all NaNs are one value.
    fc.bigInt({ min: 1n, max: (1n << 52n) - 1n }).map((mantissa) => {
      const view = new DataView(new ArrayBuffer(8));
      view.setBigUint64(0, (0x7ffn << 52n) | mantissa);
      return view.getFloat64(0);
    }),
  );

const stringValue = (loneSurrogates: boolean): fc.Arbitrary<string> => {
  const plain = fc.oneof(fc.string({ maxLength: 6 }), fc.string({ unit: 'binary', maxLength: 6 }), fc.string({ unit: 'grapheme', maxLength: 3 }));
  if (!loneSurrogates) return plain;
  return fc.oneof(
    { weight: 4, arbitrary: plain },
    { weight: 1, arbitrary: fc.tuple(plain, fc.constantFrom('\uD800', '\uDBFF', '\uDC00', '\uDFFF', '\uDC00\uD800'), plain).map((parts) => parts.join('')) },
  );
};

/** Raw bytes placed at an offset inside a larger, junk-filled buffer. */
const bytesInBuffer = (elementSize: number, maxElements: number) =>
  fc.record({
    bytes: fc.uint8Array({ maxLength: maxElements * elementSize }).map((bytes) => bytes.subarray(0, bytes.length - (bytes.length % elementSize))),
    before: fc.nat(3),
    after: fc.nat(3),
    junk: fc.integer({ min: 0, max: 255 }),
  });

const typedArrayValue = (maxElements: number): fc.Arbitrary<unknown> =>
  fc.constantFrom(...typedArrayNames).chain((name) => {
    const Class = typedArrayClasses[name];
    const size = Class.BYTES_PER_ELEMENT;
    return bytesInBuffer(size, maxElements).map(({ bytes, before, after, junk }) => {
      const backing = new Uint8Array((before + after) * size + bytes.length).fill(junk);
      backing.set(bytes, before * size);
      return new Class(backing.buffer, before * size, bytes.length / size);
    });
  });

const bufferValue = (maxBytes: number): fc.Arbitrary<unknown> =>
  bytesInBuffer(1, maxBytes).chain(({ bytes, before, after, junk }) =>
    fc.constantFrom(
      // Buffer.from copies into the shared pool: a view at some offset of an 8 KiB buffer.
      () => Buffer.from(bytes),
      () => {
        const backing = Buffer.alloc(before + bytes.length + after, junk);
        backing.set(bytes, before);
        return backing.subarray(before, before + bytes.length);
      },
    ).map((make) => make()),
  );

const dataViewValue = (maxBytes: number): fc.Arbitrary<unknown> =>
  bytesInBuffer(1, maxBytes).map(({ bytes, before, after, junk }) => {
    const backing = new Uint8Array(before + bytes.length + after).fill(junk);
    backing.set(bytes, before);
    return new DataView(backing.buffer, before, bytes.length);
  });

const arrayBufferValue = (maxBytes: number): fc.Arbitrary<unknown> =>
  fc.uint8Array({ maxLength: maxBytes }).map((bytes) => bytes.slice().buffer);

const dateValue = (): fc.Arbitrary<unknown> => fc.oneof(fc.date({ noInvalidDate: true }), fc.constant(0).map(() => new Date(NaN)));

/** Builds an object from entries without ever calling a setter; sometimes with a null prototype. */
function buildObject(entries: readonly (readonly [string, unknown])[], nullPrototype: boolean): Record<string, unknown> {
  const object: Record<string, unknown> = nullPrototype ? (Object.create(null) as Record<string, unknown>) : {};
  for (const [key, value] of entries) object[key] = value;
  return object;
}

/**
 * Any supported value: null, undefined, booleans, numbers (-0, NaN with
 * payloads, ±Infinity, doubles), bigints (beyond 64 bits too), strings
 * (unicode, lone surrogates unless disabled), arrays (with holes), plain and
 * null-prototype objects, Map and Set (with non-string keys), Date (invalid
 * too), every typed array class (often a view at an offset of a larger
 * buffer), Buffer, DataView and ArrayBuffer; nested to a bounded depth, with
 * occasional shared references.
 */
export function supportedValue(options: SupportedValueOptions = {}): fc.Arbitrary<unknown> {
  const maxDepth = options.maxDepth ?? 3;
  const maxLength = options.maxLength ?? 5;
  const loneSurrogates = options.loneSurrogates ?? true;

  const leaf: fc.Arbitrary<unknown> = fc.oneof(
    fc.constantFrom(null, undefined, true, false),
    numberValue(),
    fc.oneof(fc.bigInt({ min: -(1n << 70n), max: 1n << 70n }), fc.bigInt({ min: -3n, max: 3n })),
    stringValue(loneSurrogates),
    dateValue(),
    typedArrayValue(maxLength),
    bufferValue(maxLength * 2),
    dataViewValue(maxLength * 2),
    arrayBufferValue(maxLength * 2),
  );

  const { value } = fc.letrec<{ value: unknown; array: unknown[]; object: Record<string, unknown>; map: Map<unknown, unknown>; set: Set<unknown>; shared: unknown }>(
    (tie) => ({
      value: fc.oneof({ maxDepth, depthIdentifier: 'supported-value' }, leaf, tie('array'), tie('object'), tie('map'), tie('set'), tie('shared')),
      array: fc.oneof(
        fc.array(tie('value'), { maxLength }),
        // Sparse: holes key like undefined.
        fc.sparseArray(tie('value'), { maxLength, maxNumElements: maxLength }),
      ),
      object: fc
        .tuple(fc.uniqueArray(fc.tuple(objectKey(), tie('value')), { maxLength, selector: ([key]) => key }), fc.boolean())
        .map(([entries, nullPrototype]) => buildObject(entries, nullPrototype)),
      map: fc.array(fc.tuple(tie('value'), tie('value')), { maxLength }).map((entries) => new Map(entries)),
      set: fc.array(tie('value'), { maxLength }).map((elements) => new Set(elements)),
      // The same object twice: a DAG, not a cycle.
      shared: tie('value').map((inner) => [inner, { again: inner }]),
    }),
  );
  return value;
}

// ---------------------------------------------------------------------------

type BinaryKind = 'buffer' | 'dataview' | 'arraybuffer' | string;

/** The binary kind of `value` ('buffer', 'dataview', 'arraybuffer' or a typed-array class name), or undefined. */
function binaryKind(value: object): BinaryKind | undefined {
  if (Buffer.isBuffer(value)) return 'buffer';
  if (value instanceof DataView) return 'dataview';
  if (Object.getPrototypeOf(value) === ArrayBuffer.prototype) return 'arraybuffer';
  if (ArrayBuffer.isView(value)) return value.constructor.name;
  return undefined;
}

function bytesOf(value: ArrayBufferView | ArrayBuffer): Uint8Array {
  return value instanceof ArrayBuffer ? new Uint8Array(value) : new Uint8Array(value.buffer, value.byteOffset, value.byteLength);
}

function isPlainObject(value: object): boolean {
  const prototype = Object.getPrototypeOf(value) as object | null;
  return prototype === null || prototype === Object.prototype;
}

/** Multiset equality under an equivalence relation (greedy matching is exact for one). */
function sameMultiset<T>(left: readonly T[], right: readonly T[], equal: (a: T, b: T) => boolean): boolean {
  if (left.length !== right.length) return false;
  const used = new Array<boolean>(right.length).fill(false);
  outer: for (const item of left) {
    for (let i = 0; i < right.length; i++) {
      if (!used[i] && equal(item, right[i] as T)) {
        used[i] = true;
        continue outer;
      }
    }
    return false;
  }
  return true;
}

/**
 * The reference deep equality of the supported value space, the one the
 * digest must agree with:
 * - numbers by `Object.is`, except that all NaNs are equal (so -0 ≠ 0);
 * - `1`, `1n` and `'1'` differ (no coercion across types);
 * - typed arrays, Buffer, DataView and ArrayBuffer by kind (exact class; Buffer
 *   is not a Uint8Array here) + length + the bytes of the view only;
 * - arrays element-wise, holes equal to `undefined`;
 * - objects by own enumerable string keys regardless of order; plain and
 *   null-prototype objects are alike; `{ a: undefined }` ≠ `{}`;
 * - Map and Set regardless of order (entries matched by deep equality);
 * - Dates by time value (all invalid Dates are equal).
 */
export function strictDeepEqual(a: unknown, b: unknown): boolean {
  if (typeof a !== typeof b) return false;
  if (typeof a === 'number') return Object.is(a, b) || (Number.isNaN(a) && Number.isNaN(b));
  if (typeof a !== 'object' || a === null || b === null) return a === b;
  const left = a;
  const right = b as object;
  if (left === right) return true;

  const leftBinary = binaryKind(left);
  const rightBinary = binaryKind(right);
  if (leftBinary !== undefined || rightBinary !== undefined) {
    if (leftBinary !== rightBinary) return false;
    const x = bytesOf(left as ArrayBufferView | ArrayBuffer);
    const y = bytesOf(right as ArrayBufferView | ArrayBuffer);
    return x.length === y.length && x.every((byte, i) => byte === y[i]);
  }
  if (Array.isArray(left) || Array.isArray(right)) {
    if (!Array.isArray(left) || !Array.isArray(right) || left.length !== right.length) return false;
    for (let i = 0; i < left.length; i++) if (!strictDeepEqual(left[i], right[i])) return false;
    return true;
  }
  if (left instanceof Date || right instanceof Date) {
    if (!(left instanceof Date) || !(right instanceof Date)) return false;
    const x = left.getTime();
    const y = right.getTime();
    return x === y || (Number.isNaN(x) && Number.isNaN(y));
  }
  if (left instanceof Map || right instanceof Map) {
    if (!(left instanceof Map) || !(right instanceof Map)) return false;
    return sameMultiset([...left], [...right], ([k1, v1], [k2, v2]) => strictDeepEqual(k1, k2) && strictDeepEqual(v1, v2));
  }
  if (left instanceof Set || right instanceof Set) {
    if (!(left instanceof Set) || !(right instanceof Set)) return false;
    return sameMultiset([...left], [...right], strictDeepEqual);
  }
  if (isPlainObject(left) && isPlainObject(right)) {
    const leftKeys = Object.keys(left);
    const rightKeys = Object.keys(right);
    if (leftKeys.length !== rightKeys.length) return false;
    const leftRecord = left as Record<string, unknown>;
    const rightRecord = right as Record<string, unknown>;
    return leftKeys.every((key) => Object.prototype.hasOwnProperty.call(right, key) && strictDeepEqual(leftRecord[key], rightRecord[key]));
  }
  // Other class instances (registered types): same class and equal own enumerable fields.
  if (Object.getPrototypeOf(left) !== Object.getPrototypeOf(right)) return false;
  const leftKeys = Object.keys(left);
  if (leftKeys.length !== Object.keys(right).length) return false;
  return leftKeys.every(
    (key) => Object.prototype.hasOwnProperty.call(right, key) && strictDeepEqual((left as Record<string, unknown>)[key], (right as Record<string, unknown>)[key]),
  );
}
