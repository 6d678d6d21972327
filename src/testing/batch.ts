import { describe, expect, it } from 'vitest';
import type { SuiteContext } from './context.js';
import { bytes, hex } from './keys.js';

/** Atomic batches: applied whole, checked whole before anything is written. */
export function batchTests(suite: SuiteContext): void {
  describe('batch', () => {
    it('applies a batch of puts and deletes together', async () => {
      const db = await suite.open();
      await db.put(bytes(1), bytes(1));
      await db.batch([
        { type: 'put', key: bytes(2), value: bytes(2) },
        { type: 'del', key: bytes(1) },
        { type: 'put', key: bytes(3), value: bytes(3) },
      ]);
      expect(await suite.collect(db)).toEqual(['02', '03']);
    });

    it('accepts an empty batch and writes nothing', async () => {
      const db = await suite.open();
      await db.batch([]);
      expect(await suite.collect(db)).toEqual([]);
    });

    it('writes nothing from a batch that holds an invalid operation', async () => {
      const db = await suite.open();
      await db.put(bytes(1), bytes(1));
      const invalid = [
        [{ type: 'put', key: bytes(2), value: bytes(2) }, { type: 'put', key: 'not bytes', value: bytes(3) }],
        [{ type: 'del', key: bytes(1) }, { type: 'update', key: bytes(4), value: bytes(4) }],
        [{ type: 'put', key: bytes(5), value: bytes(5) }, null],
        [{ type: 'del', key: bytes(1) }, { type: 'put', key: bytes(6), value: undefined }],
      ];
      for (const operations of invalid) {
        await expect(db.batch(operations as never)).rejects.toMatchObject({ name: 'MemostrataError', code: 'INVALID_ARGUMENT' });
      }
      expect(await suite.collect(db)).toEqual(['01']);
    });

    it('keeps a batched value when the caller later mutates its buffer', async () => {
      const db = await suite.open();
      const value = bytes(8, 8);
      await db.batch([{ type: 'put', key: bytes(3), value }]);
      value.fill(0);
      expect(hex(await db.get(bytes(3)))).toBe('0808');
    });
  });
}
