import { randomBytes } from 'node:crypto';
import { describe, expect, it, type TestContext } from 'vitest';
import type { SuiteContext } from './context.js';
import { bytes, hex, orderedKeys } from './keys.js';

/** compact(), repair() and sizeOnDisk(), switched by `manifest.compact` and `manifest.repair`. */
export function maintenanceTests(suite: SuiteContext): void {
  describe('compact, repair and sizeOnDisk', () => {
    it('keeps every entry through compact(), of a range or of everything, and drops what was deleted', async () => {
      const db = await suite.open();
      await suite.fill(db);
      await db.delete(orderedKeys[3]!);
      await db.compact({ gte: orderedKeys[2], lte: orderedKeys[5] });
      await db.compact();
      expect(await suite.collect(db)).toEqual(orderedKeys.filter((_, index) => index !== 3).map(hex));
    });

    it('gives the space of deleted data back on compact() (manifest.compact)', async (context: TestContext) => {
      const db = await suite.open();
      if (db.manifest.compact !== true) context.skip('the manifest does not say compact: true');
      const keys = Array.from({ length: 64 }, (_, index) => bytes(0x10, index));
      // Random, distinct values: neither compression nor deduplication can hide their size.
      for (const key of keys) await db.put(key, new Uint8Array(randomBytes(64 * 1024)));
      await db.flush();
      await db.compact();
      const full = await db.sizeOnDisk();
      if (full === undefined) context.skip('sizeOnDisk() is undefined: nothing to measure');
      await db.batch(keys.map((key) => ({ type: 'del' as const, key })));
      await db.compact();
      const after = await db.sizeOnDisk();
      expect(after).toBeLessThan(full / 2);
    });

    it('reports sizeOnDisk() as a count of bytes or undefined', async () => {
      const db = await suite.open();
      await suite.fill(db);
      const size = await db.sizeOnDisk();
      if (size !== undefined) expect(Number.isSafeInteger(size) && size >= 0).toBe(true);
    });

    it('keeps a sound store whole through repair() (manifest.repair)', async (context: TestContext) => {
      const db = await suite.open();
      if (db.manifest.repair !== true) context.skip('the manifest does not say repair: true');
      await suite.fill(db);
      await db.repair();
      expect(await suite.collect(db)).toEqual(orderedKeys.map(hex));
      await db.put(bytes(0x42), bytes(0x42));
      expect(hex(await db.get(bytes(0x42)))).toBe('42');
    });

    it('refuses repair() with BACKEND and keeps every entry where the manifest cannot repair', async (context: TestContext) => {
      const db = await suite.open();
      if (db.manifest.repair === true) context.skip('the manifest says repair: true (the test above applies)');
      await suite.fill(db);
      await expect(db.repair()).rejects.toMatchObject({ name: 'MemostrataError', code: 'BACKEND' });
      expect(await suite.collect(db)).toEqual(orderedKeys.map(hex));
    });
  });
}
