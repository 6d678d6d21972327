import { createHash, randomInt } from 'node:crypto';
import { join } from 'node:path';
import { ClassicLevel } from 'classic-level';
import { afterAll, afterEach, describe, expect, it, vi } from 'vitest';
import { utf8 } from '../../src/backends/bytes.js';
import { LevelBackend } from '../../src/backends/level-backend.js';
import { fixturePath, killRunningChildren, spawnTsChild } from '../helpers/child-process.js';
import { removeTempDirs, tempDir } from '../helpers/temp-dir.js';

const durableWriter = fixturePath('durable-writer.ts');
const rounds = 9;

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

/**
 * Where the kill lands: right after an acknowledgement, right as the writer
 * announces a batch (to aim at a batch in flight), or at a random moment
 * after the acknowledgements (wherever the writer then is: inside a write,
 * an fsync, or between two).
 */
type KillPoint = 'after an acknowledgement' | 'at the start of a batch' | 'at a random moment';
const killPoints: readonly KillPoint[] = ['after an acknowledgement', 'at the start of a batch', 'at a random moment'];

/** Starts a durable writer on `path`, lets it acknowledge `target` writes, then SIGKILLs it at `killPoint`. */
async function killWriter(path: string, keyPrefix: string, target: number, killPoint: KillPoint): Promise<WriterReport> {
  const child = spawnTsChild(durableWriter, [path, keyPrefix]);
  for (let seen = 0; seen < target; seen += 1) await child.nextLine((line) => line.startsWith('ack '));
  if (killPoint === 'at the start of a batch') await child.nextLine((line) => line.startsWith('batch '));
  if (killPoint === 'at a random moment') await new Promise((resolve) => setTimeout(resolve, randomInt(0, 50)));
  child.kill('SIGKILL');
  expect(await child.exited).toEqual({ code: null, signal: 'SIGKILL' });
  return readReport(child.lines);
}

afterEach(async () => {
  vi.restoreAllMocks();
  await killRunningChildren();
});
afterAll(removeTempDirs);

describe('LevelBackend when the writing process is killed', () => {
  it(`keeps every acknowledged durable write through ${rounds} SIGKILLs of the writer`, async () => {
    const path = join(tempDir(), 'store');
    const promised = new Map<string, string>();
    const batches: string[][] = [];

    for (let round = 1; round <= rounds; round += 1) {
      // Random so that, over many runs, the kill lands at many points of a write.
      const target = randomInt(5, 100);
      const killPoint = killPoints[round % killPoints.length]!;
      const context = `round ${round}, killed ${killPoint} after ${target} acknowledgements`;
      const report = await killWriter(path, `round${round}`, target, killPoint);
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

/** The classic-level hooks that receive a write's options as their last argument, and what they write. */
type LevelWriteHook = '_put' | '_del' | '_batch' | '_write';
const hookNames: Record<LevelWriteHook, string> = { _put: 'put', _del: 'del', _batch: 'batch', _write: 'batch' };

/** The prototype of classic-level's chained batch, which the package does not export. */
async function chainedBatchPrototype(): Promise<object> {
  const probe = new ClassicLevel(join(tempDir(), 'probe'));
  await probe.open();
  const batch = probe.batch();
  const prototype = Object.getPrototypeOf(batch) as object;
  await batch.close();
  await probe.close();
  return prototype;
}

/** Logs `put sync`, `batch no sync`, … for every write that reaches LevelDB through `hook` of `prototype`. */
function recordSyncOf(prototype: object, hook: LevelWriteHook, log: string[]): void {
  const hooks = prototype as Record<LevelWriteHook, (...args: unknown[]) => Promise<void>>;
  const original = hooks[hook];
  vi.spyOn(hooks, hook).mockImplementation(function (this: unknown, ...args: unknown[]) {
    const options = args.at(-1) as { sync?: boolean } | undefined;
    log.push(`${hookNames[hook]} ${options?.sync === true ? 'sync' : 'no sync'}`);
    return original.apply(this, args);
  });
}

describe('LevelBackend durable writes', () => {
  // A killed process cannot tell a synced write from an unsynced one: both
  // already reached the OS. Only a power cut could, so pin that `sync` reaches LevelDB.
  it('asks LevelDB to sync exactly the writes that ask for durability', async () => {
    const writes: string[] = [];
    for (const hook of ['_put', '_del', '_batch'] as const) recordSyncOf(ClassicLevel.prototype, hook, writes);
    recordSyncOf(await chainedBatchPrototype(), '_write', writes);

    const defaultStore = await LevelBackend.open(join(tempDir(), 'store'));
    await defaultStore.put(utf8('k'), utf8('v'));
    await defaultStore.put(utf8('k'), utf8('v'), { sync: true });
    await defaultStore.delete(utf8('k'), { sync: true });
    await defaultStore.batch([{ type: 'put', key: utf8('k'), value: utf8('v') }], { sync: true });
    await defaultStore.batch([{ type: 'del', key: utf8('k') }]);
    await defaultStore.close();
    expect(writes.splice(0)).toEqual(['put no sync', 'put sync', 'del sync', 'batch sync', 'batch no sync']);

    const syncingStore = await LevelBackend.open(join(tempDir(), 'store'), { sync: true });
    await syncingStore.put(utf8('k'), utf8('v'));
    await syncingStore.put(utf8('k'), utf8('v'), { sync: false });
    await syncingStore.close();
    expect(writes).toEqual(['put sync', 'put no sync']);
  });
});
