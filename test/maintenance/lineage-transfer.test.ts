import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { KeyPrefix, keyText, prefixRange } from '../../src/layers/keys.js';
import { exportStore, importStore, merge } from '../../src/maintenance/index.js';
import { removeTempDirs, tempDir } from '../helpers/temp-dir.js';
import { fillStore, storePath, withStore } from './stores.js';

afterAll(removeTempDirs);

/** A store where `outer(1)` used `inner(1)`. */
async function nestedStore(): Promise<string> {
  const path = storePath();
  await fillStore(path, async (cache) => {
    const inner = cache.memoize('inner', (n: number) => n + 1);
    const outer = cache.memoize('outer', async (n: number) => (await inner(n)) * 2);
    await outer(1);
  });
  return path;
}

async function lineageKeys(path: string): Promise<string[]> {
  return withStore(path, async (store) => {
    const keys: string[] = [];
    for await (const key of store.backend.keys(prefixRange(KeyPrefix.usedBy))) keys.push(keyText(key));
    return keys;
  });
}

describe('lineage keys travel with their records', () => {
  it('through export and import', async () => {
    const source = await nestedStore();
    const file = join(tempDir('memostrata-lineage-'), 'store.export');
    await withStore(source, (store) => exportStore(store, file));
    const target = storePath();
    await fillStore(target, async () => undefined);
    await withStore(target, (store) => importStore(store, file));
    expect(await lineageKeys(target)).toEqual(await lineageKeys(source));
    expect(await lineageKeys(target)).toHaveLength(1);
  });

  it('through merge', async () => {
    const source = await nestedStore();
    const target = storePath();
    await fillStore(target, async () => undefined);
    await withStore(target, (store) => withStore(source, (from) => merge([from], store)));
    expect(await lineageKeys(target)).toEqual(await lineageKeys(source));
  });
});
