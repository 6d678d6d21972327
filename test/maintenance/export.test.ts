import { readFileSync, writeFileSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { join } from 'node:path';
import { decodeMultiple, Tag } from 'cbor-x';
import { afterAll, describe, expect, it } from 'vitest';
import type { Store } from '../../src/cache/store.js';
import { openCache } from '../../src/index.js';
import { readModuleMeta } from '../../src/layers/module-meta.js';
import { diff, EXPORT_VERSION, exportStore, importStore, listRecords } from '../../src/maintenance/index.js';
import { ExportReader } from '../../src/maintenance/export-file.js';
import { removeTempDirs, tempDir } from '../helpers/temp-dir.js';
import { counted, fillStore, openMaintenanceStore, storePath, withStore } from './stores.js';
import { FORMAT_VERSION } from '../../src/layers/keys.js';

afterAll(removeTempDirs);

const describeRun = (run: { id: number; tags: string[] }) => ({ ...run, summary: `${run.id}:${run.tags.join('+')}`, data: new Float64Array([run.id, 0.5]) });

async function sample(path: string, ids: number[]): Promise<void> {
  await fillStore(path, async (cache) => {
    const f = cache.memoize('runs.describe', describeRun, { version: '3' });
    for (const id of ids) await f({ id, tags: ['a', String(id % 2)] });
  });
}

async function entriesOf(store: Store): Promise<Map<string, string>> {
  const entries = new Map<string, string>();
  for await (const [key, value] of store.backend.entries()) entries.set(Buffer.from(key).toString('utf8'), Buffer.from(value).toString('hex'));
  return entries;
}

async function identical(pathA: string, pathB: string): Promise<boolean> {
  const a = await openMaintenanceStore(pathA);
  const b = await openMaintenanceStore(pathB);
  try {
    return (await diff(a, b)).identical;
  } finally {
    await a.serialized.close();
    await b.serialized.close();
  }
}

describe('export and import', () => {
  it('round-trips a store: the import is identical to the source and a cache hits on it', async () => {
    const source = storePath();
    await sample(source, [1, 2, 3, 4]);
    const file = join(tempDir(), 'store.cbors');
    const exported = await withStore(source, (store) => exportStore(store, file));
    expect(exported.entries).toBeGreaterThan(4);
    const target = storePath();
    const imported = await withStore(target, (store) => importStore(store, file));
    expect(imported.records).toEqual({ added: 4, skipped: 0 });
    expect(imported.header).toMatchObject({ format: 'memostrata-export', version: EXPORT_VERSION, source: expect.stringContaining('store') });
    expect(await identical(source, target)).toBe(true);
    const metaOf = (path: string) => withStore(path, (store) => readModuleMeta(store.serialized, 'runs.describe'));
    expect(await metaOf(target)).toMatchObject({ ...(await metaOf(source)), updatedAt: expect.any(Number) });
    expect(await metaOf(target)).toMatchObject({ version: '3', entries: 4 });

    const cache = await openCache({ path: target, handleExit: false });
    const fn = counted(describeRun);
    const f = cache.memoize('runs.describe', fn, { version: '3' });
    const result = await f({ id: 3, tags: ['a', '1'] });
    expect(result.summary).toBe('3:a+1');
    expect(result.data).toEqual(new Float64Array([3, 0.5]));
    expect(fn.calls).toBe(0);
    await cache.close();
  });

  it('is readable by any CBOR decoder: a header, one [key, 24(value)] item per key, a trailer', async () => {
    const source = storePath();
    await sample(source, [1]);
    const file = join(tempDir(), 'store.cbors');
    await withStore(source, (store) => exportStore(store, file));
    const items: unknown[] = [];
    decodeMultiple(readFileSync(file), (item) => {
      items.push(item);
    });
    expect(items[0]).toMatchObject({ format: 'memostrata-export', version: EXPORT_VERSION, storeFormat: FORMAT_VERSION });
    expect(items.at(-1)).toEqual({ format: 'memostrata-export-end', entries: items.length - 2 });
    const keys = items.slice(1, -1).map((item) => {
      const [key, value] = item as [string, Tag];
      expect(value).toBeInstanceOf(Tag);
      expect(value.tag).toBe(24);
      return key;
    });
    expect(keys[0]).toMatch(/^m!runs\.describe!/);
    expect(keys).toContain('meta!format');
  });

  it('is idempotent, and keeps the records a store already has', async () => {
    const source = storePath();
    await sample(source, [1, 2, 3]);
    const file = join(tempDir(), 'store.cbors');
    await withStore(source, (store) => exportStore(store, file));
    const target = storePath();
    await sample(target, [3, 9]);
    const first = await withStore(target, (store) => importStore(store, file));
    expect(first.records).toEqual({ added: 2, skipped: 1 });
    expect(first.values.skipped).toBeGreaterThan(0); // shared values (the tag 'a', call 3) are stored once
    const after = await withStore(target, entriesOf);
    const second = await withStore(target, (store) => importStore(store, file));
    expect(second.records).toEqual({ added: 0, skipped: 3 });
    expect(second.values.added).toBe(0);
    expect(await withStore(target, entriesOf)).toEqual(after);
    expect((await withStore(target, (store) => listRecords(store))).length).toBe(4);
  });

  it('refuses a truncated or damaged file with CORRUPT and writes nothing', async () => {
    const source = storePath();
    await sample(source, [1, 2]);
    const dir = tempDir();
    const file = join(dir, 'store.cbors');
    await withStore(source, (store) => exportStore(store, file));
    const whole = readFileSync(file);
    const target = storePath();
    await sample(target, [5]);
    const before = await withStore(target, entriesOf);

    // The trailer map { format, entries }: 0xa2, then the text 'format', then 'memostrata-export-end'.
    const trailerStart = whole.lastIndexOf(Buffer.from('memostrata-export-end')) - 9;
    expect(whole[trailerStart]).toBe(0xa2);
    const damaged: [string, Buffer][] = [
      ['cut inside an item', whole.subarray(0, Math.floor(whole.length / 2))],
      ['cut before the trailer', whole.subarray(0, trailerStart)],
      ['cut after the header', whole.subarray(0, await headerEnd(file))],
      ['a flipped byte in a value', flipLastByteOfValue(whole)],
      ['garbage appended', Buffer.concat([whole, Buffer.from([0x01])])],
      ['an entry left out', withoutFormatEntry(whole)],
      ['not an export', Buffer.from('hello')],
    ];
    const reasons: Record<string, RegExp> = {
      'cut inside an item': /ends inside an item/,
      'cut before the trailer': /without its trailer/,
      'cut after the header': /without its trailer/,
      'a flipped byte in a value': /does not (match its UUID|decode)/,
      'garbage appended': /follows the trailer/,
      'an entry left out': /trailer does not close/,
      'not an export': /does not start with an export header/,
    };
    for (const [what, bytes] of damaged) {
      const broken = join(dir, `${what}.cbors`);
      writeFileSync(broken, bytes);
      const error = await withStore(target, (store) => importStore(store, broken)).catch((caught: unknown) => caught);
      expect(error, what).toMatchObject({ code: 'CORRUPT', message: expect.stringMatching(reasons[what]!) });
      expect(await withStore(target, entriesOf), what).toEqual(before);
    }
  });

  it('refuses to overwrite an existing file unless forced', async () => {
    const source = storePath();
    await sample(source, [1]);
    const file = join(tempDir(), 'store.cbors');
    writeFileSync(file, 'keep');
    await expect(withStore(source, (store) => exportStore(store, file))).rejects.toMatchObject({ code: 'CONFIG' });
    expect(readFileSync(file, 'utf8')).toBe('keep');
    await withStore(source, (store) => exportStore(store, file, { force: true }));
    expect(readFileSync(file).length).toBeGreaterThan(4);
  });
});

/** The file with one byte changed inside the last stored value's bytes (a value, as `v!` keys sort last). */
function flipLastByteOfValue(file: Buffer): Buffer {
  const copy = Buffer.from(file);
  // The trailer map starts 9 bytes before its format text; the byte before it ends the last value.
  const trailerStart = copy.lastIndexOf(Buffer.from('memostrata-export-end')) - 9;
  copy[trailerStart - 1] = copy[trailerStart - 1]! ^ 0x01;
  return copy;
}

/** The file without its meta!format entry, an item nothing else refers to: only the trailer's count tells. */
function withoutFormatEntry(file: Buffer): Buffer {
  // [ 'meta!format', 24(h'0N') ]: array(2), text(11), the key, tag 24, bytes(1), the CBOR of the (small) version.
  const entry = Buffer.concat([Buffer.from([0x82, 0x6b]), Buffer.from('meta!format'), Buffer.from([0xd8, 0x18, 0x41, FORMAT_VERSION])]);
  const at = file.indexOf(entry);
  if (at < 0) throw new Error('the export has no meta!format entry in the expected form');
  return Buffer.concat([file.subarray(0, at), file.subarray(at + entry.length)]);
}

/** The offset where an export's header map ends: read with the importer's own reader (a search for the entry's first byte can hit the header's timestamp). */
async function headerEnd(file: string): Promise<number> {
  const handle = await open(file, 'r');
  try {
    const reader = new ExportReader(handle, (await handle.stat()).size, file);
    const header = await reader.next();
    expect(header?.kind).toBe('map');
    return reader.offset;
  } finally {
    await handle.close();
  }
}
