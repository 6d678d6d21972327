import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
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

    it('drops deleted data on compact(), and gives its space back where the manifest says compact and sizeOnDisk() measures', async () => {
      const db = await suite.open();
      const keys = Array.from({ length: 64 }, (_, index) => bytes(0x10, index));
      // Random, distinct values: neither compression nor deduplication can hide their size.
      for (const key of keys) await db.put(key, new Uint8Array(randomBytes(64 * 1024)));
      await db.flush();
      await db.compact();
      const full = await db.sizeOnDisk();
      await db.batch(keys.map((key) => ({ type: 'del' as const, key })));
      await db.compact();
      expect(await suite.collect(db)).toEqual([]);
      if (db.manifest.compact === true && full !== undefined) expect(await db.sizeOnDisk()).toBeLessThan(full / 2);
    });

    it('reports sizeOnDisk() as a count of bytes or undefined', async () => {
      const db = await suite.open();
      await suite.fill(db);
      const size = await db.sizeOnDisk();
      if (size !== undefined) expect(Number.isSafeInteger(size) && size >= 0).toBe(true);
    });

    it('keeps a sound store whole through repair(), or (without manifest.repair) refuses it with BACKEND and keeps every entry', async () => {
      const db = await suite.open();
      await suite.fill(db);
      if (db.manifest.repair === true) {
        await db.repair();
        expect(await suite.collect(db)).toEqual(orderedKeys.map(hex));
        await db.put(bytes(0x42), bytes(0x42));
        expect(hex(await db.get(bytes(0x42)))).toBe('42');
      } else {
        await expect(db.repair()).rejects.toMatchObject({ name: 'MemostrataError', code: 'BACKEND' });
        expect(await suite.collect(db)).toEqual(orderedKeys.map(hex));
      }
    });
  });
}
