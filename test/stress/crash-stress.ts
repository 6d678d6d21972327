/*
 * The crash tests, for longer: `npm run stress -- [rounds] [busy-rounds]`
 * (default 200 and 40).
 * - Kills a job with SIGKILL at random moments and checks after each kill that
 *   every acknowledged call is a hit and no record is half-written.
 * - Kills a busy loop of synchronous calls (which never lets a timer fire)
 *   after a random number of flush intervals, and checks that every call made
 *   two intervals before the kill is a hit with its value.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { busyLoopRound } from '../cache/busy-loop-round.js';
import { crashRound } from '../cache/crash-round.js';

const rounds = Number(process.argv[2] ?? 200);
const busyRounds = Number(process.argv[3] ?? 40);
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
const total = rounds + busyRounds;
console.log(`${total - failures} passed, ${failures} failed`);
process.exit(failures === 0 ? 0 : 1);
