import { MemostrataError } from '../errors.js';
import type { MemoRecord } from '../layers/memo-record.js';

/*
 * Expiry: an entry older than its module's `maxAge` (by when it was stored,
 * `createdAt`) is a miss, recomputed and replaced. The age is judged at each
 * use, so an entry read into memory before it expired expires there too.
 */

/** Whether `record` is older than `maxAgeMs` at `now` (`Infinity`: never). */
export function isExpired(record: Pick<MemoRecord, 'createdAt'>, maxAgeMs: number, now: number = Date.now()): boolean {
  return now - record.createdAt > maxAgeMs;
}

/**
 * Checks a `maxAge` option: a positive number of milliseconds, or `Infinity`
 * for never; `undefined` passes through.
 *
 * @throws MemostrataError `CONFIG` naming `where`.
 */
export function resolveMaxAge(value: unknown, where: string): number | undefined {
  if (value === undefined) return undefined;
  if (typeof value === 'number' && value > 0) return value;
  throw new MemostrataError('CONFIG', `${where}: maxAge must be a number of milliseconds > 0 (Infinity for never); got ${JSON.stringify(value) ?? String(value)}.`);
}
