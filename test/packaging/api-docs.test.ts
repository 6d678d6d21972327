import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { removeTempDirs, tempDir } from '../helpers/temp-dir.js';

afterAll(removeTempDirs);

const root = fileURLToPath(new URL('../..', import.meta.url));
const typedoc = join(createRequire(import.meta.url).resolve('typedoc/package.json'), '..', 'bin', 'typedoc');

interface ApiJson {
  children: { id: number; name: string }[];
  categories: { title: string; children: number[] }[];
}

describe('the API reference (npm run docs)', () => {
  it('builds without a warning and opens on the user API, with the internals under their own heading', async () => {
    const out = tempDir();
    // typedoc.json sets treatWarningsAsErrors: any warning fails the build, and this test.
    const build = await promisify(execFile)(process.execPath, [typedoc, '--out', join(out, 'html'), '--json', join(out, 'api.json')], { cwd: root }).then(
      () => 'ok',
      (error: { stdout?: string; stderr?: string }) => `${error.stdout ?? ''}${error.stderr ?? ''}`,
    );
    expect(build).toBe('ok');
    const api = JSON.parse(readFileSync(join(out, 'api.json'), 'utf8')) as ApiJson;
    const names = new Map(api.children.map((child) => [child.id, child.name]));
    const categories = api.categories.map(({ title, children }) => ({ title, names: children.map((id) => names.get(id)) }));

    expect(categories.map(({ title }) => title)).toEqual(['Cache', 'Configuration', 'User types', 'Errors', 'Internals: layers, backends and the store contract']);
    const [cache, configuration, userTypes, errors, internals] = categories.map(({ names }) => names);
    expect(cache).toEqual(expect.arrayContaining(['openCache', 'Cache', 'MemoizeOptions', 'Memoized', 'currentCall', 'CurrentCall', 'CacheStats']));
    expect(configuration).toEqual(expect.arrayContaining(['CacheOptions', 'FlushPolicy', 'BackendConfig']));
    expect(userTypes).toEqual(expect.arrayContaining(['registerType', 'TypeRegistry', 'TypeDefinition']));
    expect(errors).toEqual(expect.arrayContaining(['MemostrataError', 'isMemostrataError', 'ErrorCode']));
    expect(internals).toEqual(expect.arrayContaining(['Database', 'LevelBackend', 'MemoryBackend', 'RedisBackend', 'SerializedDB', 'UUIDDatabase', 'ProxyObjectDatabase', 'PerModuleObjectDatabase']));
  });
});
