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

    it('applies a long batch in order, the last operation on a key winning (chunk by chunk where batches are not atomic)', async () => {
      const db = await suite.open();
      expect(['boolean', 'undefined']).toContain(typeof db.manifest.atomicBatches);
      // Longer than a chunk of any backend that sends batches in chunks (Redis: 1000 operations by default).
      const operations = Array.from({ length: 1500 }, (_, i) =>
        i % 5 === 4 ? { type: 'del' as const, key: bytes(i % 7) } : { type: 'put' as const, key: bytes(i % 7), value: bytes(i % 7, i % 256) },
      );
      await db.batch(operations);
      const last = new Map<number, string | undefined>();
      for (const [i, op] of operations.entries()) last.set(i % 7, op.type === 'put' ? hex(op.value) : undefined);
      for (const [key, value] of last) expect((await db.get(bytes(key))) === undefined ? undefined : hex(await db.get(bytes(key))), `key ${key}`).toBe(value);
    });

    it('lets a snapshot see each of many batches whole or not at all (where batches are atomic and iteration has snapshots), and keeps the last', async () => {
      const db = await suite.open();
      // Elsewhere a reader may see part of a batch: only the end state is promised (and order, above).
      const readerHolds = db.manifest.atomicBatches !== false && db.manifest.snapshots;
      const keys = Array.from({ length: 20 }, (_, i) => bytes(0x40, i));
      let writing = true;
      const writes = (async () => {
        for (let round = 1; round <= 30; round += 1) await db.batch(keys.map((key) => ({ type: 'put' as const, key, value: bytes(round) })));
        writing = false;
      })();
      let reads = 0;
      while (readerHolds && (writing || reads === 0)) {
        const seen = new Set<string>();
        let count = 0;
        for await (const [, value] of db.entries({ gte: bytes(0x40), lt: bytes(0x41) })) {
          seen.add(hex(value));
          count += 1;
        }
        expect(count === 0 || (count === keys.length && seen.size === 1), `read ${reads}: ${count} entries, values ${[...seen].join(', ')}`).toBe(true);
        reads += 1;
        // A store whose reads resolve with microtasks only would otherwise never let the writes go on.
        await new Promise((resolve) => setImmediate(resolve));
      }
      await writes;
      expect(new Set((await db.getMany(keys)).map(hex))).toEqual(new Set([hex(bytes(30))]));
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
