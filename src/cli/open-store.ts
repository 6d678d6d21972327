import { existsSync, readdirSync, rmSync, statSync } from 'node:fs';
import { resolve } from 'node:path';
import { CONFIG_ENV, resolveCacheOptions, type LevelBackendConfig, type LmdbBackendConfig, type RedisBackendConfig } from '../cache/config.js';
import { openStore, type OpenStoreOptions, type Store } from '../cache/store.js';
import { isMemostrataError, MemostrataError } from '../errors.js';
import { embeddedConfig, type EmbeddedKind } from '../maintenance/store-kind.js';
import { CliError } from './errors.js';
import { OpaqueTypes } from './opaque-types.js';
import type { LayerConfig } from '../layers/bytes/layer-config.js';
import { formatKey } from '../layers/keys.js';

/** Where the store options of a command come from. */
export interface StoreOptions {
  /** `--store <path>`. */
  store?: string;
  /** `--config <file>`. */
  config?: string;
}

/**
 * A store the CLI can work on: one on disk (LevelDB, LMDB) or on a Redis
 * server, with the byte layers (encrypt, sign, audit) its config file names.
 */
export type CliStoreConfig = (LevelBackendConfig | LmdbBackendConfig | RedisBackendConfig) & { layers?: readonly LayerConfig[] };

/**
 * The store a command works on: a path given on the command line (a
 * positional argument, then `--store`), whose kind (LevelDB or LMDB) is read
 * from the directory; else the backend of `--config <file>`, else of the file
 * named by `MEMOSTRATA_CONFIG`, else `./.memostrata`.
 *
 * @param newKind - The kind of a store that a path names but that does not exist yet.
 * @throws CliError when the configuration names an in-memory store.
 * @throws MemostrataError `CONFIG` for a wrong config file.
 */
export function resolveStore(options: StoreOptions, path?: string, env: Readonly<Record<string, string | undefined>> = process.env, newKind: EmbeddedKind = 'level'): CliStoreConfig {
  const given = path ?? options.store;
  if (given !== undefined) return embeddedConfig(given, newKind);
  const source = options.config !== undefined ? `--config ${options.config}` : env[CONFIG_ENV] !== undefined ? `${CONFIG_ENV}=${env[CONFIG_ENV]}` : undefined;
  const { backend, layers } = resolveCacheOptions(options.config === undefined ? undefined : { configFile: options.config }, env);
  if (backend.type === 'memory') {
    throw new CliError(
      `the store configured by ${source ?? 'default'} is in memory (backend.type 'memory'); the CLI works on a LevelDB, LMDB or Redis store: pass --store <path>, or --config <file> naming one of those`,
    );
  }
  if (backend.type === 'redis') return { ...backend, layers };
  return { ...backend, path: resolve(backend.path ?? '.memostrata'), layers };
}

/** The directory of a store on disk, or `undefined` for a store on a server. */
export function storeDirectory(config: CliStoreConfig): string | undefined {
  return config.type === 'redis' ? undefined : resolve(config.path ?? '.memostrata');
}

/** Whether opening may create a store that does not exist yet. */
export type OpenMode = 'existing' | 'create';

/**
 * Opens a store for a command. With `'existing'` (every command that only
 * reads, and those that change an existing store) a store that is not there
 * is an error and nothing is created: a missing or empty path, or a Redis
 * prefix with no keys. Values of registered types that only the user's
 * program knows are read as opaque values.
 *
 * @throws CliError `no store at <location>`.
 * @throws MemostrataError `LOCKED`, `NOT_A_STORE`, `FORMAT_VERSION`, `CORRUPT`, `BACKEND`.
 */
export async function openCliStore(configWithLayers: CliStoreConfig, mode: OpenMode, given: OpenStoreOptions = {}): Promise<Store> {
  const { layers, ...config } = configWithLayers;
  const options: OpenStoreOptions = layers === undefined ? given : { ...given, layers };
  if (config.type !== 'redis') {
    const path = resolve(config.path ?? '.memostrata');
    if (mode === 'existing' && !holdsSomething(path)) throw new CliError(`no store at ${path}`);
    return openOnDisk({ ...config, path }, options);
  }
  // A shared store opened without its format check writes nothing: look before the check could start a new one.
  if (mode === 'existing') {
    const peek = await openStore(config, new OpaqueTypes(), { checkFormat: false });
    try {
      if (await isEmpty(peek)) throw new CliError(`no store at ${peek.location}`);
    } finally {
      await peek.proxy.close();
    }
  }
  return openStore(config, new OpaqueTypes(), options);
}

/** Opens a LevelDB or LMDB store; a LevelDB store held by a job gets the CLI's way out in its `LOCKED` message. */
async function openOnDisk(config: LevelBackendConfig | LmdbBackendConfig, options: OpenStoreOptions): Promise<Store> {
  try {
    return await openStore(config, new OpaqueTypes(), options);
  } catch (error) {
    if (!isMemostrataError(error, 'LOCKED') || config.type !== 'level') throw error;
    throw new MemostrataError(
      'LOCKED',
      `${error.message} An LMDB store lets many processes (on one machine) share it: once the job is done, \`memostrata merge ${config.path} --into <new path> --into-type lmdb\` copies this store into one.`,
      { cause: error },
    );
  }
}

/** Opens a store, runs `work` on it and closes it, whatever happens. */
export async function withStore<T>(config: CliStoreConfig, mode: OpenMode, work: (store: Store) => Promise<T>, options: OpenStoreOptions = {}): Promise<T> {
  const store = await openCliStore(config, mode, options);
  try {
    return await work(store);
  } finally {
    await store.proxy.close();
  }
}

/**
 * Opens a store, made if missing, and runs `work` on it. When `work` fails on
 * a store this call made, the store is removed again: a refused import or
 * merge writes nothing, so it must not leave behind the empty store it
 * opened (and removing it never hides why it failed). On Redis that is the
 * format record a new store starts with, removed only while it is still
 * the one key there (no process has started on the store meanwhile).
 */
export async function withStoreCreated<T>(config: CliStoreConfig, work: (store: Store) => Promise<T>): Promise<T> {
  const directory = storeDirectory(config);
  if (directory === undefined) return withServerStoreCreated(config, work);
  const isNew = !existsSync(directory);
  try {
    return await withStore(config, 'create', work);
  } catch (error) {
    if (isNew) {
      try {
        rmSync(directory, { recursive: true, force: true });
      } catch {
        // Nothing was made there (a path under a file).
      }
    }
    throw error;
  }
}

async function withServerStoreCreated<T>(config: CliStoreConfig, work: (store: Store) => Promise<T>): Promise<T> {
  const store = await openCliStore(config, 'create', { checkFormat: false });
  let isNew: boolean;
  try {
    isNew = await isEmpty(store);
  } finally {
    await store.proxy.close();
  }
  return withStore(config, 'create', async (opened) => {
    try {
      return await work(opened);
    } catch (error) {
      if (isNew && (await onlyFormat(opened))) await opened.backend.delete(formatKey, { sync: true });
      throw error;
    }
  });
}

async function onlyFormat(store: Store): Promise<boolean> {
  const keys: Uint8Array[] = [];
  for await (const key of store.backend.keys({ limit: 2 })) keys.push(key);
  return keys.length === 1 && Buffer.from(keys[0]!).equals(formatKey);
}

/** A path that exists and is not an empty directory (a file is left for the backend to refuse). */
function holdsSomething(path: string): boolean {
  if (!existsSync(path)) return false;
  return !statSync(path).isDirectory() || readdirSync(path).length > 0;
}

async function isEmpty(store: Store): Promise<boolean> {
  for await (const _ of store.backend.keys({ limit: 1 })) return false;
  return true;
}
