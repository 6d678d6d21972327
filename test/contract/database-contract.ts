import { afterEach, describe, expect, it } from 'vitest';
import type { Database } from '../../src/contract/database.js';
import type { Range } from '../../src/contract/range.js';

/**
 * A database under the contract: byte keys, and values that round-trip a
 * `Uint8Array` (byte backends store it; typed layers serialize it).
 */
export type ContractDatabase = Database<Uint8Array, any>;

/** How the contract suite gets a fresh, empty database of one kind. */
export interface ContractFixture {
  /** A new, empty database. */
  open(): Promise<ContractDatabase>;
}

const bytes = (...values: number[]): Uint8Array => new Uint8Array(values);
const hex = (value: Uint8Array): string => Buffer.from(value).toString('hex');

/** Keys chosen to exercise byte order: 0x00 and 0xff bytes, prefixes, lengths. */
const orderedKeys: Uint8Array[] = [
  bytes(0x00),
  bytes(0x00, 0x00),
  bytes(0x00, 0xff),
  bytes(0x01),
  bytes(0x01, 0x00),
  bytes(0x61, 0x62),
  bytes(0x7f),
  bytes(0x80),
  bytes(0xfe, 0xff, 0xff),
  bytes(0xff),
  bytes(0xff, 0x00),
  bytes(0xff, 0xff),
];

/**
 * The storage contract, run against any backend or stack of layers. Every
 * database in memostrata must pass it.
 */
export function runDatabaseContract(name: string, fixture: ContractFixture): void {
  describe(`${name} honours the storage contract`, () => {
    const opened: ContractDatabase[] = [];
    const open = async (): Promise<ContractDatabase> => {
      const db = await fixture.open();
      opened.push(db);
      return db;
    };
    const fill = async (db: ContractDatabase): Promise<void> => {
      // Insert out of order so that order comes from the database, not from us.
      for (const key of [...orderedKeys].reverse()) await db.put(key, key);
    };
    const collect = async (db: ContractDatabase, range: Range<Uint8Array>): Promise<string[]> => {
      const seen: string[] = [];
      for await (const [key, value] of db.entries(range)) {
        expect(hex(value)).toBe(hex(key));
        seen.push(hex(key));
      }
      return seen;
    };

    afterEach(async () => {
      await Promise.all(opened.splice(0).map((db) => db.close()));
    });

    it('returns undefined for a missing key and the value for a stored one', async () => {
      const db = await open();
      expect(await db.get(bytes(1, 2, 3))).toBeUndefined();
      expect(await db.has(bytes(1, 2, 3))).toBe(false);
      await db.put(bytes(1, 2, 3), bytes(9, 8, 7));
      expect(hex(await db.get(bytes(1, 2, 3)))).toBe('090807');
      expect(await db.has(bytes(1, 2, 3))).toBe(true);
    });

    it('stores binary keys holding 0x00 and 0xff bytes as distinct keys', async () => {
      const db = await open();
      await fill(db);
      for (const key of orderedKeys) expect(hex(await db.get(key))).toBe(hex(key));
      expect(await db.get(bytes(0x00, 0x00, 0x00))).toBeUndefined();
    });

    it('stores and returns an empty value', async () => {
      const db = await open();
      await db.put(bytes(5), new Uint8Array(0));
      const value = await db.get(bytes(5));
      expect(value).toBeInstanceOf(Uint8Array);
      expect(value.length).toBe(0);
      expect(await db.has(bytes(5))).toBe(true);
    });

    it('overwrites a value and deletes a key, and deleting a missing key is fine', async () => {
      const db = await open();
      await db.put(bytes(1), bytes(1));
      await db.put(bytes(1), bytes(2));
      expect(hex(await db.get(bytes(1)))).toBe('02');
      await db.delete(bytes(1));
      expect(await db.get(bytes(1))).toBeUndefined();
      await expect(db.delete(bytes(1))).resolves.toBeUndefined();
    });

    it('iterates in unsigned byte order, shorter prefix first', async () => {
      const db = await open();
      await fill(db);
      expect(await collect(db, {})).toEqual(orderedKeys.map(hex));
      const keys: string[] = [];
      for await (const key of db.keys()) keys.push(hex(key));
      expect(keys).toEqual(orderedKeys.map(hex));
    });

    it('honours every range option, with reverse and limit', async () => {
      const db = await open();
      await fill(db);
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
              expect(await collect(db, range), JSON.stringify({ low, high, reverse, limit })).toEqual(expected);
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
      const db = await open();
      await fill(db);
      expect(await collect(db, { gt: bytes(0x01), gte: bytes(0x00), lt: bytes(0x7f), lte: bytes(0xff) })).toEqual(['0100', '6162']);
    });

    it('returns getMany results in order, with undefined for gaps', async () => {
      const db = await open();
      await db.put(bytes(1), bytes(10));
      await db.put(bytes(3), bytes(30));
      const values = await db.getMany([bytes(3), bytes(2), bytes(1), bytes(4)]);
      expect(values.map((value) => (value === undefined ? undefined : hex(value)))).toEqual(['1e', undefined, '0a', undefined]);
      expect(await db.getMany([])).toEqual([]);
    });

    it('applies a batch of puts and deletes together', async () => {
      const db = await open();
      await db.put(bytes(1), bytes(1));
      await db.batch([
        { type: 'put', key: bytes(2), value: bytes(2) },
        { type: 'del', key: bytes(1) },
        { type: 'put', key: bytes(3), value: bytes(3) },
      ]);
      expect(await collect(db, {})).toEqual(['02', '03']);
    });

    it('writes nothing from a batch that holds an invalid operation', async () => {
      const db = await open();
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
      expect(await collect(db, {})).toEqual(['01']);
    });

    it('iterates over a snapshot while writes go on (without snapshots: every untouched key once, in order)', async () => {
      const db = await open();
      await fill(db);
      const iterator = db.entries();
      const first = await iterator.next();
      expect(hex(first.value[0])).toBe(hex(orderedKeys[0]!));
      await db.put(bytes(0xff, 0xff, 0xff), bytes(1));
      await db.put(bytes(0x50), bytes(1));
      await db.delete(orderedKeys[5]!);
      await db.put(orderedKeys[8]!, bytes(0xaa));
      const rest: [string, string][] = [];
      for await (const [key, value] of { [Symbol.asyncIterator]: () => iterator }) rest.push([hex(key), hex(value)]);
      const keys = rest.map(([key]) => key);
      if (db.manifest.snapshots) {
        expect(rest).toEqual(orderedKeys.slice(1).map((key) => [hex(key), hex(key)]));
      } else {
        // No snapshot (RedisBackend across pages): what was there throughout comes once, in order, unchanged.
        const touched = new Set([orderedKeys[5]!, orderedKeys[8]!].map(hex));
        const untouched = orderedKeys.slice(1).map(hex).filter((key) => !touched.has(key));
        expect(keys.filter((key) => untouched.includes(key))).toEqual(untouched);
        for (const [key, value] of rest) if (untouched.includes(key)) expect(value).toBe(key);
        expect(new Set(keys).size).toBe(keys.length);
        expect(keys).toEqual([...keys].sort((a, b) => Buffer.compare(Buffer.from(a, 'hex'), Buffer.from(b, 'hex'))));
      }
      expect(hex(await db.get(orderedKeys[8]!))).toBe('aa');
    });

    it('keeps a stored value when the caller later mutates its buffers', async () => {
      const db = await open();
      const key = bytes(1, 2);
      const value = bytes(7, 7, 7);
      await db.put(key, value);
      value.fill(0);
      key.fill(9);
      expect(hex(await db.get(bytes(1, 2)))).toBe('070707');
      const batchValue = bytes(8, 8);
      await db.batch([{ type: 'put', key: bytes(3), value: batchValue }]);
      batchValue.fill(0);
      const read = await db.get(bytes(3));
      expect(hex(read)).toBe('0808');
      read.fill(1);
      expect(hex(await db.get(bytes(3)))).toBe('0808');
    });

    it('rejects a range limit that is not a whole number', async () => {
      const db = await open();
      expect(() => db.entries({ limit: 2.5 })).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT' }));
      expect(() => db.keys({ limit: -2 })).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT' }));
    });

    it('rejects a key that is not bytes', async () => {
      const db = await open();
      await expect(db.get('text' as never)).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
      await expect(db.put(42 as never, bytes(1))).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    });

    it('keeps every entry through compact(), of a range or of everything, and drops what was deleted', async () => {
      const db = await open();
      await fill(db);
      await db.delete(orderedKeys[3]!);
      await db.compact({ gte: orderedKeys[2], lte: orderedKeys[5] });
      await db.compact();
      const expected = orderedKeys.filter((_, index) => index !== 3).map(hex);
      expect(await collect(db, {})).toEqual(expected);
    });

    it('keeps a sound store whole through repair() where the manifest says it can repair, and refuses otherwise', async () => {
      const db = await open();
      await fill(db);
      if (db.manifest.repair === true) {
        await db.repair();
        expect(await collect(db, {})).toEqual(orderedKeys.map(hex));
        await db.put(bytes(0x42), bytes(0x42));
        expect(hex(await db.get(bytes(0x42)))).toBe('42');
      } else {
        await expect(db.repair()).rejects.toMatchObject({ code: 'BACKEND' });
        expect(await collect(db, {})).toEqual(orderedKeys.map(hex));
      }
    });

    it('rejects compact(), repair() and sizeOnDisk() with CLOSED after close', async () => {
      const db = await open();
      await db.close();
      await expect(db.compact()).rejects.toMatchObject({ code: 'CLOSED' });
      await expect(db.repair()).rejects.toMatchObject({ code: 'CLOSED' });
      await expect(db.sizeOnDisk()).rejects.toMatchObject({ code: 'CLOSED' });
    });

    it('rejects every method with CLOSED after close, and closing twice is fine', async () => {
      const db = await open();
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
      expect(() => db.entries()).toThrow(expect.objectContaining(closed));
      expect(() => db.keys()).toThrow(expect.objectContaining(closed));
      await expect(iterator.next()).rejects.toMatchObject(closed);
    });
  });
}

function inRange(keyHex: string, range: Range<Uint8Array>): boolean {
  const key = Buffer.from(keyHex, 'hex');
  const cmp = (bound: Uint8Array): number => Buffer.compare(key, bound);
  if (range.gt !== undefined && cmp(range.gt) <= 0) return false;
  if (range.gt === undefined && range.gte !== undefined && cmp(range.gte) < 0) return false;
  if (range.lt !== undefined && cmp(range.lt) >= 0) return false;
  if (range.lt === undefined && range.lte !== undefined && cmp(range.lte) > 0) return false;
  return true;
}
