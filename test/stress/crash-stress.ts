/*
 * The crash and bit-rot tests, for longer: `npm run stress -- [rounds] [busy-rounds] [bit-rot-seeds]`
 * (default 200, 40 and 60).
 * - Kills a job with SIGKILL at random moments and checks after each kill that
 *   every acknowledged call is a hit and no record is half-written.
 * - Kills a busy loop of synchronous calls (which never lets a timer fire)
 *   after a random number of flush intervals, and checks that every call made
 *   two intervals before the kill is a hit with its value.
 * - Flips two bits in every table file of a LevelDB store over many seeds and
 *   makes every call on it with no verify first, then with verify --fix first:
 *   no wrong value may be served either way (a seed where LevelDB itself
 *   aborts the process serves nothing, and is counted apart).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { busyLoopRound } from '../cache/busy-loop-round.js';
import { crashRound } from '../cache/crash-round.js';
import { buildBitRotStore } from '../fixtures/bit-rot-store.js';
import { fixturePath, runTsChild } from '../helpers/child-process.js';

const rounds = Number(process.argv[2] ?? 200);
const busyRounds = Number(process.argv[3] ?? 40);
const bitRotSeeds = Number(process.argv[4] ?? 60);
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
if (aborted > 0) console.log(`${aborted} bit-rot run(s) were aborted by LevelDB itself (nothing served)`);
const total = rounds + busyRounds + 2 * bitRotSeeds - aborted;
console.log(`${total - failures} passed, ${failures} failed`);
process.exit(failures === 0 ? 0 : 1);
