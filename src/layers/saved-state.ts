import { digestToHex, type Digester } from './digest.js';

/*
 * A call's saved progress as the store keeps it (`s!<module>!<call>`), and the
 * one check of a stored one: used by the cache on restore, by `verify`, and
 * by the migration that wraps format-1 states.
 */

/** A call's saved progress as the store keeps it: the state, its checksum, and the compute time of the runs so far. */
export interface SavedState {
  /** What `currentCall().save()` was given. */
  state: unknown;
  /** Hex digest of `state`: a saved state that does not match it is damaged and not restored. */
  check: string;
  /** Compute time of every earlier run of the call (ms), so the record counts the whole computation. */
  computeMs: number;
}

/**
 * `state` wrapped for the store with its checksum.
 *
 * @throws MemostrataError `UNSERIALIZABLE` naming the path within `state`.
 */
export function sealState(state: unknown, computeMs: number, digester: Digester): SavedState {
  return { state, check: digestToHex(digester.digest(state, 'state')), computeMs };
}

/** `value` as a sound saved state, or `undefined` when it is not one or does not match its checksum (damaged). */
export function asSavedState(value: unknown, digester: Digester): SavedState | undefined {
  if (value === null || typeof value !== 'object') return undefined;
  const candidate = value as Partial<SavedState>;
  if (typeof candidate.check !== 'string' || typeof candidate.computeMs !== 'number' || !Number.isFinite(candidate.computeMs) || !('state' in candidate)) return undefined;
  try {
    return digestToHex(digester.digest(candidate.state, 'state')) === candidate.check ? (candidate as SavedState) : undefined;
  } catch {
    return undefined;
  }
}
