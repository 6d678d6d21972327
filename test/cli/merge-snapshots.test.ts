import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { Store } from '../../src/cache/store.js';
import { openStore } from '../../src/cache/store.js';
import { keyText } from '../../src/layers/keys.js';
import { merge } from '../../src/maintenance/merge.js';
import { verify } from '../../src/maintenance/verify.js';
import { removeScratch, scratchDir } from './cli-helpers.js';
import { fillShard } from './store-fixtures.js';

afterEach(removeScratch);

/**
 * `store` as a merge sees it when a job stores its calls between the merge's
 * pass over the values and its pass over the records: the values pass finds
 * no values at all.
 */
function storedMeanwhile(store: Store): Store {
  const backend = new Proxy(store.backend, {
    get(target, property) {
      if (property === 'entries') {
        return (range?: { gte?: Uint8Array }) => {
          if (range?.gte !== undefined && keyText(range.gte) === 'v!') return (async function* () {})();
          return target.entries(range);
        };
      }
      const value = Reflect.get(target, property, target) as unknown;
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
  return { ...store, backend };
}

describe('merge from a source a job is still writing', () => {
  it('writes the values of a call stored after the values pass before its record', async () => {
    const path = join(scratchDir(), 'shard');
    await fillShard({ type: 'lmdb', path }, [1, 2, 3]);
    const source = await openStore({ type: 'lmdb', path });
    const target = await openStore({ type: 'level', path: join(scratchDir(), 'merged') });
    try {
      const result = await merge([storedMeanwhile(source)], target);
      expect(result.records.added).toBe(4);
      expect((await verify(target)).problems).toEqual([]);
      expect(result.values.added).toBeGreaterThan(0);
    } finally {
      await source.serialized.close();
      await target.serialized.close();
    }
  });
});
