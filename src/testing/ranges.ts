import { describe, expect, it } from 'vitest';
import type { Range } from '../contract/range.js';
import type { SuiteContext } from './context.js';
import { bytes, hex, inRange, orderedKeys } from './keys.js';

/** Iteration: unsigned byte order, every range option, reverse, limit. */
export function rangeTests(suite: SuiteContext): void {
  describe('ranges and iteration', () => {
    it('iterates in unsigned byte order, shorter prefix first', async () => {
      const db = await suite.open();
      await suite.fill(db);
      expect(await suite.collect(db)).toEqual(orderedKeys.map(hex));
      const keys: string[] = [];
      for await (const key of db.keys()) keys.push(hex(key));
      expect(keys).toEqual(orderedKeys.map(hex));
    });

    it('honours every range option, with reverse and limit', async () => {
      const db = await suite.open();
      await suite.fill(db);
      const all = orderedKeys.map(hex);
      const lower = [undefined, { gt: bytes(0x01) }, { gte: bytes(0x01) }, { gte: bytes(0x00, 0x01) }, { gt: bytes(0xff, 0xff) }];
      const upper = [undefined, { lt: bytes(0xff) }, { lte: bytes(0xff) }, { lte: bytes(0x80, 0x00) }, { lt: bytes(0x00) }];
      let checked = 0;
      for (const low of lower) {
        for (const high of upper) {
          for (const reverse of [false, true]) {
            for (const limit of [undefined, 0, 1, 3, -1]) {
              const range: Range<Uint8Array> = { ...low, ...high, reverse, ...(limit === undefined ? {} : { limit }) };
              let expected = all.filter((key) => inRange(key, range));
              if (reverse) expected = expected.reverse();
              if (limit !== undefined && limit >= 0) expected = expected.slice(0, limit);
              expect(await suite.collect(db, range), JSON.stringify({ low, high, reverse, limit })).toEqual(expected);
              const keys: string[] = [];
              for await (const key of db.keys(range)) keys.push(hex(key));
              expect(keys).toEqual(expected);
              checked += 1;
            }
          }
        }
      }
      expect(checked).toBe(250);
    });

    it('lets gt win over gte and lt over lte', async () => {
      const db = await suite.open();
      await suite.fill(db);
      expect(await suite.collect(db, { gt: bytes(0x01), gte: bytes(0x00), lt: bytes(0x7f), lte: bytes(0xff) })).toEqual(['0100', '6162']);
    });

    it('rejects a range limit that is not a whole number, or a bound that is not bytes', async () => {
      const db = await suite.open();
      const invalid = expect.objectContaining({ code: 'INVALID_ARGUMENT' });
      expect(() => db.entries({ limit: 2.5 })).toThrow(invalid);
      expect(() => db.keys({ limit: -2 })).toThrow(invalid);
      expect(() => db.entries({ gte: 'a' as never })).toThrow(invalid);
    });
  });
}
