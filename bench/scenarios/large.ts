import { open, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { open as openLmdb } from 'lmdb';
import { loadDigester, openCache, type CacheOptions } from 'memostrata';
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
  title: 'Large values: digest and store/restore of a 64 MB Float64Array (LevelDB and LMDB)',
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
    type Times = { store: number[]; restore: number[] };
    const times: Record<'level' | 'lmdb' | 'file' | 'rawLmdb', Times> = {
      level: { store: [], restore: [] },
      lmdb: { store: [], restore: [] },
      file: { store: [], restore: [] },
      rawLmdb: { store: [], restore: [] },
    };
    const memostrata = (backend: 'level' | 'lmdb') => async () => {
      const path = join(scratch, `large-${round++}`);
      const location: CacheOptions = backend === 'level' ? { path } : { backend: { type: 'lmdb', path } };
      const { store: storeMs, restore: restoreMs } = times[backend];
      const produce = () => array;
      const writer = await openCache({ ...location, flush: 'manual', handleExit: false });
      const store = writer.memoize('bench.large', produce);
      storeMs.push(
        await timeOnce(async () => {
          await store();
          await writer.checkpoint();
        }),
      );
      await writer.close();
      const reader = await openCache({ ...location, flush: 'manual', handleExit: false });
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
      const { store: fileStoreMs, restore: fileRestoreMs } = times.file;
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
    /** LMDB's own baseline: one lmdb-js put of the bytes, flushed, in a store opened as LmdbBackend opens it; then getBinary in a new handle. */
    const rawLmdb = async () => {
      const path = join(scratch, `large-${round++}-lmdb`);
      const options = { path, keyEncoding: 'binary' as const, encoding: 'binary' as const, overlappingSync: false };
      const key = Buffer.from('v!large');
      const writer = openLmdb<Buffer, Buffer>(options);
      times.rawLmdb.store.push(
        await timeOnce(async () => {
          await writer.put(key, Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));
          await writer.flushed;
        }),
      );
      await writer.close();
      const reader = openLmdb<Buffer, Buffer>(options);
      let restored: Float64Array | undefined;
      times.rawLmdb.restore.push(
        await timeOnce(() => {
          const buffer = reader.getBinary(key);
          // getBinary copies out of the map; a Float64Array over the copy needs 8-byte alignment, which a Buffer may lack.
          if (buffer !== undefined) restored = new Float64Array(new Uint8Array(buffer).buffer);
        }),
      );
      if (restored?.length !== array.length) throw new Error('large: raw LMDB restore failed');
      await reader.close();
      await rm(path, { recursive: true, force: true });
      return 0;
    };
    await interleaved(
      [
        { name: 'memostrata', run: memostrata('level') },
        { name: 'file', run: file },
        { name: 'memostrata-lmdb', run: memostrata('lmdb') },
        { name: 'raw-lmdb', run: rawLmdb },
      ],
      repetitions,
    );
    // The first round is the warm-up.
    const medianOf = (values: number[]) => median(values.slice(1));
    const rate = (values: number[]) => sizeMB / (medianOf(values) / 1000);
    const [storeMs, restoreMs, fileStoreMs, fileRestoreMs] = [times.level.store, times.level.restore, times.file.store, times.file.restore];
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
      result({ scenario: 'large', metric: 'LMDB: store a 64 MB result (miss + checkpoint)', unit: 'MB/s', value: rate(times.lmdb.store), baselineName: 'one lmdb-js put, flushed', baseline: rate(times.rawLmdb.store), better: 'higher' }),
      result({ scenario: 'large', metric: 'LMDB: restore a 64 MB result (new Cache, hit)', unit: 'MB/s', value: rate(times.lmdb.restore), baselineName: 'lmdb-js getBinary', baseline: rate(times.rawLmdb.restore), better: 'higher' }),
      result({ scenario: 'large', metric: 'LMDB vs LevelDB: store a 64 MB result', unit: 'MB/s', value: rate(times.lmdb.store), baselineName: 'memostrata on LevelDB', baseline: rate(storeMs), better: 'higher' }),
      result({ scenario: 'large', metric: 'LMDB vs LevelDB: restore a 64 MB result', unit: 'MB/s', value: rate(times.lmdb.restore), baselineName: 'memostrata on LevelDB', baseline: rate(restoreMs), better: 'higher' }),
    );
    return {
      results,
      notes: [
        `large: digest = memostrata's 128-bit digest (two seeded xxhash64 passes) vs a single 64-bit h64Raw call of xxhash-wasm over the same bytes. Store/restore: new store each repetition, page cache warm for both. Median of ${repetitions}.`,
        `large, LMDB: the raw baseline puts the same 64 MB under one key (opened as LmdbBackend opens, so each commit syncs), flushed, then reads it with getBinary from a new handle; fs ${rate(times.file.store).toFixed(0)} / ${rate(times.file.restore).toFixed(0)} MB/s in the same run.`,
      ],
    };
  },
};
