/*
 * The crash and bit-rot tests, for longer: `npm run stress -- [rounds] [busy-rounds] [bit-rot-seeds] [lmdb-rounds]`
 * (default 200, 40, 60 and 60).
 * - Kills a job with SIGKILL at random moments and checks after each kill that
 *   every acknowledged call is a hit and no record is half-written.
 * - Kills a busy loop of synchronous calls (which never lets a timer fire)
 *   after a random number of flush intervals, and checks that every call made
 *   two intervals before the kill is a hit with its value.
 * - Flips two bits in every table file of a LevelDB store over many seeds and
 *   makes every call on it with no verify first, then with verify --fix first:
 *   no wrong value may be served either way (a seed where LevelDB itself
 *   aborts the process serves nothing, and is counted apart).
 * - Kills 4 processes writing one LMDB store at once, at random moments, round
 *   after round on the same store (4 kills a round, 240 by default): the
 *   store must open with every acknowledged write and every batch whole.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { busyLoopRound } from '../cache/busy-loop-round.js';
import { crashRound } from '../cache/crash-round.js';
import { buildBitRotStore } from '../fixtures/bit-rot-store.js';
import { lmdbCrashRound, type CrashLedger } from '../fixtures/lmdb-crash-round.js';
import { fixturePath, runTsChild } from '../helpers/child-process.js';

const rounds = Number(process.argv[2] ?? 200);
const busyRounds = Number(process.argv[3] ?? 40);
const bitRotSeeds = Number(process.argv[4] ?? 60);
const lmdbRounds = Number(process.argv[5] ?? 60);
let failures = 0;

async function inTempDir<T>(work: (dir: string) => Promise<T>): Promise<T> {
  const dir = mkdtempSync(join(tmpdir(), 'memostrata-stress-'));
  try {
    return await work(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

for (let round = 0; round < rounds; round += 1) {
  const result = await inTempDir((dir) => crashRound(dir, round % 2 === 0 ? 'write-through' : 'checkpoint'));
  const ok = result.lost === 0 && result.broken === 0;
  if (!ok) failures += 1;
  console.log(`round ${round + 1}/${rounds} ${ok ? 'ok' : 'FAILED'} ${JSON.stringify(result)}`);
}
for (let round = 0; round < busyRounds; round += 1) {
  // 100–300 ms intervals, killed after 2 to 6 of them: mid-loop, mid-flush or just after one.
  const everyMs = 100 + Math.floor(Math.random() * 201);
  const intervals = 2 + Math.floor(Math.random() * 5);
  const result = await inTempDir((dir) => busyLoopRound(dir, everyMs, intervals));
  const ok = result.lost === 0 && result.due > 0;
  if (!ok) failures += 1;
  console.log(`busy-loop round ${round + 1}/${busyRounds} ${ok ? 'ok' : 'FAILED'} ${JSON.stringify({ everyMs, intervals, ...result })}`);
}
let aborted = 0;
await inTempDir(async (dir) => {
  const pristine = join(dir, 'pristine');
  await buildBitRotStore(pristine);
  for (let seed = 1; seed <= bitRotSeeds; seed += 1) {
    for (const mode of ['serve', 'verify'] as const) {
      const run = await runTsChild(fixturePath('bit-rot-round.ts'), [pristine, join(dir, `${mode}-${seed}`), String(seed), mode]);
      rmSync(join(dir, `${mode}-${seed}`), { recursive: true, force: true });
      if (run.code !== 0) {
        aborted += 1;
        console.log(`bit-rot seed ${seed} (${mode}) aborted: ${JSON.stringify({ code: run.code, signal: run.signal })}`);
        continue;
      }
      const outcome = JSON.parse(run.lines.at(-1) ?? '{}') as { wrong?: number; failed?: number; afterFix?: string[] };
      const ok = outcome.wrong === 0 && (mode === 'serve' || (outcome.failed === 0 && outcome.afterFix?.length === 0));
      if (!ok) failures += 1;
      console.log(`bit-rot seed ${seed} (${mode}) ${ok ? 'ok' : 'FAILED'} ${JSON.stringify(outcome)}`);
    }
  }
});
await inTempDir(async (dir) => {
  const ledger: CrashLedger = { acknowledged: new Map(), batches: [] };
  for (let round = 1; round <= lmdbRounds; round += 1) {
    const result = await lmdbCrashRound(join(dir, 'lmdb'), round, ledger);
    const ok = result.lost.length === 0 && result.torn.length === 0;
    if (!ok) failures += 1;
    const summary = { kills: result.kills, opens: result.opens, acknowledged: ledger.acknowledged.size, batches: ledger.batches.length, lost: result.lost.length, torn: result.torn.length };
    console.log(`lmdb round ${round}/${lmdbRounds} ${ok ? 'ok' : 'FAILED'} ${JSON.stringify(summary)}`);
  }
});
if (aborted > 0) console.log(`${aborted} bit-rot run(s) were aborted by LevelDB itself (nothing served)`);
const total = rounds + busyRounds + 2 * bitRotSeeds - aborted + lmdbRounds;
console.log(`${total - failures} passed, ${failures} failed`);
process.exit(failures === 0 ? 0 : 1);
