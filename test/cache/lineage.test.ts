import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { openCache, type Cache, type CacheOptions, type CallRef, type Memoized, type MemoRecord } from '../../src/index.js';
import { removeTempDirs, tempDir } from '../helpers/temp-dir.js';

afterAll(removeTempDirs);

const caches: Cache[] = [];
afterEach(async () => {
  await Promise.all(caches.splice(0).map((cache) => cache.close()));
});

async function open(options: CacheOptions = { backend: { type: 'memory' } }): Promise<Cache> {
  const cache = await openCache({ handleExit: false, flush: 'manual', ...options });
  caches.push(cache);
  return cache;
}

/** The stored records of `module`, after a checkpoint. */
async function records(cache: Cache, module: string): Promise<MemoRecord[]> {
  await cache.checkpoint();
  const found: MemoRecord[] = [];
  for await (const record of cache.store.proxy.records(module)) found.push(record);
  return found;
}

/** The stored record of the one call of `module` (a module called once). */
async function onlyRecord(cache: Cache, module: string): Promise<MemoRecord> {
  const found = await records(cache, module);
  expect(found).toHaveLength(1);
  return found[0]!;
}

/** A three-level pipeline: load → (square, cube in parallel) → report; every function counts its runs. */
function pipeline(cache: Cache) {
  const runs = { load: 0, square: 0, cube: 0, report: 0 };
  const load = cache.memoize('load', (n: number) => {
    runs.load += 1;
    return Array.from({ length: n }, (_, i) => i);
  });
  const square = cache.memoize('square', async (n: number) => {
    runs.square += 1;
    return (await load(n)).map((x) => x * x);
  });
  const cube = cache.memoize('cube', async (n: number) => {
    runs.cube += 1;
    return (await load(n)).map((x) => x * x * x);
  });
  const report = cache.memoize('report', async (n: number) => {
    runs.report += 1;
    const [squares, cubes] = await Promise.all([square(n), cube(n)]);
    return { squares, cubes };
  });
  return { runs, load, square, cube, report };
}

/** The ref of the one stored call of `module`. */
async function refOf(cache: Cache, module: string): Promise<CallRef> {
  const { call } = await onlyRecord(cache, module);
  return { module, call };
}

describe('lineage recording', () => {
  it('records the memoized calls a call made, over three levels and parallel children', async () => {
    const cache = await open();
    const { report } = pipeline(cache);
    await report(3);
    const load = await refOf(cache, 'load');
    expect((await onlyRecord(cache, 'square')).uses).toEqual([load]);
    expect((await onlyRecord(cache, 'cube')).uses).toEqual([load]);
    expect((await onlyRecord(cache, 'report')).uses).toEqual(expect.arrayContaining([await refOf(cache, 'square'), await refOf(cache, 'cube')]));
    expect((await onlyRecord(cache, 'report')).uses).toHaveLength(2);
    expect((await onlyRecord(cache, 'load')).uses).toBeUndefined();
  });

  it('records a child that is a hit, and each child once however often it is called', async () => {
    const cache = await open();
    const leaf = cache.memoize('leaf', (n: number) => n + 1);
    await leaf(1);
    const parent = cache.memoize('parent', async (n: number) => (await leaf(n)) + (await leaf(n)) + (await leaf(n + 1)));
    await parent(1);
    const leaves = await records(cache, 'leaf');
    expect((await onlyRecord(cache, 'parent')).uses).toEqual(
      expect.arrayContaining(leaves.map(({ call }) => ({ module: 'leaf', call }))),
    );
    expect((await onlyRecord(cache, 'parent')).uses).toHaveLength(2);
  });

  it('records nothing for calls made outside a memoized call, or by a call of another cache', async () => {
    const cache = await open();
    const other = await open();
    const foreign = other.memoize('foreign', (n: number) => n * 2);
    const leaf = cache.memoize('leaf', (n: number) => n + 1);
    await leaf(1);
    const parent = cache.memoize('parent', async (n: number) => foreign(n));
    await parent(1);
    expect((await onlyRecord(cache, 'leaf')).uses).toBeUndefined();
    expect((await onlyRecord(cache, 'parent')).uses).toBeUndefined();
  });

  it('keeps the lineage across a restart', async () => {
    const path = join(tempDir('memostrata-lineage-'), 'store');
    const first = await open({ path });
    await pipeline(first).report(2);
    await first.close();

    const second = await open({ path });
    const load = await refOf(second, 'load');
    expect((await onlyRecord(second, 'square')).uses).toEqual([load]);
  });
});

describe('invalidate', () => {
  it('removes the call and exactly the calls computed from it: not siblings, not unrelated modules', async () => {
    const cache = await open();
    const { runs, load, square, cube, report } = pipeline(cache);
    const unrelated = cache.memoize('unrelated', (n: number) => n);
    await report(3);
    await report(4);
    await unrelated(3);

    const removed = await square.invalidate(3);

    expect(removed.map((ref) => ref.module).sort()).toEqual(['report', 'square']);
    expect(removed[0]).toEqual({ module: 'square', call: expect.any(String) });
    expect(await square.has(3)).toBe(false);
    expect(await report.has(3)).toBe(false);
    // What square(3) used, its sibling, other arguments and other modules stay.
    expect(await load.has(3)).toBe(true);
    expect(await cube.has(3)).toBe(true);
    expect(await square.has(4)).toBe(true);
    expect(await report.has(4)).toBe(true);
    expect(await unrelated.has(3)).toBe(true);

    await report(3);
    expect(runs).toMatchObject({ load: 2, square: 3, cube: 2, report: 3 });
  });

  it('removes dependents transitively, from the leaf of a three-level chain', async () => {
    const cache = await open();
    const { load, square, cube, report } = pipeline(cache);
    await report(3);
    await cache.checkpoint();
    const removed = await load.invalidate(3);
    expect(removed.map((ref) => ref.module)).toEqual(['load', 'square', 'cube', 'report']);
    for (const f of [load, square, cube, report]) expect(await f.has(3)).toBe(false);
  });

  it('removes unwritten dependents held only in memory', async () => {
    const cache = await open();
    const { load, report } = pipeline(cache);
    await report(3);
    expect(cache.pendingWrites()).toBe(4);
    expect(await load.invalidate(3)).toHaveLength(4);
    expect(cache.pendingWrites()).toBe(0);
    await cache.checkpoint();
    for await (const record of cache.store.proxy.records()) throw new Error(`${record.module} was stored after its invalidation`);
  });

  it('removes dependents stored by an earlier process', async () => {
    const path = join(tempDir('memostrata-lineage-'), 'store');
    const first = await open({ path });
    await pipeline(first).report(3);
    await first.close();

    const second = await open({ path });
    const { runs, load, report } = pipeline(second);
    expect(await load.invalidate(3)).toHaveLength(4);
    expect(await report.has(3)).toBe(false);
    await report(3);
    expect(runs).toEqual({ load: 1, square: 1, cube: 1, report: 1 });
  });

  it('keeps a call recomputed since with other lineage: its old lineage key is a stale hint', async () => {
    const cache = await open({ backend: { type: 'memory' }, memoryBudget: 1 });
    const leaf = cache.memoize('leaf', (n: number) => n);
    let source = 1;
    const parent = cache.memoize('parent', async (_n: number) => leaf(source));
    await parent(0);
    await cache.checkpoint();
    await parent.delete(0);
    source = 2;
    await parent(0);
    await cache.checkpoint();
    expect(await leaf.invalidate(1)).toEqual([{ module: 'leaf', call: expect.any(String) }]);
    expect(await parent.has(0)).toBe(true);
    expect((await leaf.invalidate(2)).map((ref) => ref.module)).toEqual(['leaf', 'parent']);
  });

  it('resolves with an empty list for a call that is not stored', async () => {
    const cache = await open();
    const { load } = pipeline(cache);
    expect(await load.invalidate(99)).toEqual([]);
  });

  it('does not store a running call that used a call invalidated while it ran', async () => {
    const cache = await open();
    const leaf = cache.memoize('leaf', (n: number) => n);
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const parent = cache.memoize('parent', async (n: number) => {
      const value = await leaf(n);
      await gate;
      return value;
    });
    const running = parent(1);
    await new Promise((resolve) => setImmediate(resolve));
    await leaf.invalidate(1);
    release();
    expect(await running).toBe(1);
    expect(await parent.has(1)).toBe(false);
  });
});

describe('early cutoff', () => {
  it('hits the dependents of a recomputed call that returns an equal value', async () => {
    const cache = await open();
    let upstreamRuns = 0;
    let downstreamRuns = 0;
    const upstream = cache.memoize('upstream', (n: number) => {
      upstreamRuns += 1;
      return { total: n * 10 };
    });
    const downstream = cache.memoize('downstream', (data: { total: number }) => {
      downstreamRuns += 1;
      return data.total + 1;
    });
    const driver = cache.memoize('driver', async (n: number) => downstream(await upstream(n)));
    expect(await driver(2)).toBe(21);

    const removed = await upstream.invalidate(2);
    expect(removed.map((ref) => ref.module)).toEqual(['upstream', 'driver']);
    expect(await driver(2)).toBe(21);
    expect(upstreamRuns).toBe(2);
    // Keyed by the content of its input, the downstream call hits.
    expect(downstreamRuns).toBe(1);
  });

  it('hits the dependents after a version bump of the upstream that returns an equal value', async () => {
    const path = join(tempDir('memostrata-lineage-'), 'store');
    let downstreamRuns = 0;
    const run = async (version: string): Promise<number> => {
      const cache = await open({ path });
      const upstream = cache.memoize('upstream', (n: number) => ({ total: n * 10 }), { version });
      const downstream = cache.memoize('downstream', (data: { total: number }) => {
        downstreamRuns += 1;
        return data.total + 1;
      });
      const result = await downstream(await upstream(2));
      await cache.close();
      return result;
    };
    expect(await run('1')).toBe(21);
    expect(await run('2')).toBe(21);
    expect(downstreamRuns).toBe(1);
  });
});

describe('invalidate on a random graph of calls', () => {
  /** A DAG over nodes 0..n-1: node i uses some of the nodes before it. */
  const dag = fc.integer({ min: 1, max: 12 }).chain((n) =>
    fc.tuple(
      fc.tuple(...Array.from({ length: n }, (_, i) => fc.uniqueArray(fc.integer({ min: 0, max: Math.max(0, i - 1) }), { maxLength: i === 0 ? 0 : 3 }))),
      fc.integer({ min: 0, max: n - 1 }),
      fc.boolean(),
    ),
  );

  it('removes exactly the call and the transitive closure of its users', async () => {
    await fc.assert(
      fc.asyncProperty(dag, async ([uses, root, checkpointFirst]) => {
        // After a checkpoint a memory budget of 1 byte evicts every stored entry: the users are found through the store alone.
        const cache = await openCache({ backend: { type: 'memory' }, handleExit: false, flush: 'manual', ...(checkpointFirst ? { memoryBudget: 1 } : {}) });
        try {
          const node: Memoized<[number], number> = cache.memoize('node', async (i: number): Promise<number> => {
            let sum = i;
            for (const used of uses[i]!) sum += await node(used);
            return sum;
          });
          for (let i = 0; i < uses.length; i += 1) await node(i);
          if (checkpointFirst) {
            await cache.checkpoint();
            expect(cache.stats().modules['node']?.entries).toBe(0);
          }

          const expected = new Set([root]);
          for (let grew = true; grew; ) {
            grew = false;
            uses.forEach((used, i) => {
              if (!expected.has(i) && used.some((u) => expected.has(u))) {
                expected.add(i);
                grew = true;
              }
            });
          }
          const removed = await node.invalidate(root);
          expect(removed).toHaveLength(expected.size);
          for (let i = 0; i < uses.length; i += 1) expect(await node.has(i), `node ${i}`).toBe(!expected.has(i));
        } finally {
          await cache.close();
        }
      }),
      { numRuns: 60 },
    );
  });
});
