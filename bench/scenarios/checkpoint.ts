import { join } from 'node:path';
import { ClassicLevel } from 'classic-level';
import { open as openLmdb } from 'lmdb';
import { LevelBackend, openCache } from 'memostrata';
import { result, type Scenario } from '../lib/results.js';
import { interleaved, timeOnce } from '../lib/timing.js';
import { smallArgs, work } from './small-args.js';

type Operation = { type: 'put'; key: Uint8Array; value: Uint8Array };

export const checkpointScenario: Scenario = {
  name: 'checkpoint',
  title: 'checkpoint() of many small new results vs one raw batch of the same bytes, on LevelDB and on LMDB',
  async run({ quick, scratch }) {
    const entries = quick ? 10_000 : 100_000;
    const repetitions = quick ? 3 : 5;
    const args = smallArgs(entries);
    let round = 0;
    /** The key/value pairs the last memostrata checkpoint wrote, replayed by the raw batch. */
    let written: Operation[] = [];
    let bytes = 0;
    /** The same for the last LMDB checkpoint. */
    let writtenLmdb: Operation[] = [];
    let bytesLmdb = 0;

    const memostrata = async () => {
      const path = join(scratch, `checkpoint-memostrata-${round++}`);
      const cache = await openCache({ path, flush: 'manual', handleExit: false });
      const memo = cache.memoize('bench.checkpoint', work);
      for (const callArgs of args) await memo(...callArgs);
      const ms = await timeOnce(() => cache.checkpoint());
      await cache.close();
      // Read back exactly what the store holds, for the raw batch.
      const backend = await LevelBackend.open(path);
      written = [];
      bytes = 0;
      for await (const [key, value] of backend.entries()) {
        written.push({ type: 'put', key, value });
        bytes += key.length + value.length;
      }
      await backend.close();
      return entries / (ms / 1000);
    };
    const memostrataLmdb = async () => {
      const path = join(scratch, `checkpoint-memostrata-lmdb-${round++}`);
      const cache = await openCache({ backend: { type: 'lmdb', path }, flush: 'manual', handleExit: false });
      // No leases: on LMDB each leased miss is a durable write of its own (lease-cost measures that), not the checkpoint.
      const memo = cache.memoize('bench.checkpoint', work, { lease: false });
      for (const callArgs of args) await memo(...callArgs);
      const ms = await timeOnce(() => cache.checkpoint());
      await cache.close();
      const db = openLmdb<Buffer, Buffer>({ path, keyEncoding: 'binary', encoding: 'binary', overlappingSync: false });
      writtenLmdb = [];
      bytesLmdb = 0;
      for (const { key, value } of db.getRange()) {
        writtenLmdb.push({ type: 'put', key: new Uint8Array(key), value: new Uint8Array(value) });
        bytesLmdb += key.length + value.length;
      }
      await db.close();
      return entries / (ms / 1000);
    };
    /**
     * LMDB's own baseline: the same bytes as one lmdb-js batch (one write transaction on its write thread, the
     * fastest form lmdb-js offers; LmdbBackend writes a transaction() whose puts run on the Node thread, to check
     * its snapshot first), opened with LmdbBackend's options (sync commits, no overlappingSync), then flushed.
     */
    const rawLmdb = async () => {
      const db = openLmdb<Buffer, Buffer>({ path: join(scratch, `checkpoint-raw-lmdb-${round++}`), keyEncoding: 'binary', encoding: 'binary', overlappingSync: false });
      const operations = writtenLmdb.map((op) => ({ key: Buffer.from(op.key), value: Buffer.from(op.value) }));
      const ms = await timeOnce(async () => {
        await db.batch(() => {
          for (const op of operations) void db.put(op.key, op.value);
        });
        await db.flushed;
      });
      await db.close();
      return entries / (ms / 1000);
    };
    /** One raw batch of the same bytes: `db.batch(array)`, or the chained form (one WriteBatch too, and several times faster; LevelBackend writes that way). */
    const raw = (form: 'array' | 'chained') => async () => {
      const db = new ClassicLevel<Uint8Array, Uint8Array>(join(scratch, `checkpoint-raw-${round++}`), { keyEncoding: 'view', valueEncoding: 'view' });
      await db.open();
      const ms = await timeOnce(() => {
        if (form === 'array') return db.batch(written, { sync: true });
        const batch = db.batch();
        for (const op of written) batch.put(op.key, op.value);
        return batch.write({ sync: true });
      });
      await db.close();
      return entries / (ms / 1000);
    };
    const figures = await interleaved(
      [
        { name: 'memostrata', run: memostrata },
        { name: 'raw', run: raw('array') },
        { name: 'raw-chained', run: raw('chained') },
        // memostrata first: the raw batch replays what the last memostrata checkpoint wrote.
        { name: 'memostrata-lmdb', run: memostrataLmdb },
        { name: 'raw-lmdb', run: rawLmdb },
      ],
      repetitions,
      quick ? 0 : 1,
    );
    return {
      results: [
        result({
          scenario: 'checkpoint',
          metric: `checkpoint() of ${entries / 1000}k new small results`,
          unit: 'entries/s',
          value: figures.get('memostrata') as number,
          baselineName: 'one classic-level batch(array), sync',
          baseline: figures.get('raw') as number,
          better: 'higher',
          target: '≥ 0.5×',
          targetRatio: 0.5,
        }),
        result({
          scenario: 'checkpoint',
          metric: `checkpoint() of ${entries / 1000}k new small results, vs the chained raw batch`,
          unit: 'entries/s',
          value: figures.get('memostrata') as number,
          baselineName: 'one classic-level chained batch, sync',
          baseline: figures.get('raw-chained') as number,
          better: 'higher',
        }),
        result({
          scenario: 'checkpoint',
          metric: `LMDB: checkpoint() of ${entries / 1000}k new small results`,
          unit: 'entries/s',
          value: figures.get('memostrata-lmdb') as number,
          baselineName: 'one lmdb-js batch, flushed',
          baseline: figures.get('raw-lmdb') as number,
          better: 'higher',
        }),
        result({
          scenario: 'checkpoint',
          metric: `LMDB vs LevelDB: checkpoint() of ${entries / 1000}k new small results`,
          unit: 'entries/s',
          value: figures.get('memostrata-lmdb') as number,
          baselineName: 'memostrata on LevelDB, same calls',
          baseline: figures.get('memostrata') as number,
          better: 'higher',
        }),
      ],
      notes: [
        `checkpoint, LMDB: the raw batch writes the very pairs the LMDB checkpoint wrote (${writtenLmdb.length.toLocaleString('en-US')} puts, ${(bytesLmdb / 2 ** 20).toFixed(1)} MiB), into a new store; the raw batch excludes building the Buffers.`,
        `checkpoint: the raw batch writes the very key/value pairs the checkpoint wrote (${written.length.toLocaleString('en-US')} puts, ${(bytes / 2 ** 20).toFixed(1)} MiB: records, input and result values), both with fsync, each into a new store. Median of ${repetitions}.`,
      ],
    };
  },
};
