import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { afterAll, describe, expect, it } from 'vitest';
import { openCache } from '../../src/index.js';
import { removeScratch, runCli, runJson, scratchDir } from './cli-helpers.js';

afterAll(removeScratch);

/**
 * A store of two modules: `slow.small` (2 calls of ~3 ms returning a
 * number), then `quick.large` (4 cheap calls of ~10 kB). Returns its path and
 * when its calls were stored.
 */
async function makeStore(): Promise<{ store: string; storedAt: number }> {
  const store = join(scratchDir(), 'store');
  const cache = await openCache({ path: store, handleExit: false, flush: 'manual' });
  const quick = cache.memoize('quick.large', (i: number) => 'q'.repeat(10_000) + i);
  const slow = cache.memoize('slow.small', (i: number) => {
    const until = performance.now() + 3;
    while (performance.now() < until);
    return i;
  });
  // The expensive calls first: least recently used, they are what an LRU policy would remove first.
  for (let i = 0; i < 2; i++) await slow(i);
  await new Promise((resolve) => setTimeout(resolve, 5));
  for (let i = 0; i < 4; i++) await quick(i);
  await cache.close();
  return { store, storedAt: Date.now() };
}

describe('memostrata ls filters', () => {
  it('--min-compute, --since, --before and --sort select and order the calls', async () => {
    const { store } = await makeStore();
    const slow = await runJson(['ls', '--min-compute', '2ms', '--store', store]);
    expect(slow.json.total).toBe(2);
    expect(slow.json.entries.every((entry: { module: string }) => entry.module === 'slow.small')).toBe(true);
    expect((await runJson(['ls', '--since', '1h', '--store', store])).json.total).toBe(6);
    expect((await runJson(['ls', '--before', '1h', '--store', store])).json.total).toBe(0);
    expect((await runJson(['ls', '--since', '2000-01-01', '--store', store])).json.total).toBe(6);
    const sorted = await runJson(['ls', '--sort', 'compute', '--limit', '2', '--store', store]);
    expect(sorted.json.entries.map((entry: { module: string }) => entry.module)).toEqual(['slow.small', 'slow.small']);
    const bad = await runCli(['ls', '--since', 'someday', '--store', store]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('--since takes a date');
  });
});

describe('memostrata prune --expired and --policy', () => {
  it('--expired --max-age removes the calls stored longer ago, --dry-run first', async () => {
    const { store, storedAt } = await makeStore();
    while (Date.now() - storedAt <= 20) await new Promise((resolve) => setTimeout(resolve, 20));
    const dry = await runJson(['prune', '--expired', '--max-age', '20ms', '--dry-run', '--store', store]);
    expect(dry.json).toMatchObject({ dryRun: true, records: 6 });
    expect((await runJson(['ls', '--store', store])).json.total).toBe(6);
    const kept = await runJson(['prune', '--expired', '--max-age', '1h', '--store', store]);
    expect(kept.json.records).toBe(0);
    const removed = await runJson(['prune', '--expired', '--max-age', '20ms', '--store', store]);
    expect(removed.json.records).toBe(6);
    expect((await runJson(['ls', '--store', store])).json.total).toBe(0);
  });

  it('--expired takes the maxAge of the configuration, and asks for one when there is none', async () => {
    const { store, storedAt } = await makeStore();
    while (Date.now() - storedAt <= 20) await new Promise((resolve) => setTimeout(resolve, 20));
    const config = join(scratchDir(), 'config.json');
    writeFileSync(config, JSON.stringify({ path: store, maxAge: 20 }));
    expect((await runJson(['prune', '--expired', '--dry-run', '--config', config])).json.records).toBe(6);
    const none = await runCli(['prune', '--expired', '--store', store]);
    expect(none.code).toBe(2);
    expect(none.stderr).toContain('--expired needs a maxAge');
  });

  it('--max-size --policy cost removes the cheap large calls and keeps the expensive small ones', async () => {
    const { store } = await makeStore();
    const cost = await runJson(['prune', '--max-size', '25KB', '--policy', 'cost', '--store', store]);
    expect(cost.json.byModule).toEqual({ 'quick.large': 2 });
    const left = await runJson(['ls', '--store', store]);
    expect(left.json.entries.filter((entry: { module: string }) => entry.module === 'slow.small')).toHaveLength(2);
  });
});
