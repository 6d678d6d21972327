import { AsyncLocalStorage } from 'node:async_hooks';
import { MemostrataError } from '../errors.js';

/**
 * The memoized call that is running: lets a long computation save its
 * progress durably and pick it up again when the same call is started after
 * a crash. The saved state is removed once the call's result is stored.
 *
 * @category Cache
 */
export interface CurrentCall {
  /** The module (memoized function) name. */
  readonly module: string;
  /** The call digest (hex) that identifies this call. */
  readonly call: string;
  /** The state saved by an earlier, unfinished run of this same call, or `undefined`. */
  restore<T = unknown>(): Promise<T | undefined>;
  /**
   * Saves `state` durably (fsync) before resolving. State follows the same
   * rules as arguments and results.
   *
   * @throws MemostrataError `UNSERIALIZABLE` naming the path within `state`.
   */
  save(state: unknown): Promise<void>;
}

const running = new AsyncLocalStorage<CurrentCall>();

/**
 * The memoized call this code runs inside.
 *
 * @throws MemostrataError `NO_CALL` outside a memoized function.
 *
 * @category Cache
 */
export function currentCall(): CurrentCall {
  const call = running.getStore();
  if (call === undefined) {
    throw new MemostrataError('NO_CALL', 'currentCall() was used outside a memoized function; call it from inside the function passed to cache.memoize().');
  }
  return call;
}

/** Runs `work` as the body of `call`, so that {@link currentCall} finds it. */
export function runAsCall<T>(call: CurrentCall, work: () => T): T {
  return running.run(call, work);
}

/** The memoized call this code runs inside, or `undefined`: one store read, for lineage recording. */
export function runningCall(): CurrentCall | undefined {
  return running.getStore();
}
