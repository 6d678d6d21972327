/**
 * Child process of the scale-budget scenario: a LevelDB store of millions of
 * small results under `memoryBudget`, filled in one process and read in
 * others. Run with --expose-gc.
 *
 * Usage: scale-budget-worker.ts <mode> <store path> <entries> [<hits>]
 * - fill: fills a memostrata store (default LevelDB backend, memoryBudget
 *   {@link MEMORY_BUDGET}, checkpoint every {@link CHECKPOINT_EVERY} new
 *   entries) with `entries` calls of the scale workload, sampling memory at
 *   each checkpoint. Prints {@link FillOutput}.
 * - cold: opens that store in this new process (nothing in memory) and makes
 *   `hits` scattered calls, each a hit read from the store. Prints {@link ColdOutput}.
 * - open: opens and closes the store with no call. Prints { openMs }.
 * - raw-fill: the baseline store, as cold-restart's: one classic-level record
 *   per call, JSON.stringify(args) -> the result as CBOR (records off), in
 *   chained batches of {@link CHECKPOINT_EVERY}. Prints { fillMs }.
 * - raw-cold: opens the raw store and reads the same scattered calls with
 *   getSync + CBOR decode, as LevelBackend reads. Prints {@link ColdOutput}.
 */
import { readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { ClassicLevel } from 'classic-level';
import { decode, Encoder } from 'cbor-x';
import { openCache } from 'memostrata';
import { work, type Options, type SmallArgs } from '../scenarios/small-args.js';

/** The budget issue 15 names for 10M entries. */
const MEMORY_BUDGET = 256 * 2 ** 20;
/** New entries between checkpoints, as a long job would checkpoint (and the existing scale worker does). */
const CHECKPOINT_EVERY = 100_000;
/** Scattered order: the i-th hit reads call (i × STRIDE) mod entries, all distinct while hits < entries. */
const STRIDE = 7919;
const MODULE = 'bench.scale-budget';

/** A memory sample: RSS now, peak RSS so far (VmHWM), JS heap used, and entries the module holds in memory. */
export interface MemorySample {
  entries: number;
  rssMB: number;
  /** Of RSS: anonymous memory (heap, malloc) and pages of mapped files (LevelDB maps its table files to read them). */
  rssAnonMB: number;
  rssFileMB: number;
  peakRssMB: number;
  heapMB: number;
  /** The heap V8 has committed (used or not): what of the heap counts in RSS. */
  heapTotalMB: number;
  /** V8's external memory (ArrayBuffers, Buffers outside the heap). */
  externalMB: number;
  inMemory: number;
}

export interface FillOutput {
  fillMs: number;
  /** RSS of this process before the cache was opened (Node, tsx, memostrata loaded). */
  startRssMB: number;
  /** Peak RSS of the whole fill (VmHWM at its end). */
  peakRssMB: number;
  /** The largest heap used seen after a checkpoint and before the last one (no forced GC). */
  peakHeapMB: number;
  /** After the last checkpoint and two forced GCs. */
  after: MemorySample;
  /** Every tenth of the fill, after a checkpoint, no forced GC. */
  samples: MemorySample[];
}

export interface ColdOutput {
  openMs: number;
  hitMicros: number;
  peakRssMB: number;
  /** memostrata only: the close() after the hits (writes one hit counter per call hit). */
  closeMs?: number;
  /** memostrata only: memory after the hits (GC forced). */
  memory?: MemorySample;
}

const [mode, path, entriesText, hitsText] = process.argv.slice(2);
const entries = Number(entriesText);
const hits = Number(hitsText ?? 0);
const options: Options = { tol: 1e-8, maxIter: 50 };
const argsOf = (i: number): SmallArgs => [i + 0.25, 'sto-3g', options];
const scattered = (j: number): number => (j * STRIDE) % entries;
const MB = 2 ** 20;

/** A field of /proc/self/status in MB (Linux reports kB). */
function status(field: 'VmRSS' | 'VmHWM' | 'RssAnon' | 'RssFile'): number {
  const line = readFileSync('/proc/self/status', 'utf8')
    .split('\n')
    .find((text) => text.startsWith(`${field}:`));
  return Number(line?.split(/\s+/)[1] ?? NaN) / 1024;
}

function gc(): void {
  (globalThis as { gc?: () => void }).gc?.();
  (globalThis as { gc?: () => void }).gc?.();
}

function sample(done: number, inMemory: number): MemorySample {
  const usage = process.memoryUsage();
  return { entries: done, rssMB: status('VmRSS'), rssAnonMB: status('RssAnon'), rssFileMB: status('RssFile'), peakRssMB: status('VmHWM'), heapMB: usage.heapUsed / MB, heapTotalMB: usage.heapTotal / MB, externalMB: usage.external / MB, inMemory };
}

async function openStore() {
  return openCache({ path: path as string, flush: 'manual', memoryBudget: MEMORY_BUDGET, handleExit: false });
}

if (mode === 'fill') {
  gc();
  const startRssMB = status('VmRSS');
  const started = performance.now();
  const cache = await openStore();
  // No leases: this measures the store and the budget, not lease writes.
  const call = cache.memoize(MODULE, work, { lease: false });
  const inMemory = () => cache.stats().modules[MODULE]?.entries ?? 0;
  const samples: MemorySample[] = [];
  let peakHeapMB = 0;
  // No forced GC while filling: a job calls no gc(), and forced GCs keep the committed heap (and so RSS) lower than it runs.
  const sampleEvery = Math.max(CHECKPOINT_EVERY, Math.round(entries / 10 / CHECKPOINT_EVERY) * CHECKPOINT_EVERY);
  for (let i = 0; i < entries; i++) {
    await call(...argsOf(i));
    if ((i + 1) % CHECKPOINT_EVERY === 0) {
      await cache.checkpoint();
      const now = sample(i + 1, inMemory());
      peakHeapMB = Math.max(peakHeapMB, now.heapMB);
      if ((i + 1) % sampleEvery === 0) {
        samples.push(now);
        process.stderr.write(`fill ${i + 1}: ${JSON.stringify(now)} ${((performance.now() - started) / 1000).toFixed(0)} s\n`);
      }
    }
  }
  peakHeapMB = Math.max(peakHeapMB, process.memoryUsage().heapUsed / MB);
  await cache.checkpoint();
  const fillMs = performance.now() - started;
  const peakRssMB = status('VmHWM');
  gc();
  const after = sample(entries, inMemory());
  await cache.close();
  console.log(JSON.stringify({ fillMs, startRssMB, peakRssMB, peakHeapMB, after, samples } satisfies FillOutput));
} else if (mode === 'cold' || mode === 'open') {
  const opened = performance.now();
  const cache = await openStore();
  const openMs = performance.now() - opened;
  if (mode === 'open') {
    await cache.close();
    console.log(JSON.stringify({ openMs }));
  } else {
    const call = cache.memoize(MODULE, work, { lease: false });
    const started = performance.now();
    for (let j = 0; j < hits; j++) await call(...argsOf(scattered(j)));
    const hitMicros = ((performance.now() - started) * 1000) / hits;
    const stats = cache.stats().modules[MODULE];
    if (stats?.misses !== 0 || stats.hits !== hits) throw new Error(`expected ${hits} hits from the store, got ${stats?.hits} hits and ${stats?.misses} misses`);
    const peakRssMB = status('VmHWM');
    gc();
    const memory = sample(hits, stats.entries);
    const closing = performance.now();
    await cache.close();
    console.log(JSON.stringify({ openMs, hitMicros, peakRssMB, closeMs: performance.now() - closing, memory } satisfies ColdOutput));
  }
} else if (mode === 'raw-fill' || mode === 'raw-cold') {
  const text = new TextEncoder();
  const keyOf = (i: number) => text.encode(JSON.stringify(argsOf(i)));
  const opened = performance.now();
  const db = new ClassicLevel<Uint8Array, Uint8Array>(path as string, { keyEncoding: 'view', valueEncoding: 'view' });
  await db.open();
  const openMs = performance.now() - opened;
  if (mode === 'raw-fill') {
    const cbor = new Encoder({ useRecords: false });
    for (let start = 0; start < entries; start += CHECKPOINT_EVERY) {
      const batch = db.batch();
      for (let i = start; i < Math.min(entries, start + CHECKPOINT_EVERY); i++) batch.put(keyOf(i), cbor.encode(work(...argsOf(i))));
      await batch.write({ sync: true });
    }
    await db.close();
    console.log(JSON.stringify({ fillMs: performance.now() - opened }));
  } else {
    let found = 0;
    const started = performance.now();
    for (let j = 0; j < hits; j++) {
      const bytes = db.getSync(keyOf(scattered(j)));
      if (bytes !== undefined && decode(bytes) !== undefined) found += 1;
    }
    const hitMicros = ((performance.now() - started) * 1000) / hits;
    await db.close();
    if (found !== hits) throw new Error(`raw store: ${hits - found} of ${hits} records missing`);
    console.log(JSON.stringify({ openMs, hitMicros, peakRssMB: status('VmHWM') } satisfies ColdOutput));
  }
} else {
  throw new Error('usage: scale-budget-worker.ts fill|cold|open|raw-fill|raw-cold <store path> <entries> [<hits>]');
}
