import type { XXHashAPI } from 'xxhash-wasm';
import { MemostrataError, isMemostrataError } from '../../errors.js';
import { checkObjectKeys, checkValueBytes, MAX_NESTING_DEPTH, MAX_OBJECT_KEYS, MAX_VALUE_BYTES, tooDeep } from '../limits.js';
import type { TypeRegistry } from '../type-registry.js';
import { classify, isPlainObject, propertyPath, unserializable, type TypedArrayName } from '../value-kind.js';
import { HashSink, LITTLE_ENDIAN_HOST } from './hash-sink.js';

/**
 * The tag byte that starts each value's canonical form. Never renumber: every
 * stored key depends on these. `PARTS` starts a {@link CanonicalEncoder.digestParts}
 * input so that raw parts can never hash like a value.
 */
export const Tag = {
  UNDEFINED: 0x00,
  NULL: 0x01,
  FALSE: 0x02,
  TRUE: 0x03,
  NUMBER: 0x04,
  BIGINT64: 0x05,
  BIGINT_WIDE: 0x06,
  STRING_UTF8: 0x07,
  STRING_UTF16: 0x08,
  ARRAY: 0x09,
  OBJECT: 0x0a,
  MAP: 0x0b,
  SET: 0x0c,
  DATE: 0x0d,
  TYPED_ARRAY: 0x0e,
  BUFFER: 0x0f,
  DATAVIEW: 0x10,
  ARRAYBUFFER: 0x11,
  REGISTERED: 0x12,
  CALL: 0xfe,
  PARTS: 0xff,
} as const;

/** The byte that names a typed-array class after {@link Tag.TYPED_ARRAY}. Never renumber. */
export const typedArrayCodes: Readonly<Record<TypedArrayName, number>> = {
  Int8Array: 1,
  Uint8Array: 2,
  Uint8ClampedArray: 3,
  Int16Array: 4,
  Uint16Array: 5,
  Int32Array: 6,
  Uint32Array: 7,
  Float32Array: 8,
  Float64Array: 9,
  BigInt64Array: 10,
  BigUint64Array: 11,
};

const TOP_SCRATCH_BYTES = 64 * 1024;
/** A call whose canonical form is at most this long is keyed in memory by those bytes themselves, unhashed. */
const MEMORY_KEY_BYTES = 256;
/**
 * The first byte of a short call key whose canonical form has an odd length, in place of
 * {@link Tag.CALL}: the key then ends in one byte of padding. Never a tag byte of a value.
 */
const PADDED_CALL = 0xfd;
const ENTRY_SCRATCH_BYTES = 8 * 1024;
/** Strings up to this length are written by a JS loop while they stay ASCII; longer ones go to the native UTF-8 writer. */
const SHORT_STRING = 32;
const MIN_I64 = -(1n << 63n);
const MAX_I64 = (1n << 63n) - 1n;
const U64_MASK = (1n << 64n) - 1n;
/**
 * `classify` wants the value's path for its error message, but building a path
 * string for every value would cost more than the digest. It gets this
 * placeholder instead, and the rare error is rewritten with the real path.
 */
const PATH_PLACEHOLDER = '\u0000memostrata-path\u0000';
/** How many steps an error message shows at each end of a very deep path. */
const PATH_SHOWN = 10;

/** How a child's path extends its parent's; `null` adds nothing (the encoded form of a registered type). */
type Segment = number | string | null | EntrySegment;

class EntrySegment {
  constructor(
    readonly role: 'key' | 'value' | 'element',
    readonly index: number,
    readonly key?: unknown,
  ) {}

  extend(base: string): string {
    if (this.role === 'value') {
      const key = this.key;
      if (typeof key === 'string') return `${base}.get(${JSON.stringify(key)})`;
      if (typeof key === 'bigint') return `${base}.get(${key}n)`;
      if (typeof key === 'number') return `${base}.get(${Object.is(key, -0) ? '-0' : String(key)})`;
      if (typeof key === 'boolean' || key === null || key === undefined) return `${base}.get(${String(key)})`;
      return `${base}.values()[${this.index}]`;
    }
    return `${base}.${this.role === 'key' ? 'keys' : 'values'}()[${this.index}]`;
  }
}

/** One Map/Set entry's 128-bit digest, for sorting. */
interface EntryDigest {
  first: bigint;
  second: bigint;
}

function compareEntries(a: EntryDigest, b: EntryDigest): number {
  if (a.first !== b.first) return a.first < b.first ? -1 : 1;
  if (a.second !== b.second) return a.second < b.second ? -1 : 1;
  return 0;
}

/** Sorts keys by UTF-16 code units, like `Array.prototype.sort`, but faster for the few keys of a typical argument. */
function sortKeys(keys: string[]): string[] {
  if (keys.length > 12) return keys.sort();
  for (let i = 1; i < keys.length; i++) {
    const key = keys[i] as string;
    let j = i - 1;
    while (j >= 0 && (keys[j] as string) > key) {
      keys[j + 1] = keys[j] as string;
      j--;
    }
    keys[j + 1] = key;
  }
  return keys;
}

interface WellFormedString {
  isWellFormed(): boolean;
}

/**
 * Walks a value through `classify` and writes its canonical form into a
 * {@link HashSink}. One encoder serves one digest at a time (it reuses its
 * scratch buffers and stacks); {@link busy} says when it is in use.
 */
export class CanonicalEncoder {
  busy = false;
  readonly #hash: XXHashAPI;
  readonly #types: TypeRegistry;
  /** Sinks by Map/Set nesting: an entry is digested in the next sink down. */
  readonly #sinks: HashSink[] = [];
  /** The containers being walked, by depth: for cycle detection. */
  readonly #ancestors: (object | undefined)[] = [];
  /** How each depth's path extends its parent's: paths are only built for an error. */
  readonly #segments: Segment[] = [];
  #deepest = 0;
  #rootPath = 'value';
  /**
   * Bytes the stored (CBOR) form of the current value may need beyond its
   * canonical form: at most 3 per tagged or container value (a CBOR tag head
   * where the canonical form has a one-byte tag) and per UTF-16 string.
   */
  #extra = 0;
  /** An upper bound of the stored size of the last value digested (for tests). */
  lastSizeBound = 0;

  constructor(hash: XXHashAPI, types: TypeRegistry) {
    this.#hash = hash;
    this.#types = types;
    this.#sinks.push(new HashSink(hash, 0, TOP_SCRATCH_BYTES));
  }

  /** Writes the 16-byte digest of `value` into `out` at `offset`. */
  digestInto(value: unknown, path: string, out: DataView, offset: number): void {
    const sink = this.#sinks[0] as HashSink;
    this.#rootPath = path;
    try {
      const start = this.#beginValue();
      this.#encode(value, sink, 0);
      this.#endValue(start);
      sink.finish();
    } catch (error) {
      sink.reset();
      throw error;
    } finally {
      this.#forgetAncestors();
    }
    out.setBigUint64(offset, sink.first);
    out.setBigUint64(offset + 8, sink.second);
  }

  /**
   * The first of the two 64-bit hashes of `value`'s digest (the first 8
   * bytes of {@link digestInto}'s output), at half the cost: only the
   * top-level stream is halved, Map and Set entries are digested whole
   * (their order depends on both halves).
   */
  firstHashOf(value: unknown, path: string): bigint {
    const sink = this.#sinks[0] as HashSink;
    this.#rootPath = path;
    sink.firstOnly = true;
    try {
      const start = this.#beginValue();
      this.#encode(value, sink, 0);
      this.#endValue(start);
      sink.finish();
      return sink.first;
    } catch (error) {
      sink.reset();
      throw error;
    } finally {
      sink.firstOnly = false;
      this.#forgetAncestors();
    }
  }

  /**
   * The in-memory key of a call: `Tag.CALL`, the module's 16-byte identity,
   * the count of keyed arguments and their canonical forms. Short forms are
   * returned as they are, two bytes per UTF-16 code unit (exact: no hash, no
   * collision); a long one, or one that had to be streamed, as `#` and the hex
   * of its digest. {@link callDigest} gives the same digest for either.
   */
  callKey(identity: Uint8Array, args: readonly unknown[], ignore: ReadonlySet<number>, argumentPath: (index: number) => string): string {
    const sink = this.#sinks[0] as HashSink;
    try {
      sink.u8(Tag.CALL);
      sink.raw(identity);
      sink.u32(ignore.size === 0 ? args.length : args.length - countIgnored(args.length, ignore));
      for (let i = 0; i < args.length; i++) {
        if (ignore.size > 0 && ignore.has(i)) continue;
        this.#rootPath = argumentPath(i);
        const start = this.#beginValue();
        this.#encode(args[i], sink, 0);
        this.#endValue(start);
        this.#forgetAncestors();
      }
    } catch (error) {
      sink.reset();
      this.#forgetAncestors();
      throw error;
    }
    if (!sink.streaming && sink.pos <= MEMORY_KEY_BYTES) {
      // Two bytes per char: the Map hashes and compares half as many chars as with one per byte.
      // An odd length gets a zero byte of padding, told apart by the first byte (see callDigestInto).
      let end = sink.pos;
      if ((end & 1) === 1) {
        sink.bytes[0] = PADDED_CALL;
        sink.bytes[end++] = 0;
      }
      const key = sink.text.toString('utf16le', 0, end);
      sink.reset();
      return key;
    }
    sink.finish();
    return `#${sink.first.toString(16).padStart(16, '0')}${sink.second.toString(16).padStart(16, '0')}`;
  }

  /** Drops the containers of the last value walked (a loop: `fill` costs more for the one or two of an argument). */
  #forgetAncestors(): void {
    const ancestors = this.#ancestors;
    for (let i = this.#deepest; i >= 0; i--) ancestors[i] = undefined;
    this.#deepest = 0;
  }

  /** Starts the size bound of a value: returns the bytes written so far. */
  #beginValue(): number {
    this.#extra = 0;
    return this.#written();
  }

  /** Refuses the value begun at `start` if its stored form could exceed {@link MAX_VALUE_BYTES}. */
  #endValue(start: number): void {
    const bound = this.#written() - start + this.#extra;
    this.lastSizeBound = bound;
    if (bound > MAX_VALUE_BYTES) checkValueBytes(bound, this.#rootPath);
  }

  /** Bytes written to every sink, ever. Each byte of the canonical form goes to one sink once. */
  #written(): number {
    const sinks = this.#sinks;
    let total = 0;
    for (let i = 0; i < sinks.length; i++) {
      const sink = sinks[i] as HashSink;
      total += sink.counted + sink.pos;
    }
    return total;
  }

  /** Writes the digest of a {@link callKey} into `out` at `offset`. */
  callDigestInto(key: string, out: DataView, offset: number): void {
    if (key.startsWith('#')) {
      out.setBigUint64(offset, BigInt(`0x${key.slice(1, 17)}`));
      out.setBigUint64(offset + 8, BigInt(`0x${key.slice(17, 33)}`));
      return;
    }
    const sink = this.#sinks[0] as HashSink;
    const bytes = Buffer.from(key, 'utf16le');
    const padded = bytes[0] === PADDED_CALL;
    bytes[0] = Tag.CALL;
    sink.raw(padded ? bytes.subarray(0, bytes.length - 1) : bytes);
    sink.finish();
    out.setBigUint64(offset, sink.first);
    out.setBigUint64(offset + 8, sink.second);
  }

  /** Writes the 16-byte digest of length-prefixed raw `parts` into `out` at `offset`. */
  partsInto(parts: readonly Uint8Array[], out: DataView, offset: number): void {
    const sink = this.#sinks[0] as HashSink;
    sink.u8(Tag.PARTS);
    sink.u32(parts.length);
    for (const part of parts) {
      sink.length64(part.length);
      sink.raw(part);
    }
    sink.finish();
    out.setBigUint64(offset, sink.first);
    out.setBigUint64(offset + 8, sink.second);
  }

  /** The path of the value at `depth`; a path hundreds of steps deep keeps only its two ends. */
  #pathAt(depth: number): string {
    let path = this.#rootPath;
    for (let i = 0; i < depth; i++) {
      if (depth > PATH_SHOWN * 2 + 4 && i === PATH_SHOWN) {
        path += `…(${depth - 2 * PATH_SHOWN} more)…`;
        i = depth - PATH_SHOWN - 1;
        continue;
      }
      const segment = this.#segments[i] as Segment;
      if (segment === null) continue;
      if (typeof segment === 'number') path = `${path}[${segment}]`;
      else if (typeof segment === 'string') path = propertyPath(path, segment);
      else path = segment.extend(path);
    }
    return path;
  }

  /** Registers `container` as the ancestor at `depth`, or throws if it already encloses itself. */
  #enter(container: object, depth: number): void {
    if (depth >= MAX_NESTING_DEPTH) throw tooDeep(this.#pathAt(depth));
    const ancestors = this.#ancestors;
    for (let i = 0; i < depth; i++) {
      if (ancestors[i] === container) throw unserializable(this.#pathAt(depth), `a cycle back to ${this.#pathAt(i)}`);
    }
    ancestors[depth] = container;
    if (depth > this.#deepest) this.#deepest = depth;
  }

  #classify(value: unknown, depth: number) {
    try {
      // A root's path is at hand (and its message may depend on it, e.g. `ignore: [1]` for `args[1]`).
      return classify(value, depth === 0 ? this.#rootPath : PATH_PLACEHOLDER, this.#types);
    } catch (error) {
      if (isMemostrataError(error) && error.message.includes(PATH_PLACEHOLDER)) {
        throw new MemostrataError(error.code, error.message.replace(PATH_PLACEHOLDER, this.#pathAt(depth)), { cause: error.cause });
      }
      throw error;
    }
  }

  #encode(value: unknown, sink: HashSink, depth: number): void {
    // The commonest values skip classify's result object; they mean the same as its 'number', 'string' and 'object' kinds.
    if (typeof value === 'number') {
      sink.u8(Tag.NUMBER);
      return sink.f64(value);
    }
    if (typeof value === 'string') return this.#string(value, sink);
    if (typeof value === 'object' && value !== null && isPlainObject(value)) {
      this.#extra += 3;
      return this.#object(value, sink, depth);
    }
    const kind = this.#classify(value, depth);
    this.#extra += 3;
    switch (kind.kind) {
      case 'undefined':
        return sink.u8(Tag.UNDEFINED);
      case 'null':
        return sink.u8(Tag.NULL);
      case 'boolean':
        return sink.u8(kind.value ? Tag.TRUE : Tag.FALSE);
      case 'number':
        sink.u8(Tag.NUMBER);
        return sink.f64(kind.value);
      case 'bigint':
        return this.#bigint(kind.value, sink);
      case 'string':
        return this.#string(kind.value, sink);
      case 'date':
        sink.u8(Tag.DATE);
        return sink.f64(kind.value.getTime());
      case 'array': {
        const array = kind.value;
        this.#enter(array, depth);
        const length = array.length;
        sink.u8(Tag.ARRAY);
        sink.u32(length);
        const segments = this.#segments;
        for (let i = 0; i < length; i++) {
          segments[depth] = i;
          this.#encode(array[i], sink, depth + 1);
        }
        return;
      }
      case 'object':
        return this.#object(kind.value, sink, depth);
      case 'map': {
        const map = kind.value;
        this.#enter(map, depth);
        const entrySink = this.#sinkBelow(sink);
        const digests: EntryDigest[] = [];
        let index = 0;
        for (const [key, entryValue] of map) {
          this.#segments[depth] = new EntrySegment('key', index);
          this.#encode(key, entrySink, depth + 1);
          this.#segments[depth] = new EntrySegment('value', index, key);
          this.#encode(entryValue, entrySink, depth + 1);
          entrySink.finish();
          digests.push({ first: entrySink.first, second: entrySink.second });
          index++;
        }
        return this.#writeEntries(Tag.MAP, digests, sink);
      }
      case 'set': {
        const set = kind.value;
        this.#enter(set, depth);
        const entrySink = this.#sinkBelow(sink);
        const digests: EntryDigest[] = [];
        let index = 0;
        for (const element of set) {
          this.#segments[depth] = new EntrySegment('element', index);
          this.#encode(element, entrySink, depth + 1);
          entrySink.finish();
          digests.push({ first: entrySink.first, second: entrySink.second });
          index++;
        }
        return this.#writeEntries(Tag.SET, digests, sink);
      }
      case 'typed-array': {
        const array = kind.value;
        this.#checkBinary(array.byteLength, depth);
        typedArrayHeader(sink, kind.name, array.byteLength);
        const bytes = new Uint8Array(array.buffer, array.byteOffset, array.byteLength);
        if (LITTLE_ENDIAN_HOST || array.BYTES_PER_ELEMENT === 1) sink.raw(bytes);
        else sink.rawSwapped(bytes, array.BYTES_PER_ELEMENT);
        return;
      }
      case 'buffer':
        this.#checkBinary(kind.value.byteLength, depth);
        return this.#binary(Tag.BUFFER, kind.value, sink);
      case 'dataview':
        this.#checkBinary(kind.value.byteLength, depth);
        return this.#binary(Tag.DATAVIEW, kind.value, sink);
      case 'arraybuffer':
        this.#checkBinary(kind.value.byteLength, depth);
        sink.u8(Tag.ARRAYBUFFER);
        sink.length64(kind.value.byteLength);
        return sink.raw(new Uint8Array(kind.value));
      case 'registered': {
        const { definition, value: instance } = kind;
        this.#enter(instance, depth);
        let encoded: unknown;
        try {
          encoded = definition.encode(instance);
        } catch (error) {
          if (isMemostrataError(error)) throw error;
          throw new MemostrataError('UNSERIALIZABLE', `Cannot key or store ${this.#pathAt(depth)}: encode() of the registered type '${definition.name}' threw. Nothing was stored.`, {
            cause: error,
          });
        }
        sink.u8(Tag.REGISTERED);
        this.#string(definition.name, sink);
        this.#segments[depth] = null;
        return this.#encode(encoded, sink, depth + 1);
      }
    }
  }

  #object(object: Record<string, unknown>, sink: HashSink, depth: number): void {
    this.#enter(object, depth);
    const keys = Object.keys(object);
    if (keys.length > MAX_OBJECT_KEYS) checkObjectKeys(keys.length, this.#pathAt(depth));
    sortKeys(keys);
    sink.u8(Tag.OBJECT);
    sink.u32(keys.length);
    const segments = this.#segments;
    for (const key of keys) {
      this.#string(key, sink);
      segments[depth] = key;
      this.#encode(object[key], sink, depth + 1);
    }
  }

  /** Refuses one binary over the size limit before hashing it (the whole value is checked at its end). */
  #checkBinary(byteLength: number, depth: number): void {
    if (byteLength > MAX_VALUE_BYTES) checkValueBytes(byteLength, this.#pathAt(depth));
  }

  #sinkBelow(sink: HashSink): HashSink {
    const nesting = sink.nesting + 1;
    let below = this.#sinks[nesting];
    if (below === undefined) {
      below = new HashSink(this.#hash, nesting, ENTRY_SCRATCH_BYTES);
      this.#sinks[nesting] = below;
    }
    below.reset();
    return below;
  }

  /** Order-independent: the entries' digests, sorted. */
  #writeEntries(tag: number, digests: EntryDigest[], sink: HashSink): void {
    digests.sort(compareEntries);
    sink.u8(tag);
    sink.u32(digests.length);
    for (const { first, second } of digests) {
      sink.u64(first);
      sink.u64(second);
    }
  }

  #binary(tag: number, view: ArrayBufferView, sink: HashSink): void {
    sink.u8(tag);
    sink.length64(view.byteLength);
    sink.raw(new Uint8Array(view.buffer, view.byteOffset, view.byteLength));
  }

  #bigint(value: bigint, sink: HashSink): void {
    if (value >= MIN_I64 && value <= MAX_I64) {
      sink.u8(Tag.BIGINT64);
      return sink.i64(value);
    }
    // Outside 64 bits: sign, word count, magnitude in 64-bit words, least significant first.
    let magnitude = value < 0n ? -value : value;
    const words: bigint[] = [];
    while (magnitude > 0n) {
      words.push(magnitude & U64_MASK);
      magnitude >>= 64n;
    }
    sink.u8(Tag.BIGINT_WIDE);
    sink.u8(value < 0n ? 1 : 0);
    sink.u32(words.length);
    for (const word of words) sink.u64(word);
  }

  /**
   * A well-formed string as its UTF-8 bytes; a string with an unpaired
   * surrogate (which has no UTF-8 form) as its UTF-16 code units. Either way
   * after a tag and a 32-bit length.
   */
  #string(value: string, sink: HashSink): void {
    const length = value.length;
    if (length * 3 + 5 > sink.bytes.length) return this.#longString(value, sink);
    sink.reserve(length * 3 + 5);
    const bytes = sink.bytes;
    const start = sink.pos;
    const body = start + 5;
    bytes[start] = Tag.STRING_UTF8;
    let written: number;
    if (length <= SHORT_STRING) {
      let i = 0;
      for (; i < length; i++) {
        const code = value.charCodeAt(i);
        if (code >= 0x80) break;
        bytes[body + i] = code;
      }
      written = i === length ? length : sink.text.write(value, body, 'utf8');
    } else {
      written = sink.text.write(value, body, 'utf8');
    }
    if (written !== length && !(value as unknown as WellFormedString).isWellFormed()) return this.#utf16String(value, sink);
    sink.view.setUint32(start + 1, written, true);
    sink.pos = body + written;
  }

  #longString(value: string, sink: HashSink): void {
    if (!(value as unknown as WellFormedString).isWellFormed()) return this.#utf16String(value, sink);
    const encoded = Buffer.from(value, 'utf8');
    sink.u8(Tag.STRING_UTF8);
    sink.u32(encoded.length);
    sink.raw(encoded);
  }

  #utf16String(value: string, sink: HashSink): void {
    this.#extra += 3;
    sink.u8(Tag.STRING_UTF16);
    sink.u32(value.length);
    for (let i = 0; i < value.length; i++) {
      sink.reserve(2);
      sink.view.setUint16(sink.pos, value.charCodeAt(i), true);
      sink.pos += 2;
    }
  }
}

function countIgnored(length: number, ignore: ReadonlySet<number>): number {
  let ignored = 0;
  for (const index of ignore) if (index < length) ignored += 1;
  return ignored;
}

/** What precedes a typed array's elements in its canonical form: the one home of that header, for #encode and TypedArrayDigestStream. */
function typedArrayHeader(sink: HashSink, name: TypedArrayName, byteLength: number): void {
  sink.u8(Tag.TYPED_ARRAY);
  sink.u8(typedArrayCodes[name]);
  sink.length64(byteLength);
}

/**
 * The digest of one typed array taken as a whole value, fed its bytes in
 * order as they arrive: equal to {@link CanonicalEncoder.digestInto} of the
 * array once every byte came, without waiting for all of them (a restore
 * hashes one slice while the next is read). Only on a little-endian host,
 * where the array's bytes are its canonical form.
 */
export class TypedArrayDigestStream {
  readonly #sink: HashSink;
  readonly #elementSize: number;
  #remaining: number;

  constructor(hash: XXHashAPI, name: TypedArrayName, byteLength: number, elementSize: number) {
    if (!LITTLE_ENDIAN_HOST && elementSize !== 1) throw new Error('TypedArrayDigestStream needs a little-endian host');
    // A sink of its own: other digests run on the encoder while this one waits for reads.
    this.#sink = new HashSink(hash, 0, ENTRY_SCRATCH_BYTES);
    typedArrayHeader(this.#sink, name, byteLength);
    this.#elementSize = elementSize;
    this.#remaining = byteLength;
  }

  /** The next bytes of the array: whole elements, never more than are left. */
  update(bytes: Uint8Array): void {
    if (bytes.length > this.#remaining || bytes.length % this.#elementSize !== 0) {
      throw new Error(`A streamed typed-array digest got ${bytes.length} bytes with ${this.#remaining} left, in elements of ${this.#elementSize}.`);
    }
    this.#sink.raw(bytes);
    this.#remaining -= bytes.length;
  }

  /** The 128-bit digest, as {@link CanonicalEncoder.digestInto} writes it; only once every byte came. */
  digest(): Uint8Array {
    if (this.#remaining !== 0) throw new Error(`A streamed typed-array digest was finished with ${this.#remaining} bytes not yet given.`);
    this.#sink.finish();
    const out = new Uint8Array(16);
    const view = new DataView(out.buffer);
    view.setBigUint64(0, this.#sink.first);
    view.setBigUint64(8, this.#sink.second);
    return out;
  }
}
