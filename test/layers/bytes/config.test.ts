import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { MemoryBackend } from '../../../src/backends/memory-backend.js';
import { resolveCacheOptions } from '../../../src/cache/config.js';
import { openCache } from '../../../src/index.js';
import { loadLayers } from '../../../src/layers/bytes/build-layers.js';
import { EncryptLayer } from '../../../src/layers/bytes/encrypt-layer.js';
import { keyId, readKeyEnv, readKeyFile } from '../../../src/layers/bytes/key-file.js';
import { removeTempDirs, tempDir } from '../../helpers/temp-dir.js';
import { newKey, writeKeyFile } from './keys.js';

afterAll(removeTempDirs);

describe('the layers option', () => {
  it('resolves key paths in a config file against the file', () => {
    const dir = tempDir();
    mkdirSync(join(dir, 'conf'));
    const file = join(dir, 'conf', 'memostrata.json');
    writeFileSync(file, JSON.stringify({ path: 'store', layers: [{ type: 'encrypt', keyFile: 'keys/store.key', previousKeyFiles: ['old.key'] }, { type: 'audit', path: 'audit.jsonl' }] }));
    expect(resolveCacheOptions({ configFile: file }, {}).layers).toEqual([
      { type: 'encrypt', keyFile: join(dir, 'conf', 'keys', 'store.key'), previousKeyFiles: [join(dir, 'conf', 'old.key')] },
      { type: 'audit', path: join(dir, 'conf', 'audit.jsonl') },
    ]);
  });

  it.each([
    [{ layers: {} }, /layers must be an array/],
    [{ layers: [{ type: 'compress' }] }, /layers\[0\]\.type must be 'encrypt', 'sign' or 'audit'/],
    [{ layers: [{ type: 'encrypt' }] }, /layers\[0\] needs exactly one of keyFile and keyEnv/],
    [{ layers: [{ type: 'encrypt', keyFile: 'a', keyEnv: 'B' }] }, /layers\[0\] needs exactly one of keyFile and keyEnv/],
    [{ layers: [{ type: 'audit', path: 'a' }, { type: 'encrypt', keyFile: 'k', keyfile: 'k' }] }, /layers\[1\]\.keyfile is not an option of the encrypt layer/],
    [{ layers: [{ type: 'encrypt', keyFile: 'k', previousKeyFiles: 'old' }] }, /layers\[0\]\.previousKeyFiles must be an array/],
    [{ layers: [{ type: 'sign' }] }, /layers\[0\] needs secretFile/],
    [{ layers: [{ type: 'sign', secretFile: 's', publicKeyFiles: ['p'] }] }, /layers\[0\] takes either secretFile/],
    [{ layers: [{ type: 'audit' }] }, /layers\[0\]\.path is required/],
    [{ layers: [42] }, /layers\[0\] must be/],
  ])('refuses %j with CONFIG naming the field', (options, message) => {
    expect(() => resolveCacheOptions({ backend: { type: 'memory' }, ...(options as object) }, {})).toThrow(expect.objectContaining({ code: 'CONFIG', message: expect.stringMatching(message) }));
  });

  it('refuses a key file of the wrong length or with other characters with CONFIG naming the file, and creates no store', async () => {
    const dir = tempDir();
    const short = join(dir, 'short.key');
    writeFileSync(short, 'ab'.repeat(31));
    const odd = join(dir, 'odd.key');
    writeFileSync(odd, `${'zz'.repeat(32)}\n`);
    for (const keyFile of [short, odd, join(dir, 'missing.key')]) {
      const path = join(dir, 'store');
      await expect(openCache({ path, layers: [{ type: 'encrypt', keyFile }], handleExit: false })).rejects.toMatchObject({ code: 'CONFIG', message: expect.stringContaining(keyFile) });
      await expect(import('node:fs').then((fs) => fs.existsSync(path))).resolves.toBe(false);
    }
  });

  it('refuses an audit log in a directory that does not exist with CONFIG naming it, before opening anything', () => {
    const log = join(tempDir(), 'no-such-dir', 'audit.jsonl');
    expect(() => loadLayers([{ type: 'audit', path: log }])).toThrow(expect.objectContaining({ code: 'CONFIG', message: expect.stringContaining(log) }));
  });

  it('reads a key with surrounding and inner whitespace, from a file or an environment variable', () => {
    const key = newKey();
    const hex = key.toString('hex');
    const file = join(tempDir(), 'spaced.key');
    writeFileSync(file, `  ${hex.slice(0, 32)}\n${hex.slice(32)}\t\n`);
    expect(Buffer.from(readKeyFile(file)).equals(key)).toBe(true);
    expect(Buffer.from(readKeyEnv('STORE_KEY', { STORE_KEY: hex })).equals(key)).toBe(true);
    expect(() => readKeyEnv('STORE_KEY', {})).toThrow(expect.objectContaining({ code: 'CONFIG', message: expect.stringContaining('STORE_KEY') }));
  });

  it('stacks the first layer of the list on top, and tells a reader by its keys', () => {
    const dir = tempDir();
    const key = newKey();
    const stack = loadLayers([{ type: 'audit', path: join(dir, 'a.jsonl') }, { type: 'encrypt', keyFile: writeKeyFile(dir, 'k', key) }])(new MemoryBackend());
    expect(stack.layers.map((layer) => layer.constructor.name)).toEqual(['EncryptLayer', 'AuditLayer']);
    expect(stack.top).toBe(stack.layers[1]);
    expect((stack.layers[0] as EncryptLayer).keyId).toBe(Buffer.from(keyId(key)).toString('hex'));
    expect(stack.readOnly).toBe(false);
  });
});
