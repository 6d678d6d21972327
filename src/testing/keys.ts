import type { Range } from '../contract/range.js';

/** Bytes from numbers, for short literal keys. */
export const bytes = (...values: number[]): Uint8Array => new Uint8Array(values);

/** Hex of bytes, so that vitest diffs read as text. */
export function hex(value: unknown): string {
  if (!(value instanceof Uint8Array)) throw new TypeError(`expected a Uint8Array from the database, got ${String(value)}`);
  return Buffer.from(value).toString('hex');
}

/** Keys chosen to exercise byte order: 0x00 and 0xff bytes, prefixes, lengths. In unsigned byte order. */
export const orderedKeys: readonly Uint8Array[] = [
  bytes(0x00),
  bytes(0x00, 0x00),
  bytes(0x00, 0xff),
  bytes(0x01),
  bytes(0x01, 0x00),
  bytes(0x61, 0x62),
  bytes(0x7f),
  bytes(0x80),
  bytes(0xfe, 0xff, 0xff),
  bytes(0xff),
  bytes(0xff, 0x00),
  bytes(0xff, 0xff),
];

/** The reference answer for a range: whether `keyHex` lies in it (`gt` wins over `gte`, `lt` over `lte`). */
export function inRange(keyHex: string, range: Range<Uint8Array>): boolean {
  const key = Buffer.from(keyHex, 'hex');
  const cmp = (bound: Uint8Array): number => Buffer.compare(key, bound);
  if (range.gt !== undefined && cmp(range.gt) <= 0) return false;
  if (range.gt === undefined && range.gte !== undefined && cmp(range.gte) < 0) return false;
  if (range.lt !== undefined && cmp(range.lt) >= 0) return false;
  if (range.lt === undefined && range.lte !== undefined && cmp(range.lte) > 0) return false;
  return true;
}
