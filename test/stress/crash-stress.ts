/*
 * The crash test, for longer: `npm run stress -- [rounds]` (default 200).
 * Kills a job with SIGKILL at random moments and checks after each kill that
 * every acknowledged call is a hit and no record is half-written.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { crashRound } from '../cache/crash-round.js';

const rounds = Number(process.argv[2] ?? 200);
let failures = 0;
for (let round = 0; round < rounds; round += 1) {
  const dir = mkdtempSync(join(tmpdir(), 'memostrata-stress-'));
  try {
    const result = await crashRound(dir, round % 2 === 0 ? 'write-through' : 'checkpoint');
    const ok = result.lost === 0 && result.broken === 0;
    if (!ok) failures += 1;
    console.log(`round ${round + 1}/${rounds} ${ok ? 'ok' : 'FAILED'} ${JSON.stringify(result)}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
console.log(`${rounds - failures} passed, ${failures} failed`);
process.exit(failures === 0 ? 0 : 1);
