import { describe, expect, it } from 'vitest';
import type { SuiteContext } from './context.js';
import { bytes, hex, orderedKeys } from './keys.js';

/** Single-key reads and writes: get, getMany, has, put, delete, and argument checks. */
export function getPutDeleteTests(suite: SuiteContext): void {
  describe('get, put and delete', () => {
    it('returns undefined for a missing key and the value for a stored one', async () => {
      const db = await suite.open();
      expect(await db.get(bytes(1, 2, 3))).toBeUndefined();
      expect(await db.has(bytes(1, 2, 3))).toBe(false);
      await db.put(bytes(1, 2, 3), bytes(9, 8, 7));
      expect(hex(await db.get(bytes(1, 2, 3)))).toBe('090807');
      expect(await db.has(bytes(1, 2, 3))).toBe(true);
    });

    it('stores binary keys holding 0x00 and 0xff bytes as distinct keys', async () => {
      const db = await suite.open();
      await suite.fill(db);
      for (const key of orderedKeys) expect(hex(await db.get(key))).toBe(hex(key));
      expect(await db.get(bytes(0x00, 0x00, 0x00))).toBeUndefined();
    });

    it('stores and returns an empty value', async () => {
      const db = await suite.open();
      await db.put(bytes(5), new Uint8Array(0));
      expect(hex(await db.get(bytes(5)))).toBe('');
      expect(await db.has(bytes(5))).toBe(true);
    });

    it('overwrites a value and deletes a key, and deleting a missing key is fine', async () => {
      const db = await suite.open();
      await db.put(bytes(1), bytes(1));
      await db.put(bytes(1), bytes(2));
      expect(hex(await db.get(bytes(1)))).toBe('02');
      await db.delete(bytes(1));
      expect(await db.get(bytes(1))).toBeUndefined();
      await expect(db.delete(bytes(1))).resolves.toBeUndefined();
    });

    it('returns getMany results in order, with undefined for gaps', async () => {
      const db = await suite.open();
      await db.put(bytes(1), bytes(10));
      await db.put(bytes(3), bytes(30));
      const values = await db.getMany([bytes(3), bytes(2), bytes(1), bytes(4)]);
      expect(values.map((value) => (value === undefined ? undefined : hex(value)))).toEqual(['1e', undefined, '0a', undefined]);
      expect(await db.getMany([])).toEqual([]);
    });

    it('keeps a stored value when the caller later mutates its buffers', async () => {
      const db = await suite.open();
      const key = bytes(1, 2);
      const value = bytes(7, 7, 7);
      await db.put(key, value);
      value.fill(0);
      key.fill(9);
      expect(hex(await db.get(bytes(1, 2)))).toBe('070707');
      const read = await db.get(bytes(1, 2));
      (read as Uint8Array).fill(1);
      expect(hex(await db.get(bytes(1, 2)))).toBe('070707');
    });

    it('rejects a key that is not bytes, and an undefined value, with INVALID_ARGUMENT', async () => {
      const db = await suite.open();
      const invalid = { name: 'MemostrataError', code: 'INVALID_ARGUMENT' };
      await expect(db.get('text' as never)).rejects.toMatchObject(invalid);
      await expect(db.put(42 as never, bytes(1))).rejects.toMatchObject(invalid);
      await expect(db.put(bytes(1), undefined)).rejects.toMatchObject(invalid);
      await expect(db.getMany([bytes(1), null as never])).rejects.toMatchObject(invalid);
      expect(await db.has(bytes(1))).toBe(false);
    });
  });
}
