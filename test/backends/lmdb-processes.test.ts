import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { utf8 } from '../../src/backends/bytes.js';
import { LmdbBackend } from '../../src/backends/lmdb-backend.js';
import { fixturePath, killRunningChildren, spawnTsChild, type TsChild } from '../helpers/child-process.js';
import { removeTempDirs, tempDir } from '../helpers/temp-dir.js';

afterEach(killRunningChildren);
afterAll(removeTempDirs);

describe('an LMDB store shared by processes', () => {
  it('keeps every write of 4 processes writing one store at once, batches whole, and none is refused', async () => {
    const path = join(tempDir(), 'store');
    const steps = 150;
    const writers = Array.from({ length: 4 }, (_, index) => spawnTsChild(fixturePath('lmdb-writer.ts'), [path, `w${index}`, String(steps), index % 2 === 0 ? 'sync' : 'commit']));
    const exits = await Promise.all(writers.map((writer) => writer.exited));
    for (const [index, exit] of exits.entries()) expect(exit, writers[index]!.stderr()).toEqual({ code: 0, signal: null });
    const acknowledged = new Map<string, string>();
    for (const writer of writers) {
      expect(writer.lines.at(-1)).toBe('done');
      for (const line of writer.lines.filter((text) => text.startsWith('ack '))) {
        const [, key, digest] = line.split(' ');
        acknowledged.set(key!, digest!);
      }
    }
    // Every third step writes a batch of three keys.
    expect(acknowledged.size).toBe(4 * (steps - steps / 3 + (steps / 3) * 3));
    const store = await LmdbBackend.open(path);
    try {
      for (const [key, digest] of acknowledged) {
        const value = await store.get(utf8(key));
        expect(value, `${key} is missing`).toBeDefined();
        expect(createHash('sha256').update(value!).digest('hex'), `${key} has another value`).toBe(digest);
      }
      let stored = 0;
      for await (const _ of store.keys()) stored += 1;
      expect(stored).toBe(acknowledged.size);
    } finally {
      await store.close();
    }
  }, 60_000);
});

/** Sends `command` to a cache job and waits for its answer. */
async function ask(job: TsChild, command: string, answer: string): Promise<string> {
  job.process.stdin!.write(`${command}\n`);
  return job.nextLine((line) => line.startsWith(answer));
}

describe('caches of two processes on one LMDB store', () => {
  it('hits in one process what the other checkpointed, both open at once', async () => {
    const path = join(tempDir(), 'store');
    const first = spawnTsChild(fixturePath('lmdb-cache-job.ts'), [path]);
    const second = spawnTsChild(fixturePath('lmdb-cache-job.ts'), [path]);
    await Promise.all([first.nextLine((line) => line === 'open'), second.nextLine((line) => line === 'open')]);

    expect(await ask(first, 'call 0 50', 'called')).toBe('called 0 50');
    // Not checkpointed yet: the second process computes what it asks for itself.
    expect(await ask(second, 'call 40 45', 'called')).toBe('called 0 5');
    await ask(first, 'checkpoint', 'checkpointed');
    expect(await ask(second, 'call 0 40', 'called')).toBe('called 40 0');
    // And back: the first hits what the second checkpointed.
    expect(await ask(second, 'call 50 60', 'called')).toBe('called 0 10');
    await ask(second, 'checkpoint', 'checkpointed');
    expect(await ask(first, 'call 50 60', 'called')).toBe('called 10 0');

    first.endInput();
    second.endInput();
    for (const job of [first, second]) {
      expect(await job.exited, job.stderr()).toEqual({ code: 0, signal: null });
      expect(job.lines.at(-1)).toBe('closed');
    }
  }, 60_000);
});
