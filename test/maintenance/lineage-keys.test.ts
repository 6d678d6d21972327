import { afterAll, describe, expect, it } from 'vitest';
import { colocationPart, keyText, memoKey, usedByKey } from '../../src/layers/keys.js';
import { parseKey } from '../../src/maintenance/common.js';
import { verify } from '../../src/maintenance/index.js';
import { removeRecords } from '../../src/maintenance/remove.js';
import { removeTempDirs } from '../helpers/temp-dir.js';
import { fillStore, storePath, withStore } from './stores.js';

afterAll(removeTempDirs);

const USED = 'a'.repeat(32);
const USER = 'b'.repeat(32);

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

describe('lineage keys (u!)', () => {
  it('parses a lineage key into the used call and the user call, and nothing malformed', () => {
    expect(parseKey(keyText(usedByKey('calc.inner', USED, 'calc.outer', USER)))).toEqual({
      kind: 'used-by',
      used: { module: 'calc.inner', call: USED },
      user: { module: 'calc.outer', call: USER },
    });
    expect(parseKey(`u!inner!${USED}!outer`).kind).toBe('unknown');
    expect(parseKey(`u!inner!${USED}!outer!${USER}!extra`).kind).toBe('unknown');
    expect(parseKey(`u!inner!${USED.slice(1)}!outer!${USER}`).kind).toBe('unknown');
  });

  it('keeps a lineage key on the cluster slot of its user record, which it is written with', () => {
    expect(Buffer.from(colocationPart(usedByKey('inner', USED, 'outer', USER)))).toEqual(Buffer.from(colocationPart(memoKey('outer', USER))));
  });

  it('verifies a store with lineage keys clean, stale ones (user removed) included', async () => {
    const path = await nestedStore();
    expect((await withStore(path, (store) => verify(store))).problems).toEqual([]);
    await withStore(path, (store) => store.serialized.put(usedByKey('inner', USED, 'gone', USER), 0));
    expect((await withStore(path, (store) => verify(store))).problems).toEqual([]);
  });

  it('reports a lineage key whose value is not 0, or whose key is malformed, as damage that --fix removes', async () => {
    const path = await nestedStore();
    const damaged = keyText(usedByKey('inner', USED, 'outer', USER));
    const malformed = `u!inner!${USED}!outer`;
    await withStore(path, async (store) => {
      await store.serialized.put(usedByKey('inner', USED, 'outer', USER), 'not zero');
      await store.serialized.put(new TextEncoder().encode(malformed), 0);
    });
    const found = await withStore(path, (store) => verify(store, { fix: true }));
    expect(found.problems.map((problem) => [problem.key, problem.kind, problem.fixable])).toEqual([
      [malformed, 'unknown-key', true],
      [damaged, 'corrupt', true],
    ]);
    expect(found.removed.sort()).toEqual([damaged, malformed].sort());
    expect((await withStore(path, (store) => verify(store))).problems).toEqual([]);
  });

  it('removes the lineage keys a removed record was written with', async () => {
    const path = await nestedStore();
    await withStore(path, async (store) => {
      const outer = [];
      for await (const record of store.proxy.records('outer')) outer.push(record);
      expect(outer[0]?.uses).toHaveLength(1);
      await removeRecords(store, outer);
      const left = [];
      for await (const key of store.backend.keys()) left.push(keyText(key));
      expect(left.filter((key) => key.startsWith('u!'))).toEqual([]);
    });
  });
});
