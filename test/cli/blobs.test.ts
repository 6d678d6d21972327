import { openSync, readSync, statSync, writeSync, closeSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { blobFileBytes, blobFiles, LARGE, ramp } from '../maintenance/blobs-helpers.js';
import { openStore } from '../../src/cache/store.js';
import { fixtureCache, removeScratch, runCli, runJson, scratchDir } from './cli-helpers.js';

afterAll(() => removeScratch());

/** A store with module `grid`: calls 1 and 2, each a 1.6 MB result kept as a blob. */
async function gridStore(): Promise<string> {
  const path = join(scratchDir(), 'store');
  const cache = await fixtureCache(path);
  const grid = cache.memoize('grid', (n: number) => ramp(LARGE, n));
  await grid(1);
  await grid(2);
  await cache.close();
  return path;
}

describe('the CLI and blobs', () => {
  it('rm then prune frees the blob\'s disk space: its file is gone', async () => {
    const store = await gridStore();
    expect(blobFiles(store)).toHaveLength(2);
    const bytesBefore = blobFileBytes(store);
    const { json: listed } = await runJson(['ls', 'grid', '--store', store]);
    const call = (listed as { entries?: { call: string }[] }).entries?.[0]?.call ?? (listed as { call: string }[])[0]!.call;
    const rm = await runCli(['rm', 'grid', call.slice(0, 12), '--yes', '--store', store]);
    expect(rm.code, rm.stderr).toBe(0);
    const prune = await runJson(['prune', '--store', store]);
    expect(prune.code, prune.stderr).toBe(0);
    expect(blobFiles(store)).toHaveLength(1);
    expect(blobFileBytes(store)).toBeLessThanOrEqual(bytesBefore / 2 + 1000);
    const { json: info } = await runJson(['info', '--store', store]);
    expect(info.blobs).toMatchObject({ count: 1, unfinished: 0 });
    expect(info.blobs.bytes).toBeGreaterThan(8 * LARGE);
  });

  it('verify exits non-zero naming the key and the blob of a flipped byte; --fix removes them and the damaged blob', async () => {
    const store = await gridStore();
    const [file] = blobFiles(store);
    const fd = openSync(file!, 'r+');
    const byte = Buffer.alloc(1);
    const position = Math.floor(statSync(file!).size / 2);
    readSync(fd, byte, 0, 1, position);
    byte[0] = byte[0]! ^ 0x40;
    writeSync(fd, byte, 0, 1, position);
    closeSync(fd);
    const id = file!.slice(-64);
    const run = await runCli(['verify', '--store', store]);
    expect(run.code).toBe(1);
    expect(run.stdout).toMatch(new RegExp(`bad-blob\\s+v!\\S+ names blob ${id}`));
    const fixed = await runCli(['verify', '--fix', '--store', store]);
    expect(fixed.stdout).toContain(`deleted 1 damaged blob: ${id}`);
    const again = await runCli(['verify', '--store', store]);
    expect(again.code, again.stdout).toBe(0);
    expect(again.stdout).toContain('1 blob of large values');
    expect(blobFiles(store)).toHaveLength(1);
  });

  it('verify lists a blob nothing names as an orphan and still exits 0', async () => {
    const store = await gridStore();
    const opened = await openStore({ type: 'level', path: store });
    const orphan = await opened.serialized.largeValues.write([Buffer.from('a blob that no key names')]);
    await opened.serialized.close();
    const { json, code } = await runJson(['verify', '--store', store]);
    expect(code).toBe(0);
    expect(json.blobs.checked).toBe(2);
    expect(json.blobs.orphans).toEqual([expect.objectContaining({ id: orphan.id, complete: true })]);
    const text = await runCli(['verify', '--store', store]);
    expect(text.stdout).toMatch(/1 blob \(.*\) that nothing names: not a problem/);
  });

  it('prune --orphan-grace takes a duration and refuses anything else', async () => {
    const store = await gridStore();
    const ok = await runCli(['prune', '--orphan-grace', '0s', '--store', store]);
    expect(ok.code, ok.stderr).toBe(0);
    const bad = await runCli(['prune', '--orphan-grace', 'soon', '--store', store]);
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toMatch(/--orphan-grace takes a duration/);
  });

  it('export then import into an LMDB store carries the large results', async () => {
    const store = await gridStore();
    const file = join(scratchDir(), 'grid.cbor');
    const exported = await runJson(['export', file, '--store', store]);
    expect(exported.code, exported.stderr).toBe(0);
    expect(exported.json.blobs).toBe(2);
    const target = join(scratchDir(), 'lmdb-store');
    const cache = await (await import('../../src/index.js')).openCache({ backend: { type: 'lmdb', path: target }, handleExit: false, flush: 'manual' });
    await cache.close();
    const imported = await runJson(['import', file, '--store', target]);
    expect(imported.code, imported.stderr).toBe(0);
    expect(imported.json.blobs).toEqual({ added: 2, skipped: 0 });
    const verified = await runJson(['verify', '--store', target]);
    expect(verified.code).toBe(0);
    expect(verified.json.blobs.checked).toBe(2);
  });
});
