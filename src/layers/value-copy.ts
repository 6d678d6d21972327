import type { TypeRegistry } from './type-registry.js';
import { classify } from './value-kind.js';

/**
 * A deep copy of a supported value, as storing it and reading it back would
 * give, without the bytes in between: what a memoized call computes on, so
 * that a caller changing its objects after the call changes nothing.
 *
 * Walks the value through {@link classify}, the one definition of what can be
 * stored, so it refuses what the digest refuses (`UNSERIALIZABLE` naming
 * `path`). Shared references stay shared; registered types are copied through
 * their own `encode` and `decode`.
 */
export function copyValue(value: unknown, path: string, types: TypeRegistry): unknown {
  return copy(value, path, types, new Map());
}

function copy(value: unknown, path: string, types: TypeRegistry, copies: Map<object, unknown>): unknown {
  if (value === null || typeof value !== 'object') {
    classify(value, path, types); // refuses functions, symbols and oversized bigints
    return value;
  }
  const done = copies.get(value);
  if (done !== undefined) return done;
  const kind = classify(value, path, types);
  let result: unknown;
  switch (kind.kind) {
    case 'array': {
      const source = kind.value;
      const array = new Array<unknown>(source.length);
      copies.set(value, array);
      // Holes stay holes.
      for (let i = 0; i < source.length; i++) if (i in source) array[i] = copy(source[i], `${path}[${i}]`, types, copies);
      return array;
    }
    case 'object': {
      const object = Object.getPrototypeOf(kind.value) === null ? (Object.create(null) as Record<string, unknown>) : {};
      copies.set(value, object);
      for (const key of Object.keys(kind.value)) {
        // Assigning `__proto__` would set the prototype instead of making a key.
        Object.defineProperty(object, key, { value: copy(kind.value[key], `${path}.${key}`, types, copies), enumerable: true, writable: true, configurable: true });
      }
      return object;
    }
    case 'map': {
      const map = new Map<unknown, unknown>();
      copies.set(value, map);
      for (const [key, item] of kind.value) map.set(copy(key, `${path}.<key>`, types, copies), copy(item, `${path}.<value>`, types, copies));
      return map;
    }
    case 'set': {
      const set = new Set<unknown>();
      copies.set(value, set);
      for (const item of kind.value) set.add(copy(item, `${path}.<member>`, types, copies));
      return set;
    }
    case 'date':
      result = new Date(kind.value.getTime());
      break;
    case 'buffer':
      result = Buffer.from(kind.value);
      break;
    case 'typed-array':
      result = kind.value.slice();
      break;
    case 'dataview': {
      const view = kind.value;
      result = new DataView(view.buffer.slice(view.byteOffset, view.byteOffset + view.byteLength));
      break;
    }
    case 'arraybuffer':
      result = kind.value.slice(0);
      break;
    case 'registered':
      result = kind.definition.decode(copy(kind.definition.encode(kind.value), path, types, new Map()));
      break;
    default:
      result = value;
  }
  copies.set(value, result);
  return result;
}
