import { MemostrataError } from '../errors.js';

/*
 * Why a `BACKEND` error happened, for callers that act on the reason. The
 * code stays `BACKEND`; the reason is the error's `cause`, an instance of one
 * of these classes, so that a layer above can tell "try again later" from
 * "this entry can never be written" without parsing messages.
 */

/**
 * The cause of a `BACKEND` error when the store's server cannot be reached
 * or stopped answering (refused or lost connection, reconnecting, command
 * timeout). The same operation may succeed once the server is back; the
 * backend reconnects by itself.
 *
 * @category Errors
 */
export class BackendUnreachableError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'BackendUnreachableError';
  }
}

/**
 * The cause of a `BACKEND` error when a write exceeds a size limit of the
 * backend: it was refused before anything was sent, nothing was written, and
 * the same write will always be refused.
 *
 * @category Errors
 */
export class BackendLimitError extends Error {
  /** The key of the value over the limit; `undefined` when the batch as a whole is too large. */
  readonly key: Uint8Array | undefined;
  /** Bytes of the value (or of the whole batch). */
  readonly size: number;
  /** The limit it exceeds, in bytes. */
  readonly limit: number;

  constructor(message: string, details: { key: Uint8Array | undefined; size: number; limit: number }) {
    super(message);
    this.name = 'BackendLimitError';
    this.key = details.key;
    this.size = details.size;
    this.limit = details.limit;
  }
}

/**
 * True for a `BACKEND` error whose cause is {@link BackendUnreachableError}: retry once the server is back.
 *
 * @category Errors
 */
export function isBackendUnreachable(error: unknown): error is MemostrataError {
  return error instanceof MemostrataError && error.code === 'BACKEND' && error.cause instanceof BackendUnreachableError;
}

/**
 * True for a `BACKEND` error whose cause is {@link BackendLimitError}: the write can never succeed as it is.
 *
 * @category Errors
 */
export function isBackendLimit(error: unknown): error is MemostrataError & { cause: BackendLimitError } {
  return error instanceof MemostrataError && error.code === 'BACKEND' && error.cause instanceof BackendLimitError;
}
