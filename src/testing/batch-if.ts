import { describe, expect, it } from 'vitest';
import type { SuiteContext } from './context.js';
import { bytes, hex } from './keys.js';

/** Conditional batches: the compare-and-set that leases are built on. */
export function batchIfTests(suite: SuiteContext): void {
  describe('batchIf', () => {
    it('applies the batch when the key holds the expected bytes, and replaces them', async () => {
      const db = await suite.open();
      await db.put(bytes(1), bytes(7));
      const applied = await db.batchIf({ key: bytes(1), value: bytes(7) }, [
        { type: 'put', key: bytes(1), value: bytes(8) },
        { type: 'put', key: bytes(2), value: bytes(2) },
      ]);
      expect(applied).toBe(true);
      expect(hex(await db.get(bytes(1)))).toBe('08');
      expect(hex(await db.get(bytes(2)))).toBe('02');
    });

    it('writes nothing and resolves false when the key holds other bytes, a prefix of them, or nothing', async () => {
      const db = await suite.open();
      await db.put(bytes(1), bytes(7, 7));
      for (const condition of [
        { key: bytes(1), value: bytes(7) },
        { key: bytes(1), value: bytes(7, 7, 7) },
        { key: bytes(1), value: bytes(8, 7) },
        { key: bytes(1), value: undefined },
        { key: bytes(3), value: bytes(7, 7) },
      ]) {
        expect(await db.batchIf(condition, [{ type: 'del', key: bytes(1) }, { type: 'put', key: bytes(2), value: bytes(2) }])).toBe(false);
      }
      expect(hex(await db.get(bytes(1)))).toBe('0707');
      expect(await db.get(bytes(2))).toBeUndefined();
    });

    it('applies a batch that expects nothing only while the key is absent', async () => {
      const db = await suite.open();
      expect(await db.batchIf({ key: bytes(4), value: undefined }, [{ type: 'put', key: bytes(4), value: bytes(1) }])).toBe(true);
      expect(await db.batchIf({ key: bytes(4), value: undefined }, [{ type: 'put', key: bytes(4), value: bytes(2) }])).toBe(false);
      expect(hex(await db.get(bytes(4)))).toBe('01');
      expect(await db.batchIf({ key: bytes(4), value: bytes(1) }, [{ type: 'del', key: bytes(4) }])).toBe(true);
      expect(await db.get(bytes(4))).toBeUndefined();
    });

    it('tells whether the condition holds when given no operations, writing nothing', async () => {
      const db = await suite.open();
      await db.put(bytes(1), bytes(1));
      expect(await db.batchIf({ key: bytes(1), value: bytes(1) }, [])).toBe(true);
      expect(await db.batchIf({ key: bytes(1), value: bytes(2) }, [])).toBe(false);
      expect(await suite.collect(db)).toEqual(['01']);
    });

    it('lets exactly one of many concurrent claims of the same key win', async () => {
      const db = await suite.open();
      const claims = Array.from({ length: 16 }, (_, index) =>
        db.batchIf({ key: bytes(9), value: undefined }, [{ type: 'put', key: bytes(9), value: bytes(index) }]),
      );
      const won = (await Promise.all(claims)).flatMap((applied, index) => (applied ? [index] : []));
      expect(won).toHaveLength(1);
      expect(hex(await db.get(bytes(9)))).toBe(hex(bytes(won[0]!)));
    });

    it('rejects a malformed condition or operation with INVALID_ARGUMENT and writes nothing', async () => {
      const db = await suite.open();
      await db.put(bytes(1), bytes(1));
      const put = [{ type: 'put', key: bytes(2), value: bytes(2) }] as const;
      await expect(db.batchIf(null as never, put)).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
      await expect(db.batchIf({ key: 'one', value: undefined } as never, put)).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
      await expect(db.batchIf({ key: bytes(1), value: bytes(1) }, [...put, { type: 'put', key: bytes(3), value: undefined }] as never)).rejects.toMatchObject({
        code: 'INVALID_ARGUMENT',
      });
      expect(await suite.collect(db)).toEqual(['01']);
    });
  });
}
