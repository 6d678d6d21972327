import { join } from 'node:path';
import { afterAll } from 'vitest';
import { LevelBackend } from '../../src/backends/level-backend.js';
import { LmdbBackend } from '../../src/backends/lmdb-backend.js';
import { MemoryBackend } from '../../src/backends/memory-backend.js';
import type { Database } from '../../src/contract/database.js';
import { runDatabaseContract } from '../contract/database-contract.js';
import { removeTempDirs, tempDir } from '../helpers/temp-dir.js';
import { perModuleFixture, stackOn } from './stack.js';

afterAll(removeTempDirs);

const backends: Record<string, () => Promise<Database<Uint8Array, Uint8Array>>> = {
  MemoryBackend: async () => new MemoryBackend(),
  LevelBackend: () => LevelBackend.open(join(tempDir(), 'store')),
  LmdbBackend: () => LmdbBackend.open(join(tempDir(), 'store')),
};

/* Every layer passes the same contract as the backends, stacked on each backend. */
for (const [backendName, openBackend] of Object.entries(backends)) {
  runDatabaseContract(`UUIDDatabase over ${backendName}`, { open: async () => (await stackOn(await openBackend())).values });
  runDatabaseContract(`ProxyObjectDatabase over ${backendName}`, { open: async () => (await stackOn(await openBackend())).proxy });
  runDatabaseContract(`PerModuleObjectDatabase over ${backendName}`, perModuleFixture(openBackend));
}
