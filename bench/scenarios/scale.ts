import { join } from 'node:path';
import { runChild } from '../lib/child.js';
import { result, type BenchResult, type Scenario } from '../lib/results.js';

interface WorkerOutput {
  hitMicros: number;
  rssMB: number;
  heapMB: number;
  /** Set when the worker's close() failed after its figures were taken. */
  closeError?: string;
}

/** The largest size at which LMDB is measured too (1M entries would add minutes for what 100k already shows). */
const LMDB_MAX_ENTRIES = 100_000;

export const scale: Scenario = {
  name: 'scale',
  title: 'Scale: hit cost and memory at 10k, 100k and 1M entries (memory budget on; LMDB too up to 100k)',
  async run({ quick, scratch, log }) {
    const sizes = quick ? [10_000, 100_000] : [10_000, 100_000, 1_000_000];
    const hits = quick ? 20_000 : 200_000;
    const repetitions = quick ? 3 : 7;
    const results: BenchResult[] = [];
    const failures: string[] = [];
    for (const entries of sizes) {
      const label = entries >= 1_000_000 ? `${entries / 1_000_000}M` : `${entries / 1000}k`;
      // One process per contender and size, so that memory figures are each its own.
      const map = await runChild<WorkerOutput>('scale-worker', ['map', String(entries), String(hits), String(repetitions), ''], ['--expose-gc']);
      const ours = await runChild<WorkerOutput>(
        'scale-worker',
        ['memostrata', String(entries), String(hits), String(repetitions), join(scratch, `scale-${entries}`)],
        ['--expose-gc'],
      );
      // LMDB beside LevelDB where it is cheap (up to 100k entries): hits are served from memory on both, so what
      // differs is the memory the process holds (LMDB's map pages it touched count in its RSS).
      const lmdb =
        entries <= LMDB_MAX_ENTRIES
          ? await runChild<WorkerOutput>(
              'scale-worker',
              ['memostrata-lmdb', String(entries), String(hits), String(repetitions), join(scratch, `scale-lmdb-${entries}`)],
              ['--expose-gc'],
            )
          : undefined;
      log(`${label}: memostrata ${ours.hitMicros.toFixed(2)} µs/hit${lmdb === undefined ? '' : ` (LMDB ${lmdb.hitMicros.toFixed(2)})`}, map ${map.hitMicros.toFixed(2)} µs/hit`);
      if (lmdb?.closeError !== undefined) failures.push(`scale: at ${label} entries memostrata's close() on LMDB failed: ${lmdb.closeError}`);
      if (ours.closeError !== undefined) {
        log(`${label}: close() FAILED: ${ours.closeError}`);
        failures.push(`scale: at ${label} entries memostrata's close() (after ${(hits * (repetitions + 1)).toLocaleString('en-US')} scattered hits) failed: ${ours.closeError}`);
      }
      results.push(
        result({ scenario: 'scale', metric: `hit at ${label} entries`, unit: 'µs/hit', value: ours.hitMicros, baselineName: 'Map + JSON.stringify', baseline: map.hitMicros, better: 'lower' }),
        result({ scenario: 'scale', metric: `RSS growth at ${label} entries`, unit: 'MB', value: ours.rssMB, baselineName: 'Map + JSON.stringify', baseline: map.rssMB, better: 'lower' }),
        result({ scenario: 'scale', metric: `heap growth at ${label} entries`, unit: 'MB', value: ours.heapMB, baselineName: 'Map + JSON.stringify', baseline: map.heapMB, better: 'lower' }),
      );
      if (lmdb !== undefined) {
        const level = { baselineName: 'memostrata on LevelDB', better: 'lower' as const };
        results.push(
          result({ scenario: 'scale', metric: `LMDB vs LevelDB: hit at ${label} entries`, unit: 'µs/hit', value: lmdb.hitMicros, baseline: ours.hitMicros, ...level }),
          result({ scenario: 'scale', metric: `LMDB vs LevelDB: RSS growth at ${label} entries`, unit: 'MB', value: lmdb.rssMB, baseline: ours.rssMB, ...level }),
        );
      }
    }
    return {
      results,
      notes: [
        ...failures,
        `scale: LevelBackend with memoryBudget 1 GiB (512 MiB before entries counted their bookkeeping; every entry fits, so the LRU bookkeeping runs on each hit and nothing is read back), checkpoint every 100k new entries; ` +
          `LMDB rows (up to ${LMDB_MAX_ENTRIES.toLocaleString('en-US')} entries): the same worker on an LMDB store. ` +
          `${hits.toLocaleString('en-US')} hits per repetition in a scattered order over all entries, median of ${repetitions}. Memory: growth from the empty cache to the filled one after two forced GCs, one process per size and contender.`,
      ],
    };
  },
};
