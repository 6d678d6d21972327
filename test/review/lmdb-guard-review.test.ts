/*
 * A hostile review of LmdbBackend's guard on LMDB's shared last-transaction
 * word (src/backends/lmdb-lock-file.ts). The word is moved from other
 * processes only: this one must never open and close a descriptor of
 * lock.mdb while it has the environment open (that drops its fcntl locks).
 */
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { utf8 } from '../../src/backends/bytes.js';
import { LmdbBackend } from '../../src/backends/lmdb-backend.js';
import { fixturePath, killRunningChildren, spawnTsChild } from '../helpers/child-process.js';
import { removeTempDirs, tempDir } from '../helpers/temp-dir.js';

afterAll(async () => {
  await killRunningChildren();
  removeTempDirs();
});

/** The lock file's last-transaction word, read (and first set to `set`, when given) by another process. */
function lastTxnWord(store: string, set?: number): number {
  const script = `
    const fs = require('node:fs');
    const fd = fs.openSync(${JSON.stringify(join(store, 'lock.mdb'))}, 'r+');
    const word = Buffer.alloc(8);
    const set = ${JSON.stringify(set ?? null)};
    if (set !== null) { word.writeBigUInt64LE(BigInt(set)); fs.writeSync(fd, word, 0, 8, 8); }
    fs.readSync(fd, word, 0, 8, 8);
    process.stdout.write(String(word.readBigUInt64LE(0)));`;
  return Number(execFileSync(process.execPath, ['-e', script], { encoding: 'utf8' }));
}

const text = (bytes: Uint8Array | undefined): string | undefined => (bytes === undefined ? undefined : Buffer.from(bytes).toString());

async function contents(path: string, keys: readonly string[]): Promise<Record<string, string | undefined>> {
  const store = await LmdbBackend.open(path);
  try {
    return Object.fromEntries(await Promise.all(keys.map(async (key) => [key, text(await store.get(utf8(key)))] as const)));
  } finally {
    await store.close();
  }
}

describe('the LMDB last-transaction guard', () => {
  // LMDB starts a write transaction from meta page (word & 1): a word one above the newest names
  // the same page as one below it, the older commit's, whatever the check of the id's size says.
  it('keeps the newest commit when the word is one above it', async () => {
    const path = join(tempDir(), 'store');
    const store = await LmdbBackend.open(path);
    try {
      await store.put(utf8('a'), utf8('1'));
      await store.put(utf8('b'), utf8('2'));
      const newest = lastTxnWord(path);
      lastTxnWord(path, newest + 1);
      await store.put(utf8('c'), utf8('3'));
    } finally {
      await store.close();
    }
    expect(await contents(path, ['a', 'b', 'c'])).toEqual({ a: '1', b: '2', c: '3' });
  });

  // lmdb-js gives every thread of a process one native environment per path: a thread that
  // closed its store may not close a descriptor of lock.mdb, another still has it open.
  it('leaves the process its locks on lock.mdb when one thread that repaired the word closes its store', async () => {
    const child = spawnTsChild(fixturePath('lmdb-guard-threads.ts'), [join(tempDir(), 'store')]);
    const report = JSON.parse(await child.nextLine()) as { before: boolean; after: boolean };
    expect(await child.exited).toEqual({ code: 0, signal: null });
    expect(report).toEqual({ before: true, after: true });
  });

  it('keeps the newest commit when the word moved back by more than one', async () => {
    const path = join(tempDir(), 'store');
    const store = await LmdbBackend.open(path);
    try {
      for (const value of ['1', '2', '3']) await store.put(utf8('a'), utf8(value));
      lastTxnWord(path, lastTxnWord(path) - 2);
      await store.put(utf8('b'), utf8('1'));
    } finally {
      await store.close();
    }
    expect(await contents(path, ['a', 'b'])).toEqual({ a: '3', b: '1' });
  });

  // lmdb-js runs writes issued together in one write transaction: when the first finds the
  // snapshot stale, the others must write nothing there either, and all run again.
  it('lands every write issued together after the word moved back, testing conditions on the newest commit', async () => {
    const path = join(tempDir(), 'store');
    const store = await LmdbBackend.open(path);
    try {
      await store.put(utf8('lease'), utf8('mine'));
      await store.put(utf8('lease'), utf8('theirs'));
      lastTxnWord(path, lastTxnWord(path) - 1);
      const applied = await Promise.all([
        store.put(utf8('x'), utf8('1')),
        store.batchIf({ key: utf8('lease'), value: utf8('mine') }, [{ type: 'put', key: utf8('lease'), value: utf8('taken') }]),
        store.batch([{ type: 'put', key: utf8('y'), value: utf8('1') }]),
        store.batchIf({ key: utf8('lease'), value: utf8('theirs') }, [{ type: 'put', key: utf8('z'), value: utf8('1') }]),
      ]);
      expect(applied).toEqual([undefined, false, undefined, true]);
    } finally {
      await store.close();
    }
    expect(await contents(path, ['lease', 'x', 'y', 'z'])).toEqual({ lease: 'theirs', x: '1', y: '1', z: '1' });
  });
});
