/*
 * How the module page scales: fills a LevelDB store with one module of N
 * entries (default 1,000,000), then times the entry index's build and a few
 * page requests through the inspector's API. A measurement, not a test:
 *
 *   npx tsx test/inspector/measure-entry-index.ts [entries] [store path]
 */
import { existsSync } from 'node:fs';
import { openCache } from '../../src/index.js';
import { openCliStore } from '../../src/cli/open-store.js';
import { startInspector } from '../../src/inspector/server.js';

const entries = Number(process.argv[2] ?? 1_000_000);
const path = process.argv[3] ?? `/tmp/memostrata-inspector-${entries}`;

if (!existsSync(path)) {
  const started = performance.now();
  const cache = await openCache({ path, handleExit: false, flush: 'manual' });
  const square = cache.memoize('square', (x: number) => x * x, { version: '1' });
  for (let x = 0; x < entries; x += 1) {
    await square(x);
    if (x % 50_000 === 49_999) await cache.checkpoint();
  }
  await cache.close();
  console.log(`filled ${entries.toLocaleString('en-US')} entries in ${((performance.now() - started) / 1000).toFixed(1)} s`);
}

const store = await openCliStore({ type: 'level', path }, 'existing');
const inspector = await startInspector(store);
const get = async (target: string): Promise<{ ms: number; body: { matched?: number; entries?: unknown[] } }> => {
  const started = performance.now();
  const response = await fetch(`${inspector.origin}${target}`, { headers: { 'x-memostrata-token': inspector.token } });
  const body = (await response.json()) as { matched?: number; entries?: unknown[] };
  if (!response.ok) throw new Error(JSON.stringify(body));
  return { ms: performance.now() - started, body };
};
// The first request reads the key range; the index builds meanwhile, and the third waits for it.
for (const target of [
  '/api/modules/square/entries?limit=50',
  '/api/modules/square/entries?limit=50&offset=5000',
  '/api/modules/square/entries?limit=50&sort=hits&order=desc',
  '/api/modules/square/entries?limit=50',
  '/api/modules/square/entries?limit=50&offset=500000',
  '/api/modules/square/entries?limit=50&sort=created&order=desc',
  '/api/modules/square/entries?limit=50&sort=created&order=desc&offset=900000',
  '/api/modules/square/entries?limit=50&sort=compute',
  '/api/modules/square/entries?limit=50&call=abc',
  '/api/modules/square/entries?limit=50&sort=size&status=ok&call=7',
  '/api/modules/square/entries?limit=500&offset=999000',
  '/api/modules/square/entries?limit=50&refresh=1',
  '/api/overview',
]) {
  const { ms, body } = await get(target);
  console.log(`${ms.toFixed(0).padStart(6)} ms  ${target}  (matched ${body.matched?.toLocaleString('en-US')}, rows ${body.entries?.length})`);
}
console.log(`resident memory of this process at the end: ${(process.memoryUsage().rss / 2 ** 20).toFixed(0)} MiB`);
await inspector.close();
await store.proxy.close();
