import { join } from 'node:path';
import memoizee from 'memoizee';
import { openCache } from 'memostrata';
import pMemoize from 'p-memoize';
import { result, type Scenario } from '../lib/results.js';
import { interleaved, microsPerCall } from '../lib/timing.js';
import { smallArgs, work, type SmallArgs } from './small-args.js';

type Memo = (...args: SmallArgs) => Promise<unknown>;

/** The hand-written baseline: a Map keyed by JSON.stringify(args), holding the result's promise. */
function mapMemoize(fn: (...args: SmallArgs) => unknown): Memo {
  const cache = new Map<string, Promise<unknown>>();
  return (...args) => {
    const key = JSON.stringify(args);
    let hit = cache.get(key);
    if (hit === undefined) {
      hit = Promise.resolve(fn(...args));
      cache.set(key, hit);
    }
    return hit;
  };
}

export const hitMemory: Scenario = {
  name: 'hit-memory',
  title: 'Hit cost, small arguments, entry in memory',
  async run({ quick, scratch }) {
    const keys = smallArgs(1000);
    const calls = quick ? 50_000 : 200_000;
    const repetitions = quick ? 3 : 9;

    const inMemory = await openCache({ backend: { type: 'memory' }, flush: 'manual', handleExit: false });
    const onLevel = await openCache({ path: join(scratch, 'hit-memory-level'), flush: 'manual', handleExit: false });
    const contenders: Record<string, Memo> = {
      map: mapMemoize(work),
      'p-memoize': pMemoize(async (...args: SmallArgs) => work(...args), { cacheKey: (args) => JSON.stringify(args) }),
      memoizee: memoizee(async (...args: SmallArgs) => work(...args), {
        promise: true,
        length: false,
        normalizer: (args) => JSON.stringify(Array.from(args)),
      }) as Memo,
      'memostrata memory': inMemory.memoize('bench.hit', work),
      'memostrata level': onLevel.memoize('bench.hit', work),
    };
    // Fill every cache (memostrata's level store also checkpoints, so its entries are clean and in memory).
    for (const memo of Object.values(contenders)) for (const args of keys) await memo(...args);
    await onLevel.checkpoint();

    const figures = await interleaved(
      Object.entries(contenders).map(([name, memo]) => ({
        name,
        run: () => microsPerCall(calls, (i) => memo(...(keys[i % keys.length] as SmallArgs))),
      })),
      repetitions,
    );
    await inMemory.close();
    await onLevel.close();

    const map = figures.get('map') as number;
    const baseline = { unit: 'µs/hit', baselineName: 'Map + JSON.stringify', baseline: map, better: 'lower' as const };
    return {
      results: [
        result({ scenario: 'hit-memory', metric: 'memostrata, memory backend', value: figures.get('memostrata memory') as number, ...baseline, target: '≤ 1.5×', targetRatio: 1.5 }),
        result({ scenario: 'hit-memory', metric: 'memostrata, level backend (entry in memory)', value: figures.get('memostrata level') as number, ...baseline, target: '≤ 1.5×', targetRatio: 1.5 }),
        result({ scenario: 'hit-memory', metric: 'p-memoize 8 (cacheKey JSON.stringify)', value: figures.get('p-memoize') as number, ...baseline }),
        result({ scenario: 'hit-memory', metric: 'memoizee (promise, JSON normalizer)', value: figures.get('memoizee') as number, ...baseline }),
      ],
      notes: [
        `hit-memory: ${calls.toLocaleString('en-US')} sequential awaited hits per repetition over 1,000 distinct keys (args: number, string, { tol, maxIter }), median of ${repetitions}, contenders interleaved.`,
      ],
    };
  },
};
