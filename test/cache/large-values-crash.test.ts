import { randomInt } from 'node:crypto';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { openCache, type BackendConfig } from '../../src/index.js';
import type { MemoRecord } from '../../src/layers/memo-record.js';
import { verify } from '../../src/maintenance/index.js';
import { largeResult } from '../fixtures/large-value-result.js';
import { fixturePath, killRunningChildren, spawnTsChild } from '../helpers/child-process.js';
import { removeTempDirs, tempDir } from '../helpers/temp-dir.js';

afterEach(killRunningChildren);
afterAll(removeTempDirs);

/** Rounds per backend: 2 × 10 SIGKILLs, about half a minute each on a loaded 2-core machine. */
const ROUNDS = 10;

/**
 * How results become durable: at `checkpoint()` (no leases, the default on
 * LevelDB), or one by one inside the call, before it returns (leases on a
 * shared store: LMDB).
 */
type Policy = 'checkpoint' | 'leased';

/** What one round found. */
interface LargeCrashRound {
  policy: Policy;
  /** Calls the job was told are stored (by a resolved checkpoint, or by the call returning under a lease). */
  promised: number;
  /** Whether the kill landed while results were being written: inside a checkpoint, or inside a leased call. */
  midWrite: boolean;
  /** Promised calls that computed again after the kill: must be 0. */
  lost: number;
  /** Records whose value did not load or was not the result of their input: must be 0. */
  broken: number;
  /** Records in the store after the kill. */
  records: number;
  /** What `verify` reported as a problem (orphan blobs are not problems): must be empty. */
  problems: string[];
  /** Blobs nothing names, or unfinished writes: allowed. */
  orphans: number;
}

const bytesOf = (array: ArrayBufferView): Buffer => Buffer.from(array.buffer, array.byteOffset, array.byteLength);

/** Runs the job on a new store, SIGKILLs it at a random moment while it writes results, reopens the store and checks it. */
async function crashRound(backend: BackendConfig, policy: Policy): Promise<LargeCrashRound> {
  const job = spawnTsChild(fixturePath('large-value-crash-job.ts'), [JSON.stringify(backend), '60', '2', policy === 'leased' ? 'lease' : 'no-lease']);
  // Let a random number of writes be acknowledged, then kill somewhere inside a later one: the child says how
  // long the last write took (blobs written, fsynced and renamed, then the batch), and the kill lands within that.
  const done = policy === 'checkpoint' ? 'checkpoint ' : 'ack ';
  const begun = policy === 'checkpoint' ? 'checkpointing ' : 'calling ';
  const acknowledgedBefore = randomInt(1, 6);
  let lastMs = 0;
  for (let seen = 0; seen < acknowledgedBefore; seen += 1) lastMs = Number((await job.nextLine((line) => line.startsWith(done))).split(' ')[2]);
  await job.nextLine((line) => line.startsWith(begun));
  await new Promise((resolve) => setTimeout(resolve, randomInt(0, Math.max(1, lastMs))));
  job.kill('SIGKILL');
  const exit = await job.exited;
  if (exit.signal !== 'SIGKILL') throw new Error(`the job ended by itself (${JSON.stringify(exit)}): ${job.stderr()}`);

  const acknowledged = job.lines.filter((line) => line.startsWith(done)).map((line) => Number(line.split(' ')[1]));
  const promised = acknowledged.length === 0 ? 0 : Math.max(...acknowledged) + 1;
  const midWrite = job.lines.at(-1)?.startsWith(begun) ?? false;

  const cache = await openCache({ backend, flush: 'manual', handleExit: false });
  try {
    let runs = 0;
    const simulate = cache.memoize(
      'large.crash',
      (i: number) => {
        runs += 1;
        return largeResult(i);
      },
      { version: '1' },
    );
    let lost = 0;
    for (let i = 0; i < promised; i += 1) {
      const before = runs;
      const result = await simulate(i);
      if (runs !== before || Buffer.compare(bytesOf(result.field), bytesOf(largeResult(i).field)) !== 0) lost += 1;
    }
    const records: MemoRecord[] = [];
    for await (const record of cache.store.proxy.records('large.crash')) records.push(record);
    let broken = 0;
    for (const record of records) {
      try {
        const { inputs, result } = await cache.store.proxy.unproxy(record);
        const value = result as { i: number; field: Float64Array };
        const i = inputs[0] as number;
        if (value.i !== i || Buffer.compare(bytesOf(value.field), bytesOf(largeResult(i).field)) !== 0) broken += 1;
      } catch {
        broken += 1;
      }
    }
    const checked = await verify(cache.store);
    return {
      policy,
      promised,
      midWrite,
      lost,
      broken,
      records: records.length,
      problems: checked.problems.map((problem) => `${problem.kind} ${problem.key}: ${problem.message}`),
      orphans: checked.blobs.orphans.length,
    };
  } finally {
    await cache.close();
  }
}

describe('a job storing 8 MB results, SIGKILLed at random moments while it writes them', () => {
  for (const [name, policies, backendAt] of [
    ['LevelDB', ['checkpoint'], (path: string): BackendConfig => ({ type: 'level', path })],
    ['LMDB', ['checkpoint', 'leased'], (path: string): BackendConfig => ({ type: 'lmdb', path })],
  ] as const) {
    it(`loses no acknowledged result and leaves no record naming a missing or partial blob (${name}: ${policies.join(' and ')}, ${ROUNDS} rounds)`, async () => {
      const rounds: LargeCrashRound[] = [];
      for (let round = 0; round < ROUNDS; round += 1) {
        rounds.push(await crashRound(backendAt(join(tempDir('memostrata-large-crash-'), 'cache')), policies[round % policies.length]!));
      }
      for (const round of rounds) expect(round, JSON.stringify(round)).toMatchObject({ lost: 0, broken: 0, problems: [] });
      // The rounds mean something only if kills land while results are written, after some were acknowledged.
      const summary = JSON.stringify(rounds.map(({ policy, promised, midWrite, records, orphans }) => ({ policy, promised, midWrite, records, orphans })));
      expect(rounds.filter((round) => round.midWrite).length, summary).toBeGreaterThanOrEqual(ROUNDS / 4);
      expect(rounds.filter((round) => round.promised > 0).length, summary).toBeGreaterThanOrEqual(ROUNDS / 2);
    }, 180_000);
  }
});
