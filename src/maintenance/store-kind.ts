import { existsSync, readdirSync, statSync } from 'node:fs';
import { resolve } from 'node:path';
import type { LevelBackendConfig, LmdbBackendConfig } from '../cache/config.js';

/*
 * Which embedded backend wrote a store directory, told from the files each
 * backend leaves there: LMDB keeps its pages in `data.mdb` (beside
 * `lock.mdb`), LevelDB keeps `CURRENT`, `LOCK`, its logs and tables. The
 * backends own the checks that a directory really is theirs (LevelBackend
 * refuses a directory without `CURRENT`, LmdbBackend a `data.mdb` without
 * LMDB's magic): this only picks which of the two to ask.
 */

/** The embedded store kinds a directory can hold. */
export const embeddedKinds = ['level', 'lmdb'] as const;

/** One of {@link embeddedKinds}. */
export type EmbeddedKind = (typeof embeddedKinds)[number];

/** The data file every LMDB environment directory holds. */
const LMDB_DATA_FILE = 'data.mdb';

/**
 * The kind of the store at `path`: `'lmdb'` for a directory holding LMDB's
 * data file, `'level'` for anything else that exists and is not empty (a
 * LevelDB store, or something LevelBackend refuses as `NOT_A_STORE`), and
 * `undefined` when nothing is there yet (a missing path, an empty directory).
 */
export function storeKindAt(path: string): EmbeddedKind | undefined {
  const location = resolve(path);
  if (!existsSync(location)) return undefined;
  if (!statSync(location).isDirectory()) return 'level';
  const names = readdirSync(location);
  if (names.length === 0) return undefined;
  return names.includes(LMDB_DATA_FILE) ? 'lmdb' : 'level';
}

/**
 * The backend configuration of the embedded store at `path`: of the kind found
 * there ({@link storeKindAt}), else of `kind` for a store not made yet.
 *
 * @param kind - The kind of a new store.
 * @default kind 'level'
 */
export function embeddedConfig(path: string, kind: EmbeddedKind = 'level'): LevelBackendConfig | LmdbBackendConfig {
  return { type: storeKindAt(path) ?? kind, path: resolve(path) };
}
