import { describe, expect, it, type TestContext } from 'vitest';
import type { SuiteContext } from './context.js';
import { bytes, hex, orderedKeys } from './keys.js';

/** What `manifest.persistent` promises: data outlives close(), given the factory's `reopen`. */
export function persistenceTests(suite: SuiteContext): void {
  describe('persistence', () => {
    it('keeps every put, batch and delete across close and reopen (manifest.persistent)', async (context: TestContext) => {
      const db = await suite.open();
      if (!db.manifest.persistent) context.skip('the manifest says persistent: false');
      if (suite.reopen === undefined) context.skip('the factory has no reopen(): give one to test persistence');
      await suite.fill(db);
      await db.delete(orderedKeys[4]!);
      await db.batch([
        { type: 'put', key: bytes(0x42), value: bytes(0x42) },
        { type: 'del', key: orderedKeys[6]! },
      ]);
      await db.close();
      const again = await suite.reopen(db);
      const expected = [...orderedKeys.filter((_, index) => index !== 4 && index !== 6), bytes(0x42)].map(hex).sort();
      expect(await suite.collect(again)).toEqual(expected);
    });
  });
}
