import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, describe, expect, it } from 'vitest';
import type { Store } from '../../src/cache/store.js';
import { openCache } from '../../src/index.js';
import { memoKey } from '../../src/layers/keys.js';
import { sealRecord } from '../../src/layers/memo-record.js';
import { readModuleMeta } from '../../src/layers/module-meta.js';
import { collectGarbage, listRecords, prune } from '../../src/maintenance/index.js';
import { lastUsedAt, referencedUuids } from '../../src/maintenance/common.js';
import { removeTempDirs } from '../helpers/temp-dir.js';
import { counted, fillStore, storePath, valueKeys, withStore } from './stores.js';

afterAll(removeTempDirs);

/** The value keys the store's records refer to (the undefined value is never stored). */
async function referencedKeys(store: Store): Promise<Set<string>> {
  const keys = new Set<string>();
  for (const record of await listRecords(store)) for (const uuid of referencedUuids(record)) keys.add(`v!${uuid}`);
  return keys;
}

/** Encoded size of each stored value, by key text. */
async function valueSizes(store: Store): Promise<Map<string, number>> {
  const sizes = new Map<string, number>();
  for await (const [key, bytes] of store.backend.entries()) {
    const text = Buffer.from(key).toString('utf8');
    if (text.startsWith('v!')) sizes.set(text, bytes.length);
  }
  return sizes;
}

describe('prune', () => {
  it('with staleVersions frees the old version’s values but keeps those the current version shares', async () => {
    const path = storePath();
    const shout = (text: string) => `${text.toUpperCase()}!`;
    await fillStore(path, async (cache) => {
      const f = cache.memoize('shout', shout, { version: '1' });
      for (const text of ['old-only', 'shared']) await f(text);
      const other = cache.memoize('other', (n: number) => n + 1);
      await other(41);
    });
    await sleep(5);
    await fillStore(path, async (cache) => {
      const f = cache.memoize('shout', shout, { version: '2' });
      for (const text of ['shared', 'new-only']) await f(text);
    });
    const before = await withStore(path, async (store) => ({ values: new Set(await valueKeys(store)), records: await listRecords(store) }));
    expect(before.records).toHaveLength(5);

    const result = await withStore(path, (store) => prune(store, { staleVersions: true }));
    expect(result).toMatchObject({ records: 2, byModule: { shout: 2 } });

    await withStore(path, async (store) => {
      const records = await listRecords(store);
      expect(records.map((record) => `${record.module}@${record.version}`).sort()).toEqual(['other@1', 'shout@2', 'shout@2']);
      const remaining = new Set(await valueKeys(store));
      // Exactly the values the remaining records refer to are left …
      expect(remaining).toEqual(await referencedKeys(store));
      // … which keeps 'shared' and 'SHARED!' (used by version 2 too) and frees 'old-only' and 'OLD-ONLY!'.
      const freed = [...before.values].filter((key) => !remaining.has(key));
      expect(freed).toHaveLength(2);
      expect(result.values).toBe(2);
      expect(freed.sort()).toEqual([`v!${store.values.uuidOf('old-only')}`, `v!${store.values.uuidOf('OLD-ONLY!')}`].sort());
      expect(result.bytes).toBeGreaterThan(0);
      const sharedInput = store.values.uuidOf('shared');
      expect(remaining.has(`v!${sharedInput}`)).toBe(true);
      expect(remaining.has(`v!${store.values.uuidOf('SHARED!')}`)).toBe(true);
      expect(remaining.has(`v!${store.values.uuidOf('OLD-ONLY!')}`)).toBe(false);
      // The module metadata the Cache keeps incrementally is recounted.
      const sizes = records.filter((record) => record.module === 'shout').reduce((sum, record) => sum + record.size, 0);
      expect(await readModuleMeta(store.serialized, 'shout')).toMatchObject({ version: '2', entries: 2, bytes: sizes });
    });

    // The current version still hits, with its values intact.
    const cache = await openCache({ path, handleExit: false });
    const fn = counted(shout);
    const f = cache.memoize('shout', fn, { version: '2' });
    expect(await f('shared')).toBe('SHARED!');
    expect(await f('new-only')).toBe('NEW-ONLY!');
    expect(fn.calls).toBe(0);
    await cache.close();
  });

  it('with olderThanMs removes records neither created nor hit within the window', async () => {
    const path = storePath();
    await fillStore(path, async (cache) => {
      const f = cache.memoize('f', (x: number) => x * 10);
      for (const x of [1, 2, 3]) await f(x);
    });
    await sleep(20);
    await fillStore(path, async (cache) => {
      await cache.memoize('f', (x: number) => x * 10)(2); // a hit keeps 2 young
    });
    const records = await withStore(path, (store) => listRecords(store));
    const hit = records.find((record) => record.hits === 1)!;
    const newestCreation = Math.max(...records.map((record) => record.createdAt));
    expect(hit.lastHitAt).toBeGreaterThan(newestCreation);
    const now = hit.lastHitAt + 1000;
    const cutoff = (newestCreation + hit.lastHitAt) / 2;
    const result = await withStore(path, (store) => prune(store, { olderThanMs: now - cutoff, now }));
    expect(result.records).toBe(2);
    await withStore(path, async (store) => {
      expect((await listRecords(store)).map((record) => record.call)).toEqual([hit.call]);
      expect(new Set(await valueKeys(store))).toEqual(await referencedKeys(store));
    });
  });

  it('with maxBytes removes the least recently used records until the remaining values fit', async () => {
    const path = storePath();
    await fillStore(path, async (cache) => {
      const pad = cache.memoize('pad', (n: number) => String(n).repeat(500));
      for (let n = 0; n < 10; n += 1) {
        await pad(n);
        await sleep(2); // distinct creation times
      }
    });
    const { order, sizes } = await withStore(path, async (store) => ({
      order: (await listRecords(store)).sort((a, b) => lastUsedAt(a) - lastUsedAt(b)),
      sizes: await valueSizes(store),
    }));
    const bytesOf = (records: typeof order) => {
      const keys = new Set(records.flatMap((record) => referencedUuids(record).map((uuid) => `v!${uuid}`)));
      return [...keys].reduce((sum, key) => sum + sizes.get(key)!, 0);
    };
    const maxBytes = bytesOf(order.slice(6)) + 1; // room for the 4 newest, not for 5
    expect(bytesOf(order.slice(5))).toBeGreaterThan(maxBytes);

    const result = await withStore(path, (store) => prune(store, { maxBytes }));
    expect(result.records).toBe(6);
    await withStore(path, async (store) => {
      const left = await listRecords(store);
      expect(left.map((record) => record.call).sort()).toEqual(order.slice(6).map((record) => record.call).sort());
      const stored = await valueSizes(store);
      expect([...stored.values()].reduce((sum, size) => sum + size, 0)).toBeLessThanOrEqual(maxBytes);
    });
  });

  it('with maxBytes removes the largest first among records used at the same moment', async () => {
    const path = storePath();
    await fillStore(path, async (cache) => {
      const pad = cache.memoize('pad', (n: number) => 'x'.repeat(n));
      for (const n of [10, 20, 5000, 30]) await pad(n);
    });
    await withStore(path, async (store) => {
      for (const record of await listRecords(store)) {
        await store.serialized.put(memoKey(record.module, record.call), sealRecord({ ...record, createdAt: 1000, lastHitAt: 0 }, store.digester));
      }
      expect(await prune(store, { maxBytes: 1000 })).toMatchObject({ records: 1, values: 2 });
      expect((await listRecords(store)).map((record) => record.size).sort((a, b) => a - b)).toEqual([15, 25, 35]);
    });
  });

  it('collects only values no record refers to', async () => {
    const path = storePath();
    await fillStore(path, async (cache) => {
      const f = cache.memoize('f', (x: number) => [x, x]);
      for (const x of [1, 2, 3]) await f(x);
    });
    await fillStore(path, async (cache) => {
      await cache.memoize('f', (x: number) => [x, x]).delete(2); // leaves 2 and [2, 2] unreferenced
    });
    const result = await withStore(path, (store) => collectGarbage(store));
    expect(result.values).toBe(2);
    await withStore(path, async (store) => {
      expect(new Set(await valueKeys(store))).toEqual(await referencedKeys(store));
      expect(await collectGarbage(store)).toEqual({ values: 0, bytes: 0, blobs: 0, blobBytes: 0 });
    });
  });
});

describe('prune and the disk', () => {
  it('gives the disk space of the values it frees back to the file system', async () => {
    const path = storePath();
    const noise = (n: number) => new Uint8Array(randomBytes(100_000 + n));
    await fillStore(path, async (cache) => {
      const old = cache.memoize('noise', noise, { version: '1' });
      for (let n = 0; n < 150; n += 1) await old(n);
    });
    await fillStore(path, async (cache) => {
      await cache.memoize('noise', noise, { version: '2' })(0);
    });
    const { before, after, pruned } = await withStore(path, async (store) => {
      const before = (await store.backend.sizeOnDisk())!;
      const pruned = await prune(store, { staleVersions: true });
      return { before, after: (await store.backend.sizeOnDisk())!, pruned };
    });
    expect(pruned.records).toBe(150);
    expect(before).toBeGreaterThan(150 * 100_000);
    expect(after).toBeLessThan(before / 10);
  });
});
