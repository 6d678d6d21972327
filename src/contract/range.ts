import { MemostrataError } from '../errors.js';

/**
 * Bounds and order of an iteration. Bounds compare keys in the database's own
 * order (byte order for byte keys). `gt` wins over `gte` and `lt` over `lte`
 * when both are given.
 */
export interface Range<K> {
  /** Only keys strictly greater than this. */
  gt?: K;
  /** Only keys greater than or equal to this. */
  gte?: K;
  /** Only keys strictly less than this. */
  lt?: K;
  /** Only keys less than or equal to this. */
  lte?: K;
  /** Iterate from the highest key down. Default `false`. */
  reverse?: boolean;
  /** At most this many entries (a whole number); `-1` or `Infinity` (default) for no limit. */
  limit?: number;
}

/** A {@link Range} with its options checked and defaults filled in. */
export interface NormalizedRange<K> {
  /** Only keys strictly greater than this. */
  gt?: K;
  /** Only keys greater than or equal to this (absent when `gt` is given). */
  gte?: K;
  /** Only keys strictly less than this. */
  lt?: K;
  /** Only keys less than or equal to this (absent when `lt` is given). */
  lte?: K;
  /** Iterate from the highest key down. */
  reverse: boolean;
  /** `Infinity` when unlimited. */
  limit: number;
}

/** Checks a range's options and fills in defaults; `checkKey` validates each bound. */
export function normalizeRange<K>(range: Range<K>, checkKey: (key: K) => void): NormalizedRange<K> {
  if (range === null || typeof range !== 'object') {
    throw new MemostrataError('INVALID_ARGUMENT', 'A range must be an object such as { gte, lt, reverse, limit }.');
  }
  const limit = range.limit ?? Infinity;
  if (typeof limit !== 'number' || !(Number.isInteger(limit) || limit === Infinity) || (limit < 0 && limit !== -1)) {
    throw new MemostrataError('INVALID_ARGUMENT', `A range limit must be a whole number >= 0 (or -1 or Infinity for none); got ${String(limit)}.`);
  }
  const normalized: NormalizedRange<K> = { reverse: range.reverse === true, limit: limit === -1 ? Infinity : limit };
  for (const bound of ['gt', 'gte', 'lt', 'lte'] as const) {
    const key = range[bound];
    if (key === undefined) continue;
    checkKey(key);
    normalized[bound] = key;
  }
  if (normalized.gt !== undefined) delete normalized.gte;
  if (normalized.lt !== undefined) delete normalized.lte;
  return normalized;
}
