/**
 * The stable error codes of memostrata. Match on `error.code`, never on the
 * message: messages are written for people and may be reworded.
 *
 * - `CLOSED`: the database, layer or cache was used after `close()`.
 * - `LOCKED`: the store is held by another process.
 * - `NOT_A_STORE`: the path exists but is not a memostrata store (a file, or a foreign directory).
 * - `CORRUPT`: stored bytes do not decode, or do not match their digest.
 * - `FORMAT_VERSION`: the store was written by an unknown (newer) format version.
 * - `UNSERIALIZABLE`: a value cannot be keyed or stored (a function, symbol, cycle, unregistered class).
 * - `UNKNOWN_TYPE`: a stored value names a registered type that this process has not registered.
 * - `CONFIG`: a configuration field is missing or wrong.
 * - `BACKEND`: the storage backend failed (disk, server, network).
 * - `INVALID_ARGUMENT`: an API was called with an argument of the wrong kind.
 * - `NO_CALL`: `currentCall()` was used outside a memoized function.
 * - `LEASE_LOST`: another process took over a call this one was computing (its lease expired), so
 *   `currentCall().save()` may no longer write; the call's result comes from the new owner.
 * - `KEY`: a stored value is encrypted with a key this process was not given (the message names the key id):
 *   add that key file to `previousKeyFiles`, or open the store with the key it was written with.
 *
 * @category Errors
 */
export type ErrorCode =
  | 'CLOSED'
  | 'LOCKED'
  | 'NOT_A_STORE'
  | 'CORRUPT'
  | 'FORMAT_VERSION'
  | 'UNSERIALIZABLE'
  | 'UNKNOWN_TYPE'
  | 'CONFIG'
  | 'BACKEND'
  | 'INVALID_ARGUMENT'
  | 'NO_CALL'
  | 'LEASE_LOST'
  | 'KEY';

/**
 * Options of {@link MemostrataError}.
 *
 * @category Errors
 */
export interface MemostrataErrorOptions {
  /** The underlying error, kept for debugging. */
  cause?: unknown;
}

/**
 * The one error class memostrata throws on purpose. Its `code` is stable; its
 * message says what happened and what to do about it.
 *
 * @category Errors
 */
export class MemostrataError extends Error {
  /** A stable, machine-readable code. */
  readonly code: ErrorCode;

  constructor(code: ErrorCode, message: string, options: MemostrataErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'MemostrataError';
    this.code = code;
  }
}

/**
 * True when `error` is a {@link MemostrataError}, optionally with the given code.
 *
 * @category Errors
 */
export function isMemostrataError(error: unknown, code?: ErrorCode): error is MemostrataError {
  return error instanceof MemostrataError && (code === undefined || error.code === code);
}
