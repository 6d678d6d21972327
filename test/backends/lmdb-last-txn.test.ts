/*
 * The LMDB that lmdb-js bundles lets a process that opens an environment move
 * the lock file's shared last-transaction word back by one, when another
 * process commits while it opens (see src/backends/lmdb-lock-file.ts). The
 * next write transaction then starts from the older snapshot and replaces the
 * newest commit. These tests move the word back the way such an open does,
 * from another process (this one must never open and close the lock file
 * while it has the environment open: that would drop its fcntl locks).
 */
import { join } from 'node:path';
import { open } from 'lmdb';
import { afterAll, describe, expect, it } from 'vitest';
import { utf8 } from '../../src/backends/bytes.js';
import { LmdbBackend } from '../../src/backends/lmdb-backend.js';
import { lmdbContents, lockHead, moveLastTxnBack, text } from '../helpers/lmdb-lock.js';
import { removeTempDirs, tempDir } from '../helpers/temp-dir.js';

afterAll(removeTempDirs);

describe('an LMDB write after the last-transaction word moved back', () => {
  it('loses the newest commit when written with lmdb-js alone (the hazard)', async () => {
    const path = join(tempDir(), 'raw');
    const db = open<Buffer, Buffer>({ path, keyEncoding: 'binary', encoding: 'binary', overlappingSync: false });
    try {
      await db.put(Buffer.from('a'), Buffer.from('1'));
      await db.put(Buffer.from('b'), Buffer.from('2'));
      moveLastTxnBack(path);
      await db.put(Buffer.from('c'), Buffer.from('3'));
      db.resetReadTxn();
      // If lmdb-js stops moving the word back on open, this fails: LmdbLockFile may then go.
      expect([db.getBinary(Buffer.from('a')), db.getBinary(Buffer.from('b')), db.getBinary(Buffer.from('c'))].map(text)).toEqual(['1', undefined, '3']);
    } finally {
      await db.close();
    }
  });

  it('keeps the newest commit through LmdbBackend: the write repairs the word first', async () => {
    const path = join(tempDir(), 'store');
    const store = await LmdbBackend.open(path);
    try {
      await store.put(utf8('a'), utf8('1'));
      await store.put(utf8('b'), utf8('2'));
      const newest = moveLastTxnBack(path);
      await store.batch([
        { type: 'put', key: utf8('c'), value: utf8('3') },
        { type: 'del', key: utf8('a') },
      ]);
      expect(lockHead(path).lastTxn).toBe(newest + 1);
    } finally {
      await store.close();
    }
    expect(await lmdbContents(path, ['a', 'b', 'c'])).toEqual({ a: undefined, b: '2', c: '3' });
  });

  it('keeps it through a conditional batch, whose test sees the newest commit', async () => {
    const path = join(tempDir(), 'store');
    const store = await LmdbBackend.open(path);
    try {
      await store.put(utf8('lease'), utf8('mine'));
      await store.put(utf8('lease'), utf8('theirs'));
      moveLastTxnBack(path);
      // On the older snapshot the lease would still read `mine`, and this would apply.
      expect(await store.batchIf({ key: utf8('lease'), value: utf8('mine') }, [{ type: 'put', key: utf8('lease'), value: utf8('taken') }])).toBe(false);
      expect(await store.batchIf({ key: utf8('lease'), value: utf8('theirs') }, [{ type: 'put', key: utf8('done'), value: utf8('yes') }])).toBe(true);
    } finally {
      await store.close();
    }
    expect(await lmdbContents(path, ['lease', 'done'])).toEqual({ lease: 'theirs', done: 'yes' });
  });

  it('refuses to repair a lock file of an unknown layout, and writes nothing', async () => {
    const path = join(tempDir(), 'store');
    const store = await LmdbBackend.open(path);
    try {
      await store.put(utf8('a'), utf8('1'));
      await store.put(utf8('b'), utf8('2'));
      const { magic } = lockHead(path);
      const newest = moveLastTxnBack(path);
      lockHead(path, { magic: 0x12345678 });
      await expect(store.put(utf8('c'), utf8('3'))).rejects.toEqual(expect.objectContaining({ code: 'BACKEND', message: expect.stringContaining("does not start with LMDB's magic") }));
      lockHead(path, { magic, lastTxn: newest });
    } finally {
      await store.close();
    }
    expect(await lmdbContents(path, ['a', 'b', 'c'])).toEqual({ a: '1', b: '2', c: undefined });
  });
});
