import { mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { openCache } from '../../src/index.js';
import { backup, diff, listRecords, restore } from '../../src/maintenance/index.js';
import { removeTempDirs, tempDir } from '../helpers/temp-dir.js';
import { counted, fillStore, openMaintenanceStore, storePath, withStore } from './stores.js';

afterAll(removeTempDirs);

const cube = (x: number) => x ** 3;

async function cubes(path: string, xs: number[], version = '1'): Promise<void> {
  await fillStore(path, async (cache) => {
    const f = cache.memoize('cube', cube, { version });
    for (const x of xs) await f(x);
  });
}

describe('backup and restore', () => {
  it('backs up into a new store that diff finds identical and that a cache hits on', async () => {
    const path = storePath();
    await cubes(path, [1, 2, 3, 4, 5]);
    const dest = join(tempDir(), 'backup');
    const copied = await withStore(path, (store) => backup(store, dest));
    expect(copied.entries).toBe(1 + 1 + 5 + 9); // format, module metadata, records, values (1 cubed is the input 1: stored once)
    const source = await openMaintenanceStore(path);
    const copy = await openMaintenanceStore(dest);
    try {
      expect(await diff(source, copy)).toMatchObject({ identical: true, modules: [], records: { same: 5, added: 0, removed: 0, changed: 0 } });
    } finally {
      await source.serialized.close();
      await copy.serialized.close();
    }
    const cache = await openCache({ path: dest, handleExit: false });
    const fn = counted(cube);
    const f = cache.memoize('cube', fn);
    for (const x of [1, 2, 3, 4, 5]) expect(await f(x)).toBe(x ** 3);
    expect(fn.calls).toBe(0);
    await cache.close();
  });

  it('refuses a destination that is not empty, and touches nothing', async () => {
    const path = storePath();
    await cubes(path, [1]);
    const dest = tempDir();
    writeFileSync(join(dest, 'precious.txt'), 'keep me');
    await expect(withStore(path, (store) => backup(store, dest))).rejects.toMatchObject({ code: 'CONFIG' });
    expect(readdirSync(dest)).toEqual(['precious.txt']);
    await expect(withStore(path, (store) => backup(store, path))).rejects.toMatchObject({ code: 'CONFIG' });
  });

  it('restores into an empty path, and replaces a store only with force', async () => {
    const saved = storePath();
    await cubes(saved, [1, 2]);
    const live = storePath();
    await cubes(live, [7]);
    const empty = join(tempDir(), 'fresh');
    mkdirSync(empty);
    await restore(saved, empty);
    await expect(restore(saved, live)).rejects.toMatchObject({ code: 'CONFIG' });
    expect((await withStore(live, (store) => listRecords(store))).length).toBe(1);
    await expect(restore(join(tempDir(), 'missing'), live, { force: true })).rejects.toMatchObject({ code: 'CONFIG' });
    await restore(saved, live, { force: true });
    for (const path of [empty, live]) {
      const a = await openMaintenanceStore(saved);
      const b = await openMaintenanceStore(path);
      try {
        expect((await diff(a, b)).identical).toBe(true);
      } finally {
        await a.serialized.close();
        await b.serialized.close();
      }
    }
    expect(readdirSync(join(live, '..')).filter((name) => name.startsWith('.'))).toEqual([]); // no staging left behind
  });
});

describe('diff', () => {
  it('reports added, removed and changed calls per module', async () => {
    const a = storePath();
    const b = storePath();
    await cubes(a, [1, 2, 3]);
    await fillStore(b, async (cache) => {
      const f = cache.memoize('cube', (x: number) => (x === 2 ? -1 : x ** 3)); // same key, other result
      for (const x of [2, 3, 4]) await f(x);
    });
    const [storeA, storeB] = [await openMaintenanceStore(a), await openMaintenanceStore(b)];
    try {
      const records = async (store: typeof storeA) => new Map((await listRecords(store)).map((record) => [record.call, record]));
      const [inA, inB] = [await records(storeA), await records(storeB)];
      const callOf = async (x: number) => [...inA.values(), ...inB.values()].find((record) => record.inputs[0] === storeA.values.uuidOf(x))!.call;
      const result = await diff(storeA, storeB);
      expect(result.identical).toBe(false);
      expect(result.modules).toEqual([{ module: 'cube', added: [await callOf(4)], removed: [await callOf(1)], changed: [await callOf(2)], same: 1 }]);
      expect(result.records).toEqual({ added: 1, removed: 1, changed: 1, same: 1 });
      const reverse = await diff(storeB, storeA);
      expect(reverse.modules[0]).toMatchObject({ added: [await callOf(1)], removed: [await callOf(4)], changed: [await callOf(2)] });
    } finally {
      await storeA.serialized.close();
      await storeB.serialized.close();
    }
  });
});
