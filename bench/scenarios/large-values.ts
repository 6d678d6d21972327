/**
 * Large values (issue 11): storing and restoring 64 MB and 1 GB Float64Array
 * results against plain file I/O of the same bytes, the peak RSS each raises,
 * and reading 1 MB from the middle of a stored array through `f.stored()`
 * against a positioned read of a plain file.
 *
 * Every measurement runs in a child process of its own (this file, run with
 * arguments), so that one case's memory and garbage do not weigh on the next
 * and peak RSS is the case's own: the child resets its high-water mark
 * (`/proc/self/clear_refs`) just before the timed work and reports VmHWM
 * minus the RSS it had then.
 */
import { open, readFile, rm } from 'node:fs/promises';
import { readFileSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { openCache } from 'memostrata';
import { runProcess } from '../lib/child.js';
import { result, type BenchResult, type Scenario } from '../lib/results.js';
import { median } from '../lib/timing.js';

const MB = 2 ** 20;
/** Bytes read in part from the middle of a stored array. */
const PART_BYTES = MB;
/** Positioned reads per partial-read child; the figure is their median. */
const PART_READS = 25;

/** What one child measured. */
interface Measured {
  /** The timed work (for `part`: the median of the reads). */
  ms: number;
  /** VmHWM after the work minus VmRSS just before it (the high-water mark was reset then). */
  peakRaiseMB: number;
  /** The 1-minute load average when the child ended. */
  load: number;
}

type Case = 'store' | 'restore' | 'part';
type Contender = 'memostrata' | 'file';

const self = fileURLToPath(import.meta.url);

/** A Float64Array of `sizeMB` MB of varied values, cheap to make (a result, not zeros). */
function makeArray(sizeMB: number): Float64Array {
  const array = new Float64Array((sizeMB * MB) / 8);
  for (let index = 0; index < array.length; index++) array[index] = index * 0.5 + (index % 7);
  return array;
}

function procStatusKB(field: 'VmRSS' | 'VmHWM'): number {
  const match = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(readFileSync('/proc/self/status', 'utf8'));
  if (match === null) throw new Error(`large-values: no ${field} in /proc/self/status`);
  return Number(match[1]);
}

/** Resets the peak RSS to the current RSS (Linux: `5` in clear_refs) and returns the current RSS in kB. */
function resetPeak(): number {
  writeFileSync('/proc/self/clear_refs', '5');
  return procStatusKB('VmRSS');
}

/** The element offsets of the 1 MB parts read: around the middle of the array, up to 3 MB apart, none at a block boundary. */
function partStarts(sizeMB: number): number[] {
  const elements = (sizeMB * MB) / 8;
  const step = Math.min(3 * (PART_BYTES / 8), Math.floor(elements / (2 * PART_READS)));
  return Array.from({ length: PART_READS }, (_, index) => Math.floor(elements / 2) + (index - Math.floor(PART_READS / 2)) * step + 4097);
}

/** The child: one case of one contender, printing a {@link Measured} as JSON. */
async function child(kind: Case, contender: Contender, location: string, sizeMB: number): Promise<Measured> {
  const produce = (): Float64Array => makeArray(sizeMB);
  if (kind === 'store') {
    const array = makeArray(sizeMB);
    const bytes = new Uint8Array(array.buffer, array.byteOffset, array.byteLength);
    if (contender === 'memostrata') {
      const cache = await openCache({ path: location, flush: 'manual', handleExit: false });
      const f = cache.memoize('bench.largeValues', () => array);
      const before = resetPeak();
      const started = performance.now();
      await f();
      await cache.checkpoint();
      const ms = performance.now() - started;
      const peak = procStatusKB('VmHWM');
      await cache.close();
      return { ms, peakRaiseMB: (peak - before) / 1024, load: loadavg()[0]! };
    }
    const before = resetPeak();
    const started = performance.now();
    const handle = await open(location, 'w');
    await handle.writeFile(bytes);
    await handle.sync();
    await handle.close();
    return { ms: performance.now() - started, peakRaiseMB: (procStatusKB('VmHWM') - before) / 1024, load: loadavg()[0]! };
  }
  if (kind === 'restore') {
    let restored: Float64Array | undefined;
    let ms: number;
    let before: number;
    if (contender === 'memostrata') {
      const cache = await openCache({ path: location, flush: 'manual', handleExit: false });
      const f = cache.memoize('bench.largeValues', produce);
      before = resetPeak();
      const started = performance.now();
      restored = await f();
      ms = performance.now() - started;
      if ((cache.stats().modules['bench.largeValues']?.misses ?? 0) !== 0) throw new Error('large-values: the restore computed instead of reading');
      await cache.close();
    } else {
      before = resetPeak();
      const started = performance.now();
      const buffer = await readFile(location);
      restored = new Float64Array(buffer.buffer, buffer.byteOffset, buffer.byteLength / 8);
      ms = performance.now() - started;
    }
    const peak = procStatusKB('VmHWM');
    const middle = Math.floor(restored.length / 2);
    if (restored.length !== (sizeMB * MB) / 8 || restored[middle] !== middle * 0.5 + (middle % 7)) throw new Error('large-values: restored the wrong array');
    return { ms, peakRaiseMB: (peak - before) / 1024, load: loadavg()[0]! };
  }
  // part: 1 MB from the middle, PART_READS times at nearby offsets; the median read.
  const times: number[] = [];
  const starts = partStarts(sizeMB);
  const partElements = PART_BYTES / 8;
  const check = (part: Float64Array, start: number): void => {
    if (part.length !== partElements || part[0] !== start * 0.5 + (start % 7)) throw new Error('large-values: read the wrong part');
  };
  let before: number;
  if (contender === 'memostrata') {
    const cache = await openCache({ path: location, flush: 'manual', handleExit: false });
    const f = cache.memoize('bench.largeValues', produce);
    before = resetPeak();
    for (const start of starts) {
      const started = performance.now();
      const stored = await f.stored();
      const part = (await stored!.arrays[0]!.read(start, start + partElements)) as Float64Array;
      times.push(performance.now() - started);
      check(part, start);
    }
    await cache.close();
  } else {
    before = resetPeak();
    for (const start of starts) {
      const started = performance.now();
      const handle = await open(location, 'r');
      const part = new Float64Array(partElements);
      await handle.read(new Uint8Array(part.buffer), 0, PART_BYTES, start * 8);
      await handle.close();
      times.push(performance.now() - started);
      check(part, start);
    }
  }
  return { ms: median(times), peakRaiseMB: (procStatusKB('VmHWM') - before) / 1024, load: loadavg()[0]! };
}

async function measure(kind: Case, contender: Contender, location: string, sizeMB: number): Promise<Measured> {
  const { stdout } = await runProcess(process.execPath, ['--import', 'tsx', self, kind, contender, location, String(sizeMB)]);
  return JSON.parse(stdout.trim().split('\n').at(-1)!) as Measured;
}

const fmt = (value: number, digits = 2): string => value.toFixed(digits);

export const largeValues: Scenario = {
  name: 'large-values',
  title: 'Large values as blobs: store/restore of 64 MB and 1 GB Float64Array results vs plain file I/O, peak RSS, and reading 1 MB in part',
  async run({ quick, scratch, log }) {
    const sizes = quick ? [64] : [64, 1024];
    const partSize = sizes.at(-1)!;
    const results: BenchResult[] = [];
    const notes: string[] = [];
    for (const sizeMB of sizes) {
      const repetitions = sizeMB >= 1024 ? 3 : quick ? 3 : 5;
      const got: Record<`${Case} ${Contender}`, Measured[]> = { 'store memostrata': [], 'store file': [], 'restore memostrata': [], 'restore file': [], 'part memostrata': [], 'part file': [] };
      for (let round = 0; round < repetitions; round++) {
        const store = join(scratch, `large-values-${sizeMB}-${round}`);
        const file = join(scratch, `large-values-${sizeMB}-${round}.bin`);
        // Alternate who goes first, so that neither always meets the other's dirty pages being written back.
        const order: [Contender, string][] = round % 2 === 0 ? [['memostrata', store], ['file', file]] : [['file', file], ['memostrata', store]];
        for (const [contender, location] of order) got[`store ${contender}`].push(await measure('store', contender, location, sizeMB));
        for (const [contender, location] of order) got[`restore ${contender}`].push(await measure('restore', contender, location, sizeMB));
        if (sizeMB === partSize && round === repetitions - 1) {
          // The stored array is the blob's only segment: read it in part through f.stored(), and the same range of the plain file.
          for (const [contender, location] of order) got[`part ${contender}`].push(await measure('part', contender, location, sizeMB));
        }
        await rm(store, { recursive: true, force: true });
        await rm(file, { force: true });
        log(`${sizeMB} MB round ${round + 1}/${repetitions}: store ${fmt(got['store memostrata'].at(-1)!.ms, 0)} vs ${fmt(got['store file'].at(-1)!.ms, 0)} ms, restore ${fmt(got['restore memostrata'].at(-1)!.ms, 0)} vs ${fmt(got['restore file'].at(-1)!.ms, 0)} ms, load ${fmt(loadavg()[0]!, 1)}`);
      }
      const ms = (key: `${Case} ${Contender}`): number => median(got[key].map((measured) => measured.ms));
      const peak = (key: `${Case} ${Contender}`): number => Math.max(...got[key].map((measured) => measured.peakRaiseMB));
      const loads = (...keys: `${Case} ${Contender}`[]): string => {
        const all = keys.flatMap((key) => got[key].map((measured) => measured.load));
        return `load ${fmt(Math.min(...all), 1)}–${fmt(Math.max(...all), 1)}`;
      };
      const label = sizeMB >= 1024 ? `${sizeMB / 1024} GB` : `${sizeMB} MB`;
      results.push(
        result({
          scenario: 'large-values',
          metric: `store a ${label} result (miss + checkpoint)`,
          unit: 'MB/s',
          value: sizeMB / (ms('store memostrata') / 1000),
          baselineName: 'fs writeFile + fsync',
          baseline: sizeMB / (ms('store file') / 1000),
          better: 'higher',
          target: '≥ 0.8×',
          targetRatio: 0.8,
          note: loads('store memostrata', 'store file'),
        }),
        result({
          scenario: 'large-values',
          metric: `restore a ${label} result (new Cache, hit)`,
          unit: 'MB/s',
          value: sizeMB / (ms('restore memostrata') / 1000),
          baselineName: 'fs readFile',
          baseline: sizeMB / (ms('restore file') / 1000),
          better: 'higher',
          target: '≥ 0.8×',
          targetRatio: 0.8,
          note: loads('restore memostrata', 'restore file'),
        }),
        result({
          scenario: 'large-values',
          metric: `peak RSS raised while storing a ${label} result`,
          unit: 'MB',
          value: peak('store memostrata'),
          baselineName: 'the array’s own size',
          baseline: sizeMB,
          better: 'lower',
          target: '≤ 1.25×',
          targetRatio: 1.25,
          note: `fs writeFile + fsync raised it ${fmt(peak('store file'), 0)} MB`,
        }),
        result({
          scenario: 'large-values',
          metric: `peak RSS raised while restoring a ${label} result`,
          unit: 'MB',
          value: peak('restore memostrata'),
          baselineName: 'the array’s own size',
          baseline: sizeMB,
          better: 'lower',
          target: '≤ 1.25×',
          targetRatio: 1.25,
          note: `fs readFile raised it ${fmt(peak('restore file'), 0)} MB`,
        }),
      );
      if (got['part memostrata'].length > 0) {
        results.push(
          result({
            scenario: 'large-values',
            metric: `read 1 MB from the middle of a stored ${label} array (f.stored() + arrays[0].read)`,
            unit: 'ms',
            value: ms('part memostrata'),
            baselineName: 'fs open + positioned read + close of the same range',
            baseline: ms('part file'),
            better: 'lower',
            note: `${loads('part memostrata', 'part file')}; peak RSS raised ${fmt(peak('part memostrata'), 0)} MB (fs ${fmt(peak('part file'), 0)} MB)`,
          }),
        );
      }
      notes.push(
        `large-values ${label}: median of ${repetitions} (no warm-up round), each case in a child process of its own; restore right after store, page cache warm for both; ` +
          `memostrata's store includes the result's content digest, the blob's block checksums (xxh64) and two checks that the result was not changed (before and after its bytes are written: half a digest each), its restore the record and every block's checksum.`,
      );
    }
    notes.push(`large-values part: median of ${PART_READS} reads of 1 MB at offsets a few MB apart around the middle, each a f.stored() (record lookup and blob header read) plus read(), vs open + read + close.`);
    return { results, notes };
  },
};

if (process.argv[1] === self) {
  const [kind, contender, location, sizeMB] = process.argv.slice(2);
  console.log(JSON.stringify(await child(kind as Case, contender as Contender, location!, Number(sizeMB))));
}
