import { describe, expect, it } from 'vitest';
import type { SuiteContext } from './context.js';
import { bytes, hex, orderedKeys } from './keys.js';

/**
 * What `manifest.persistent` promises: data outlives close(). Runs when the
 * factory gives `reopen` (a factory that can reopen a store claims it is
 * persistent); without `reopen` the test is not registered.
 */
export function persistenceTests(suite: SuiteContext): void {
  const reopen = suite.reopen;
  if (reopen === undefined) return;
  describe('persistence', () => {
    it('says persistent: true and keeps every put, batch and delete across close and reopen', async () => {
      const db = await suite.open();
      expect(db.manifest.persistent).toBe(true);
      await suite.fill(db);
      await db.delete(orderedKeys[4]!);
      await db.batch([
        { type: 'put', key: bytes(0x42), value: bytes(0x42) },
        { type: 'del', key: orderedKeys[6]! },
      ]);
      await db.close();
      const again = await reopen(db);
      const expected = [...orderedKeys.filter((_, index) => index !== 4 && index !== 6), bytes(0x42)].map(hex).sort();
      expect(await suite.collect(again)).toEqual(expected);
    });
  });
}
