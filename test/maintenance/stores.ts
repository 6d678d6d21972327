import { join } from 'node:path';
import { openCache, type Cache } from '../../src/index.js';
import { openStore, type Store } from '../../src/cache/store.js';
import { tempDir } from '../helpers/temp-dir.js';

/** A new store path in a temporary directory. */
export function storePath(): string {
  return join(tempDir('memostrata-maintenance-'), 'store');
}

/** Opens a cache on `path`, lets `fill` memoize and call, then checkpoints and closes it. */
export async function fillStore(path: string, fill: (cache: Cache) => Promise<void>): Promise<void> {
  const cache = await openCache({ path, handleExit: false, flush: 'manual' });
  try {
    await fill(cache);
    await cache.checkpoint();
  } finally {
    await cache.close();
  }
}

/** Opens the store at `path` for maintenance; close it with `store.serialized.close()`. */
export function openMaintenanceStore(path: string): Promise<Store> {
  return openStore({ type: 'level', path });
}

/** Runs `use` on the store at `path`, then closes it. */
export async function withStore<T>(path: string, use: (store: Store) => Promise<T>): Promise<T> {
  const store = await openMaintenanceStore(path);
  try {
    return await use(store);
  } finally {
    await store.serialized.close();
  }
}

/** The stored value keys (`v!…`) of a store, as text. */
export async function valueKeys(store: Store): Promise<string[]> {
  const keys: string[] = [];
  for await (const key of store.backend.keys()) {
    const text = Buffer.from(key).toString('utf8');
    if (text.startsWith('v!')) keys.push(text);
  }
  return keys;
}

/** A memoized function's call count, to tell hits from misses. */
export function counted<A extends unknown[], R>(fn: (...args: A) => R): ((...args: A) => R) & { calls: number } {
  const wrapped = Object.assign((...args: A) => {
    wrapped.calls += 1;
    return fn(...args);
  }, { calls: 0 });
  return wrapped;
}
