import { MemostrataError } from '../errors.js';

/** Throws `INVALID_ARGUMENT` unless `value` is a `Uint8Array` (a `Buffer` is one). */
export function assertBytes(value: unknown, what: string): asserts value is Uint8Array {
  if (!(value instanceof Uint8Array)) {
    throw new MemostrataError('INVALID_ARGUMENT', `A backend ${what} must be a Uint8Array; got ${describe(value)}.`);
  }
}

/** A copy that shares no memory with `bytes`. */
export function copyBytes(bytes: Uint8Array): Uint8Array {
  return Uint8Array.prototype.slice.call(bytes);
}

/** UTF-8 bytes of a string. */
export function utf8(text: string): Uint8Array {
  return Buffer.from(text, 'utf8');
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (typeof value === 'object') return value.constructor?.name ?? 'object';
  return typeof value;
}
