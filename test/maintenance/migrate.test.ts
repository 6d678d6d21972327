import { cpSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { openStore, type Store } from '../../src/cache/store.js';
import { OpaqueTypes } from '../../src/cli/opaque-types.js';
import { currentCall, openCache, TypeRegistry, type Cache } from '../../src/index.js';
import { FORMAT_VERSION, formatKey, keyText } from '../../src/layers/keys.js';
import { migrateStore } from '../../src/maintenance/migrate.js';
import { killRunningChildren, spawnTsChild } from '../helpers/child-process.js';
import { removeScratch, runCli } from '../cli/cli-helpers.js';
import { removeTempDirs, tempDir } from '../helpers/temp-dir.js';
import { describeItem, failing, finishedCalls, midpoint, pointDefinition, ramp, square, unfinishedCall } from '../fixtures/v1-store-calls.js';
import { GENERATED, generatedResult, generatedState, makeV1Store } from './v1-stores.js';

afterEach(killRunningChildren);
afterAll(removeTempDirs);
afterAll(removeScratch);

const fixture = new URL('../fixtures/v1-store', import.meta.url).pathname;

/** A copy of the committed format-1 fixture: the committed one is never written. */
function fixtureCopy(): string {
  const path = join(tempDir('memostrata-migrate-'), 'store');
  cpSync(fixture, path, { recursive: true });
  return path;
}

/** Opens a store as `memostrata migrate` does: without the format check, reading values of any registered type. */
function openForMigration(path: string): Promise<Store> {
  return openStore({ type: 'level', path }, new OpaqueTypes(), { checkFormat: false });
}

async function migrate(path: string): Promise<Awaited<ReturnType<typeof migrateStore>>> {
  const store = await openForMigration(path);
  try {
    return await migrateStore(store);
  } finally {
    await store.proxy.close();
  }
}

async function formatOf(path: string): Promise<unknown> {
  const store = await openForMigration(path);
  try {
    return await store.serialized.get(formatKey);
  } finally {
    await store.proxy.close();
  }
}

function fixtureTypes(): TypeRegistry {
  const types = new TypeRegistry();
  types.register(pointDefinition);
  return types;
}

/** A function that fails the test if the cache runs it: every call must hit. */
function mustHit(module: string): () => never {
  return () => {
    throw new Error(`module ${module} computed a call that the store holds`);
  };
}

async function expectFixtureCallsHit(cache: Cache): Promise<void> {
  const hits = async <A extends unknown[]>(call: { module: string; args: A[]; version?: string }, fn: (...args: A) => unknown, options: { cacheErrors?: boolean } = {}): Promise<void> => {
    const memoized = cache.memoize(call.module, mustHit(call.module) as unknown as (...args: A) => unknown, { ...options, ...(call.version === undefined ? {} : { version: call.version }) });
    for (const args of call.args) {
      let expected: unknown;
      try {
        expected = { value: fn(...args) };
      } catch (error) {
        expected = { error };
      }
      if ('value' in (expected as object)) await expect(memoized(...args)).resolves.toEqual((expected as { value: unknown }).value);
      else {
        const error = (expected as { error: Error & { code?: string } }).error;
        await expect(memoized(...args)).rejects.toMatchObject({ name: error.name, message: error.message, code: error.code });
      }
    }
  };
  await hits(finishedCalls.square, square);
  await hits(finishedCalls.describeItem, describeItem);
  await hits(finishedCalls.ramp, ramp);
  await hits(finishedCalls.failing, failing, { cacheErrors: true });
  await hits(finishedCalls.midpoint, midpoint);
  const stats = cache.stats().modules;
  for (const name of Object.keys(stats)) expect(stats[name]?.misses, name).toBe(0);
  expect(Object.values(stats).reduce((sum, module) => sum + module.corrupt, 0)).toBe(0);
}

describe('migrate', () => {
  it('refuses the format-1 fixture before migration, naming `memostrata migrate <store>`', async () => {
    const path = fixtureCopy();
    const opened = openCache({ path, handleExit: false, types: fixtureTypes() });
    await expect(opened).rejects.toMatchObject({ code: 'FORMAT_VERSION' });
    await expect(opened).rejects.toThrow(`memostrata migrate ${path}`);
  });

  it('turns the format-1 fixture into a store where every call hits with its value and the saved state restores', async () => {
    const path = fixtureCopy();
    const result = await migrate(path);
    expect(result).toMatchObject({ from: 1, to: FORMAT_VERSION, upToDate: false, records: 10, states: 1, alreadyDone: 0, damaged: [] });

    const cache = await openCache({ path, handleExit: false, flush: 'manual', types: fixtureTypes() });
    try {
      await expectFixtureCallsHit(cache);
      let restored: unknown = 'not run';
      const resumable = cache.memoize(unfinishedCall.module, async (_label: string) => {
        restored = await currentCall().restore();
        return 'finished';
      });
      await expect(resumable(...unfinishedCall.args)).resolves.toBe('finished');
      expect(restored).toEqual(unfinishedCall.state);
      expect(cache.stats().modules[unfinishedCall.module]?.corrupt).toBe(0);
    } finally {
      await cache.close();
    }
  });

  it('migrates through the CLI, and a second run says there is nothing to do', async () => {
    const path = fixtureCopy();
    const first = await runCli(['migrate', path]);
    expect(first.stderr).toBe('');
    expect(first.code).toBe(0);
    expect(first.stdout).toContain(`migrated format 1 to ${FORMAT_VERSION}: sealed 10 records, wrapped 1 saved state`);

    const again = await runCli(['migrate', path, '--json']);
    expect(again.code).toBe(0);
    expect(JSON.parse(again.stdout)).toMatchObject({ from: FORMAT_VERSION, to: FORMAT_VERSION, upToDate: true, records: 0, states: 0 });
    const text = await runCli(['migrate', '--store', path]);
    expect(text.stdout).toContain(`nothing to do: the store already has format ${FORMAT_VERSION}`);
  });

  it('says there is nothing to do on a store of the current format, and writes nothing', async () => {
    const path = join(tempDir('memostrata-migrate-'), 'store');
    const cache = await openCache({ path, handleExit: false });
    await cache.memoize('current', (n: number) => n + 1)(1);
    await cache.close();
    const before = await rawEntries(path);
    const result = await runCli(['migrate', path]);
    expect(result.code).toBe(0);
    expect(result.stdout).toContain('nothing to do');
    expect(await rawEntries(path)).toEqual(before);
  });

  it('refuses a store of a newer format, and leaves it as it was', async () => {
    const path = fixtureCopy();
    const store = await openForMigration(path);
    await store.serialized.put(formatKey, FORMAT_VERSION + 1, { sync: true });
    await store.proxy.close();
    const before = await rawEntries(path);
    const result = await runCli(['migrate', path]);
    expect(result.code).not.toBe(0);
    expect(result.stderr).toContain(`format version ${FORMAT_VERSION + 1}`);
    expect(result.stderr).toContain('Upgrade memostrata');
    expect(await rawEntries(path)).toEqual(before);
    await expect(openCache({ path, handleExit: false })).rejects.toMatchObject({ code: 'FORMAT_VERSION' });
  });

  it('re-run after a run that stopped before the format key skips what is done', async () => {
    const path = fixtureCopy();
    await migrate(path);
    // What a run killed just before its last batch leaves: everything converted, format still 1.
    const store = await openForMigration(path);
    await store.serialized.put(formatKey, 1, { sync: true });
    await store.proxy.close();
    const result = await migrate(path);
    expect(result).toMatchObject({ from: 1, records: 0, states: 0, alreadyDone: 11, damaged: [] });
    const cache = await openCache({ path, handleExit: false, flush: 'manual', types: fixtureTypes() });
    try {
      await expectFixtureCallsHit(cache);
    } finally {
      await cache.close();
    }
  });

  it('leaves a store that opens as format 1 or the current format, never half, when killed with SIGKILL at any point, and a re-run completes it', async () => {
    const pristine = join(tempDir('memostrata-migrate-'), 'v1');
    await makeV1Store(pristine);
    // Progress lines come every 1000 entries of 2520, and the last once the format key is written: kill early, in the middle, near the end, after it.
    const killAfter = ['started', 'progress 1000', 'progress 2000', `progress ${GENERATED.calls + GENERATED.states}`];
    for (const line of killAfter) {
      const path = join(tempDir('memostrata-migrate-'), 'store');
      cpSync(pristine, path, { recursive: true });
      const child = spawnTsChild('test/fixtures/migrate-job.ts', [path]);
      await child.nextLine((printed) => printed === line);
      await new Promise((resolve) => setTimeout(resolve, Math.random() * 10));
      child.kill('SIGKILL');
      await child.exited;

      const format = await formatOf(path);
      expect([1, FORMAT_VERSION]).toContain(format);
      if (format === 1) {
        await expect(openCache({ path, handleExit: false })).rejects.toMatchObject({ code: 'FORMAT_VERSION' });
        expect((await migrate(path)).damaged).toEqual([]);
      }
      await expectGeneratedCallsHit(path);
    }
  });
});

const v2Fixture = new URL('../fixtures/v2-store', import.meta.url).pathname;

/** A copy of the committed format-2 fixture (test/fixtures/make-v2-store.ts made it). */
function v2FixtureCopy(): string {
  const path = join(tempDir('memostrata-migrate-'), 'store');
  cpSync(v2Fixture, path, { recursive: true });
  return path;
}

describe('migrate from format 2', () => {
  it('refuses the format-2 fixture before migration, naming `memostrata migrate <store>`', async () => {
    const path = v2FixtureCopy();
    await expect(openCache({ path, handleExit: false, types: fixtureTypes() })).rejects.toThrow(`memostrata migrate ${path}`);
  });

  it('changes nothing but the format key; every call hits, the saved state restores, and new calls record lineage', async () => {
    const path = v2FixtureCopy();
    const before = (await rawEntries(path)).filter((entry) => !entry.startsWith('meta!format='));
    const result = await migrate(path);
    expect(result).toMatchObject({ from: 2, to: FORMAT_VERSION, upToDate: false, records: 0, states: 0, damaged: [] });
    expect(await formatOf(path)).toBe(FORMAT_VERSION);
    expect((await rawEntries(path)).filter((entry) => !entry.startsWith('meta!format='))).toEqual(before);

    const cache = await openCache({ path, handleExit: false, flush: 'manual', types: fixtureTypes() });
    try {
      await expectFixtureCallsHit(cache);
      const square = cache.memoize(finishedCalls.square.module, mustHit(finishedCalls.square.module) as (n: number) => number, { version: finishedCalls.square.version });
      // The nested call stored by format 2 hits, with no lineage recorded: invalidating what it used leaves it.
      const outer = cache.memoize('v2.outer', async (n: number) => (await square(n)) + 1);
      expect(await outer(3)).toBe(10);
      expect(cache.stats().modules['v2.outer']?.misses).toBe(0);
      const removed = await square.invalidate(3);
      expect(removed.map((ref) => ref.module)).toEqual([finishedCalls.square.module]);
      expect(await outer.has(3)).toBe(true);

      const lifted = cache.memoize('v3.outer', async (n: number) => (await square(n)) * 2);
      await lifted(2);
      await cache.checkpoint();
      const records = [];
      for await (const record of cache.store.proxy.records('v3.outer')) records.push(record);
      expect(records[0]?.uses).toEqual([{ module: finishedCalls.square.module, call: expect.stringMatching(/^[0-9a-f]{32}$/) }]);
    } finally {
      await cache.close();
    }
  });

  it('migrates the format-2 fixture through the CLI, saying that older calls have no lineage', async () => {
    const path = v2FixtureCopy();
    const first = await runCli(['migrate', path]);
    expect(first.stderr).toBe('');
    expect(first.code).toBe(0);
    expect(first.stdout).toBe(`migrated format 2 to ${FORMAT_VERSION}: no entry needed converting; calls stored before the migration have no recorded lineage\n`);
  });
});

const v3Fixture = new URL('../fixtures/v3-store', import.meta.url).pathname;

describe('migrate from format 3', () => {
  it('changes nothing but the format key; a large value stored whole still hits, and a new one goes to a blob file', async () => {
    const path = join(tempDir('memostrata-migrate-'), 'store');
    cpSync(v3Fixture, path, { recursive: true });
    await expect(openCache({ path, handleExit: false, types: fixtureTypes() })).rejects.toThrow(`memostrata migrate ${path}`);
    const before = (await rawEntries(path)).filter((entry) => !entry.startsWith('meta!format='));
    expect(await migrate(path)).toMatchObject({ from: 3, to: FORMAT_VERSION, upToDate: false, records: 0, states: 0, damaged: [] });
    expect((await rawEntries(path)).filter((entry) => !entry.startsWith('meta!format='))).toEqual(before);
    const again = join(tempDir('memostrata-migrate-'), 'store');
    cpSync(v3Fixture, again, { recursive: true });
    // Format 3 already records lineage: nothing to say about it.
    expect((await runCli(['migrate', again])).stdout).toBe(`migrated format 3 to ${FORMAT_VERSION}: no entry needed converting\n`);

    const cache = await openCache({ path, handleExit: false, flush: 'manual', types: fixtureTypes() });
    try {
      await expectFixtureCallsHit(cache);
      // test/fixtures/make-v3-store.ts: v3.grid(n) is n² … n² + 163839, 1.25 MiB kept inside LevelDB by format 3.
      const grid = cache.memoize('v3.grid', mustHit('v3.grid') as (n: number) => Float64Array);
      const stored = await grid(3);
      expect(stored.length).toBe(163840);
      expect([stored[0], stored[163839]]).toEqual([9, 9 + 163839]);
      const bigger = cache.memoize('v4.grid', (n: number) => new Float64Array(200_000).fill(n));
      await bigger(1);
      await cache.checkpoint();
      expect(readdirSync(join(path, 'blobs'), { recursive: true }).some((name) => /[0-9a-f]{64}$/.test(String(name)))).toBe(true);
    } finally {
      await cache.close();
    }
  });
});

/** Opens the migrated generated store and checks that every call hits with its value, and every saved state restores. */
async function expectGeneratedCallsHit(path: string): Promise<void> {
  const cache = await openCache({ path, handleExit: false, flush: 'manual' });
  try {
    const finished = cache.memoize(GENERATED.module, mustHit(GENERATED.module) as (i: number) => unknown);
    const wrong: number[] = [];
    for (let i = 0; i < GENERATED.calls; i += 1) {
      if (!isDeepStrictEqual(await finished(i), generatedResult(i))) wrong.push(i);
    }
    expect(wrong).toEqual([]);
    expect(cache.stats().modules[GENERATED.module]).toMatchObject({ misses: 0, corrupt: 0 });
    const restored: unknown[] = [];
    const resumable = cache.memoize(GENERATED.resumeModule, async (i: number) => {
      restored[i] = await currentCall().restore();
      return i;
    });
    for (let i = 0; i < GENERATED.states; i += 1) await resumable(i);
    expect(restored).toEqual(Array.from({ length: GENERATED.states }, (_, i) => generatedState(i)));
    expect(cache.stats().modules[GENERATED.resumeModule]?.corrupt).toBe(0);
  } finally {
    await cache.close();
  }
}

/** Every raw key and value of a store, as text: to show that nothing was written. */
async function rawEntries(path: string): Promise<string[]> {
  const store = await openForMigration(path);
  try {
    const entries: string[] = [];
    for await (const [key, value] of store.backend.entries()) entries.push(`${keyText(key)}=${Buffer.from(value).toString('hex')}`);
    return entries;
  } finally {
    await store.proxy.close();
  }
}
