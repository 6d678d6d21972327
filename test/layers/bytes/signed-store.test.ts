import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { LevelBackend } from '../../../src/backends/level-backend.js';
import { openStore } from '../../../src/cache/store.js';
import { SignLayer } from '../../../src/layers/bytes/sign-layer.js';
import { verify } from '../../../src/maintenance/verify.js';
import { KeyPrefix, prefixRange } from '../../../src/layers/keys.js';
import { openCache, type Cache, type LayerConfig } from '../../../src/index.js';
import { removeTempDirs, tempDir } from '../../helpers/temp-dir.js';
import { flipValueBytes, writeKeyFile, writeSignerFiles } from './keys.js';

afterAll(removeTempDirs);

async function storeKeys(path: string): Promise<string[]> {
  const backend = await LevelBackend.open(path);
  const keys: string[] = [];
  try {
    for await (const key of backend.keys()) keys.push(Buffer.from(key).toString('latin1'));
  } finally {
    await backend.close();
  }
  return keys;
}

/** Copies the records and values of the store at `from` into the store at `to`, as raw bytes. */
async function plant(from: string, to: string): Promise<void> {
  const source = await LevelBackend.open(from);
  const target = await LevelBackend.open(to);
  try {
    for (const prefix of [KeyPrefix.record, KeyPrefix.value]) {
      for await (const [key, value] of source.entries(prefixRange(prefix))) await target.put(key, value);
    }
  } finally {
    await Promise.all([source.close(), target.close()]);
  }
}

function counting(cache: Cache): { square: (n: number) => Promise<number>; runs: () => number } {
  let runs = 0;
  const square = cache.memoize('square', (n: number) => {
    runs += 1;
    return n * n;
  });
  return { square, runs: () => runs };
}

function rejected(cache: Cache): number {
  return cache.store.byteLayers.reduce((sum, layer) => sum + (layer instanceof SignLayer ? layer.rejected : 0), 0);
}

describe('a signed store', () => {
  it('never serves a value whose signed bytes were changed: it counts it and recomputes the call', async () => {
    const dir = tempDir();
    const layers: LayerConfig[] = [{ type: 'sign', secretFile: writeKeyFile(dir, 'secret.key') }];
    const path = join(dir, 'store');
    const first = await openCache({ path, layers, handleExit: false });
    await counting(first).square(9);
    await first.close();
    expect(await flipValueBytes(path)).toBeGreaterThan(0);
    const warnings: string[] = [];
    const onWarning = (warning: Error & { code?: string }): void => void warnings.push(warning.code ?? '');
    process.on('warning', onWarning);
    const checked = await openStore({ type: 'level', path }, undefined, { layers });
    const report = await verify(checked);
    await checked.proxy.close();
    expect(report.problems).toContainEqual(expect.objectContaining({ kind: 'corrupt', message: expect.stringContaining('wrong signature'), fixable: true }));

    const second = await openCache({ path, layers, handleExit: false });
    const { square, runs } = counting(second);
    expect(await square(9)).toBe(81);
    expect(runs()).toBe(1);
    expect(rejected(second)).toBeGreaterThan(0);
    expect(second.stats().rejectedSignatures).toBe(rejected(second));
    await second.close();
    await new Promise((resolve) => setImmediate(resolve));
    process.off('warning', onWarning);
    expect(warnings).toContain('MEMOSTRATA_SIGNATURE');
  });

  it('never serves a result planted by a writer without the secret (which a plain store would serve)', async () => {
    const dir = tempDir();
    const signed: LayerConfig[] = [{ type: 'sign', secretFile: writeKeyFile(dir, 'secret.key') }];
    const forged = join(dir, 'forged');
    const forger = await openCache({ path: forged, handleExit: false });
    await forger.memoize('square', (n: number) => n * n + 1)(9);
    await forger.close();

    for (const [name, layers, expected] of [
      ['plain', [], 82],
      ['signed', signed, 81],
    ] as const) {
      const path = join(dir, name);
      const victim = await openCache({ path, layers: [...layers], handleExit: false });
      await counting(victim).square(1);
      await victim.close();
      await plant(forged, path);
      const reopened = await openCache({ path, layers: [...layers], handleExit: false });
      expect(await counting(reopened).square(9), name).toBe(expected);
      await reopened.close();
    }
  });

  it('opened with public keys only, hits on signed entries, computes misses and writes nothing', async () => {
    const dir = tempDir();
    const writer = writeSignerFiles(dir, 'writer');
    const path = join(dir, 'store');
    const first = await openCache({ path, layers: [{ type: 'sign', privateKeyFile: writer.privateKeyFile, publicKeyFiles: [] }], handleExit: false });
    await counting(first).square(4);
    await first.close();
    const before = await storeKeys(path);

    const reader = await openCache({ path, layers: [{ type: 'sign', publicKeyFiles: [writer.publicKeyFile] }], handleExit: false });
    expect(reader.store.readOnly).toBe(true);
    const { square, runs } = counting(reader);
    expect(await square(4)).toBe(16);
    expect(runs()).toBe(0);
    expect(await square(5)).toBe(25);
    expect(runs()).toBe(1);
    await reader.checkpoint();
    await reader.close();
    expect(await storeKeys(path)).toEqual(before);
  });

  it('does not serve entries signed by a writer it does not trust', async () => {
    const dir = tempDir();
    const trusted = writeSignerFiles(dir, 'trusted');
    const stranger = writeSignerFiles(dir, 'stranger');
    const path = join(dir, 'store');
    const forger = await openCache({ path, layers: [{ type: 'sign', privateKeyFile: stranger.privateKeyFile, publicKeyFiles: [trusted.publicKeyFile] }], handleExit: false });
    const planted = forger.memoize('square', (n: number) => n * n + 1);
    await planted(6);
    await forger.close();

    const writer = await openCache({ path, layers: [{ type: 'sign', privateKeyFile: trusted.privateKeyFile, publicKeyFiles: [] }], handleExit: false }).catch((error: unknown) => error);
    // The store's format record is the stranger's: a writer trusting only itself trusts none of the store, and is told so.
    expect(writer).toMatchObject({ code: 'KEY', message: expect.stringContaining('trusts none of the store') });
  });
});

describe('an audited store', () => {
  it('logs every key a checkpoint writes, with time, host, pid, user and bytes', async () => {
    const dir = tempDir();
    const log = join(dir, 'audit.jsonl');
    const path = join(dir, 'store');
    const cache = await openCache({ path, layers: [{ type: 'audit', path: log }], handleExit: false });
    const { square } = counting(cache);
    for (let n = 0; n < 10; n += 1) await square(n);
    await cache.checkpoint();
    await cache.close();
    const lines = readFileSync(log, 'utf8').trim().split('\n').map((line) => JSON.parse(line) as Record<string, unknown>);
    for (const line of lines) {
      expect(line).toMatchObject({ host: expect.any(String), pid: process.pid, user: expect.any(String), op: expect.stringMatching(/^(put|del)$/), key: expect.any(String), bytes: expect.any(Number) });
      expect(Number.isNaN(Date.parse(line.time as string))).toBe(false);
    }
    const logged = new Set(lines.filter((line) => line.op === 'put').map((line) => line.key));
    const stored = await storeKeys(path);
    expect(stored.filter((key) => key.startsWith(KeyPrefix.record))).toHaveLength(10);
    for (const key of stored) expect(logged, key).toContain(key);
  });
});

describe('a signed reader on an empty shared store', () => {
  it('claims nothing and writes nothing when the store below claims empty stores atomically', async () => {
    const { MemoryBackend } = await import('../../../src/backends/memory-backend.js');
    const { newSigner } = await import('./keys.js');
    const backend = Object.assign(new MemoryBackend(), {
      claimed: 0,
      async initializeFormat(this: InstanceType<typeof MemoryBackend> & { claimed: number }, key: Uint8Array, value: Uint8Array) {
        this.claimed += 1;
        await this.put(key, value);
        return value;
      },
    });
    const reader = new SignLayer(backend, { publicKeys: [newSigner().publicKey] });
    expect(await reader.initializeFormat!(new Uint8Array([1]), new Uint8Array([2]))).toBeUndefined();
    expect(backend.claimed).toBe(0);
    expect(await backend.get(new Uint8Array([1]))).toBeUndefined();
  });
});
