import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { resolveCacheOptions, resolveFlushPolicy } from '../../src/cache/config.js';
import { openCache, TypeRegistry } from '../../src/index.js';
import { removeTempDirs, tempDir } from '../helpers/temp-dir.js';

afterAll(removeTempDirs);

const configError = (field: string) => expect.objectContaining({ name: 'MemostrataError', code: 'CONFIG', message: expect.stringContaining(field) });

describe('cache configuration', () => {
  it('defaults to LevelDB in ./.memostrata, flushing every second', () => {
    expect(resolveCacheOptions(undefined, {})).toMatchObject({ backend: { type: 'level', path: '.memostrata' }, flush: { everyMs: 1000 }, handleExit: true });
  });

  it('reads a config file, with paths relative to the file, and lets direct options win', () => {
    const dir = tempDir();
    const file = join(dir, 'memostrata.json');
    writeFileSync(file, JSON.stringify({ backend: { type: 'level', path: 'runs/cache' }, flush: 'manual' }));
    expect(resolveCacheOptions({ configFile: file }, {})).toMatchObject({ backend: { type: 'level', path: join(dir, 'runs/cache') }, flush: 'manual' });
    expect(resolveCacheOptions({ configFile: file, flush: 'write-through' }, {})).toMatchObject({ flush: 'write-through' });
  });

  it('uses MEMOSTRATA_CONFIG unless a config file is given, with direct options winning', () => {
    const file = join(tempDir(), 'config.json');
    writeFileSync(file, JSON.stringify({ backend: { type: 'memory' }, flush: 'manual' }));
    const env = { MEMOSTRATA_CONFIG: file };
    expect(resolveCacheOptions(undefined, env)).toMatchObject({ backend: { type: 'memory' }, flush: 'manual' });
    expect(resolveCacheOptions({ handleExit: false }, env)).toMatchObject({ backend: { type: 'memory' }, flush: 'manual', handleExit: false });
    expect(resolveCacheOptions({ path: 'x' }, env)).toMatchObject({ backend: { type: 'level', path: 'x' }, flush: 'manual' });
    const other = join(tempDir(), 'other.json');
    writeFileSync(other, JSON.stringify({ path: 'elsewhere' }));
    expect(resolveCacheOptions({ configFile: other }, env)).toMatchObject({ backend: { type: 'level', path: join(other, '..', 'elsewhere') }, flush: { everyMs: 1000 } });
  });

  it('names the wrong field', () => {
    expect(() => resolveCacheOptions({ backend: { type: 'rocks' } as never }, {})).toThrow(configError('backend.type'));
    expect(() => resolveCacheOptions({ backend: { type: 'level', path: 3 } as never }, {})).toThrow(configError('backend.path'));
    expect(() => resolveCacheOptions({ backend: { type: 'memory', path: 'x' } as never }, {})).toThrow(configError("unknown option 'backend.path'; expected one of backend.type."));
    expect(() => resolveCacheOptions({ flush: 'sometimes' } as never, {})).toThrow(configError('flush'));
    expect(() => resolveCacheOptions({ memoryBudget: -5 }, {})).toThrow(configError('memoryBudget'));
    expect(() => resolveCacheOptions({ pth: 'x' } as never, {})).toThrow(configError("'pth'"));
    expect(() => resolveCacheOptions(undefined, { MEMOSTRATA_CONFIG: join(tempDir(), 'missing.json') })).toThrow(configError('MEMOSTRATA_CONFIG'));
    const broken = join(tempDir(), 'broken.json');
    writeFileSync(broken, '{ "path": ');
    expect(() => resolveCacheOptions({ configFile: broken }, {})).toThrow(configError('not valid JSON'));
    const wrongField = join(tempDir(), 'wrong.json');
    writeFileSync(wrongField, JSON.stringify({ backend: { type: 'level' }, budget: 1 }));
    expect(() => resolveCacheOptions({ configFile: wrongField }, {})).toThrow(configError("'budget'"));
  });

  it('refuses types that are not a TypeRegistry, naming the field', async () => {
    expect(() => resolveCacheOptions({ types: {} } as never, {})).toThrow(configError('types'));
    expect(() => resolveCacheOptions({ types: null } as never, {})).toThrow(configError('types'));
    await expect(openCache({ backend: { type: 'memory' }, handleExit: false, types: {} as never })).rejects.toMatchObject({
      code: 'CONFIG',
      message: expect.stringContaining('TypeRegistry'),
    });
    const types = new TypeRegistry();
    expect(resolveCacheOptions({ types }, {}).types).toBe(types);
  });

  it('accepts flush.everyMs from 1 ms to the longest timer delay, and refuses others naming the field', () => {
    const longest = 2 ** 31 - 1;
    expect(resolveCacheOptions({ flush: { everyMs: 1 } }, {}).flush).toEqual({ everyMs: 1 });
    expect(resolveCacheOptions({ flush: { everyMs: longest } }, {}).flush).toEqual({ everyMs: longest });
    for (const everyMs of [1e12, longest + 1, 0.5, 0, -1, Infinity, Number.NaN]) {
      expect(() => resolveCacheOptions({ flush: { everyMs } }, {}), String(everyMs)).toThrow(configError('flush.everyMs'));
    }
    expect(() => resolveFlushPolicy({ everyMs: 1e12 }, "memoize('f') option flush")).toThrow(configError("memoize('f') option flush.everyMs"));
  });

  it('names the config file and the unknown option in it, with the closest valid one', () => {
    const file = join(tempDir(), 'typo1.json');
    writeFileSync(file, JSON.stringify({ flsuh: 'manual' }));
    expect(() => resolveCacheOptions({ configFile: file }, {})).toThrow(
      configError(`${file}: unknown option 'flsuh' (did you mean 'flush'?)`),
    );
    const nested = join(tempDir(), 'typo2.json');
    writeFileSync(nested, JSON.stringify({ backend: { type: 'level', pth: 'x' } }));
    expect(() => resolveCacheOptions({ configFile: nested }, {})).toThrow(configError(`${nested}: unknown option 'backend.pth' (did you mean 'backend.path'?)`));
    expect(() => resolveCacheOptions({ flsuh: 'manual' } as never, {})).toThrow(configError("openCache(): unknown option 'flsuh' (did you mean 'flush'?)"));
  });

  it('rejects openCache with CONFIG before touching any store', async () => {
    await expect(openCache({ backend: { type: 'level', path: '' } })).rejects.toMatchObject({ code: 'CONFIG' });
  });

  it('runs the same user code on a config file as on a path', async () => {
    const dir = tempDir();
    const file = join(dir, 'memostrata.json');
    writeFileSync(file, JSON.stringify({ path: 'cache', handleExit: false }));
    const viaFile = await openCache({ configFile: file });
    expect(viaFile.location).toBe(join(dir, 'cache'));
    const square = viaFile.memoize('square', (x: number) => x * x);
    expect(await square(3)).toBe(9);
    await viaFile.close();
    const viaPath = await openCache({ path: join(dir, 'cache'), handleExit: false });
    expect(await viaPath.memoize('square', (_x: number) => -1).has(3)).toBe(true);
    await viaPath.close();
  });

  it('refuses a store of an unknown format version, or a LevelDB store memostrata did not write', async () => {
    const { LevelBackend } = await import('../../src/backends/level-backend.js');
    const { SerializedDB } = await import('../../src/layers/serialized-db.js');
    const { formatKey } = await import('../../src/layers/keys.js');
    const future = join(tempDir(), 'future');
    const futureDb = new SerializedDB(await LevelBackend.open(future));
    await futureDb.put(formatKey, 99);
    await futureDb.close();
    await expect(openCache({ path: future, handleExit: false })).rejects.toMatchObject({ code: 'FORMAT_VERSION', message: expect.stringContaining('99') });
    const foreign = join(tempDir(), 'foreign');
    const foreignDb = await LevelBackend.open(foreign);
    await foreignDb.put(new TextEncoder().encode('user:1'), new TextEncoder().encode('alice'));
    await foreignDb.close();
    await expect(openCache({ path: foreign, handleExit: false })).rejects.toMatchObject({ code: 'NOT_A_STORE' });
  });
});
