/*
 * LMDB's lock file from the outside, for tests of LmdbBackend's guard on the
 * shared last-transaction word (src/backends/lmdb-lock-file.ts). The file is
 * read and written by another process: a test process must never open and
 * close a descriptor of lock.mdb while it has the environment open (that
 * drops its fcntl locks).
 */
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { utf8 } from '../../src/backends/bytes.js';
import { LmdbBackend } from '../../src/backends/lmdb-backend.js';

/** The start of the lock file: LMDB's magic and the last-transaction word. */
export interface LockHead {
  magic: number;
  lastTxn: number;
}

/** Reads the lock file's magic and last-transaction word from another process, first writing what `set` gives. */
export function lockHead(store: string, set: Partial<LockHead> = {}): LockHead {
  const script = `
    const fs = require('node:fs');
    const fd = fs.openSync(${JSON.stringify(join(store, 'lock.mdb'))}, 'r+');
    const set = ${JSON.stringify(set)};
    const head = Buffer.alloc(16);
    fs.readSync(fd, head, 0, 16, 0);
    if (set.magic !== undefined) head.writeUInt32LE(set.magic, 0);
    if (set.lastTxn !== undefined) head.writeBigUInt64LE(BigInt(set.lastTxn), 8);
    fs.writeSync(fd, head, 0, 16, 0);
    process.stdout.write(JSON.stringify({ magic: head.readUInt32LE(0), lastTxn: Number(head.readBigUInt64LE(8)) }));`;
  return JSON.parse(execFileSync(process.execPath, ['-e', script], { encoding: 'utf8' })) as LockHead;
}

/** What another process's open does when a commit lands between its header read and its write of the word; returns the newest id. */
export function moveLastTxnBack(store: string, by = 1): number {
  const { lastTxn } = lockHead(store);
  lockHead(store, { lastTxn: lastTxn - by });
  return lastTxn;
}

/** Bytes as text, `undefined` kept. */
export const text = (bytes: Uint8Array | undefined): string | undefined => (bytes === undefined ? undefined : Buffer.from(bytes).toString());

/** What the LMDB store at `path` holds at `keys`, read through a new LmdbBackend. */
export async function lmdbContents(path: string, keys: readonly string[]): Promise<Record<string, string | undefined>> {
  const store = await LmdbBackend.open(path);
  try {
    return Object.fromEntries(await Promise.all(keys.map(async (key) => [key, text(await store.get(utf8(key)))] as const)));
  } finally {
    await store.close();
  }
}
