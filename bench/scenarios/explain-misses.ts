import { join } from 'node:path';
import { openCache } from 'memostrata';
import { result, type BenchResult, type Scenario } from '../lib/results.js';
import { interleaved } from '../lib/timing.js';

/*
 * What `explainMisses` costs per miss: new calls on a LevelDB store that
 * already holds `stored` calls of the module, with explainMisses on and off,
 * in the same run. Two cases: the nearest stored call differs in one argument
 * (the scan stops at the first such call), and every stored call differs in
 * two (the scan reads every record of the module, up to EXPLAIN_SCAN_LIMIT).
 * The lines go to a no-op stderr: the figure is the explanation, not the terminal.
 */
export const explainMisses: Scenario = {
  name: 'explain-misses',
  title: 'explainMisses: cost per miss, on against off (LevelDB)',
  async run({ quick, scratch, log }) {
    const stored = quick ? 1000 : 10_000;
    const misses = quick ? 50 : 200;
    const repetitions = quick ? 3 : 5;
    const work = (x: number, label: string) => ({ x, label });
    const results: BenchResult[] = [];
    const cases: [string, string, (i: number, round: number) => [number, string]][] = [
      ['one', 'nearest differs in one argument', (i, round) => [1e6 * (round + 1) + i, 'a0']],
      ['all', `every stored call differs in two (full scan of ${stored.toLocaleString('en-US')})`, (i, round) => [-(1e6 * (round + 1) + i), `b${round}-${i}`]],
    ];
    for (const [tag, what, argsOf] of cases) {
      const path = join(scratch, `explain-${tag}`);
      const filling = await openCache({ path, handleExit: false, flush: 'manual' });
      const f = filling.memoize('explain.bench', work);
      for (let i = 0; i < stored; i++) await f(i, `a${i % 2 === 0 ? 0 : i}`);
      await filling.close();
      let round = 0;
      const contender = (explain: boolean) => ({
        name: explain ? 'on' : 'off',
        run: async () => {
          round += 1;
          const cache = await openCache({ path, handleExit: false, flush: 'manual', explainMisses: explain });
          const g = cache.memoize('explain.bench', work);
          const write = process.stderr.write;
          process.stderr.write = (() => true) as typeof process.stderr.write;
          const started = performance.now();
          try {
            for (let i = 0; i < misses; i++) await g(...argsOf(i, round));
          } finally {
            process.stderr.write = write;
          }
          const perMiss = ((performance.now() - started) * 1000) / misses;
          await cache.close();
          return perMiss;
        },
      });
      const figures = await interleaved([contender(true), contender(false)], repetitions);
      log(`${what}: on ${figures.get('on')!.toFixed(1)} µs/miss, off ${figures.get('off')!.toFixed(1)} µs/miss`);
      results.push(
        result({
          scenario: 'explain-misses',
          metric: `miss with explainMisses, ${what}`,
          unit: 'µs/miss',
          value: figures.get('on')!,
          baselineName: 'the same misses with explainMisses off',
          baseline: figures.get('off')!,
          better: 'lower',
          note: `${misses} new calls per repetition on a store of ${stored.toLocaleString('en-US')} calls of the module (it grows by the misses of each repetition); the difference is the explanation per miss`,
        }),
      );
    }
    return { results };
  },
};
