import { join } from 'node:path';
import { afterAll } from 'vitest';
import { LevelBackend } from '../../src/backends/level-backend.js';
import { LmdbBackend } from '../../src/backends/lmdb-backend.js';
import { MemoryBackend } from '../../src/backends/memory-backend.js';
import { runDatabaseContract } from '../contract/database-contract.js';
import { removeTempDirs, tempDir } from '../helpers/temp-dir.js';

afterAll(removeTempDirs);

runDatabaseContract('MemoryBackend', { open: async () => new MemoryBackend() });

runDatabaseContract('LevelBackend', {
  open: () => LevelBackend.open(join(tempDir(), 'store')),
  reopen: (closed) => LevelBackend.open((closed as LevelBackend).path),
});

runDatabaseContract('LevelBackend with reads through the thread pool', { open: () => LevelBackend.open(join(tempDir(), 'store'), { syncReads: false }) });

runDatabaseContract('LmdbBackend', {
  open: () => LmdbBackend.open(join(tempDir(), 'store')),
  reopen: (closed) => LmdbBackend.open((closed as LmdbBackend).path),
});
