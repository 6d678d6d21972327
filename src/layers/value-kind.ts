import { types as nodeTypes } from 'node:util';
import { MemostrataError } from '../errors.js';
import { hiddenProperty, type ContentShape } from './hidden-properties.js';
import { checkArrayLength, checkBigint } from './limits.js';
import type { TypeDefinition, TypeRegistry } from './type-registry.js';
import { typedArrayClasses, type SupportedTypedArray, type TypedArrayName } from './typed-arrays.js';

const { isArrayBuffer, isDate, isMap, isSet } = nodeTypes;

// The typed-array names and classes live in typed-arrays.ts; re-exported for the modules that walk values.
export { typedArrayClasses, type SupportedTypedArray, type TypedArrayName } from './typed-arrays.js';

/**
 * What a supported value is. This is the one definition of the supported
 * value space: the digest and the codec both walk values through it.
 */
export type ValueKind =
  | { kind: 'null' }
  | { kind: 'undefined' }
  | { kind: 'boolean'; value: boolean }
  | { kind: 'number'; value: number }
  | { kind: 'bigint'; value: bigint }
  | { kind: 'string'; value: string }
  | { kind: 'array'; value: readonly unknown[] }
  | { kind: 'object'; value: Record<string, unknown> }
  | { kind: 'map'; value: ReadonlyMap<unknown, unknown> }
  | { kind: 'set'; value: ReadonlySet<unknown> }
  | { kind: 'date'; value: Date }
  | { kind: 'buffer'; value: Buffer }
  | { kind: 'typed-array'; name: TypedArrayName; value: SupportedTypedArray }
  | { kind: 'dataview'; value: DataView }
  | { kind: 'arraybuffer'; value: ArrayBuffer }
  | { kind: 'registered'; definition: TypeDefinition; value: object };

/**
 * Classifies `value`, or throws `UNSERIALIZABLE` naming `path` (such as
 * `args[1].mesh.nodes`) for a function, symbol, or an instance of a class
 * that is neither built in nor registered. Cycles are the walker's to detect.
 */
export function classify(value: unknown, path: string, types: TypeRegistry): ValueKind {
  switch (typeof value) {
    case 'undefined':
      return { kind: 'undefined' };
    case 'boolean':
      return { kind: 'boolean', value };
    case 'number':
      return { kind: 'number', value };
    case 'bigint':
      checkBigint(value, path);
      return { kind: 'bigint', value };
    case 'string':
      return { kind: 'string', value };
    case 'function':
      throw unserializable(path, `a function (${value.name || 'anonymous'})${ignoreHint(path)}`);
    case 'symbol':
      throw unserializable(path, `a symbol (${value.toString()})`);
  }
  if (value === null) return { kind: 'null' };
  const object = value as object;
  if (isPlainObject(object)) return { kind: 'object', value: object as Record<string, unknown> };
  const prototype = Object.getPrototypeOf(object) as object | null;
  if (prototype === Object.prototype || prototype === null) throw unserializable(path, 'an object with symbol keys');
  // Exact classes only, checked by their internal slots as well: a subclass, or an object
  // that merely inherits a built-in prototype, would come back from the store as something else.
  if (prototype === Array.prototype && Array.isArray(object)) {
    checkArrayLength(object.length, path);
    return checkNothingHidden(object, 'array', path, { kind: 'array', value: object as unknown[] });
  }
  if (ArrayBuffer.isView(object)) {
    const name = typedArrayName.call(object) as TypedArrayName | undefined;
    const view = object as ArrayBufferView;
    if (name === undefined) {
      if (prototype === DataView.prototype) {
        checkAttached(view.buffer, path); // a DataView's byteLength throws once detached
        return checkNothingHidden(object, 'internal', path, { kind: 'dataview', value: object as DataView });
      }
    } else if (prototype === Buffer.prototype) {
      if (name === 'Uint8Array') {
        if (view.byteLength === 0) checkAttached(view.buffer, path);
        return checkNothingHidden(object, 'indexed', path, { kind: 'buffer', value: object as Buffer });
      }
    } else if (prototype === typedArrayClasses[name].prototype) {
      if (view.byteLength === 0) checkAttached(view.buffer, path);
      return checkNothingHidden(object, 'indexed', path, { kind: 'typed-array', name, value: object as SupportedTypedArray });
    }
  }
  const definition = types.forInstance(object);
  if (definition !== undefined) return { kind: 'registered', definition, value: object };
  if (prototype === Map.prototype && isMap(object)) return checkNothingHidden(object, 'internal', path, { kind: 'map', value: object as Map<unknown, unknown> });
  if (prototype === Set.prototype && isSet(object)) return checkNothingHidden(object, 'internal', path, { kind: 'set', value: object as Set<unknown> });
  if (prototype === Date.prototype && isDate(object)) return checkNothingHidden(object, 'internal', path, { kind: 'date', value: object as Date });
  if (prototype === ArrayBuffer.prototype && isArrayBuffer(object)) {
    checkAttached(object as ArrayBuffer, path);
    return checkNothingHidden(object, 'internal', path, { kind: 'arraybuffer', value: object as ArrayBuffer });
  }
  throw unserializable(path, describeUnsupported(object, prototype));
}

/**
 * Whether `object` is of classify's `'object'` kind: a plain or null-prototype
 * object without symbol keys. A walker may test this first to skip the kind
 * record for the commonest container; anything else goes through classify.
 */
export function isPlainObject(object: object): object is Record<string, unknown> {
  const prototype = Object.getPrototypeOf(object) as object | null;
  return (prototype === Object.prototype || prototype === null) && Object.getOwnPropertySymbols(object).length === 0;
}

/**
 * Throws `UNSERIALIZABLE` for a detached ArrayBuffer (its memory was transferred, e.g. to a worker):
 * it has no bytes to key, and reading a view of it throws a TypeError. Node 20 has no `detached` getter;
 * only a detached (or empty) buffer has byteLength 0, and only a detached one refuses a new view.
 */
function checkAttached(buffer: ArrayBufferLike, path: string): void {
  if (buffer.byteLength !== 0) return;
  try {
    new Uint8Array(buffer);
  } catch {
    throw unserializable(path, 'a detached ArrayBuffer or a view of one (its memory was transferred away, e.g. to a worker); pass a copy made before the transfer');
  }
}

/** `%TypedArray%.prototype[Symbol.toStringTag]`: a typed array's real class name from its internal slot (undefined for anything else). */
const typedArrayName = Object.getOwnPropertyDescriptor(Object.getPrototypeOf(Int8Array.prototype) as object, Symbol.toStringTag)!.get as (this: unknown) => string | undefined;

/** Built-in prototypes whose instances memostrata supports, by the class name used in messages. */
const builtinPrototypes = new Map<object, string>([
  [Array.prototype, 'Array'],
  [Map.prototype, 'Map'],
  [Set.prototype, 'Set'],
  [Date.prototype, 'Date'],
  [ArrayBuffer.prototype, 'ArrayBuffer'],
  [DataView.prototype, 'DataView'],
  [Buffer.prototype, 'Buffer'],
  ...Object.entries(typedArrayClasses).map(([name, Class]) => [Class.prototype, name] as [object, string]),
]);

function describeUnsupported(object: object, prototype: object | null): string {
  const className = (object as { constructor?: { name?: string } }).constructor?.name ?? 'unknown';
  const fake = prototype === null ? undefined : builtinPrototypes.get(prototype);
  if (fake !== undefined) return `an object that inherits ${fake}.prototype but is not a real ${fake} (made with Object.create or setPrototypeOf)`;
  for (const [builtin, name] of builtinPrototypes) {
    if (builtin.isPrototypeOf(object)) {
      return `an instance of ${className}, a subclass of ${name}, which is not registered (use registerType, or pass a plain ${name} copy of it)`;
    }
  }
  return `an instance of ${className}, which is not registered (use registerType)`;
}

/** How to copy each kind of container without its extra properties, for the message. */
const copyHints: Readonly<Record<string, string>> = {
  array: 'an array keeps only its elements; copy them ([...x] or Array.from(x)) or put named data in an object',
  'typed-array': 'a typed array keeps only its elements; copy them (x.slice()) or put named data in an object',
  buffer: 'a Buffer keeps only its bytes; copy them (Buffer.from(x)) or put named data in an object',
  dataview: 'a DataView keeps only its bytes; make a new view (new DataView(x.buffer, x.byteOffset, x.byteLength)) or put named data in an object',
  arraybuffer: 'an ArrayBuffer keeps only its bytes; copy it (x.slice(0)) or put named data in an object',
  map: 'a Map keeps only its entries; copy it (new Map(x)) or put named data in an object',
  set: 'a Set keeps only its elements; copy it (new Set(x)) or put named data in an object',
  date: 'a Date keeps only its time; copy it (new Date(x.getTime())) or put named data in an object',
};

/** Throws `UNSERIALIZABLE` naming the property's path if `object` carries data its key would miss; else returns `kind`. */
function checkNothingHidden<K extends ValueKind>(object: object, shape: ContentShape, path: string, kind: K): K {
  const key = hiddenProperty(object, shape);
  if (key !== undefined) {
    const name = kind.kind;
    const where = typeof key === 'symbol' ? `${path}[${key.toString()}]` : propertyPath(path, key);
    throw unserializable(where, `a ${typeof key === 'symbol' ? 'symbol-keyed' : 'named'} property of ${describeKind(name)}, which its key and stored form would not keep (${copyHints[name]})`);
  }
  return kind;
}

function describeKind(kind: string): string {
  return { array: 'an array', 'typed-array': 'a typed array', buffer: 'a Buffer', dataview: 'a DataView', arraybuffer: 'an ArrayBuffer', map: 'a Map', set: 'a Set', date: 'a Date' }[kind] ?? kind;
}

/** For a whole argument that cannot be keyed (a logger, a callback): how to leave it out of the key. */
function ignoreHint(path: string): string {
  const argument = /^args\[(\d+)\]$/.exec(path);
  return argument === null ? '' : `; if it does not change the result, leave it out of the key with the memoize option \`ignore: [${argument[1]}]\``;
}

/** The `UNSERIALIZABLE` error for the value at `path`. */
export function unserializable(path: string, what: string): MemostrataError {
  return new MemostrataError('UNSERIALIZABLE', `Cannot key or store ${path}: it is ${what}. Nothing was stored.`);
}

/** `base.key` for identifier-like keys, `base["key"]` otherwise. */
export function propertyPath(base: string, key: string): string {
  return /^[A-Za-z_$][\w$]*$/.test(key) ? `${base}.${key}` : `${base}[${JSON.stringify(key)}]`;
}
