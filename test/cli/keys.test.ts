import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { openCache } from '../../src/index.js';
import { removeScratch, runCli, runJson, scratchDir } from './cli-helpers.js';

afterAll(removeScratch);

/** Writes a config file naming a LevelDB store and an encrypt layer, with paths relative to it. */
function encryptedConfig(dir: string, name: string, keyFile: string, previousKeyFiles?: string[]): string {
  const file = join(dir, name);
  writeFileSync(file, JSON.stringify({ path: 'store', layers: [{ type: 'encrypt', keyFile, ...(previousKeyFiles === undefined ? {} : { previousKeyFiles }) }] }));
  return file;
}

async function fill(configFile: string, count: number): Promise<void> {
  const cache = await openCache({ configFile, handleExit: false });
  const label = cache.memoize('label.make', (n: number) => `label ${n}`);
  for (let n = 0; n < count; n += 1) await label(n);
  await cache.close();
}

async function hitsAll(configFile: string, count: number): Promise<boolean> {
  const cache = await openCache({ configFile, handleExit: false });
  let runs = 0;
  const label = cache.memoize('label.make', (n: number) => {
    runs += 1;
    return `label ${n}`;
  });
  for (let n = 0; n < count; n += 1) expect(await label(n)).toBe(`label ${n}`);
  await cache.close();
  return runs === 0;
}

describe('memostrata keygen', () => {
  it('writes a 256-bit key as 64 hex characters, readable by its owner only', async () => {
    const dir = scratchDir();
    const { code, json } = await runJson(['keygen', join(dir, 'store.key')]);
    expect(code).toBe(0);
    expect(json.keyId).toMatch(/^[0-9a-f]{16}$/);
    expect(readFileSync(join(dir, 'store.key'), 'utf8')).toMatch(/^[0-9a-f]{64}\n$/);
    expect(statSync(join(dir, 'store.key')).mode & 0o777).toBe(0o600);
  });

  it('never overwrites a file', async () => {
    const dir = scratchDir();
    writeFileSync(join(dir, 'store.key'), 'precious');
    const run = await runCli(['keygen', join(dir, 'store.key')]);
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/exists; keygen never overwrites/);
    expect(readFileSync(join(dir, 'store.key'), 'utf8')).toBe('precious');
  });
});

describe('the CLI on an encrypted store', () => {
  it('runs stats, ls and verify given --config with the key', async () => {
    const dir = scratchDir();
    await runCli(['keygen', join(dir, 'store.key')]);
    const config = encryptedConfig(dir, 'memostrata.json', 'store.key');
    await fill(config, 5);
    const stats = await runJson(['stats', '--config', config]);
    expect(stats.code, stats.stderr).toBe(0);
    expect(JSON.stringify(stats.json)).toContain('label.make');
    const ls = await runJson(['ls', '--config', config]);
    expect(ls.code, ls.stderr).toBe(0);
    expect(JSON.stringify(ls.json)).toContain('label.make');
    const verify = await runJson(['verify', '--config', config]);
    expect(verify.code, verify.stderr).toBe(0);
    expect(verify.json).toMatchObject({ ok: true, problems: [] });
  });

  it('fails with KEY naming the key id when the config holds another key, and changes nothing', async () => {
    const dir = scratchDir();
    await runCli(['keygen', join(dir, 'store.key')]);
    await runCli(['keygen', join(dir, 'other.key')]);
    await fill(encryptedConfig(dir, 'right.json', 'store.key'), 3);
    const run = await runJson(['verify', '--config', encryptedConfig(dir, 'wrong.json', 'other.key')]);
    expect(run.code).not.toBe(0);
    expect(run.json.error).toMatchObject({ code: 'KEY', message: expect.stringMatching(/encrypted with key [0-9a-f]{16}/) });
    expect(await hitsAll(encryptedConfig(dir, 'again.json', 'store.key'), 3)).toBe(true);
  });

  it('rekey moves every value to the new key, and a rerun has nothing left to do', async () => {
    const dir = scratchDir();
    await runCli(['keygen', join(dir, 'old.key')]);
    await runCli(['keygen', join(dir, 'new.key')]);
    await fill(encryptedConfig(dir, 'old.json', 'old.key'), 8);
    const rotating = encryptedConfig(dir, 'rotating.json', 'new.key', ['old.key']);
    const first = await runJson(['rekey', '--config', rotating]);
    expect(first.code, first.stderr).toBe(0);
    expect(first.json.rewritten).toBeGreaterThan(8);
    expect(first.json.damaged).toEqual([]);
    const second = await runJson(['rekey', '--config', rotating]);
    expect(second.json).toMatchObject({ rewritten: 0, current: first.json.rewritten + first.json.current });
    // The old key is no longer needed.
    const newOnly = encryptedConfig(dir, 'new.json', 'new.key');
    expect((await runJson(['verify', '--config', newOnly])).json).toMatchObject({ ok: true });
    expect(await hitsAll(newOnly, 8)).toBe(true);
  });

  it('rekey refuses a config without an encrypt layer with CONFIG', async () => {
    const dir = scratchDir();
    const config = join(dir, 'plain.json');
    writeFileSync(config, JSON.stringify({ path: 'store' }));
    const cache = await openCache({ configFile: config, handleExit: false });
    await cache.memoize('label.make', (n: number) => n)(1);
    await cache.close();
    const run = await runJson(['rekey', '--config', config]);
    expect(run.json.error).toMatchObject({ code: 'CONFIG', message: expect.stringContaining('encrypt layer') });
  });

  it('merge writes plain shards into an encrypted target through its layers', async () => {
    const dir = scratchDir();
    await runCli(['keygen', join(dir, 'store.key')]);
    const shard = join(dir, 'shard');
    const plain = await openCache({ path: shard, handleExit: false });
    const label = plain.memoize('label.make', (n: number) => `label ${n}`);
    for (let n = 0; n < 4; n += 1) await label(n);
    await plain.close();
    const target = encryptedConfig(dir, 'target.json', 'store.key');
    const merged = await runJson(['merge', shard, '--into-config', target]);
    expect(merged.code, merged.stderr).toBe(0);
    const raw = readdirSync(join(dir, 'store')).map((name) => readFileSync(join(dir, 'store', name)));
    expect(raw.some((bytes) => bytes.includes('label 2'))).toBe(false);
    expect(await hitsAll(target, 4)).toBe(true);
  });

  it('works on an encrypted LMDB store: hits after a restart, stats and verify given --config', async () => {
    const dir = scratchDir();
    await runCli(['keygen', join(dir, 'store.key')]);
    const config = join(dir, 'lmdb.json');
    writeFileSync(config, JSON.stringify({ backend: { type: 'lmdb', path: 'lmdb-store' }, layers: [{ type: 'encrypt', keyFile: 'store.key' }] }));
    await fill(config, 3);
    expect(await hitsAll(config, 3)).toBe(true);
    const stats = await runJson(['stats', '--config', config]);
    expect(stats.code, stats.stderr).toBe(0);
    expect(JSON.stringify(stats.json)).toContain('label.make');
    expect((await runJson(['verify', '--config', config])).json).toMatchObject({ ok: true });
  });

  it('logs the deletes of rm in the audit log of the config', async () => {
    const dir = scratchDir();
    const config = join(dir, 'audited.json');
    writeFileSync(config, JSON.stringify({ path: 'store', layers: [{ type: 'audit', path: 'audit.jsonl' }] }));
    await fill(config, 2);
    const removed = await runJson(['rm', 'label.make', '--yes', '--config', config]);
    expect(removed.code, removed.stderr).toBe(0);
    const lines = readFileSync(join(dir, 'audit.jsonl'), 'utf8').trim().split('\n').map((line) => JSON.parse(line) as { op: string; key: string });
    const deleted = lines.filter((line) => line.op === 'del').map((line) => line.key);
    expect(deleted.filter((key) => key.startsWith('m!label.make!'))).toHaveLength(2);
    expect(deleted.some((key) => key.startsWith('v!'))).toBe(true);
  });
});
