import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { leaseKey } from '../../src/layers/keys.js';
import { removeScratch, runJson, scratchDir } from './cli-helpers.js';
import { contents, fillShard, withLayers } from './store-fixtures.js';

/*
 * A lease (`l!<module>!<call>`) is a call some process computes now on a
 * shared store. `l` and `m` differ by one bit, so a tool that did not know
 * the prefix would take a lease for a damaged record key and delete it.
 */

afterEach(removeScratch);

const CALL = '0123456789abcdef0123456789abcdef';

/** An LMDB store holding a lease of a running call. */
async function storeWithLease(): Promise<string> {
  const path = join(scratchDir(), 'shared');
  await fillShard({ type: 'lmdb', path }, [1, 2]);
  await withLayers({ type: 'lmdb', path }, (store) =>
    store.serialized.put(leaseKey('square', CALL), { host: 'node-7', pid: 4242, token: 'abc', startedAt: 1, heartbeatAt: 2, beat: 1 }, { sync: true }),
  );
  return path;
}

describe('leases in a store', () => {
  it('are no problem for verify, and verify --fix keeps them', async () => {
    const store = await storeWithLease();
    const verified = await runJson(['verify', '--store', store]);
    expect(verified.json.problems).toEqual([]);
    expect(verified.code).toBe(0);
    await runJson(['verify', '--fix', '--store', store]);
    const keys = (await contents({ type: 'lmdb', path: store })).map(([key]) => key);
    expect(keys).toContain(`l!square!${CALL}`);
  });

  it('do not keep a source from merging, and stay with their store', async () => {
    const store = await storeWithLease();
    const target = join(scratchDir(), 'merged');
    const merged = await runJson(['merge', store, '--into', target]);
    expect(merged.code).toBe(0);
    const keys = (await contents({ type: 'level', path: target })).map(([key]) => key);
    expect(keys.some((key) => key.startsWith('l!'))).toBe(false);
  });

  it('are reported as damaged when they do not decode as a lease', async () => {
    const path = join(scratchDir(), 'shared');
    await fillShard({ type: 'lmdb', path }, [1]);
    await withLayers({ type: 'lmdb', path }, (store) => store.serialized.put(leaseKey('square', CALL), 'not a lease', { sync: true }));
    const verified = await runJson(['verify', '--store', path]);
    expect(verified.json.problems).toEqual([expect.objectContaining({ key: `l!square!${CALL}`, kind: 'corrupt', fixable: true })]);
  });
});
