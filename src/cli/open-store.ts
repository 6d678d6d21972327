import { existsSync, readdirSync, statSync } from 'node:fs';
import { resolve } from 'node:path';
import { CONFIG_ENV, resolveCacheOptions, type BackendConfig, type LevelBackendConfig } from '../cache/config.js';
import { openStore, type OpenStoreOptions, type Store } from '../cache/store.js';
import { CliError } from './errors.js';
import { OpaqueTypes } from './opaque-types.js';

/** Where the store options of a command come from. */
export interface StoreOptions {
  /** `--store <path>`. */
  store?: string;
  /** `--config <file>`. */
  config?: string;
}

/**
 * The LevelDB store a command works on: a path given on the command line (a
 * positional argument, then `--store`), else the backend of `--config <file>`,
 * else of the file named by `MEMOSTRATA_CONFIG`, else `./.memostrata`.
 *
 * @throws CliError when the configuration names an in-memory store.
 * @throws MemostrataError `CONFIG` for a wrong config file.
 */
export function resolveStore(options: StoreOptions, path?: string, env: Readonly<Record<string, string | undefined>> = process.env): LevelBackendConfig {
  const given = path ?? options.store;
  if (given !== undefined) return { type: 'level', path: resolve(given) };
  const source = options.config !== undefined ? `--config ${options.config}` : env[CONFIG_ENV] !== undefined ? `${CONFIG_ENV}=${env[CONFIG_ENV]}` : undefined;
  const backend: BackendConfig = resolveCacheOptions(options.config === undefined ? undefined : { configFile: options.config }, env).backend;
  if (backend.type !== 'level') {
    const what = backend.type === 'memory' ? 'is in memory' : 'is not a LevelDB store';
    throw new CliError(`the store configured by ${source ?? 'default'} ${what} (backend.type '${backend.type}'); the CLI works on a LevelDB store: pass --store <path>`);
  }
  return { ...backend, path: resolve(backend.path ?? '.memostrata') };
}

/** Whether opening may create a store that does not exist yet. */
export type OpenMode = 'existing' | 'create';

/**
 * Opens a store for a command. With `'existing'` (every command that only
 * reads, and those that change an existing store) a missing path is an error
 * and nothing is created. Values of registered types that only the user's
 * program knows are read as opaque values.
 *
 * @throws CliError `no store at <path>`.
 * @throws MemostrataError `LOCKED`, `NOT_A_STORE`, `FORMAT_VERSION`, `CORRUPT`, `BACKEND`.
 */
export async function openCliStore(config: LevelBackendConfig, mode: OpenMode, options: OpenStoreOptions = {}): Promise<Store> {
  const path = resolve(config.path ?? '.memostrata');
  if (mode === 'existing' && !holdsSomething(path)) throw new CliError(`no store at ${path}`);
  return openStore({ ...config, path }, new OpaqueTypes(), options);
}

/** Opens a store, runs `work` on it and closes it, whatever happens. */
export async function withStore<T>(config: LevelBackendConfig, mode: OpenMode, work: (store: Store) => Promise<T>, options: OpenStoreOptions = {}): Promise<T> {
  const store = await openCliStore(config, mode, options);
  try {
    return await work(store);
  } finally {
    await store.proxy.close();
  }
}

/** A path that exists and is not an empty directory (a file is left for the backend to refuse). */
function holdsSomething(path: string): boolean {
  if (!existsSync(path)) return false;
  return !statSync(path).isDirectory() || readdirSync(path).length > 0;
}
