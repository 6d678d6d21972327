/*
 * A hostile review of LmdbBackend's guard on LMDB's shared last-transaction
 * word (src/backends/lmdb-lock-file.ts). The word is moved from other
 * processes only: this one must never open and close a descriptor of
 * lock.mdb while it has the environment open (that drops its fcntl locks).
 */
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { utf8 } from '../../src/backends/bytes.js';
import { LmdbBackend } from '../../src/backends/lmdb-backend.js';
import { fixturePath, killRunningChildren, spawnTsChild } from '../helpers/child-process.js';
import { lmdbContents, lockHead, moveLastTxnBack } from '../helpers/lmdb-lock.js';
import { removeTempDirs, tempDir } from '../helpers/temp-dir.js';

afterAll(async () => {
  await killRunningChildren();
  removeTempDirs();
});

describe('the LMDB last-transaction guard', () => {
  // LMDB starts a write transaction from meta page (word & 1): a word one above the newest names
  // the same page as one below it, the older commit's, whatever the check of the id's size says.
  it('keeps the newest commit when the word is one above it', async () => {
    const path = join(tempDir(), 'store');
    const store = await LmdbBackend.open(path);
    try {
      await store.put(utf8('a'), utf8('1'));
      await store.put(utf8('b'), utf8('2'));
      const newest = lockHead(path).lastTxn;
      lockHead(path, { lastTxn: newest + 1 });
      await store.put(utf8('c'), utf8('3'));
    } finally {
      await store.close();
    }
    expect(await lmdbContents(path, ['a', 'b', 'c'])).toEqual({ a: '1', b: '2', c: '3' });
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
      moveLastTxnBack(path, 2);
      await store.put(utf8('b'), utf8('1'));
    } finally {
      await store.close();
    }
    expect(await lmdbContents(path, ['a', 'b'])).toEqual({ a: '3', b: '1' });
  });

  // lmdb-js runs writes issued together in one write transaction: when the first finds the
  // snapshot stale, the others must write nothing there either, and all run again.
  it('lands every write issued together after the word moved back, testing conditions on the newest commit', async () => {
    const path = join(tempDir(), 'store');
    const store = await LmdbBackend.open(path);
    try {
      await store.put(utf8('lease'), utf8('mine'));
      await store.put(utf8('lease'), utf8('theirs'));
      moveLastTxnBack(path);
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
    expect(await lmdbContents(path, ['lease', 'x', 'y', 'z'])).toEqual({ lease: 'theirs', x: '1', y: '1', z: '1' });
  });
});
