import { MemostrataError } from '../errors.js';
import { checkArrayLength, checkBigint } from './limits.js';
import type { TypeDefinition, TypeRegistry } from './type-registry.js';

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
} as const;

/** Name of a supported typed-array class. */
export type TypedArrayName = keyof typeof typedArrayClasses;

/** Any supported typed array. */
export type SupportedTypedArray = InstanceType<(typeof typedArrayClasses)[TypedArrayName]>;

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
      throw unserializable(path, `a function (${value.name || 'anonymous'})`);
    case 'symbol':
      throw unserializable(path, `a symbol (${value.toString()})`);
  }
  if (value === null) return { kind: 'null' };
  const object = value as object;
  if (Array.isArray(object)) {
    checkArrayLength(object.length, path);
    return { kind: 'array', value: object };
  }
  const prototype = Object.getPrototypeOf(object) as object | null;
  if (prototype === Object.prototype || prototype === null) {
    if (Object.getOwnPropertySymbols(object).length > 0) throw unserializable(path, 'an object with symbol keys');
    return { kind: 'object', value: object as Record<string, unknown> };
  }
  if (ArrayBuffer.isView(object)) {
    if (Buffer.isBuffer(object)) return { kind: 'buffer', value: object };
    if (object instanceof DataView) return { kind: 'dataview', value: object };
    const name = object.constructor.name as TypedArrayName;
    if (typedArrayClasses[name] === object.constructor) return { kind: 'typed-array', name, value: object as SupportedTypedArray };
  }
  const definition = types.forInstance(object);
  if (definition !== undefined) return { kind: 'registered', definition, value: object };
  // Exact classes only: a subclass would come back from the store as its base class.
  if (prototype === Map.prototype) return { kind: 'map', value: object as Map<unknown, unknown> };
  if (prototype === Set.prototype) return { kind: 'set', value: object as Set<unknown> };
  if (prototype === Date.prototype) return { kind: 'date', value: object as Date };
  if (prototype === ArrayBuffer.prototype) return { kind: 'arraybuffer', value: object as ArrayBuffer };
  const className = (object as { constructor?: { name?: string } }).constructor?.name ?? 'unknown';
  throw unserializable(path, `an instance of ${className}, which is not registered (use registerType)`);
}

/** The `UNSERIALIZABLE` error for the value at `path`. */
export function unserializable(path: string, what: string): MemostrataError {
  return new MemostrataError('UNSERIALIZABLE', `Cannot key or store ${path}: it is ${what}. Nothing was stored.`);
}

/** `base.key` for identifier-like keys, `base["key"]` otherwise. */
export function propertyPath(base: string, key: string): string {
  return /^[A-Za-z_$][\w$]*$/.test(key) ? `${base}.${key}` : `${base}[${JSON.stringify(key)}]`;
}
