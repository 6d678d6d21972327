import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { killRunningChildren } from '../helpers/child-process.js';
import { removeTempDirs, tempDir } from '../helpers/temp-dir.js';
import { crashRound } from './crash-round.js';

afterEach(killRunningChildren);
afterAll(removeTempDirs);

// `npm run stress` runs many more rounds of the same thing (test/stress/crash-stress.ts).
const ROUNDS = 20;

describe('a job killed with SIGKILL at random moments', () => {
  it(`keeps every write-through call and every checkpoint, and never half an entry (${ROUNDS} rounds)`, async () => {
    const results = [];
    for (let round = 0; round < ROUNDS; round += 1) {
      results.push(await crashRound(tempDir(), round % 2 === 0 ? 'write-through' : 'checkpoint'));
    }
    for (const result of results) expect(result, JSON.stringify(result)).toMatchObject({ lost: 0, broken: 0 });
    // The kills must land mid-job for the rounds to mean anything.
    expect(results.filter((result) => result.promised > 0 && result.promised < 400).length).toBeGreaterThanOrEqual(ROUNDS / 2);
  }, 240_000);
});
