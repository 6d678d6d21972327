/*
 * Child process for the lease review of byte layers. argv: <backend JSON> <layers JSON> <count file> <seed>.
 * Calls work(0..59) in an order shuffled by seed through a cache with those layers, appending a line to the
 * count file for every computation (O_APPEND: whole lines from every process), checks every result, prints
 * `done <hits> <misses>`, closes.
 */
import { appendFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { openCache, type BackendConfig, type CacheOptions } from '../../src/index.js';
import { seededRandom, shuffledRange } from '../helpers/seeded-random.js';

const [backendJson, layersJson, countFile, seed] = process.argv.slice(2);
const cache = await openCache({ backend: JSON.parse(backendJson!) as BackendConfig, layers: JSON.parse(layersJson!) as CacheOptions['layers'], flush: 'manual', handleExit: false });
const work = cache.memoize('lease.work', async (x: number) => {
  appendFileSync(countFile!, `${x}\n`);
  await sleep(2 + (x % 4));
  return { x, square: x * x };
});
const order = shuffledRange(60, seededRandom(Number(seed)));
for (const x of order) {
  const result = await work(x);
  if (result.x !== x || result.square !== x * x) throw new Error(`work(${x}) returned ${JSON.stringify(result)}`);
}
const stats = cache.stats().modules['lease.work']!;
process.stdout.write(`done ${stats.hits} ${stats.misses}\n`);
await cache.close();
