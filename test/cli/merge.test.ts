import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { BackendConfig } from '../../src/cache/config.js';
import { removeScratch, runCli, runJson, scratchDir } from './cli-helpers.js';
import { embeddedConfig } from '../../src/maintenance/store-kind.js';
import { contents, damageAValue, fillShard, withLayers } from './store-fixtures.js';

afterEach(removeScratch);

interface Shards {
  a: string;
  b: string;
  c: string;
}

/**
 * Three shards of one job, as three ranks would leave them: two LMDB stores
 * and one LevelDB store. x = 3, 4 are in a and b, x = 6, 7 in b and c (the
 * same results); x = 3 is hit once in a and twice in b.
 */
async function shards(): Promise<Shards> {
  const dir = scratchDir();
  const found = { a: join(dir, 'rank-0'), b: join(dir, 'rank-1'), c: join(dir, 'rank-2') };
  await fillShard({ type: 'lmdb', path: found.a }, [0, 1, 2, 3, 4], { 3: 1 });
  await fillShard({ type: 'lmdb', path: found.b }, [3, 4, 5, 6, 7], { 3: 2, 7: 1 });
  await fillShard({ type: 'level', path: found.c }, [6, 7, 8, 9], { 7: 4 });
  return found;
}

/** Hits per call of `square` in a LevelDB or LMDB store, by x: the counters of every writer summed. */
function hitsByX(path: string): Promise<Map<number, number>> {
  return withLayers(embeddedConfig(path), async (store) => {
    const hits = new Map<number, number>();
    for await (const record of store.proxy.records('square')) {
      const { result } = await store.proxy.unproxy(record);
      hits.set((result as { x: number }).x, record.hits);
    }
    return hits;
  });
}

describe('memostrata merge', () => {
  it('merges two LMDB shards and a LevelDB shard into a new store: each call once, the hits added up', async () => {
    const { a, b, c } = await shards();
    const target = join(scratchDir(), 'merged');
    const merged = await runJson(['merge', a, b, c, '--into', target]);
    expect(merged.code).toBe(0);
    // square: 10 distinct calls of 14; label: one call, the same in all three.
    expect(merged.json.records).toEqual({ added: 11, skipped: 6 });
    expect(merged.json.conflicts).toEqual([]);
    expect(merged.json.sources.map((source: { location: string }) => source.location)).toEqual([a, b, c]);
    expect(readdirSync(target)).toContain('CURRENT');
    expect((await runCli(['verify', '--store', target])).code).toBe(0);
    const hits = await hitsByX(target);
    expect([...hits.keys()].sort((x, y) => x - y)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(hits.get(3)).toBe(3);
    expect(hits.get(7)).toBe(5);
    expect(hits.get(0)).toBe(0);
    const info = await runJson(['info', target]);
    expect(info.json.modules.map((module: { name: string; entries: number }) => [module.name, module.entries])).toEqual([
      ['label', 1],
      ['square', 10],
    ]);
  });

  it('adds up the hits of LevelDB shards, whose one writer has the same id in each', async () => {
    const dir = scratchDir();
    const [first, second] = [join(dir, 'first'), join(dir, 'second')];
    await fillShard({ type: 'level', path: first }, [1], { 1: 1 });
    await fillShard({ type: 'level', path: second }, [1], { 1: 2 });
    const target = join(scratchDir(), 'merged');
    expect((await runCli(['merge', first, second, '--into', target])).code).toBe(0);
    expect((await hitsByX(target)).get(1)).toBe(3);
  });

  it('changes nothing when run again, into LevelDB or LMDB', async () => {
    const { a, b, c } = await shards();
    for (const type of ['level', 'lmdb'] as const) {
      const target = join(scratchDir(), `merged-${type}`);
      expect((await runCli(['merge', a, b, c, '--into', target, '--into-type', type])).code).toBe(0);
      const backend: BackendConfig = { type, path: target };
      const before = await contents(backend);
      const again = await runJson(['merge', a, b, c, '--into', target]);
      expect(again.json).toMatchObject({ values: { added: 0 }, records: { added: 0 }, counters: { added: 0, updated: 0 } });
      expect(await contents(backend)).toEqual(before);
      expect(readdirSync(target)).toContain(type === 'lmdb' ? 'data.mdb' : 'CURRENT');
    }
  });

  it('takes the hits a shard served since the last merge, without counting the earlier ones twice', async () => {
    const { a, b } = await shards();
    const target = join(scratchDir(), 'merged');
    await runCli(['merge', a, b, '--into', target]);
    await fillShard({ type: 'lmdb', path: a }, [], { 3: 2 });
    const again = await runJson(['merge', a, b, '--into', target]);
    // Two new writers' counters: the second run hit square(3) twice and label('shard') once.
    expect(again.json.counters.added).toBe(2);
    expect((await hitsByX(target)).get(3)).toBe(5);
  });

  it('refuses a damaged source before writing anything, naming it and `memostrata verify --fix`', async () => {
    const { a, b, c } = await shards();
    await damageAValue({ type: 'lmdb', path: b });
    const target = join(scratchDir(), 'merged');
    const run = await runJson(['merge', a, b, c, '--into', target]);
    expect(run.code).toBe(2);
    expect(run.json.error.code).toBe('CORRUPT');
    // The value, and the record that uses it.
    expect(run.json.error.message).toContain(`The source store ${b} has 2 problems (first: digest-mismatch`);
    expect(run.json.error.message).toContain(`memostrata verify --fix --store ${b}`);
    expect(existsSync(target)).toBe(false);
  });

  it('reports calls two shards hold with different results as conflicts, and keeps the earliest', async () => {
    const dir = scratchDir();
    const first = join(dir, 'first');
    const second = join(dir, 'second');
    await fillShard({ type: 'lmdb', path: first }, [1, 2]);
    await fillShard({ type: 'level', path: second }, [2, 3], {}, 100);
    const target = join(scratchDir(), 'merged');
    const merged = await runJson(['merge', first, second, '--into', target, '--into-type', 'lmdb']);
    expect(merged.code).toBe(0);
    expect(merged.json.conflicts).toEqual([{ module: 'square', call: expect.stringMatching(/^[0-9a-f]{32}$/), source: second }]);
    const kept = await runJson(['show', 'square', merged.json.conflicts[0].call, '--store', target]);
    expect(kept.json.result).toEqual({ x: 2, square: 4 });
    const text = await runCli(['merge', first, second, '--into', target]);
    expect(text.stdout).toMatch(/^1 conflict: .*earliest store given wins/m);
    expect(text.stdout).toContain(`(not taken from ${second})`);
  });

  it('needs exactly one target, and refuses the target as a source', async () => {
    const { a, b } = await shards();
    expect((await runJson(['merge', a, b])).json.error).toMatchObject({ code: 'USAGE', message: expect.stringContaining('--into <path>') });
    const itself = await runJson(['merge', a, b, '--into', b]);
    expect(itself.json.error).toMatchObject({ code: 'CONFIG', message: expect.stringContaining(`Cannot merge ${b} into itself`) });
  });
});
