import { Decoder, Encoder, Tag } from 'cbor-x';
import { MemostrataError, isMemostrataError } from '../errors.js';
import { checkObjectKeys, checkValueBytes, MAX_BIGINT_BYTES, MAX_NESTING_DEPTH, MAX_OBJECT_KEYS, MAX_VALUE_BYTES, tooDeep } from './limits.js';
import { defaultTypes, type TypeRegistry } from './type-registry.js';
import { typedArrayClasses, type TypedArrayName } from './typed-arrays.js';
import { classify, propertyPath, unserializable, type ValueKind } from './value-kind.js';

/*
 * The stored form of a value is one CBOR item (RFC 8949), readable from any
 * language. JSON-like data is plain CBOR: null, undefined (simple 23), booleans,
 * numbers (integers, or float64), text strings, arrays, and maps with text keys
 * for plain objects. Everything else is tagged:
 *
 *   tag 2 / 3       bigint: unsigned / negative bignum (RFC 8949 §3.4.3), always, even 1n
 *   tag 64–86       typed arrays (RFC 8746; Uint8Array is tag 64, native byte order)
 *   tag 258         Set: array of elements
 *   tag 259         Map: map with keys of any kind
 *   tag 41000       registered type: [name, plain value]
 *   tag 41001       -0: null (plain CBOR integers have no -0)
 *   tag 41002       Date: milliseconds since the epoch (NaN for an invalid Date)
 *   tag 41003       Buffer: byte string
 *   tag 41004       DataView: byte string
 *   tag 41005       ArrayBuffer: byte string
 *   tag 41006       plain object whose keys plain CBOR cannot carry ('__proto__', lone
 *                   surrogates): array [key, value, key, value, …]
 *   tag 41007       string with lone UTF-16 surrogates (no UTF-8 form): UTF-16LE bytes
 *
 * Two more tags exist only around large values (src/layers/blob):
 *
 *   tag 41008       in a blob file's skeleton only: unsigned index of a segment, a
 *                   typed array or Buffer whose bytes follow the skeleton in the file
 *   tag 41009       the whole stored item, in place of a large value: [blob id (text),
 *                   blob size (unsigned)], naming the blob file that holds the value
 *
 * Reading checks the bytes against exactly this grammar before cbor-x sees them:
 * cbor-x would otherwise act on tags it knows (records compile readers with
 * `new Function`, tag 27 calls constructors, tags 28/29 build cycles).
 */
const TAG = {
  bignum: 2,
  negativeBignum: 3,
  set: 258,
  map: 259,
  registered: 41000,
  negativeZero: 41001,
  date: 41002,
  buffer: 41003,
  dataView: 41004,
  arrayBuffer: 41005,
  objectEntries: 41006,
  utf16String: 41007,
  segment: 41008,
  blobReference: 41009,
} as const;

/** Typed-array tags that cbor-x decodes, little-endian (RFC 8746) and big-endian, with their element size. */
const TYPED_ARRAY_TAG_SIZES = new Map<number, number>([
  [64, 1], [68, 1], [72, 1],
  [69, 2], [77, 2], [65, 2], [73, 2],
  [70, 4], [78, 4], [85, 4], [66, 4], [74, 4], [81, 4],
  [71, 8], [79, 8], [86, 8], [67, 8], [75, 8], [82, 8],
]);

const MAJOR_BYTES = 2;
const MAJOR_TEXT = 3;
const MAJOR_ARRAY = 4;
const MAJOR_MAP = 5;

/** What each of our tags must wrap: a CBOR major type, or 'number' / 'null'. */
const TAG_CONTENT = new Map<number, number | 'number' | 'null'>([
  [TAG.bignum, MAJOR_BYTES],
  [TAG.negativeBignum, MAJOR_BYTES],
  [TAG.set, MAJOR_ARRAY],
  [TAG.map, MAJOR_MAP],
  [TAG.registered, MAJOR_ARRAY],
  [TAG.negativeZero, 'null'],
  [TAG.date, 'number'],
  [TAG.buffer, MAJOR_BYTES],
  [TAG.dataView, MAJOR_BYTES],
  [TAG.arrayBuffer, MAJOR_BYTES],
  [TAG.objectEntries, MAJOR_ARRAY],
  [TAG.utf16String, MAJOR_BYTES],
  [TAG.segment, 0],
  ...[...TYPED_ARRAY_TAG_SIZES.keys()].map((tag) => [tag, MAJOR_BYTES] as const),
]);

/*
 * One Encoder and one Decoder for every codec: their options never change, and
 * cbor-x shares its output buffer between encoders anyway. No records (they
 * need saved structures), no structured clone, no float32, Maps tagged 259.
 * The decoder does not copy buffers: `revive` copies each binary exactly once,
 * and only when it still points into the input.
 */
const encoder = new Encoder({ useRecords: false, variableMapSize: true, tagUint8Array: true, useTag259ForMaps: true, useFloat32: 0 } as ConstructorParameters<typeof Encoder>[0]);
const decoder = new Decoder({ useRecords: false, mapsAsObjects: true, copyBuffers: false });

// String.prototype.isWellFormed is in Node 20 but not in TypeScript's ES2023 lib.
const isWellFormed = (String.prototype as unknown as { isWellFormed: (this: string) => boolean }).isWellFormed;

const typedArrayConstructors = new Set<unknown>(Object.values(typedArrayClasses));

/** Returned encodings smaller than this are copied out of a much larger cbor-x buffer, so they do not pin it. */
const SLAB_RETENTION_LIMIT = 1 << 20;

/** The first bytes of a stored blob reference: CBOR tag 41009's head. */
const BLOB_REFERENCE_HEAD = [0xd9, 0xa0, 0x31] as const;

/** What a segment of a blob holds: a typed array class, or a Buffer. */
export type SegmentType = TypedArrayName | 'Buffer';

/** A large binary of a value, left out of its skeleton by {@link ValueCodec.encodeSplit}. */
export interface Segment {
  /** What it is. */
  type: SegmentType;
  /** Its bytes: a view of the value's own memory. */
  bytes: Uint8Array;
  /** Where it sits in the value: property names and indexes from the root (Map and Set steps as text, e.g. `'.get("a")'`). */
  path: (string | number)[];
}

/** A value as a blob file holds it: see {@link ValueCodec.encodeSplit}. */
export interface SplitValue {
  /** The CBOR of the value with each segment replaced by its index (tag 41008). */
  skeleton: Uint8Array;
  /** The binaries left out, in index order. */
  segments: Segment[];
}

/** What a stored item that stands for a large value says: which blob holds it. */
export interface BlobReference {
  /** The blob's SHA-256, 64 lowercase hex characters. */
  id: string;
  /** The blob's size in bytes. */
  bytes: number;
}

/** Where {@link WireBuilder} puts the binaries it leaves out. */
interface SplitOptions {
  readonly minBytes: number;
  readonly segments: Segment[];
}

/** A step of the path to the value being encoded (array index, object key, Map or Set entry); rendered only for an error message. */
type PathStep =
  | number
  | string
  | { readonly in: 'map-key'; readonly index: number; readonly key: unknown }
  | { readonly in: 'map-value'; readonly index: number; readonly key: unknown }
  | { readonly in: 'set'; readonly index: number }
  | { readonly in: 'elided'; readonly count: number };

/**
 * Turns supported values into bytes and back (see `classify` in value-kind.ts for the
 * supported value space). Registered types are written by name and rebuilt
 * with their registration's `decode`.
 */
export class ValueCodec {
  /** The registry that registered types are looked up in. */
  readonly types: TypeRegistry;
  readonly #used = new Set<string>();

  constructor(types: TypeRegistry = defaultTypes) {
    this.types = types;
  }

  /**
   * Value → bytes.
   *
   * @param path - how the value is named in an error message, such as `result` or `args[1]`.
   * @param typeNames - receives the name of every registered type met in `value`.
   * @throws MemostrataError `UNSERIALIZABLE` naming the path of the offending part
   *   (`value.mesh.nodes`) for a function, symbol, unregistered class instance or cycle.
   */
  encode(value: unknown, path = 'value', typeNames?: Set<string>): Uint8Array {
    return this.#encode(value, path, typeNames, undefined);
  }

  /** Encodes with cbor-x, turning its failures into `UNSERIALIZABLE`, and records the registered types met. */
  #encode(value: unknown, path: string, typeNames: Set<string> | undefined, split: SplitOptions | undefined): Uint8Array {
    const names = new Set<string>();
    let bytes: Uint8Array;
    try {
      bytes = encoder.encode(new WireBuilder(this.types, path, names, split).build(value));
    } catch (error) {
      if (isMemostrataError(error)) throw error;
      throw new MemostrataError('UNSERIALIZABLE', `Cannot key or store ${path}: the CBOR encoder failed (${describeError(error)}). Nothing was stored.`, { cause: error });
    }
    checkValueBytes(bytes.byteLength, path);
    for (const name of names) {
      this.#used.add(name);
      typeNames?.add(name);
    }
    if (bytes.byteLength < SLAB_RETENTION_LIMIT && bytes.buffer.byteLength >= SLAB_RETENTION_LIMIT) return bytes.slice();
    return bytes;
  }

  /**
   * Bytes → value. The result shares no memory with `bytes`.
   *
   * @param typeNames - receives the name of every registered type met in the value.
   * @throws MemostrataError `CORRUPT` for bytes that are not a stored value;
   *   `UNKNOWN_TYPE` for a registered type that this process has not registered.
   */
  decode(bytes: Uint8Array, typeNames?: Set<string>): unknown {
    if (!(bytes instanceof Uint8Array)) throw new MemostrataError('INVALID_ARGUMENT', 'ValueCodec.decode() takes a Uint8Array.');
    return this.#decode(bytes, typeNames, undefined);
  }

  #decode(bytes: Uint8Array, typeNames: Set<string> | undefined, segments: readonly ArrayBufferView[] | undefined): unknown {
    // A plain view: cbor-x writes a `dataView` property on its source, and slices of a Buffer are Buffers.
    const source = new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    checkWellFormed(source, segments?.length ?? 0);
    let wire: unknown;
    try {
      wire = decoder.decode(source);
    } catch (error) {
      throw corrupt(`cbor-x could not decode them (${describeError(error)})`, error);
    }
    const names = new Set<string>();
    let value: unknown;
    try {
      const reviver = new Reviver(this.types, source.buffer, names, segments);
      value = reviver.revive(wire);
      reviver.checkEverySegmentUsed();
    } catch (error) {
      if (isMemostrataError(error)) throw error;
      throw corrupt(`they could not be rebuilt (${describeError(error)})`, error);
    }
    for (const name of names) {
      this.#used.add(name);
      typeNames?.add(name);
    }
    return value;
  }

  /**
   * Value → the parts of a blob file: a CBOR skeleton in which each typed
   * array or Buffer of at least `minSegmentBytes` stands as tag 41008 with its
   * index in `segments`, and those binaries themselves, as views of the
   * value's own memory (nothing large is copied).
   *
   * @throws MemostrataError `UNSERIALIZABLE`, as {@link ValueCodec.encode}.
   */
  encodeSplit(value: unknown, minSegmentBytes: number, path = 'value', typeNames?: Set<string>): SplitValue {
    const segments: Segment[] = [];
    return { skeleton: this.#encode(value, path, typeNames, { minBytes: minSegmentBytes, segments }), segments };
  }

  /**
   * A skeleton from {@link ValueCodec.encodeSplit} and its segments, already
   * rebuilt as typed arrays and Buffers (they are used as they are, not copied) → value.
   *
   * @throws MemostrataError `CORRUPT` for a skeleton that is not one, or that
   *   names a segment that is missing or named twice; `UNKNOWN_TYPE` as {@link ValueCodec.decode}.
   */
  decodeSplit(skeleton: Uint8Array, segments: readonly ArrayBufferView[], typeNames?: Set<string>): unknown {
    return this.#decode(skeleton, typeNames, segments);
  }

  /**
   * The indexes of the segments a skeleton names inside registered values:
   * their `decode()` must see the real arrays (a class may check its own
   * invariants), so a value opened for reading in part reads those whole.
   *
   * @throws MemostrataError `CORRUPT` as {@link ValueCodec.decodeSplit}.
   */
  segmentsInRegistered(skeleton: Uint8Array, segmentCount: number): Set<number> {
    const source = new Uint8Array(skeleton.buffer, skeleton.byteOffset, skeleton.byteLength);
    checkWellFormed(source, segmentCount);
    let wire: unknown;
    try {
      wire = decoder.decode(source);
    } catch (error) {
      throw corrupt(`cbor-x could not decode them (${describeError(error)})`, error);
    }
    const found = new Set<number>();
    const visit = (item: unknown, inRegistered: boolean): void => {
      if (typeof item !== 'object' || item === null || ArrayBuffer.isView(item)) return;
      if (item instanceof Tag) {
        if (item.tag === TAG.segment) {
          if (inRegistered) found.add(item.value as number);
        } else visit(item.value, inRegistered || item.tag === TAG.registered);
      } else if (Array.isArray(item)) for (const child of item) visit(child, inRegistered);
      else if (item instanceof Map) for (const [key, child] of item) (visit(key, inRegistered), visit(child, inRegistered));
      else if (item instanceof Set) for (const child of item) visit(child, inRegistered);
      else for (const child of Object.values(item)) visit(child, inRegistered);
    };
    visit(wire, false);
    return found;
  }

  /** The stored item that stands for a large value kept in a blob (tag 41009). */
  encodeBlobReference(reference: BlobReference): Uint8Array {
    return encoder.encode(new Tag([reference.id, reference.bytes], TAG.blobReference)).slice();
  }

  /**
   * The blob that stored `bytes` name, or `undefined` when they hold a value
   * itself. Only the first three bytes are looked at for a value.
   *
   * @throws MemostrataError `CORRUPT` for a reference that is malformed.
   */
  blobReference(bytes: Uint8Array): BlobReference | undefined {
    if (bytes.length < 3 || bytes[0] !== BLOB_REFERENCE_HEAD[0] || bytes[1] !== BLOB_REFERENCE_HEAD[1] || bytes[2] !== BLOB_REFERENCE_HEAD[2]) return undefined;
    let wire: unknown;
    try {
      wire = decoder.decode(new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength));
    } catch (error) {
      throw corrupt(`a blob reference could not be decoded (${describeError(error)})`, error);
    }
    const content = wire instanceof Tag ? (wire.value as unknown) : undefined;
    if (!Array.isArray(content) || content.length !== 2) throw corrupt('a blob reference is not [id, size]');
    const [id, size] = content as [unknown, unknown];
    if (typeof id !== 'string' || !/^[0-9a-f]{64}$/.test(id) || typeof size !== 'number' || !Number.isSafeInteger(size) || size < 0) {
      throw corrupt('a blob reference names no valid blob');
    }
    return { id, bytes: size };
  }

  /** Names of the registered types this codec has encoded or decoded so far, sorted. */
  usedTypeNames(): string[] {
    return [...this.#used].sort();
  }
}

/** Builds the tree that cbor-x writes: our tags as `Tag`s, typed arrays as they are (cbor-x writes them without copying twice). */
class WireBuilder {
  readonly #types: TypeRegistry;
  readonly #root: string;
  readonly #names: Set<string>;
  readonly #steps: PathStep[] = [];
  readonly #ancestors = new Set<object>();

  readonly #split: SplitOptions | undefined;

  constructor(types: TypeRegistry, root: string, names: Set<string>, split?: SplitOptions) {
    this.#types = types;
    this.#root = root;
    this.#names = names;
    this.#split = split;
  }

  build(value: unknown): unknown {
    const kind = this.#classify(value);
    switch (kind.kind) {
      case 'null':
      case 'undefined':
      case 'boolean':
        return value;
      case 'number':
        return Object.is(kind.value, -0) ? new Tag(null, TAG.negativeZero) : kind.value;
      case 'string':
        return isWellFormed.call(kind.value) ? kind.value : new Tag(Buffer.from(kind.value, 'utf16le'), TAG.utf16String);
      case 'bigint':
        return bigintTag(kind.value);
      case 'date':
        return new Tag(kind.value.getTime(), TAG.date);
      case 'typed-array':
        this.#binary(kind.value.byteLength);
        return this.#segment(kind.name, kind.value) ?? kind.value;
      case 'buffer':
        this.#binary(kind.value.byteLength);
        return this.#segment('Buffer', kind.value) ?? new Tag(kind.value, TAG.buffer);
      case 'dataview':
        this.#binary(kind.value.byteLength);
        return new Tag(kind.value, TAG.dataView);
      case 'arraybuffer':
        this.#binary(kind.value.byteLength);
        return new Tag(kind.value, TAG.arrayBuffer);
      case 'array': {
        const source = kind.value;
        this.#enter(source);
        const wire = new Array<unknown>(source.length);
        for (let index = 0; index < source.length; index++) wire[index] = this.#step(index, source[index]);
        this.#ancestors.delete(source);
        return wire;
      }
      case 'object': {
        this.#enter(kind.value);
        const wire = this.#object(kind.value);
        this.#ancestors.delete(kind.value);
        return wire;
      }
      case 'map': {
        this.#enter(kind.value);
        const wire = new Map<unknown, unknown>();
        let index = 0;
        for (const [key, entry] of kind.value) {
          const wireKey = this.#step({ in: 'map-key', index, key }, key);
          wire.set(wireKey, this.#step({ in: 'map-value', index, key }, entry));
          index++;
        }
        this.#ancestors.delete(kind.value);
        return wire;
      }
      case 'set': {
        this.#enter(kind.value);
        const wire: unknown[] = [];
        for (const element of kind.value) wire.push(this.#step({ in: 'set', index: wire.length }, element));
        this.#ancestors.delete(kind.value);
        return new Tag(wire, TAG.set);
      }
      case 'registered': {
        this.#enter(kind.value);
        const wire = this.#registered(kind);
        this.#ancestors.delete(kind.value);
        return wire;
      }
    }
  }

  /** The placeholder of a binary left out of a split value's skeleton, or `undefined` to keep it in. */
  #segment(type: SegmentType, view: ArrayBufferView): Tag | undefined {
    const split = this.#split;
    if (split === undefined || view.byteLength < split.minBytes) return undefined;
    const path = this.#steps.map((step): string | number => (typeof step === 'number' || typeof step === 'string' ? step : this.#stepText(step)));
    split.segments.push({ type, bytes: new Uint8Array(view.buffer, view.byteOffset, view.byteLength), path });
    return new Tag(split.segments.length - 1, TAG.segment);
  }

  /** Refuses one binary over the size limit before cbor-x copies it (the total is checked after encoding). */
  #binary(byteLength: number): void {
    if (byteLength > MAX_VALUE_BYTES) checkValueBytes(byteLength, this.#path());
  }

  #object(source: Record<string, unknown>): unknown {
    const keys = Object.keys(source);
    if (keys.length > MAX_OBJECT_KEYS) checkObjectKeys(keys.length, this.#path());
    if (keys.every((key) => key !== '__proto__' && isWellFormed.call(key))) {
      const wire: Record<string, unknown> = {};
      for (const key of keys) wire[key] = this.#step(key, source[key]);
      return wire;
    }
    // Plain CBOR keys cannot carry these, and assigning '__proto__' would set the prototype.
    const entries: unknown[] = [];
    for (const key of keys) entries.push(this.build(key), this.#step(key, source[key]));
    return new Tag(entries, TAG.objectEntries);
  }

  #registered(kind: Extract<ValueKind, { kind: 'registered' }>): unknown {
    const { definition, value } = kind;
    let plain: unknown;
    try {
      plain = definition.encode(value);
    } catch (error) {
      throw new MemostrataError('UNSERIALIZABLE', `Cannot store ${this.#path()}: encode() of registered type '${definition.name}' threw (${describeError(error)}). Nothing was stored.`, {
        cause: error,
      });
    }
    this.#names.add(definition.name);
    // The plain value stands where the instance stood: its paths continue from the instance's.
    return new Tag([definition.name, this.build(plain)], TAG.registered);
  }

  // No cleanup on a throw: a builder is used for one encode, and a throw ends it.
  #step(step: PathStep, value: unknown): unknown {
    this.#steps.push(step);
    const wire = this.build(value);
    this.#steps.pop();
    return wire;
  }

  #enter(container: object): void {
    if (this.#ancestors.has(container)) throw unserializable(this.#path(), 'a reference to a value that contains it (a cycle)');
    if (this.#ancestors.size >= MAX_NESTING_DEPTH) throw tooDeep(this.#path());
    this.#ancestors.add(container);
  }

  /** `classify` with the path rendered only when it throws: building it for every element would cost more than the walk. */
  #classify(value: unknown): ValueKind {
    try {
      return classify(value, '', this.#types);
    } catch (error) {
      if (isMemostrataError(error, 'UNSERIALIZABLE')) return classify(value, this.#path(), this.#types);
      throw error;
    }
  }

  #path(): string {
    let path = this.#root;
    const steps = this.#steps;
    // A path hundreds of steps deep helps no one: keep its two ends.
    const shown: PathStep[] = steps.length > 24 ? [...steps.slice(0, 10), { in: 'elided', count: steps.length - 20 }, ...steps.slice(-10)] : steps;
    for (const step of shown) {
      if (typeof step === 'number') path += `[${step}]`;
      else if (typeof step === 'string') path = propertyPath(path, step);
      else path += this.#stepText(step);
    }
    return path;
  }

  #stepText(step: Exclude<PathStep, number | string>): string {
    if (step.in === 'map-key') return `.keys()[${step.index}]`;
    if (step.in === 'map-value') return `.get(${describeKey(step.key, step.index)})`;
    if (step.in === 'set') return `.values()[${step.index}]`;
    return `…(${step.count} more)…`;
  }
}

/** Turns what cbor-x decoded into the value, checking that it is one of ours. */
class Reviver {
  readonly #types: TypeRegistry;
  readonly #input: ArrayBufferLike;
  readonly #names: Set<string>;
  readonly #segments: readonly ArrayBufferView[] | undefined;
  readonly #usedSegments = new Set<number>();

  constructor(types: TypeRegistry, input: ArrayBufferLike, names: Set<string>, segments?: readonly ArrayBufferView[]) {
    this.#types = types;
    this.#input = input;
    this.#names = names;
    this.#segments = segments;
  }

  revive(wire: unknown): unknown {
    if (typeof wire !== 'object' || wire === null) return wire;
    if (Array.isArray(wire)) {
      for (let index = 0; index < wire.length; index++) wire[index] = this.revive(wire[index]);
      return wire;
    }
    const prototype = Object.getPrototypeOf(wire) as object | null;
    if (prototype === Object.prototype) {
      const record = wire as Record<string, unknown>;
      for (const key of Object.keys(record)) record[key] = this.revive(record[key]);
      return record;
    }
    if (wire instanceof Tag) return this.#tag(wire);
    if (prototype === Map.prototype) {
      const map = new Map<unknown, unknown>();
      for (const [key, value] of wire as Map<unknown, unknown>) map.set(this.revive(key), this.revive(value));
      return map;
    }
    if (prototype === Set.prototype) {
      const set = new Set<unknown>();
      for (const element of wire as Set<unknown>) set.add(this.revive(element));
      return set;
    }
    if (ArrayBuffer.isView(wire) && typedArrayConstructors.has(wire.constructor)) {
      return this.#own(wire as Uint8Array);
    }
    throw corrupt(`they hold a ${wire.constructor?.name ?? 'value'} that memostrata never writes`);
  }

  #tag(tag: Tag): unknown {
    const content: unknown = tag.value;
    switch (tag.tag) {
      case TAG.negativeZero:
        return -0;
      case TAG.date:
        return new Date(content as number);
      case TAG.buffer: {
        const bytes = this.#own(content as Uint8Array);
        return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
      }
      case TAG.dataView: {
        const bytes = this.#own(content as Uint8Array);
        return new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
      }
      case TAG.arrayBuffer: {
        const bytes = content as Uint8Array;
        return bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength);
      }
      case TAG.utf16String: {
        const bytes = content as Uint8Array;
        if (bytes.byteLength % 2 !== 0) throw corrupt('a UTF-16 string has an odd number of bytes');
        return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('utf16le');
      }
      case TAG.objectEntries:
        return this.#objectEntries(content as unknown[]);
      case TAG.registered:
        return this.#registered(content as unknown[]);
      case TAG.segment:
        return this.#segment(content as number);
    }
    throw corrupt(`they hold CBOR tag ${tag.tag}, which memostrata never writes`);
  }

  #objectEntries(entries: unknown[]): Record<string, unknown> {
    if (entries.length % 2 !== 0) throw corrupt('an object entry list has an odd length');
    const object: Record<string, unknown> = {};
    for (let index = 0; index < entries.length; index += 2) {
      const key = this.revive(entries[index]);
      if (typeof key !== 'string') throw corrupt('an object key is not a string');
      Object.defineProperty(object, key, { value: this.revive(entries[index + 1]), enumerable: true, writable: true, configurable: true });
    }
    return object;
  }

  #registered(content: unknown[]): unknown {
    const [name, plainWire] = content;
    if (content.length !== 2 || typeof name !== 'string') throw corrupt('a registered value is not [name, plain value]');
    const definition = this.#types.forName(name);
    if (definition === undefined) {
      throw new MemostrataError(
        'UNKNOWN_TYPE',
        `The stored value holds an instance of registered type '${name}', which this process has not registered. ` +
          `Call registerType({ name: '${name}', type, encode, decode }) before reading it.`,
      );
    }
    this.#names.add(name);
    const plain = this.revive(plainWire);
    try {
      return definition.decode(plain);
    } catch (error) {
      throw corrupt(`decode() of registered type '${name}' threw on the stored plain value (${describeError(error)})`, error);
    }
  }

  /** A split value's segment, used once: a skeleton naming one twice would make two parts of the value share memory. */
  #segment(index: number): ArrayBufferView {
    const segment = this.#segments?.[index];
    if (segment === undefined || this.#usedSegments.has(index)) throw corrupt(`a skeleton names segment ${index}, which is missing or named twice`);
    this.#usedSegments.add(index);
    return segment;
  }

  /** A segment the skeleton never names is a value with a part missing (a damaged or foreign blob): never return it. */
  checkEverySegmentUsed(): void {
    const count = this.#segments?.length ?? 0;
    if (this.#usedSegments.size !== count) throw corrupt(`a skeleton names ${this.#usedSegments.size} of its ${count} segments`);
  }

  /** `bytes` itself, or a copy when it still points into the input. */
  #own<T extends ArrayBufferView>(bytes: T): T {
    if (bytes.buffer !== this.#input) return bytes;
    return (bytes as unknown as Uint8Array).slice() as unknown as T;
  }
}

function bigintTag(value: bigint): Tag {
  const negative = value < 0n;
  const magnitude = negative ? -1n - value : value;
  let hex = magnitude === 0n ? '' : magnitude.toString(16);
  if (hex.length % 2 !== 0) hex = `0${hex}`;
  return new Tag(Buffer.from(hex, 'hex'), negative ? TAG.negativeBignum : TAG.bignum);
}

function describeKey(key: unknown, index: number): string {
  if (typeof key === 'string') return JSON.stringify(key);
  if (typeof key === 'number' || typeof key === 'boolean' || key === null || key === undefined) return String(key);
  if (typeof key === 'bigint') return `${key}n`;
  return `<key ${index}>`;
}

/**
 * Walks the CBOR item heads (never the contents of strings, so a large typed
 * array costs nothing) and throws `CORRUPT` unless `bytes` hold exactly one
 * well-formed item that uses only our tags, with the content each tag needs.
 */
function checkWellFormed(bytes: Uint8Array, segmentCount: number): void {
  const end = bytes.length;
  let position = 0;
  let remaining = 1; // items still to read in the current container
  const outer: number[] = [];
  const fail = (what: string): never => {
    throw corrupt(`${what} at byte ${position} of ${end}`);
  };
  while (true) {
    if (remaining === 0) {
      const next = outer.pop();
      if (next === undefined) break;
      remaining = next;
      continue;
    }
    remaining--;
    if (position >= end) fail('they end before the value does');
    const head = bytes[position]!;
    const major = head >> 5;
    const info = head & 0x1f;
    position++;
    let argument: number;
    if (info < 24) argument = info;
    else if (info <= 27) {
      const size = 1 << (info - 24);
      if (position + size > end) fail('they end inside an item head');
      argument = 0;
      for (let i = 0; i < size; i++) argument = argument * 256 + bytes[position + i]!;
      position += size;
    } else {
      argument = fail(info === 31 ? 'an indefinite length or break, which memostrata never writes,' : 'a reserved item head');
    }
    switch (major) {
      case 0:
      case 1:
        break;
      case MAJOR_BYTES:
      case MAJOR_TEXT:
        if (argument > end - position) fail('a string runs past the end');
        position += argument;
        break;
      case MAJOR_ARRAY:
      case MAJOR_MAP: {
        const items = major === MAJOR_MAP ? argument * 2 : argument;
        if (items > end - position) fail('a container claims more items than there are bytes');
        if (outer.length >= MAX_NESTING_DEPTH) fail(`containers nest more than ${MAX_NESTING_DEPTH} deep`);
        outer.push(remaining);
        remaining = items;
        break;
      }
      case 6:
        checkTagContent(bytes, position, argument, segmentCount, fail);
        remaining++;
        break;
      default: // 7: simple values and floats
        if (info < 24 ? argument < 20 : info === 24) fail(`simple value ${argument}, which memostrata never writes,`);
    }
  }
  if (position !== end) fail('there are bytes after the value');
}

function checkTagContent(bytes: Uint8Array, position: number, tag: number, segmentCount: number, fail: (what: string) => never): void {
  const expected = TAG_CONTENT.get(tag);
  // Segment indexes exist only in a blob's skeleton, and only below its segment count.
  if (expected === undefined || (tag === TAG.segment && segmentCount === 0)) fail(`CBOR tag ${tag}, which memostrata never writes,`);
  if (position >= bytes.length) fail('they end after a tag');
  const head = bytes[position]!;
  const major = head >> 5;
  const matches =
    expected === 'null' ? head === 0xf6 : expected === 'number' ? major === 0 || major === 1 || (head >= 0xf9 && head <= 0xfb) : major === expected;
  if (!matches) fail(`tag ${tag} wraps the wrong kind of item`);
  if ((tag === TAG.bignum || tag === TAG.negativeBignum) && itemLength(bytes, position) > MAX_BIGINT_BYTES) {
    fail(`a bigint of more than ${MAX_BIGINT_BYTES} bytes, which memostrata never writes,`);
  }
  if (tag === TAG.segment && itemLength(bytes, position) >= segmentCount) fail(`a segment index past the ${segmentCount} segments`);
  const elementSize = TYPED_ARRAY_TAG_SIZES.get(tag);
  if (elementSize !== undefined && elementSize > 1) {
    const length = itemLength(bytes, position);
    if (length % elementSize !== 0) fail(`typed array tag ${tag} holds ${length} bytes, not a multiple of ${elementSize}`);
  }
}

/** The length argument of the item head at `position` (already checked to fit in `bytes`). */
function itemLength(bytes: Uint8Array, position: number): number {
  const info = bytes[position]! & 0x1f;
  if (info < 24 || info > 27) return info;
  let length = 0;
  for (let i = 1; i <= 1 << (info - 24); i++) length = length * 256 + (bytes[position + i] ?? 0);
  return length;
}

function corrupt(what: string, cause?: unknown): MemostrataError {
  return new MemostrataError('CORRUPT', `Stored bytes are not a memostrata value: ${what}.`, cause === undefined ? {} : { cause });
}

function describeError(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
