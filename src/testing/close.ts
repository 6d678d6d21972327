import { describe, expect, it } from 'vitest';
import type { SuiteContext } from './context.js';
import { bytes } from './keys.js';

/** flush() and close(): every method rejects with CLOSED afterwards, iterations included. */
export function closeTests(suite: SuiteContext): void {
  describe('flush and close', () => {
    it('flushes while open and keeps what was written', async () => {
      const db = await suite.open();
      await db.put(bytes(1), bytes(1));
      await db.flush();
      expect(await suite.collect(db)).toEqual(['01']);
    });

    it('rejects every method with CLOSED after close, and closing twice is fine', async () => {
      const db = await suite.open();
      await db.put(bytes(1), bytes(1));
      const iterator = db.entries();
      await iterator.next();
      await db.close();
      await db.close();
      expect(db.status).toBe('closed');
      const closed = { name: 'MemostrataError', code: 'CLOSED' };
      await expect(db.get(bytes(1))).rejects.toMatchObject(closed);
      await expect(db.getMany([bytes(1)])).rejects.toMatchObject(closed);
      await expect(db.has(bytes(1))).rejects.toMatchObject(closed);
      await expect(db.put(bytes(1), bytes(2))).rejects.toMatchObject(closed);
      await expect(db.delete(bytes(1))).rejects.toMatchObject(closed);
      await expect(db.batch([{ type: 'del', key: bytes(1) }])).rejects.toMatchObject(closed);
      await expect(db.flush()).rejects.toMatchObject(closed);
      await expect(db.compact()).rejects.toMatchObject(closed);
      await expect(db.repair()).rejects.toMatchObject(closed);
      await expect(db.sizeOnDisk()).rejects.toMatchObject(closed);
      expect(() => db.entries()).toThrow(expect.objectContaining(closed));
      expect(() => db.keys()).toThrow(expect.objectContaining(closed));
      await expect(iterator.next()).rejects.toMatchObject(closed);
    });
  });
}
