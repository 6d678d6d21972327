import { afterAll, describe, expect, it } from 'vitest';
import { counterKey, counterPrefix, prefixRange, stateKey } from '../../src/layers/keys.js';
import { listRecords } from '../../src/maintenance/inventory.js';
import { removeRecords } from '../../src/maintenance/remove.js';
import { verify } from '../../src/maintenance/verify.js';
import { removeTempDirs } from '../helpers/temp-dir.js';
import { fillStore, storePath, withStore } from './stores.js';

afterAll(removeTempDirs);

/** A store where f(1) was computed and then hit 4 times by a later process. */
async function hitStore(): Promise<string> {
  const path = storePath();
  await fillStore(path, async (cache) => {
    await cache.memoize('f', (x: number) => x + 1)(1);
    await cache.memoize('f', (x: number) => x + 1)(2);
  });
  await fillStore(path, async (cache) => {
    const f = cache.memoize('f', (x: number) => x + 1);
    for (let i = 0; i < 4; i++) await f(1);
  });
  return path;
}

async function counterKeys(path: string): Promise<string[]> {
  return withStore(path, async (store) => {
    const keys: string[] = [];
    for await (const key of store.backend.keys(prefixRange(counterPrefix()))) keys.push(Buffer.from(key).toString());
    return keys;
  });
}

describe('hit counters in maintenance', () => {
  it('are summed into the listed records, and removed with their record', async () => {
    const path = await hitStore();
    const records = await withStore(path, (store) => listRecords(store, 'f'));
    expect(records.map((record) => record.hits).sort()).toEqual([0, 4]);
    expect(await counterKeys(path)).toHaveLength(1);
    await withStore(path, (store) => removeRecords(store, records.filter((record) => record.hits === 4)));
    expect(await counterKeys(path)).toEqual([]);
  });

  it('are checked by verify: damaged counters and counters of no record are reported and fixed', async () => {
    const path = await hitStore();
    await withStore(path, async (store) => {
      const [record] = (await listRecords(store, 'f')).filter((r) => r.hits === 4);
      await store.serialized.put(counterKey('f', record!.call, '0'), { hits: 'many' });
      await store.serialized.put(counterKey('f', 'a'.repeat(32), 'ab12'), { hits: 3, lastHitAt: 1 });
      await store.serialized.put(stateKey('f', record!.call), { state: 1, check: 'not-it', computeMs: 0 });
    });
    const found = await withStore(path, (store) => verify(store));
    expect(found.problems.map((problem) => problem.kind).sort()).toEqual(['corrupt', 'corrupt', 'orphan-counter']);
    await withStore(path, (store) => verify(store, { fix: true }));
    expect((await withStore(path, (store) => verify(store))).problems).toEqual([]);
  });
});
