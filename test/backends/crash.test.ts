import { createHash, randomInt } from 'node:crypto';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { utf8 } from '../../src/backends/bytes.js';
import { LevelBackend } from '../../src/backends/level-backend.js';
import { fixturePath, killRunningChildren, spawnTsChild } from '../helpers/child-process.js';
import { removeTempDirs, tempDir } from '../helpers/temp-dir.js';

const durableWriter = fixturePath('durable-writer.ts');
const rounds = 4;

/** What a killed writer promised: acknowledged key -> sha256 of its value, and the batches it started. */
interface WriterReport {
  acknowledged: Map<string, string>;
  batches: string[][];
}

function readReport(lines: readonly string[]): WriterReport {
  const acknowledged = new Map<string, string>();
  const batches: string[][] = [];
  for (const line of lines) {
    const [kind, ...fields] = line.split(' ');
    if (kind === 'ack') acknowledged.set(fields[0]!, fields[1]!);
    else if (kind === 'batch') batches.push(fields);
  }
  return { acknowledged, batches };
}

/** Starts a durable writer on `path`, lets it acknowledge `target` writes, then SIGKILLs it. */
async function killWriterAfter(path: string, keyPrefix: string, target: number): Promise<WriterReport> {
  const child = spawnTsChild(durableWriter, [path, keyPrefix]);
  for (let seen = 0; seen < target; seen += 1) await child.nextLine((line) => line.startsWith('ack '));
  child.kill('SIGKILL');
  expect(await child.exited).toEqual({ code: null, signal: 'SIGKILL' });
  return readReport(child.lines);
}

afterEach(killRunningChildren);
afterAll(removeTempDirs);

describe('LevelBackend when the writing process is killed', () => {
  it(`keeps every acknowledged durable write through ${rounds} SIGKILLs of the writer`, async () => {
    const path = join(tempDir(), 'store');
    const promised = new Map<string, string>();
    const batches: string[][] = [];

    for (let round = 1; round <= rounds; round += 1) {
      // Random so that, over many runs, the kill lands at many points of a write.
      const target = randomInt(5, 120);
      const context = `round ${round}, killed after ${target} acknowledgements`;
      const report = await killWriterAfter(path, `round${round}`, target);
      expect(report.acknowledged.size, context).toBeGreaterThanOrEqual(target);
      for (const [key, digest] of report.acknowledged) promised.set(key, digest);
      batches.push(...report.batches);

      // Every earlier round is checked again: recovering from one crash must not lose an older one.
      const store = await LevelBackend.open(path);
      try {
        for (const [key, digest] of promised) {
          const value = await store.get(utf8(key));
          expect(value, `${context}: ${key} was acknowledged but is missing`).toBeDefined();
          expect(createHash('sha256').update(value!).digest('hex'), `${context}: ${key} has the wrong value`).toBe(digest);
        }
        for (const keys of batches) {
          const present = (await store.getMany(keys.map(utf8))).filter((value) => value !== undefined).length;
          expect([0, keys.length], `${context}: batch ${keys.join(' ')} is half written`).toContain(present);
        }
      } finally {
        await store.close();
      }
    }
  });
});
