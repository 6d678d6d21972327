import { open, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { loadDigester, openCache } from 'memostrata';
import xxhash from 'xxhash-wasm';
import { result, type BenchResult, type Scenario } from '../lib/results.js';
import { interleaved, median, timeOnce } from '../lib/timing.js';

const MB = 2 ** 20;

/** A 64 MB Float64Array of varied values (not zeros, which would compress away). */
function largeArray(sizeMB: number, seed: number): Float64Array {
  const array = new Float64Array((sizeMB * MB) / 8);
  for (let i = 0; i < array.length; i++) array[i] = Math.sin(i * 0.001 + seed) * 1e3;
  return array;
}

export const large: Scenario = {
  name: 'large',
  title: 'Large values: digest and store/restore of a 64 MB Float64Array',
  async run({ quick, scratch }) {
    const sizeMB = 64;
    const repetitions = quick ? 3 : 7;
    const array = largeArray(sizeMB, 1);
    const bytes = new Uint8Array(array.buffer, array.byteOffset, array.byteLength);
    const results: BenchResult[] = [];

    const digester = await loadDigester();
    const hash = await xxhash();
    const digest = await interleaved(
      [
        { name: 'digest', run: async () => sizeMB / ((await timeOnce(() => digester.digest(array))) / 1000) },
        { name: 'h64Raw', run: async () => sizeMB / ((await timeOnce(() => hash.h64Raw(bytes, 1n))) / 1000) },
      ],
      repetitions,
    );
    results.push(
      result({
        scenario: 'large',
        metric: 'digest of a 64 MB Float64Array',
        unit: 'MB/s',
        value: digest.get('digest') as number,
        baselineName: 'one h64Raw over the bytes',
        baseline: digest.get('h64Raw') as number,
        better: 'higher',
        target: '≥ 0.8×',
        targetRatio: 0.8,
      }),
    );

    // Store: a miss that returns the array (digest of the result included) and a checkpoint (fsync).
    // Restore: a new Cache on the same store, and a call that reads the result back.
    let round = 0;
    const storeMs: number[] = [];
    const restoreMs: number[] = [];
    const fileStoreMs: number[] = [];
    const fileRestoreMs: number[] = [];
    const memostrata = async () => {
      const path = join(scratch, `large-${round++}`);
      const produce = () => array;
      const writer = await openCache({ path, flush: 'manual', handleExit: false });
      const store = writer.memoize('bench.large', produce);
      storeMs.push(
        await timeOnce(async () => {
          await store();
          await writer.checkpoint();
        }),
      );
      await writer.close();
      const reader = await openCache({ path, flush: 'manual', handleExit: false });
      const restore = reader.memoize('bench.large', produce);
      let restored: unknown;
      restoreMs.push(await timeOnce(async () => (restored = await restore())));
      if (!(restored instanceof Float64Array) || restored.length !== array.length) throw new Error('large: restore returned something else');
      await reader.close();
      await rm(path, { recursive: true, force: true });
      return 0;
    };
    const file = async () => {
      const path = join(scratch, `large-${round++}.bin`);
      fileStoreMs.push(
        await timeOnce(async () => {
          const handle = await open(path, 'w');
          await handle.writeFile(bytes);
          await handle.sync();
          await handle.close();
        }),
      );
      let restored: Float64Array | undefined;
      fileRestoreMs.push(
        await timeOnce(async () => {
          const buffer = await readFile(path);
          restored = new Float64Array(buffer.buffer, buffer.byteOffset, buffer.byteLength / 8);
        }),
      );
      if (restored?.length !== array.length) throw new Error('large: file restore failed');
      await rm(path, { force: true });
      return 0;
    };
    await interleaved(
      [
        { name: 'memostrata', run: memostrata },
        { name: 'file', run: file },
      ],
      repetitions,
    );
    // The first round is the warm-up.
    const medianOf = (values: number[]) => median(values.slice(1));
    results.push(
      result({
        scenario: 'large',
        metric: 'store a 64 MB result (miss + checkpoint)',
        unit: 'MB/s',
        value: sizeMB / (medianOf(storeMs) / 1000),
        baselineName: 'fs writeFile + fsync',
        baseline: sizeMB / (medianOf(fileStoreMs) / 1000),
        better: 'higher',
      }),
      result({
        scenario: 'large',
        metric: 'restore a 64 MB result (new Cache, hit)',
        unit: 'MB/s',
        value: sizeMB / (medianOf(restoreMs) / 1000),
        baselineName: 'fs readFile',
        baseline: sizeMB / (medianOf(fileRestoreMs) / 1000),
        better: 'higher',
      }),
    );
    return {
      results,
      notes: [
        `large: digest = memostrata's 128-bit digest (two seeded xxhash64 passes) vs a single 64-bit h64Raw call of xxhash-wasm over the same bytes. Store/restore: new store each repetition, page cache warm for both. Median of ${repetitions}.`,
      ],
    };
  },
};
