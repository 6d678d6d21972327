/**
 * Child process of the scale scenario: fills a cache with `entries` small
 * results, then measures hit cost over all of them and the memory they hold.
 * Run with --expose-gc.
 *
 * Usage: scale-worker.ts memostrata|memostrata-lmdb|map <entries> <hits per repetition> <repetitions> <store path>
 * Prints { hitMicros, rssMB, heapMB, closeError? } as JSON (memory: growth over the empty cache;
 * closeError: the message of a close() that failed after the figures were taken, so that the run reports it).
 */
import { openCache } from 'memostrata';
import { median, microsPerCall } from '../lib/timing.js';
import { work, type Options } from '../scenarios/small-args.js';

const [kind, entriesText, hitsText, repetitionsText, path] = process.argv.slice(2);
const entries = Number(entriesText);
const hits = Number(hitsText);
const repetitions = Number(repetitionsText);
const options: Options = { tol: 1e-8, maxIter: 50 };
/**
 * Budget on (so eviction bookkeeping runs on every hit), large enough to hold every entry: 1M entries count
 * about 758 MB against it (their ~58-byte results plus ENTRY_BYTES, 700, each), so 512 MiB no longer holds them.
 */
const MEMORY_BUDGET = 1024 * 2 ** 20;
/** Hits visit the entries in a scattered order, not the insertion order. */
const STRIDE = 7919;

function memory(): { rss: number; heap: number } {
  (globalThis as { gc?: () => void }).gc?.();
  (globalThis as { gc?: () => void }).gc?.();
  const usage = process.memoryUsage();
  return { rss: usage.rss, heap: usage.heapUsed };
}

let call: (x: number, basis: string, options: Options) => Promise<unknown>;
let checkpoint = async (): Promise<void> => {};
let finish = async (): Promise<void> => {};
if (kind === 'memostrata' || kind === 'memostrata-lmdb') {
  const location = kind === 'memostrata' ? { path: path as string } : { backend: { type: 'lmdb' as const, path: path as string } };
  const cache = await openCache({ ...location, flush: 'manual', memoryBudget: MEMORY_BUDGET, handleExit: false });
  // No leases: on LMDB each leased miss would be a durable write of its own, which is not what this measures.
  call = cache.memoize('bench.scale', work, { lease: false });
  checkpoint = () => cache.checkpoint();
  finish = () => cache.close();
  await call(-1, 'warm', options);
} else {
  const map = new Map<string, Promise<unknown>>();
  call = (...args) => {
    const key = JSON.stringify(args);
    let hit = map.get(key);
    if (hit === undefined) {
      hit = Promise.resolve(work(...args));
      map.set(key, hit);
    }
    return hit;
  };
}

const before = memory();
for (let i = 0; i < entries; i++) {
  await call(i + 0.25, 'sto-3g', options);
  // Checkpoint as a long job would, so entries are clean (evictable) and batches stay moderate.
  if ((i + 1) % 100_000 === 0) await checkpoint();
}
await checkpoint();
const after = memory();

const figures: number[] = [];
for (let round = 0; round <= repetitions; round++) {
  const micros = await microsPerCall(hits, (i) => call(((i * STRIDE) % entries) + 0.25, 'sto-3g', options));
  if (round > 0) figures.push(micros);
}
// close() writes a hit counter per call hit since the last checkpoint (up to one per entry here).
let closeError: string | undefined;
try {
  await finish();
} catch (error) {
  closeError = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
}
console.log(JSON.stringify({ hitMicros: median(figures), rssMB: (after.rss - before.rss) / 2 ** 20, heapMB: (after.heap - before.heap) / 2 ** 20, closeError }));

