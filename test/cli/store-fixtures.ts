import { openStore, type Store } from '../../src/cache/store.js';
import type { BackendConfig } from '../../src/cache/config.js';
import { openCache } from '../../src/index.js';
import { keyText, prefixRange } from '../../src/layers/keys.js';

/**
 * Fills the store `backend` names with module `square` (version 1): one
 * call per x in `xs`, each returning `x * x + offset` (an offset other than 0
 * gives other results for the same calls), then `hits[x]` more calls of x, and
 * module `label` with one call. Checkpointed and closed.
 */
export async function fillShard(backend: BackendConfig, xs: readonly number[], hits: Readonly<Record<number, number>> = {}, offset = 0): Promise<void> {
  const cache = await openCache({ backend, handleExit: false, flush: 'manual' });
  try {
    const square = cache.memoize('square', (x: number) => ({ x, square: x * x + offset }));
    const label = cache.memoize('label', (name: string) => `label ${name}`);
    for (const x of xs) await square(x);
    for (const [x, times] of Object.entries(hits)) for (let hit = 0; hit < times; hit += 1) await square(Number(x));
    await label('shard');
  } finally {
    await cache.close();
  }
}

/** Runs `use` on the store `backend` names, through the layers, then closes it. */
export async function withLayers<T>(backend: BackendConfig, use: (store: Store) => Promise<T>): Promise<T> {
  const store = await openStore(backend);
  try {
    return await use(store);
  } finally {
    await store.serialized.close();
  }
}

/** Every key and value of a store, as text and hex, in key order. */
export function contents(backend: BackendConfig): Promise<[string, string][]> {
  return withLayers(backend, async (store) => {
    const all: [string, string][] = [];
    for await (const [key, value] of store.backend.entries()) all.push([keyText(key), Buffer.from(value).toString('hex')]);
    return all;
  });
}

/** Damages the store: the first stored value gets the bytes of the second (a value that no longer matches its UUID). */
export function damageAValue(backend: BackendConfig): Promise<string> {
  return withLayers(backend, async (store) => {
    const values: [Uint8Array, Uint8Array][] = [];
    for await (const entry of store.backend.entries({ ...prefixRange('v!'), limit: 2 })) values.push(entry);
    const [[first], [, second]] = values as [[Uint8Array, Uint8Array], [Uint8Array, Uint8Array]];
    await store.backend.put(first, second, { sync: true });
    return keyText(first);
  });
}
