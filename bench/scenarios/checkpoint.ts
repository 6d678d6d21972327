import { join } from 'node:path';
import { ClassicLevel } from 'classic-level';
import { LevelBackend, openCache } from 'memostrata';
import { result, type Scenario } from '../lib/results.js';
import { interleaved, timeOnce } from '../lib/timing.js';
import { smallArgs, work } from './small-args.js';

type Operation = { type: 'put'; key: Uint8Array; value: Uint8Array };

export const checkpointScenario: Scenario = {
  name: 'checkpoint',
  title: 'checkpoint() of many small new results vs one raw LevelDB batch of the same bytes',
  async run({ quick, scratch }) {
    const entries = quick ? 10_000 : 100_000;
    const repetitions = quick ? 3 : 5;
    const args = smallArgs(entries);
    let round = 0;
    /** The key/value pairs the last memostrata checkpoint wrote, replayed by the raw batch. */
    let written: Operation[] = [];
    let bytes = 0;

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
      ],
      notes: [
        `checkpoint: the raw batch writes the very key/value pairs the checkpoint wrote (${written.length.toLocaleString('en-US')} puts, ${(bytes / 2 ** 20).toFixed(1)} MiB: records, input and result values), both with fsync, each into a new store. Median of ${repetitions}.`,
      ],
    };
  },
};
