import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { lmdbCrashRound, type CrashLedger } from '../fixtures/lmdb-crash-round.js';
import { killRunningChildren } from '../helpers/child-process.js';
import { removeTempDirs, tempDir } from '../helpers/temp-dir.js';

// 10 rounds of 4 writers: 40 kills here; `npm run stress` runs many more.
const rounds = 10;

afterEach(killRunningChildren);
afterAll(removeTempDirs);

describe('LmdbBackend when writing processes are killed', () => {
  it(`opens, keeps every acknowledged write and every batch whole through ${rounds * 4} SIGKILLs of 4 concurrent writers, while other processes open it`, async () => {
    const path = join(tempDir(), 'store');
    const ledger: CrashLedger = { acknowledged: new Map(), batches: [] };
    let kills = 0;
    let opens = 0;
    for (let round = 1; round <= rounds; round += 1) {
      // Every earlier round is checked again: recovering from one crash must not lose an older one.
      const result = await lmdbCrashRound(path, round, ledger);
      kills += result.kills;
      opens += result.opens;
      expect(result.lost, `round ${round}: acknowledged writes lost`).toEqual([]);
      expect(result.torn, `round ${round}: batches half written`).toEqual([]);
    }
    expect(kills).toBe(rounds * 4);
    // Other processes opened the store while writers committed (what moved LMDB's last-transaction word back).
    expect(opens).toBeGreaterThan(0);
    expect(ledger.acknowledged.size).toBeGreaterThanOrEqual(rounds * 4);
    expect(ledger.batches.length).toBeGreaterThan(0);
  }, 60_000);
});
